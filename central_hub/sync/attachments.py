"""Chunked, resumable attachment uploads from nodes (docs/sync-field.md).

``PUT /sync/v1/attachments/{sha}`` registers the chunk manifest (``protocol.attachments``)
and answers the upload's status; ``PUT /sync/v1/attachments/{sha}/chunks/{i}`` stores one
chunk after checking it against its hash; ``GET /sync/v1/attachments/{sha}/status`` says
which chunks the hub holds, so a node resumes after a break by sending only the missing
ones. All three are signed requests (:mod:`.auth`). Chunks are written at their offset
into ``DATA_DIR/attachments/ab/<sha>.part``; when every chunk is there the whole file is
checked against its SHA-256 and its type by magic bytes, then renamed into place and
recorded complete in ``attachment_blobs`` (the portal shows it from then on).

Limits, each a clear refusal: at most 10 MiB (``attachment_too_large``, 413), PDF, PNG or
JPEG (``attachment_type_refused``, 415), the hash must be referenced by a synced document
with that type and size (``attachment_unreferenced``, 409: the node retries after its
events arrive), a chunk that does not match its hash (``attachment_chunk_corrupt``, 422:
send it again), a whole file that does not match (``attachment_corrupt``, 422: the
chunks are dropped and the upload starts over).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from protocol.attachments import AttachmentError, check_chunk, check_manifest, chunk_count
from protocol.disclosure import sniff_mime

from ..disclosure.attachments import path_of
from ..errors import HubError
from ..store import disclosure as disclosure_sql
from ..store import field as sql

logger = logging.getLogger(__name__)


def _refuse(exc: AttachmentError) -> HubError:
    return HubError(exc.message, code=exc.code)


def upload_status(store, sha256: str) -> dict:
    blob = disclosure_sql.blob(store, sha256)
    upload = sql.upload(store, sha256)
    complete = bool(blob and blob["complete"])
    if upload is None:
        return {"sha256": sha256, "complete": complete, "have": [], "missing": None,
                "chunks": None}
    have = sql.chunks_held(store, sha256)
    n = len(upload["chunks"])
    return {"sha256": sha256, "complete": complete, "chunks": n,
            "chunk_size": upload["chunk_size"], "have": have,
            "missing": [] if complete else sorted(set(range(n)) - set(have))}


def register_upload(store, config, node_code: str, sha256: str, manifest: dict) -> dict:
    try:
        manifest = check_manifest(manifest)
    except AttachmentError as exc:
        raise _refuse(exc) from None
    if manifest["sha256"] != sha256:
        raise HubError("the manifest names another hash than the URL", code="attachment_invalid")
    refs = disclosure_sql.attachment_refs(store, sha256)
    if not refs:
        raise HubError("no synced document references this attachment yet; send it after "
                       "the events that reference it", code="attachment_unreferenced")
    if any(r["mime"] != manifest["mime"] or r["size"] != manifest["size"] for r in refs):
        raise HubError("the attachment's type or size differs from what its document "
                       "declares", code="attachment_invalid")
    status = upload_status(store, sha256)
    if status["complete"]:
        return status
    current = sql.upload(store, sha256)
    if current is None or current["chunks"] != manifest["chunks"] \
            or current["chunk_size"] != manifest["chunk_size"]:
        sql.start_upload(store, sha256, node_code, manifest["mime"], manifest["size"],
                         manifest["chunk_size"], manifest["chunks"], config.now_ts())
        disclosure_sql.put_blob(store, sha256, manifest["mime"], manifest["size"], 0, False,
                                config.now_ts())
    return upload_status(store, sha256)


def receive_chunk(store, config, sha256: str, index: int, data: bytes) -> dict:
    upload = sql.upload(store, sha256)
    if upload is None:
        if (disclosure_sql.blob(store, sha256) or {}).get("complete"):
            return upload_status(store, sha256)
        raise HubError("send the manifest first (PUT /sync/v1/attachments/{sha})",
                       code="attachment_unknown")
    manifest = {k: upload[k] for k in ("sha256", "size", "mime", "chunk_size", "chunks")}
    try:
        check_chunk(manifest, index, data)
    except AttachmentError as exc:
        raise _refuse(exc) from None
    path = path_of(Path(config.data_dir), sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(sha256 + ".part")
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, data, index * upload["chunk_size"])
        os.fsync(fd)
    finally:
        os.close(fd)
    sql.add_chunk(store, sha256, index, config.now_ts())
    held = sql.chunks_held(store, sha256)
    n = chunk_count(upload["size"], upload["chunk_size"])
    disclosure_sql.put_blob(store, sha256, upload["mime"], upload["size"],
                            min(upload["size"], len(held) * upload["chunk_size"]), False,
                            config.now_ts())
    if len(held) == n:
        _finish(store, config, upload, part, path)
    return upload_status(store, sha256)


def _finish(store, config, upload: dict, part: Path, path: Path) -> None:
    sha = upload["sha256"]
    digest = hashlib.sha256()
    with open(part, "rb") as fh:
        head = fh.read(16)
        digest.update(head)
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    size = part.stat().st_size
    if digest.hexdigest() != sha or size != upload["size"] or sniff_mime(head) != upload["mime"]:
        bad = _bad_chunks(part, upload)
        if bad:        # damaged on disk since they arrived: only those are sent again
            sql.drop_chunks(store, sha, bad)
            raise HubError(f"chunks {bad} no longer match their hashes; send them again",
                           code="attachment_corrupt")
        sql.drop_chunks(store, sha)      # every chunk matches a manifest that lies
        part.unlink(missing_ok=True)
        raise HubError("the assembled attachment does not match its hash or type; the "
                       "upload starts over", code="attachment_corrupt")
    part.replace(path)
    disclosure_sql.put_blob(store, sha, upload["mime"], upload["size"], upload["size"], True,
                            config.now_ts())
    logger.info("attachment %s complete (%d bytes)", sha, upload["size"])


def _bad_chunks(part: Path, upload: dict) -> list[int]:
    bad = []
    with open(part, "rb") as fh:
        for index, expected in enumerate(upload["chunks"]):
            data = fh.read(upload["chunk_size"])
            if hashlib.sha256(data).hexdigest() != expected:
                bad.append(index)
    return bad


__all__ = ["register_upload", "receive_chunk", "upload_status"]
