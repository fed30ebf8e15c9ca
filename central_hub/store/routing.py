"""SQL of cross-level handling at the hub (tables of migration ``routing_0001``).

Functions take the :class:`~central_hub.store.sqlite.SqliteHubStore`; writes run inside
the caller's transaction when there is one (the routing projector holds it, so entries
change together with the projector's cursor).
"""

from __future__ import annotations

import json
from typing import Any


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------- inbox entries


def put_entry(store, entry: dict, node: str) -> bool:
    """Place an entry in ``node``'s inbox once (the projector may see an event again
    after a rebuild); True if it is new."""
    cur = store.conn.execute(
        "INSERT OR IGNORE INTO inbox_entries (id, node, kind, case_no, application, "
        "placed_at, entry) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (entry["id"], node, entry["kind"], entry.get("case"), entry.get("application"),
         entry["placed_at"], _dumps(entry)))
    return cur.rowcount > 0


def close_entry(store, entry_id: str, at: str, by: str) -> str | None:
    """Close an open entry; returns its node (None if it was not open)."""
    row = store.conn.execute("SELECT node FROM inbox_entries WHERE id = ? AND state = 'open'",
                             (entry_id,)).fetchone()
    if row is None:
        return None
    store.conn.execute("UPDATE inbox_entries SET state = 'closed', closed_at = ?, "
                       "closed_by = ? WHERE id = ?", (at, by, entry_id))
    return row[0]


def close_entries(store, *, kind: str, application: str, at: str, by: str,
                  node: str | None = None) -> list[str]:
    sql = ("SELECT id, node FROM inbox_entries WHERE kind = ? AND application = ? "
           "AND state = 'open'")
    params: list[Any] = [kind, application]
    if node is not None:
        sql += " AND node = ?"
        params.append(node)
    rows = store.conn.execute(sql, params).fetchall()
    for entry_id, _ in rows:
        store.conn.execute("UPDATE inbox_entries SET state = 'closed', closed_at = ?, "
                           "closed_by = ? WHERE id = ?", (at, by, entry_id))
    return [n for _, n in rows]


def open_entries(store, node: str) -> list[dict]:
    return [json.loads(r[0]) for r in store.conn.execute(
        "SELECT entry FROM inbox_entries WHERE node = ? AND state = 'open' "
        "ORDER BY placed_at, id", (node,))]


def all_entries(store, *, limit: int = 500) -> list[dict]:
    return [{"id": r[0], "node": r[1], "kind": r[2], "case": r[3], "application": r[4],
             "state": r[5], "placed_at": r[6], "closed_at": r[7], "closed_by": r[8]}
            for r in store.conn.execute(
                "SELECT id, node, kind, case_no, application, state, placed_at, closed_at, "
                "closed_by FROM inbox_entries ORDER BY placed_at DESC LIMIT ?", (limit,))]


def reset_routing(store) -> None:
    """Forget what the projector derived (the log rebuilds it); applications stay and
    their inbox entries are offered again until a take is seen anew."""
    store.conn.execute("DELETE FROM inbox_entries WHERE kind != 'application'")
    store.conn.execute("UPDATE inbox_entries SET state = 'open', closed_at = NULL, "
                       "closed_by = NULL WHERE kind = 'application'")
    store.conn.execute("DELETE FROM application_takes")
    store.conn.execute("UPDATE online_applications SET taken_node = NULL, taken_seq = NULL, "
                       "taken_link = NULL, taken_position = NULL, case_no = NULL")


# --------------------------------------------------------------------------- documents


def latest_inbox_doc(store, node: str) -> tuple[int, bytes, bytes] | None:
    row = store.conn.execute(
        "SELECT version, canonical, signature FROM inbox_docs WHERE node = ? "
        "ORDER BY version DESC LIMIT 1", (node,)).fetchone()
    return None if row is None else (row[0], bytes(row[1]), bytes(row[2]))


