"""SQL of information disclosure on the node (tables of migration ``0006_disclosure``).

Functions take the :class:`~edge_node.store.Store`; writes run inside the caller's
transaction (the domain function in :mod:`edge_node.disclosure` holds it, so a document's
event and its projection commit together).
"""

from __future__ import annotations

import json
from typing import Any

from . import Store


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def document(store: Store, doc_id: str) -> dict | None:
    row = store.conn.execute("SELECT data FROM disclosure_docs WHERE doc_id = ?",
                             (doc_id,)).fetchone()
    return None if row is None else json.loads(row[0])


def save_document(store: Store, state: dict, last_seq: int) -> None:
    draft = (state.get("draft") or {}).get("meta") or {}
    published = (state.get("published") or {}).get("meta") or {}
    title = published.get("title") or draft.get("title") or state["doc"]
    store.conn.execute(
        "INSERT INTO disclosure_docs (doc_id, state, title, updated_at, last_seq, data) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(doc_id) DO UPDATE SET state = excluded.state, "
        "title = excluded.title, updated_at = excluded.updated_at, "
        "last_seq = excluded.last_seq, data = excluded.data",
        (state["doc"], state["state"], title, state.get("updated_at") or "", last_seq,
         _dumps(state)))


def documents(store: Store, *, state: str | None = None, limit: int = 200,
              offset: int = 0) -> list[dict]:
    sql = "SELECT data FROM disclosure_docs"
    params: list[Any] = []
    if state:
        sql += " WHERE state = ?"
        params.append(state)
    sql += " ORDER BY updated_at DESC, doc_id LIMIT ? OFFSET ?"
    params += [limit, offset]
    return [json.loads(r[0]) for r in store.conn.execute(sql, params)]


def document_count(store: Store) -> int:
    return store.conn.execute("SELECT count(*) FROM disclosure_docs").fetchone()[0]


def document_events(store: Store, doc_id: str) -> list[tuple[bytes, bytes]]:
    """(canonical, signature) of every disclosure event of ``doc_id`` in seq order (the
    rebuild check folds them)."""
    return [(bytes(c), bytes(s)) for c, s in store.conn.execute(
        "SELECT canonical, signature FROM events WHERE type LIKE 'disclosure.%' "
        "AND json_extract(CAST(canonical AS TEXT), '$.body.doc') = ? ORDER BY seq",
        (doc_id,))]


def add_attachment(store: Store, sha256: str, name: str, mime: str, size: int,
                   stored_at: str) -> None:
    store.conn.execute(
        "INSERT INTO disclosure_attachments (sha256, name, mime, size, stored_at, complete) "
        "VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT(sha256) DO UPDATE SET complete = 1",
        (sha256, name, mime, size, stored_at))


def attachment(store: Store, sha256: str) -> dict | None:
    row = store.conn.execute(
        "SELECT sha256, name, mime, size, stored_at, complete FROM disclosure_attachments "
        "WHERE sha256 = ?", (sha256,)).fetchone()
    if row is None:
        return None
    return dict(zip(("sha256", "name", "mime", "size", "stored_at", "complete"), row))
