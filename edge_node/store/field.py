"""SQL of sync in the field on the node (migration ``field_0001_attachment_uploads``):
which attachments the hub holds whole. Used by ``edge_node/sync/attachments.py``."""

from __future__ import annotations


def attachments_to_send(store, limit: int = 100) -> list[dict]:
    """Attachments stored whole on the node and not yet confirmed (or refused) by the hub,
    oldest first."""
    rows = store.conn.execute(
        "SELECT a.sha256, a.name, a.mime, a.size FROM disclosure_attachments a "
        "LEFT JOIN attachment_uploads u ON u.sha256 = a.sha256 "
        "WHERE a.complete = 1 AND (u.state IS NULL OR u.state = 'pending') "
        "ORDER BY a.stored_at, a.sha256 LIMIT ?", (limit,)).fetchall()
    return [dict(zip(("sha256", "name", "mime", "size"), r)) for r in rows]


def set_upload_state(store, sha256: str, state: str, at: str,
                     error: str | None = None) -> None:
    with store.transaction():
        store.conn.execute(
            "INSERT INTO attachment_uploads (sha256, state, attempts, last_error, updated_at) "
            "VALUES (?, ?, 1, ?, ?) ON CONFLICT(sha256) DO UPDATE SET state = excluded.state, "
            "attempts = attempts + 1, last_error = excluded.last_error, "
            "updated_at = excluded.updated_at", (sha256, state, error, at))


def upload_states(store) -> dict[str, str]:
    return dict(store.conn.execute("SELECT sha256, state FROM attachment_uploads"))


def insert_downloaded_events(store, events) -> None:
    """Append events downloaded from the hub (a restore), marked acknowledged: the caller
    verified their chain and signatures. Runs inside the caller's transaction."""
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO events (seq, type, case_no, canonical, signature, link, ts, acked) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            [(e.seq, e.type, e.case, e.canonical, e.signature, e.link_hex, e.ts)
             for e in events])


def clear_projections(store) -> None:
    """Empty the projections a restore rebuilds from the log (never the log itself)."""
    with store.transaction():
        for table in ("cases", "users", "disclosure_docs"):
            store.conn.execute(f"DELETE FROM {table}")
        store.conn.execute("DELETE FROM meta WHERE key LIKE 'counter:%'")


def set_counter(store, name: str, value: int) -> None:
    with store.transaction():
        store.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
            "value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))", (f"counter:{name}", str(value)))
