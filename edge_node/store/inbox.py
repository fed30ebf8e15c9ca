"""SQL of the node's inbox (table of migration ``0007_inbox``; edge_node/cases/inbox.py).

Writes run inside the caller's transaction, so an entry's status changes together with
the event that changes it.
"""

from __future__ import annotations

import json
from typing import Any

from . import Store


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _row(row) -> dict:
    (id_, kind, case_no, application, placed_at, first_seen, status, taken_case, note,
     updated_at, data) = row
    return {"id": id_, "kind": kind, "case": case_no, "application": application,
            "placed_at": placed_at, "first_seen": first_seen, "status": status,
            "taken_case": taken_case, "note": note, "updated_at": updated_at,
            "data": json.loads(data)}


_COLUMNS = ("id, kind, case_no, application, placed_at, first_seen, status, taken_case, note, "
            "updated_at, data")


def entry(store: Store, entry_id: str) -> dict | None:
    row = store.conn.execute(f"SELECT {_COLUMNS} FROM inbox_entries WHERE id = ?",
                             (entry_id,)).fetchone()
    return None if row is None else _row(row)


def entries(store: Store, *, statuses: tuple[str, ...] | None = None,
            limit: int = 500) -> list[dict]:
    sql = f"SELECT {_COLUMNS} FROM inbox_entries"
    params: list[Any] = []
    if statuses:
        sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
        params += statuses
    sql += " ORDER BY placed_at, id LIMIT ?"
    params.append(limit)
    return [_row(r) for r in store.conn.execute(sql, params)]


def counts(store: Store) -> dict[str, int]:
    return dict(store.conn.execute(
        "SELECT status, count(*) FROM inbox_entries GROUP BY status").fetchall())


def upsert_offered(store: Store, entry_: dict, now: str, status: str = "waiting",
                   note: str | None = None) -> None:
    """Record an entry the hub offers; an entry already handled here keeps its status."""
    store.conn.execute(
        "INSERT INTO inbox_entries (id, kind, case_no, application, placed_at, first_seen, "
        "status, note, updated_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at, "
        "status = CASE WHEN inbox_entries.status IN ('gone', 'invalid') "
        "THEN excluded.status ELSE inbox_entries.status END",
        (entry_["id"], entry_["kind"], entry_.get("case"), entry_.get("application"),
         entry_["placed_at"], now, status, note, now, _dumps(entry_)))


def set_status(store: Store, entry_id: str, status: str, now: str, *,
               taken_case: str | None = None, note: str | None = None) -> None:
    store.conn.execute(
        "UPDATE inbox_entries SET status = ?, updated_at = ?, "
        "taken_case = COALESCE(?, taken_case), note = COALESCE(?, note) WHERE id = ?",
        (status, now, taken_case, note, entry_id))


def mark_gone_except(store: Store, offered: set[str], now: str) -> int:
    """Entries still waiting that the hub no longer offers (taken elsewhere, withdrawn)."""
    waiting = [r[0] for r in store.conn.execute(
        "SELECT id FROM inbox_entries WHERE status = 'waiting'")]
    gone = [i for i in waiting if i not in offered]
    for entry_id in gone:
        set_status(store, entry_id, "gone", now)
    return len(gone)
