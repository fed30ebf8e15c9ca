"""SQL of sync in the field (docs/sync-field.md): imported export files, restore tokens,
node epochs and chunked attachment uploads. Migration ``field_0001``.

Functions take the :class:`~central_hub.store.sqlite.SqliteHubStore` and run inside the
caller's transaction when there is one.
"""

from __future__ import annotations

import json


# --------------------------------------------------------------------------- export files


def import_record(store, file_id: str) -> dict | None:
    row = store.conn.execute(
        "SELECT file_id, node, file_sha256, imported_at, stored, acked_seq, error_code "
        "FROM usb_imports WHERE file_id = ?", (file_id,)).fetchone()
    if row is None:
        return None
    keys = ("file_id", "node", "file_sha256", "imported_at", "stored", "acked_seq",
            "error_code")
    return dict(zip(keys, row))


def add_import(store, file_id: str, node: str, file_sha256: str, at: str) -> None:
    with store.transaction():
        store.conn.execute("INSERT INTO usb_imports (file_id, node, file_sha256, imported_at) "
                           "VALUES (?, ?, ?, ?)", (file_id, node, file_sha256, at))


def finish_import(store, file_id: str, stored: int, acked_seq: int,
                  error_code: str | None) -> None:
    with store.transaction():
        store.conn.execute("UPDATE usb_imports SET stored = ?, acked_seq = ?, error_code = ? "
                           "WHERE file_id = ?", (stored, acked_seq, error_code, file_id))


# --------------------------------------------------------------------------- restore


def add_restore_token(store, token_hash: str, node: str, created_at: str,
                      expires_at: str) -> None:
    with store.transaction():
        store.conn.execute("INSERT INTO restore_tokens (token_hash, node, created_at, "
                           "expires_at) VALUES (?, ?, ?, ?)",
                           (token_hash, node, created_at, expires_at))


def restore_token(store, token_hash: str) -> dict | None:
    row = store.conn.execute("SELECT token_hash, node, created_at, expires_at, used_at, "
                             "used_by_key FROM restore_tokens WHERE token_hash = ?",
                             (token_hash,)).fetchone()
    keys = ("token_hash", "node", "created_at", "expires_at", "used_at", "used_by_key")
    return None if row is None else dict(zip(keys, row))


def epochs(store, node: str) -> list[dict]:
    rows = store.conn.execute("SELECT epoch, from_seq, public_key, statement, created_at "
                              "FROM node_epochs WHERE node = ? ORDER BY epoch", (node,))
    return [{"epoch": e, "from_seq": f, "public_key": k, "statement": json.loads(s),
             "created_at": c} for e, f, k, s, c in rows]


def start_epoch(store, *, node: str, token_hash: str, public_key: str, epoch: int,
                from_seq: int, statement: dict, at: str) -> None:
    """Use the token, record the epoch and make ``public_key`` the node's key from
    ``from_seq`` on (one transaction)."""
    with store.transaction():
        cur = store.conn.execute(
            "UPDATE restore_tokens SET used_at = ?, used_by_key = ? WHERE token_hash = ? "
            "AND used_at IS NULL", (at, public_key, token_hash))
        if cur.rowcount != 1:
            raise ValueError("restore token already used")
        store.conn.execute(
            "INSERT INTO node_epochs (node, epoch, from_seq, public_key, statement, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (node, epoch, from_seq, public_key, json.dumps(statement, ensure_ascii=False), at))
        store.conn.execute("DELETE FROM node_keys WHERE node = ? AND from_seq = ?",
                           (node, from_seq))
        store.conn.execute("INSERT INTO node_keys (node, public_key, from_seq, added_at) "
                           "VALUES (?, ?, ?, ?)", (node, public_key, from_seq, at))
        store.conn.execute("UPDATE nodes SET public_key = ? WHERE code = ?", (public_key, node))


def reinstate_epoch(store, *, node: str, public_key: str, epoch: int, from_seq: int,
                    statement: dict, at: str) -> None:
    """Record an epoch the hub lost in a restore from its backup (no token: the hub
    signed the statement). Later node keys of the lost period are superseded."""
    with store.transaction():
        store.conn.execute(
            "INSERT OR REPLACE INTO node_epochs (node, epoch, from_seq, public_key, statement, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (node, epoch, from_seq, public_key, json.dumps(statement, ensure_ascii=False), at))
        store.conn.execute("DELETE FROM node_keys WHERE node = ? AND from_seq >= ?",
                           (node, from_seq))
        store.conn.execute("INSERT INTO node_keys (node, public_key, from_seq, added_at) "
                           "VALUES (?, ?, ?, ?)", (node, public_key, from_seq, at))
        store.conn.execute("UPDATE nodes SET public_key = ? WHERE code = ?", (public_key, node))


# --------------------------------------------------------------------------- attachments


def upload(store, sha256: str) -> dict | None:
    row = store.conn.execute("SELECT sha256, node, mime, size, chunk_size, chunks, started_at "
                             "FROM attachment_uploads WHERE sha256 = ?", (sha256,)).fetchone()
    if row is None:
        return None
    keys = ("sha256", "node", "mime", "size", "chunk_size", "chunks", "started_at")
    out = dict(zip(keys, row))
    out["chunks"] = json.loads(out["chunks"])
    return out


def start_upload(store, sha256: str, node: str, mime: str, size: int, chunk_size: int,
                 chunks: list[str], at: str) -> None:
    with store.transaction():
        store.conn.execute("DELETE FROM attachment_chunks WHERE sha256 = ?", (sha256,))
        store.conn.execute(
            "INSERT OR REPLACE INTO attachment_uploads (sha256, node, mime, size, chunk_size, "
            "chunks, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sha256, node, mime, size, chunk_size, json.dumps(chunks), at))


def chunks_held(store, sha256: str) -> list[int]:
    return [r[0] for r in store.conn.execute(
        "SELECT idx FROM attachment_chunks WHERE sha256 = ? ORDER BY idx", (sha256,))]


def add_chunk(store, sha256: str, index: int, at: str) -> None:
    with store.transaction():
        store.conn.execute("INSERT OR IGNORE INTO attachment_chunks (sha256, idx, received_at) "
                           "VALUES (?, ?, ?)", (sha256, index, at))


def drop_chunks(store, sha256: str, indexes: list[int] | None = None) -> None:
    with store.transaction():
        if indexes is None:
            store.conn.execute("DELETE FROM attachment_chunks WHERE sha256 = ?", (sha256,))
        else:
            store.conn.executemany("DELETE FROM attachment_chunks WHERE sha256 = ? AND idx = ?",
                                   [(sha256, i) for i in indexes])


__all__ = ["add_import", "finish_import", "import_record", "add_restore_token",
           "restore_token", "epochs", "start_epoch", "upload", "start_upload", "chunks_held",
           "add_chunk", "drop_chunks"]
