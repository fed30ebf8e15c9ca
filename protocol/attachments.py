"""Chunk manifests of attachments (SPEC.md section 14).

An attachment (a scanned material, a PDF) is named everywhere by the SHA-256 of its bytes,
and that hash is signed inside the event that references it (``disclosure.drafted``
carries ``{sha256, name, mime, size}``). The bytes travel separately from events, in
chunks of ``chunk_size`` bytes (64 KiB by default; the last one shorter), so a transfer
resumes after a break and a corrupt chunk is sent again alone. The manifest lists the
SHA-256 of every chunk::

    {"sha256": hex, "size": n, "mime": type, "chunk_size": c, "chunks": [hex, ...]}

A receiver checks each chunk against its hash on arrival (``attachment_chunk_corrupt``)
and the whole file against ``sha256`` and its type by magic bytes at the end
(``attachment_corrupt``), so a manifest that lies costs the sender a resend and stores
nothing.
"""

from __future__ import annotations

import hashlib
import re

from .disclosure import MAX_ATTACHMENT_BYTES, sniff_mime
from .errors import ProtocolError

CHUNK_SIZE = 64 * 1024
MIN_CHUNK = 4 * 1024
MAX_CHUNK = 1024 * 1024
ALLOWED_TYPES = ("application/pdf", "image/png", "image/jpeg")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class AttachmentError(ProtocolError):
    """``attachment_invalid``, ``attachment_too_large``, ``attachment_type_refused``,
    ``attachment_chunk_corrupt``, ``attachment_corrupt``."""

    code = "attachment_invalid"


def chunk_count(size: int, chunk_size: int) -> int:
    return max(1, -(-size // chunk_size))


def build_manifest(data: bytes, chunk_size: int = CHUNK_SIZE) -> dict:
    mime = sniff_mime(data)
    return check_manifest({
        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
        "mime": mime or "application/octet-stream", "chunk_size": chunk_size,
        "chunks": [hashlib.sha256(data[i:i + chunk_size]).hexdigest()
                   for i in range(0, max(len(data), 1), chunk_size)]})


def check_manifest(manifest: object) -> dict:
    """Return the manifest if it is well formed and within the limits, else raise."""
    if not isinstance(manifest, dict) or set(manifest) != {"sha256", "size", "mime",
                                                            "chunk_size", "chunks"}:
        raise AttachmentError("a manifest has exactly sha256, size, mime, chunk_size, chunks")
    sha, size, mime = manifest["sha256"], manifest["size"], manifest["mime"]
    chunk_size, chunks = manifest["chunk_size"], manifest["chunks"]
    if not isinstance(sha, str) or not HEX64.match(sha):
        raise AttachmentError("sha256 must be 64 lower-case hex characters", field="sha256")
    if type(size) is not int or size < 1:
        raise AttachmentError("size must be a positive integer", field="size")
    if size > MAX_ATTACHMENT_BYTES:
        raise AttachmentError(f"the attachment is {size} bytes, over the limit of "
                              f"{MAX_ATTACHMENT_BYTES} bytes (10 MiB)",
                              code="attachment_too_large", field="size")
    if mime not in ALLOWED_TYPES:
        raise AttachmentError(f"type {str(mime)[:40]!r} is refused: only PDF, PNG and JPEG",
                              code="attachment_type_refused", field="mime")
    if type(chunk_size) is not int or not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise AttachmentError(f"chunk_size must be between {MIN_CHUNK} and {MAX_CHUNK}",
                              field="chunk_size")
    if not isinstance(chunks, list) or len(chunks) != chunk_count(size, chunk_size) \
            or not all(isinstance(c, str) and HEX64.match(c) for c in chunks):
        raise AttachmentError("chunks must list the SHA-256 of every chunk", field="chunks")
    return manifest


def check_chunk(manifest: dict, index: int, data: bytes) -> None:
    if type(index) is not int or not 0 <= index < len(manifest["chunks"]):
        raise AttachmentError(f"chunk {index} does not exist", field="index")
    last = index == len(manifest["chunks"]) - 1
    expected = manifest["size"] - index * manifest["chunk_size"] if last \
        else manifest["chunk_size"]
    if len(data) != expected or hashlib.sha256(data).hexdigest() != manifest["chunks"][index]:
        raise AttachmentError(f"chunk {index} does not match its hash or length: send it "
                              "again", code="attachment_chunk_corrupt", field="index")


__all__ = ["AttachmentError", "CHUNK_SIZE", "build_manifest", "check_manifest", "check_chunk",
           "chunk_count"]
