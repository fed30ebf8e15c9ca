"""Attachment files at the hub, content-addressed by SHA-256.

A node's ``disclosure.drafted`` event names each attachment by ``sha256``, name, type and
size; the bytes travel separately (the chunked attachment transport of a later issue, or
:func:`receive_attachment` for a whole file). Files live in
``DATA_DIR/attachments/<sha[:2]>/<sha>``; a transfer in progress writes
``<sha>.part`` and records ``received_bytes`` in ``attachment_blobs``, so a resumed
transfer knows where to continue. A file becomes visible only when its hash, type and
size match what the event declared. Until then the portal shows "附件待传输".
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from protocol.disclosure import MAX_ATTACHMENT_BYTES, sniff_mime

from ..store import disclosure as sql


class AttachmentRejected(ValueError):
    """The bytes do not match any attachment a document references."""

    def __init__(self, zh: str) -> None:
        super().__init__(zh)
        self.zh = zh


def root(data_dir: Path) -> Path:
    return Path(data_dir) / "attachments"


def path_of(data_dir: Path, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise AttachmentRejected("附件摘要格式不正确")
    return root(data_dir) / sha256[:2] / sha256


def receive_attachment(store, data_dir: Path, data: bytes, now: str) -> str:
    """Store the bytes of an attachment some document references; returns its hash.

    Refused unless a synced document names this hash with the same type and size, so the
    hub stores nothing nobody published."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentRejected("附件过大")
    sha = hashlib.sha256(data).hexdigest()
    refs = sql.attachment_refs(store, sha)
    mime = sniff_mime(data)
    if not refs:
        raise AttachmentRejected("没有公开文件引用该附件")
    if any(r["mime"] != mime or r["size"] != len(data) for r in refs):
        raise AttachmentRejected("附件类型或大小与公开文件登记的不符")
    path = path_of(data_dir, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(sha + ".part")
    with open(part, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    part.replace(path)
    sql.put_blob(store, sha, mime, len(data), len(data), True, now)
    return sha


def available(store, data_dir: Path, sha256: str) -> Path | None:
    """The file of ``sha256`` when it has fully arrived, else None."""
    blob = sql.blob(store, sha256)
    if not blob or not blob["complete"]:
        return None
    path = path_of(data_dir, sha256)
    return path if path.exists() else None
