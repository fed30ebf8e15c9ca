"""Notices and internal messages from the county (通知公告 / 内部消息) on the node.

The hub signs the set of current notices as a ``config.notices`` document; the sync
client verifies it and calls :func:`apply_notices`, which keeps the entries addressed to
this node (``audience`` "all" or a list naming the node) and drops the ones the county has
withdrawn. :func:`mark_read` records that a member of staff read a notice: a row and a
signed ``notice.read`` event in one transaction, so the county sees who has read what once
the node syncs. Works off-line: reading never waits on the network.
"""

from __future__ import annotations

from typing import Any, Mapping

from protocol.envelope import format_ts
from protocol.errors import ProtocolError

from ..errors import NotFound

KINDS = {"notice": "通知公告", "message": "内部消息"}


def _content(document: Any) -> tuple[dict, int]:
    content = getattr(document, "content", None)
    version = getattr(document, "version", None)
    if content is None and isinstance(document, Mapping):
        content, version = document.get("content"), document.get("version")
    if not isinstance(content, Mapping) or type(version) is not int:
        raise ProtocolError("config.notices document without content or version",
                            code="config_invalid")
    return dict(content), version


def apply_notices(node, document: Any) -> int:
    """Apply a verified ``config.notices`` document; return how many notices apply here.
    Inside the caller's transaction when there is one (the sync client's)."""
    content, version = _content(document)
    entries = content.get("notices")
    if not isinstance(entries, list):
        raise ProtocolError("config.notices content has no notices list", code="config_invalid")
    store = node.store
    code = store.node_code
    mine = []
    for entry in entries:
        if not isinstance(entry, Mapping) or type(entry.get("id")) is not int:
            continue
        audience = entry.get("audience")
        if audience != "all" and not (isinstance(audience, list) and code in audience):
            continue
        mine.append((entry["id"], str(entry.get("kind", "notice"))[:20],
                     str(entry.get("title", ""))[:200], str(entry.get("body", ""))[:10000],
                     str(entry.get("published_at", ""))[:40], version))
    now = format_ts(node.now())
    with store.transaction():
        ids = [m[0] for m in mine]
        if ids:
            store.conn.execute(f"DELETE FROM notices WHERE id NOT IN ({','.join('?' * len(ids))})",
                               ids)
        else:
            store.conn.execute("DELETE FROM notices")
        store.conn.executemany(
            "INSERT INTO notices (id, kind, title, body, published_at, version, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, "
            "title = excluded.title, body = excluded.body, "
            "published_at = excluded.published_at, version = excluded.version",
            [(*m, now) for m in mine])
    return len(mine)


def notices_for(node, user_id: str) -> list[dict]:
    cols = ("id", "kind", "title", "body", "published_at", "version", "read_at")
    return [dict(zip(cols, r)) for r in node.store.conn.execute(
        "SELECT n.id, n.kind, n.title, n.body, n.published_at, n.version, r.read_at "
        "FROM notices n LEFT JOIN notice_reads r ON r.notice_id = n.id AND r.user_id = ? "
        "ORDER BY n.id DESC", (user_id,))]


def unread_count(node, user_id: str) -> int:
    return node.store.conn.execute(
        "SELECT COUNT(*) FROM notices n WHERE NOT EXISTS (SELECT 1 FROM notice_reads r "
        "WHERE r.notice_id = n.id AND r.user_id = ?)", (user_id,)).fetchone()[0]


def notice(node, notice_id: int, user_id: str) -> dict:
    for n in notices_for(node, user_id):
        if n["id"] == notice_id:
            return n
    raise NotFound(f"notice {notice_id} not on this node", zh="没有这条通知")


def mark_read(node, notice_id: int, actor: Mapping) -> bool:
    """Record that ``actor`` read the notice (once); False if already recorded."""
    store = node.store
    found = notice(node, notice_id, actor["id"])
    if found["read_at"]:
        return False
    moment = node.now()
    with store.transaction():
        event = store.append_event("notice.read", None, {
            "actor": {"id": actor["id"], "role": actor["role"]}, "notice": notice_id,
            "version": found["version"]}, at=moment)
        store.conn.execute("INSERT INTO notice_reads (notice_id, user_id, read_at, seq) "
                           "VALUES (?, ?, ?, ?)", (notice_id, actor["id"], format_ts(moment),
                                                    event.seq))
    return True
