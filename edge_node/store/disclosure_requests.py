"""SQL of the requests for disclosure taken in at this window (edge_node/disclosure/applications.py)."""

from __future__ import annotations

COLUMNS = ("request_no", "received_on", "reply_due", "applicant_type", "applicant_name",
           "contact", "description", "delivery", "actor", "at", "seq")


def add(store, row: dict) -> None:
    store.conn.execute(
        f"INSERT INTO disclosure_requests_received ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(COLUMNS))})", [row[c] for c in COLUMNS])


def get(store, request_no: str) -> dict | None:
    row = store.conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM disclosure_requests_received WHERE request_no = ?",
        (request_no,)).fetchone()
    return dict(zip(COLUMNS, row)) if row else None


def latest(store, limit: int = 200) -> list[dict]:
    return [dict(zip(COLUMNS, r)) for r in store.conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM disclosure_requests_received "
        "ORDER BY seq DESC LIMIT ?", (limit,))]
