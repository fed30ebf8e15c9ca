"""Batches: a run of events as compressed bytes (SPEC.md section 6).

Layout::

    "TSB1" | u8 major | u8 minor | u32be count | raw DEFLATE (RFC 1951) of the records
    record = u8 flags | uvarint n | n bytes (event canonical) | 64 bytes signature

Flag 0x01 (protocol 1.1 and later) means the record's ``prev`` was elided: the canonical
bytes carry ``"prev":""`` and the decoder puts back the link hash of the record before it.
Decoding is bounded everywhere: count, compressed bytes, inflated bytes (inflation stops
at the limit, whatever the stream claims), bytes per event; trailing data is refused.
"""

from __future__ import annotations

import struct
import zlib
from typing import Iterable, Iterator, Sequence

from . import limits
from .envelope import SignedEvent, decode_event, decode_event_fast
from .errors import BatchError, ProtocolError
from .version import PROTOCOL_VERSION, check_version, version_string

MAGIC = b"TSB1"
FLAG_PREV_ELIDED = 0x01
_HEADER = struct.Struct(">4sBBI")
_ELIDED = b'"prev":""'


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(5):
        if pos >= len(data):
            raise BatchError("batch ends inside a record length", code="batch_malformed")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise BatchError("record length is not a valid varint", code="batch_malformed")


def _elide(event: SignedEvent) -> bytes:
    marker = b'"prev":"' + event.prev.encode("ascii") + b'"'
    at = event.canonical.rfind(marker)
    return event.canonical[:at] + _ELIDED + event.canonical[at + len(marker):]


def encode_batch(events: Sequence[SignedEvent],
                 version: tuple[int, int] = PROTOCOL_VERSION) -> bytes:
    """Encode events (one node's, in seq order) as batch bytes. Raises if over a limit."""
    if len(events) > limits.MAX_BATCH_EVENTS:
        raise BatchError(f"{len(events)} events exceed the batch limit of "
                         f"{limits.MAX_BATCH_EVENTS}", code="batch_too_large")
    elide = version >= (1, 1)
    body = bytearray()
    previous: SignedEvent | None = None
    for event in events:
        flags, data = 0, event.canonical
        if elide and previous is not None and event.prev == previous.link_hex:
            flags, data = FLAG_PREV_ELIDED, _elide(event)
        body.append(flags)
        body += _uvarint(len(data))
        body += data
        body += event.signature
        previous = event
    if len(body) > limits.MAX_BATCH_DECOMPRESSED:
        raise BatchError(f"batch inflates to {len(body)} bytes, over the limit of "
                         f"{limits.MAX_BATCH_DECOMPRESSED}", code="batch_too_large")
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    packed = comp.compress(bytes(body)) + comp.flush()
    out = _HEADER.pack(MAGIC, version[0], version[1], len(events)) + packed
    if len(out) > limits.MAX_BATCH_COMPRESSED:
        raise BatchError(f"batch is {len(out)} bytes, over the limit of "
                         f"{limits.MAX_BATCH_COMPRESSED}", code="batch_too_large")
    return out


def split_batches(events: Iterable[SignedEvent], max_events: int = 500,
                  max_raw_bytes: int = 512 * 1024) -> Iterator[list[SignedEvent]]:
    """Group events into runs that each encode within the limits."""
    run: list[SignedEvent] = []
    size = 0
    for event in events:
        cost = len(event.canonical) + 70
        if run and (len(run) >= max_events or size + cost > max_raw_bytes):
            yield run
            run, size = [], 0
        run.append(event)
        size += cost
    if run:
        yield run


def batch_version(data: bytes) -> tuple[int, int]:
    if len(data) < _HEADER.size or data[:4] != MAGIC:
        raise BatchError("not a batch (bad magic bytes)", code="batch_malformed")
    _, major, minor, _ = _HEADER.unpack_from(data)
    return check_version(f"{major}.{minor}")


def _inflate(packed: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(packed, limit + 1)
    except zlib.error as exc:
        raise BatchError(f"batch payload is not valid DEFLATE data: {exc}",
                         code="batch_malformed") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BatchError(f"batch inflates to more than {limit} bytes", code="batch_too_large")
    if not inflater.eof:
        raise BatchError("batch payload is truncated", code="batch_malformed")
    if inflater.unused_data:
        raise BatchError("batch has trailing data after its payload",
                         code="batch_trailing_data")
    return out


def decode_batch(data: bytes, *, strict: bool = True,
                 max_events: int = limits.MAX_BATCH_EVENTS,
                 max_compressed: int = limits.MAX_BATCH_COMPRESSED,
                 max_decompressed: int = limits.MAX_BATCH_DECOMPRESSED) -> list[SignedEvent]:
    """Decode batch bytes into events, within hard limits.

    ``strict`` also checks each event's canonical form and envelope schema; the hub's ack
    path passes False and checks content later (an authentic event is never refused for
    what it says). Only ``ProtocolError`` subclasses escape.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise BatchError("batch must be bytes", code="batch_malformed")
    if len(data) > max_compressed:
        raise BatchError(f"batch is {len(data)} bytes, over the limit of {max_compressed}",
                         code="batch_too_large")
    batch_version(data)
    _, _, _, count = _HEADER.unpack_from(data)
    if count > max_events:
        raise BatchError(f"batch declares {count} events, over the limit of {max_events}",
                         code="batch_too_large")
    body = _inflate(bytes(data[_HEADER.size:]), max_decompressed)
    decode = decode_event if strict else decode_event_fast
    events: list[SignedEvent] = []
    pos = 0
    previous: SignedEvent | None = None
    for index in range(count):
        if pos >= len(body):
            raise BatchError(f"batch declares {count} events but holds {index}",
                             code="batch_malformed")
        flags = body[pos]
        n, pos = _read_uvarint(body, pos + 1)
        if flags & ~FLAG_PREV_ELIDED:
            raise BatchError(f"record {index} has unknown flags {flags:#x}",
                             code="batch_malformed")
        if n > limits.MAX_EVENT_BYTES:
            raise BatchError(f"record {index} is {n} bytes, over the event limit of "
                             f"{limits.MAX_EVENT_BYTES}", code="batch_too_large")
        end = pos + n + 64
        if end > len(body):
            raise BatchError(f"record {index} is truncated", code="batch_malformed")
        canonical, signature = body[pos:pos + n], body[pos + n:end]
        pos = end
        if flags & FLAG_PREV_ELIDED:
            if previous is None:
                raise BatchError("the first record cannot elide prev", code="batch_malformed")
            at = canonical.rfind(_ELIDED)
            if at < 0:
                raise BatchError(f"record {index} is flagged elided but has no empty prev",
                                 code="batch_malformed")
            canonical = (canonical[:at] + b'"prev":"' + previous.link_hex.encode("ascii")
                         + b'"' + canonical[at + len(_ELIDED):])
        try:
            event = decode(canonical, signature)
        except ProtocolError as exc:
            exc.message = f"record {index}: {exc.message}"
            raise
        events.append(event)
        previous = event
    if pos != len(body):
        raise BatchError("batch has trailing data after its last record",
                         code="batch_trailing_data")
    return events


__all__ = ["MAGIC", "encode_batch", "decode_batch", "split_batches", "batch_version",
           "version_string"]
