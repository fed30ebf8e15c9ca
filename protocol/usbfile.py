"""Export files: signed batches carried to the hub on a USB stick (SPEC.md section 13).

A township that is off-line for days exports its unacknowledged events (and attachment
chunks) to a file; the hub imports it with the same checks as an HTTP push and answers
with an ack file (a hub-signed ``ack`` document, SPEC section 8). The file carries
personal data, so it is encrypted to the hub's X25519 encryption key, and it is signed
by the node so that an import is authenticated like a signed request.

Layout::

    file    = "TSX1" | u8 major | u8 minor | u16be h | header (h bytes) | frame*
    header  = canonical JSON {"chunk_size", "created", "ephemeral", "file_id",
                              "hub_key", "kind": "township.export", "node"}
    frame   = u32be n | n bytes: AES-256-GCM ciphertext (with its 16-byte tag)

    shared  = X25519(ephemeral private, hub encryption public)
    key     = HKDF-SHA256(shared, salt = ephemeral public || hub public,
                          info = "township.export.v1", 32 bytes)
    nonce_i = 4 zero bytes | u64be i          (i = 0, 1, 2 ... frame index)
    aad_i   = SHA-256(everything before the first frame) | u8 final   (final: 1 on the
              last frame, else 0)

The plaintext of the frames, concatenated, is a sequence of records
``u8 type | u32be n | n bytes``: type 1 a batch (SPEC section 6, exactly the bytes a
push would send), type 2 an attachment chunk (``u16be m | m bytes canonical JSON
{"index", "sha256"} | the chunk's bytes``), type 255 the trailer, which MUST be last:
``u16be m | m bytes canonical JSON {"context": "township.export.v1", "file_id",
"header_sha256", "node", "payload_sha256", "records"} | 64 bytes Ed25519 signature``
over SHA-256 of those JSON bytes by the key the node signs its requests with.
``payload_sha256`` covers every record before the trailer. Frames hold at most
``chunk_size`` plaintext bytes, so neither side holds a whole file in memory; counter
nonces with the final flag make a reordered, dropped or truncated frame fail to decrypt.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import limits
from .canonical import canonical_bytes, parse_canonical
from .envelope import NODE_RE
from .errors import ProtocolError
from .keys import PrivateKey, PublicKey, fingerprint
from .version import PROTOCOL_VERSION, check_version

MAGIC = b"TSX1"
KIND = "township.export"
CONTEXT = "township.export.v1"
DEFAULT_CHUNK = 64 * 1024
MAX_CHUNK = 1024 * 1024
MAX_HEADER = 4096
MAX_RECORD = limits.MAX_BATCH_COMPRESSED + 64 * 1024
MAX_FILE_BYTES = 4 * 1024 ** 3

RECORD_BATCH = 1
RECORD_ATTACHMENT = 2
RECORD_TRAILER = 255

_PREFIX = struct.Struct(">4sBBH")


class ExportFileError(ProtocolError):
    """``file_malformed``, ``file_not_for_this_hub``, ``file_corrupt`` (a frame fails to
    decrypt: edited, reordered or cut), ``file_truncated``, ``file_too_large``."""

    code = "file_malformed"


def encryption_fingerprint(public_hex: str) -> str:
    return fingerprint(bytes.fromhex(public_hex))


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _derive(shared: bytes, ephemeral: bytes, hub: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + hub,
                info=CONTEXT.encode("ascii")).derive(shared)


def _nonce(index: int) -> bytes:
    return b"\0\0\0\0" + index.to_bytes(8, "big")


class ExportWriter:
    """Write an export file to ``out`` (see the module docs); call :meth:`finish`."""

    def __init__(self, out: BinaryIO, *, hub_encryption_key: str, node: str,
                 signing_key: PrivateKey, created: str, chunk_size: int = DEFAULT_CHUNK,
                 file_id: str | None = None,
                 ephemeral: X25519PrivateKey | None = None) -> None:
        """``ephemeral``: a fixed key for the test vectors only. Never pass one otherwise:
        the same ephemeral key with the same hub key gives the same AES key, and the frame
        nonces repeat from file to file."""
        if not 1024 <= chunk_size <= MAX_CHUNK:
            raise ExportFileError("chunk size must be between 1 KiB and 1 MiB")
        hub_pub = X25519PublicKey.from_public_bytes(bytes.fromhex(hub_encryption_key))
        ephemeral = ephemeral or X25519PrivateKey.generate()
        eph_raw = _raw(ephemeral.public_key())
        self.file_id = file_id or secrets.token_hex(16)
        self.node = node
        header = canonical_bytes({
            "chunk_size": chunk_size, "created": created, "ephemeral": eph_raw.hex(),
            "file_id": self.file_id, "hub_key": encryption_fingerprint(hub_encryption_key),
            "kind": KIND, "node": node})
        prefix = _PREFIX.pack(MAGIC, PROTOCOL_VERSION[0], PROTOCOL_VERSION[1], len(header))
        self._aad = hashlib.sha256(prefix + header).digest()
        self._aead = AESGCM(_derive(ephemeral.exchange(hub_pub), eph_raw, _raw(hub_pub)))
        self._out = out
        self._chunk = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._payload = hashlib.sha256()
        self._records = 0
        self._key = signing_key
        self.bytes_written = len(prefix) + len(header)
        out.write(prefix + header)

    def _record(self, kind: int, data: bytes) -> None:
        if len(data) > MAX_RECORD:
            raise ExportFileError(f"record of {len(data)} bytes is over {MAX_RECORD}",
                                  code="file_too_large")
        record = bytes([kind]) + len(data).to_bytes(4, "big") + data
        if kind != RECORD_TRAILER:
            self._payload.update(record)
            self._records += 1
        self._buffer += record
        while len(self._buffer) > self._chunk:
            self._frame(bytes(self._buffer[:self._chunk]), final=False)
            del self._buffer[:self._chunk]

    def _frame(self, plain: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._index), plain, self._aad + bytes([final]))
        self._out.write(len(sealed).to_bytes(4, "big") + sealed)
        self.bytes_written += 4 + len(sealed)
        self._index += 1

    def add_batch(self, batch: bytes) -> None:
        self._record(RECORD_BATCH, batch)

    def add_attachment_chunk(self, sha256: str, index: int, data: bytes) -> None:
        meta = canonical_bytes({"index": index, "sha256": sha256})
        self._record(RECORD_ATTACHMENT, len(meta).to_bytes(2, "big") + meta + data)

    def finish(self) -> str:
        """Write the signed trailer and the final frame; return the file id."""
        trailer = canonical_bytes({
            "context": CONTEXT, "file_id": self.file_id, "header_sha256": self._aad.hex(),
            "node": self.node, "payload_sha256": self._payload.hexdigest(),
            "records": self._records})
        signature = self._key.sign(hashlib.sha256(trailer).digest())
        self._record(RECORD_TRAILER, len(trailer).to_bytes(2, "big") + trailer + signature)
        self._frame(bytes(self._buffer), final=True)
        self._buffer.clear()
        self._out.flush()
        return self.file_id


@dataclass(frozen=True)
class Record:
    kind: int
    data: bytes                 # a batch, or an attachment chunk's bytes
    sha256: str | None = None   # attachment chunks
    index: int | None = None


class ExportFile:
    """An export file opened for reading with one of the hub's encryption keys.

    :func:`open_export` decrypts every frame once (checking the AEAD, the record
    structure and the trailer) without keeping the plaintext; :meth:`verify` checks the
    node's signature; :meth:`records` decrypts again and yields the records in order.
    """

    def __init__(self, fh: BinaryIO, header: dict, header_end: int, aead: AESGCM,
                 aad: bytes, trailer: dict, trailer_bytes: bytes, signature: bytes,
                 file_sha256: str) -> None:
        self._fh = fh
        self.header = header
        self._start = header_end
        self._aead = aead
        self._aad = aad
        self.trailer = trailer
        self._trailer_bytes = trailer_bytes
        self.signature = signature
        self.file_sha256 = file_sha256

    @property
    def node(self) -> str:
        return self.header["node"]

    @property
    def file_id(self) -> str:
        return self.header["file_id"]

    def verify(self, key: PublicKey) -> None:
        """Raise ``signature_invalid``/``signature_malformed`` unless ``key`` signed it."""
        key.verify(self.signature, hashlib.sha256(self._trailer_bytes).digest())

    def _plain(self) -> Iterator[bytes]:
        fh = self._fh
        fh.seek(self._start)
        index = 0
        while True:
            head = fh.read(4)
            if not head:
                raise ExportFileError("the file ends before its final frame",
                                      code="file_truncated")
            if len(head) < 4:
                raise ExportFileError("the file ends inside a frame", code="file_truncated")
            n = int.from_bytes(head, "big")
            if not 16 <= n <= self.header["chunk_size"] + 16:
                raise ExportFileError(f"frame {index} has an impossible length {n}",
                                      code="file_corrupt")
            sealed = fh.read(n)
            if len(sealed) < n:
                raise ExportFileError("the file ends inside a frame", code="file_truncated")
            pos = fh.tell()
            final = fh.read(1) == b""
            fh.seek(pos)
            try:
                plain = self._aead.decrypt(_nonce(index), sealed, self._aad + bytes([final]))
            except InvalidTag:
                try:   # decrypts with the other flag: frames were cut off or appended
                    self._aead.decrypt(_nonce(index), sealed, self._aad + bytes([not final]))
                except InvalidTag:
                    raise ExportFileError(
                        f"frame {index} does not decrypt: the file was altered or its "
                        "frames reordered", code="file_corrupt") from None
                if final:
                    raise ExportFileError("the file ends before its final frame",
                                          code="file_truncated") from None
                raise ExportFileError("the file has data after its final frame",
                                      code="file_malformed") from None
            yield plain
            index += 1
            if final:
                return

    def _raw_records(self) -> Iterator[tuple[int, bytes]]:
        buffer = bytearray()
        frames = self._plain()
        done = False
        while True:
            while len(buffer) < 5 and not done:
                try:
                    buffer += next(frames)
                except StopIteration:
                    done = True
            if not buffer and done:
                return
            if len(buffer) < 5:
                raise ExportFileError("the payload ends inside a record", code="file_malformed")
            kind = buffer[0]
            n = int.from_bytes(buffer[1:5], "big")
            if n > MAX_RECORD:
                raise ExportFileError(f"a record of {n} bytes is over {MAX_RECORD}",
                                      code="file_too_large")
            while len(buffer) < 5 + n and not done:
                try:
                    buffer += next(frames)
                except StopIteration:
                    done = True
            if len(buffer) < 5 + n:
                raise ExportFileError("the payload ends inside a record", code="file_malformed")
            data = bytes(buffer[5:5 + n])
            del buffer[:5 + n]
            yield kind, data

    def records(self) -> Iterator[Record]:
        """Batches and attachment chunks, in file order (the trailer is not yielded)."""
        for kind, data in self._raw_records():
            if kind == RECORD_BATCH:
                yield Record(kind, data)
            elif kind == RECORD_ATTACHMENT:
                meta, chunk = _split_meta(data)
                yield Record(kind, chunk, sha256=meta["sha256"], index=meta["index"])
            elif kind == RECORD_TRAILER:
                return


def _split_meta(data: bytes) -> tuple[dict, bytes]:
    if len(data) < 2:
        raise ExportFileError("an attachment record is too short")
    m = int.from_bytes(data[:2], "big")
    try:
        meta = parse_canonical(data[2:2 + m], max_bytes=1024)
    except ProtocolError:
        raise ExportFileError("an attachment record's header is not canonical JSON") from None
    if not isinstance(meta, dict) or set(meta) != {"index", "sha256"} \
            or type(meta["index"]) is not int or not isinstance(meta["sha256"], str):
        raise ExportFileError("an attachment record's header is invalid")
    return meta, data[2 + m:]


def open_export(fh: BinaryIO, keys: Sequence[X25519PrivateKey]) -> ExportFile:
    """Open an export file with whichever of ``keys`` it was encrypted to (see the class)."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    if size > MAX_FILE_BYTES:
        raise ExportFileError(f"the file is {size} bytes, over {MAX_FILE_BYTES}",
                              code="file_too_large")
    prefix = fh.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size or prefix[:4] != MAGIC:
        raise ExportFileError("not an export file (bad magic bytes)")
    _, major, minor, h = _PREFIX.unpack(prefix)
    check_version(f"{major}.{minor}")
    if h > MAX_HEADER:
        raise ExportFileError("the header is too large")
    header_bytes = fh.read(h)
    try:
        header = parse_canonical(header_bytes, max_bytes=MAX_HEADER)
    except ProtocolError:
        raise ExportFileError("the header is not canonical JSON") from None
    fields = {"chunk_size", "created", "ephemeral", "file_id", "hub_key", "kind", "node"}
    if not isinstance(header, dict) or set(header) != fields or header["kind"] != KIND \
            or not isinstance(header["node"], str) or not NODE_RE.match(header["node"]) \
            or type(header["chunk_size"]) is not int \
            or not 1024 <= header["chunk_size"] <= MAX_CHUNK \
            or not isinstance(header["file_id"], str) or not 16 <= len(header["file_id"]) <= 64:
        raise ExportFileError("the header lacks a field or has one out of its form")
    try:
        eph_raw = bytes.fromhex(header["ephemeral"])
        ephemeral = X25519PublicKey.from_public_bytes(eph_raw)
    except (ValueError, TypeError):
        raise ExportFileError("the header's ephemeral key is invalid") from None
    hub = next((k for k in keys
                if encryption_fingerprint(_raw(k.public_key()).hex()) == header["hub_key"]), None)
    if hub is None:
        raise ExportFileError(
            f"the file is encrypted to hub key {header['hub_key']}, which is not this hub's",
            code="file_not_for_this_hub")
    try:
        shared = hub.exchange(ephemeral)
    except ValueError:
        raise ExportFileError("the header's ephemeral key is invalid") from None
    aad = hashlib.sha256(prefix + header_bytes).digest()
    aead = AESGCM(_derive(shared, eph_raw, _raw(hub.public_key())))
    reader = ExportFile(fh, header, fh.tell(), aead, aad, {}, b"", b"", "")
    payload = hashlib.sha256()
    count = 0
    trailer = None
    for kind, data in reader._raw_records():
        if trailer is not None:
            raise ExportFileError("records follow the trailer")
        if kind == RECORD_TRAILER:
            trailer = data
            continue
        if kind not in (RECORD_BATCH, RECORD_ATTACHMENT):
            raise ExportFileError(f"unknown record type {kind}")
        payload.update(bytes([kind]) + len(data).to_bytes(4, "big") + data)
        count += 1
    if trailer is None or len(trailer) < 2 + 64:
        raise ExportFileError("the file has no trailer", code="file_truncated")
    m = int.from_bytes(trailer[:2], "big")
    body, signature = trailer[2:2 + m], trailer[2 + m:]
    try:
        info = parse_canonical(body, max_bytes=1024)
    except ProtocolError:
        raise ExportFileError("the trailer is not canonical JSON") from None
    if len(signature) != 64 or not isinstance(info, dict) or info.get("context") != CONTEXT \
            or info.get("file_id") != header["file_id"] or info.get("node") != header["node"] \
            or info.get("header_sha256") != aad.hex() \
            or info.get("payload_sha256") != payload.hexdigest() or info.get("records") != count:
        raise ExportFileError("the trailer does not match the file's contents",
                              code="file_corrupt")
    fh.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return ExportFile(fh, header, reader._start, aead, aad, info, body, signature,
                      digest.hexdigest())


__all__ = ["ExportFile", "ExportFileError", "ExportWriter", "Record", "open_export",
           "encryption_fingerprint", "RECORD_BATCH", "RECORD_ATTACHMENT"]