def add_inbox_doc(store, node: str, version: int, canonical: bytes, signature: bytes,
                  at: str) -> None:
    store.conn.execute("INSERT INTO inbox_docs (node, version, canonical, signature, "
                       "published_at) VALUES (?, ?, ?, ?, ?)",
                       (node, version, canonical, signature, at))


# --------------------------------------------------------------------------- events


def case_events(store, node: str, case_no: str, upto_seq: int) -> list[tuple[int, bytes, bytes]]:
    return [(r[0], bytes(r[1]), bytes(r[2])) for r in store.conn.execute(
        "SELECT seq, canonical, signature FROM events WHERE case_no = ? AND node = ? "
        "AND seq <= ? ORDER BY seq", (case_no, node, upto_seq))]


def key_at(store, node: str, seq: int) -> str | None:
    row = store.conn.execute(
        "SELECT public_key FROM node_keys WHERE node = ? AND from_seq <= ? "
        "ORDER BY from_seq DESC LIMIT 1", (node, seq)).fetchone()
    return None if row is None else row[0]


def event_link(store, node: str, seq: int) -> str | None:
    row = store.conn.execute("SELECT link FROM events WHERE node = ? AND seq = ?",
                             (node, seq)).fetchone()
    return None if row is None else row[0]


# --------------------------------------------------------------------------- applications


def add_application(store, row: dict) -> None:
    store.conn.execute(
        "INSERT INTO online_applications (tracking_no, query_code, item_code, item_name, "
        "place, node, submitted_at, digest, application) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row["tracking_no"], row["query_code"], row["item_code"], row["item_name"],
         row["place"], row["node"], row["submitted_at"], row["digest"],
         _dumps(row["application"])))


_APP_COLUMNS = ("tracking_no, query_code, item_code, item_name, place, node, submitted_at, "
                "digest, application, taken_node, taken_seq, taken_link, taken_position, "
                "case_no")


def application(store, tracking_no: str) -> dict | None:
    row = store.conn.execute(f"SELECT {_APP_COLUMNS} FROM online_applications "
                             "WHERE tracking_no = ?", (tracking_no,)).fetchone()
    if row is None:
        return None
    out = dict(zip([c.strip() for c in _APP_COLUMNS.split(",")], row))
    out["application"] = json.loads(out["application"])
    return out


def application_count(store) -> int:
    return store.conn.execute("SELECT count(*) FROM online_applications").fetchone()[0]


def set_winner(store, tracking_no: str, node: str, seq: int, link: str, position: int,
               case_no: str) -> None:
    store.conn.execute(
        "UPDATE online_applications SET taken_node = ?, taken_seq = ?, taken_link = ?, "
        "taken_position = ?, case_no = ? WHERE tracking_no = ?",
        (node, seq, link, position, case_no, tracking_no))


def add_take(store, position: int, tracking_no: str, node: str, seq: int, link: str,
             case_no: str, outcome: str) -> None:
    store.conn.execute(
        "INSERT OR IGNORE INTO application_takes (position, tracking_no, node, seq, link, "
        "case_no, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (position, tracking_no, node, seq, link, case_no, outcome))


def takes(store, tracking_no: str) -> list[dict]:
    return [{"position": r[0], "node": r[1], "seq": r[2], "link": r[3], "case": r[4],
             "outcome": r[5]} for r in store.conn.execute(
        "SELECT position, node, seq, link, case_no, outcome FROM application_takes "
        "WHERE tracking_no = ? ORDER BY position", (tracking_no,))]


def add_file(store, sha256: str, mime: str, size: int, at: str) -> None:
    with store.transaction():
        store.conn.execute("INSERT OR IGNORE INTO application_files (sha256, mime, size, "
                           "stored_at) VALUES (?, ?, ?, ?)", (sha256, mime, size, at))


def file_record(store, sha256: str) -> dict | None:
    row = store.conn.execute("SELECT sha256, mime, size, stored_at FROM application_files "
                             "WHERE sha256 = ?", (sha256,)).fetchone()
    return dict(zip(("sha256", "mime", "size", "stored_at"), row)) if row else None
