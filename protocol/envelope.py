"""The signed event envelope (SPEC.md section 3).

An event is the canonical bytes of the envelope object::

    {"alg": "ed25519-sha256", "body": {...}, "case": "..."|null, "node": "...",
     "prev": "<64 hex>", "seq": 1, "ts": "2026-11-26T09:30:00.000+08:00", "type": "..."}

plus a 64-byte Ed25519 signature over the *entry hash* SHA-256(canonical). The *link hash*
SHA-256(canonical || signature) is what the next event carries as ``prev``, so the chain
commits to every signature.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import limits
from .canonical import canonical_bytes, parse_canonical
from .errors import EncodingError, EnvelopeError, SignatureError
from .keys import ALG_ED25519, SUPPORTED_ALGS, PrivateKey, PublicKey

GENESIS = "0" * 64
ENVELOPE_FIELDS = frozenset({"alg", "body", "case", "node", "prev", "seq", "ts", "type"})

NODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,31}$")
TYPE_RE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
CASE_RE = re.compile(r"^[A-Za-z0-9\-]{1,64}$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def format_ts(moment: datetime) -> str:
    """RFC 3339 with milliseconds and the node's UTC offset, e.g. 2026-11-26T09:30:00.000+08:00."""
    if moment.tzinfo is None:
        raise EnvelopeError("timestamps must carry a UTC offset", field="ts")
    return moment.isoformat(timespec="milliseconds")


def parse_ts(text: str) -> datetime:
    if not isinstance(text, str) or not TS_RE.match(text):
        raise EnvelopeError("ts must be RFC 3339 with milliseconds and offset, e.g. "
                            "2026-11-26T09:30:00.000+08:00", field="ts")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise EnvelopeError(f"ts {text!r} is not a real date and time", field="ts") from None


def check_envelope(env: Any) -> None:
    """Raise ``EnvelopeError`` naming the field unless ``env`` is a well-formed envelope."""
    if not isinstance(env, dict):
        raise EnvelopeError("an event must be a JSON object")
    missing = ENVELOPE_FIELDS - env.keys()
    if missing:
        raise EnvelopeError(f"event lacks field(s) {', '.join(sorted(missing))}",
                            field=sorted(missing)[0])
    extra = env.keys() - ENVELOPE_FIELDS
    if extra:
        raise EnvelopeError(f"event has unknown field(s) {', '.join(sorted(extra))}",
                            field=sorted(extra)[0])
    if env["alg"] not in SUPPORTED_ALGS:
        raise EnvelopeError(f"alg {env['alg']!r} is not supported", code="unknown_alg",
                            field="alg")
    if not isinstance(env["node"], str) or not NODE_RE.match(env["node"]):
        raise EnvelopeError("node must be 1-32 characters of A-Z a-z 0-9 -", field="node")
    seq = env["seq"]
    if type(seq) is not int or not 1 <= seq <= limits.MAX_INT:
        raise EnvelopeError("seq must be an integer from 1 to 2^53-1", field="seq")
    if not isinstance(env["prev"], str) or not HEX64_RE.match(env["prev"]):
        raise EnvelopeError("prev must be 64 lower-case hexadecimal characters", field="prev")
    if (seq == 1) != (env["prev"] == GENESIS):
        raise EnvelopeError("prev must be the genesis value exactly when seq is 1", field="prev")
    parse_ts(env["ts"])
    if not isinstance(env["type"], str) or not TYPE_RE.match(env["type"]):
        raise EnvelopeError("type must be 1-64 characters of a-z 0-9 _ . starting with a "
                            "letter", field="type")
    case = env["case"]
    if case is not None and (not isinstance(case, str) or not CASE_RE.match(case)):
        raise EnvelopeError("case must be null or 1-64 characters of A-Z a-z 0-9 -",
                            field="case")
    if not isinstance(env["body"], dict):
        raise EnvelopeError("body must be a JSON object", field="body")


@dataclass(frozen=True, slots=True)
class SignedEvent:
    """One event as it travels: its canonical bytes and its signature."""

    canonical: bytes
    signature: bytes
    env: dict
    entry_hash: bytes
    link_hash: bytes

    @classmethod
    def of(cls, canonical: bytes, signature: bytes, env: dict) -> "SignedEvent":
        entry = sha256(canonical)
        return cls(canonical, signature, env, entry, sha256(canonical + signature))

    @property
    def seq(self) -> int:
        return self.env["seq"]

    @property
    def prev(self) -> str:
        return self.env["prev"]

    @property
    def node(self) -> str:
        return self.env["node"]

    @property
    def type(self) -> str | None:
        return self.env.get("type")

    @property
    def case(self) -> str | None:
        return self.env.get("case")

    @property
    def body(self) -> dict | None:
        return self.env.get("body")

    @property
    def ts(self) -> str:
        return self.env["ts"]

    @property
    def link_hex(self) -> str:
        return self.link_hash.hex()

    def to_dict(self) -> dict:
        """JSON-able form for APIs and audit export (canonical as text, hex signature)."""
        return {"canonical": self.canonical.decode("utf-8"), "signature": self.signature.hex(),
                "hash": self.entry_hash.hex(), "link": self.link_hash.hex()}


def sign_event(key: PrivateKey, *, node: str, seq: int, prev: str, ts: str, type: str,
               case: str | None, body: dict, alg: str = ALG_ED25519) -> SignedEvent:
    """Build, bound-check and sign an event. Text is NFC-normalised before signing.

    Raises ``EncodingError``/``EnvelopeError`` for anything a hub would refuse, so a node
    never signs an event it could not deliver.
    """
    env = {"alg": alg, "body": body, "case": case, "node": node, "prev": prev, "seq": seq,
           "ts": ts, "type": type}
    check_envelope(env)
    canonical = canonical_bytes(env)
    if len(canonical) > limits.MAX_EVENT_BYTES:
        raise EnvelopeError(f"event is {len(canonical)} bytes, over the limit of "
                            f"{limits.MAX_EVENT_BYTES}", code="event_too_large", field="body")
    env = json.loads(canonical)
    return SignedEvent.of(canonical, key.sign(sha256(canonical)), env)


def decode_event(canonical: bytes, signature: bytes) -> SignedEvent:
    """Strictly decode an event from a peer: canonical form and envelope schema checked."""
    if len(canonical) > limits.MAX_EVENT_BYTES:
        raise EnvelopeError(f"event is {len(canonical)} bytes, over the limit of "
                            f"{limits.MAX_EVENT_BYTES}", code="event_too_large")
    env = parse_canonical(canonical)
    check_envelope(env)
    if len(signature) != 64:
        raise SignatureError("signature must be 64 bytes", code="signature_malformed",
                             field="signature", seq=env["seq"])
    return SignedEvent.of(canonical, bytes(signature), env)


def decode_event_fast(canonical: bytes, signature: bytes) -> SignedEvent:
    """Decode for the ack path: just enough to check the chain (seq, prev, node, type).

    Canonical order puts ``case, node, prev, seq, ts, type`` after ``body``, and none of
    their values can hold an unescaped quote, so the last ``,"case":`` starts the
    envelope's tail: only that tail is parsed, never the body. Content (canonical form,
    schema) is checked off the ack path, and an authentic event is never refused for what
    it says (SPEC.md section 6). Bytes without that tail are parsed whole.
    """
    if len(canonical) > limits.MAX_EVENT_BYTES:
        raise EnvelopeError(f"event is {len(canonical)} bytes, over the limit of "
                            f"{limits.MAX_EVENT_BYTES}", code="event_too_large")
    if len(signature) != 64:
        raise SignatureError("signature must be 64 bytes", code="signature_malformed",
                             field="signature")
    at = canonical.rfind(b',"case":')
    try:
        env = json.loads(b"{" + canonical[at + 1:]) if at > 0 else json.loads(canonical)
    except (ValueError, RecursionError):
        try:
            env = json.loads(canonical)
        except (ValueError, RecursionError):
            raise EncodingError("event is not valid JSON", code="invalid_json") from None
    if (not isinstance(env, dict) or type(env.get("seq")) is not int
            or not isinstance(env.get("prev"), str) or not isinstance(env.get("node"), str)):
        raise EnvelopeError("event lacks a usable seq, prev or node")
    return SignedEvent.of(canonical, bytes(signature), _LazyEnvelope(canonical, env))


class _LazyEnvelope(dict):
    """The envelope's tail, parsing the whole event only when another member is read."""

    __slots__ = ("_canonical", "_full")

    def __init__(self, canonical: bytes, tail: dict) -> None:
        super().__init__(tail)
        self._canonical = canonical
        self._full = False

    def _load(self) -> None:
        if not self._full:
            self._full = True
            try:
                full = json.loads(self._canonical)
            except (ValueError, RecursionError):
                return
            if isinstance(full, dict):
                for key, value in full.items():
                    dict.setdefault(self, key, value)

    def __missing__(self, key):
        self._load()
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def get(self, key, default=None):
        if not dict.__contains__(self, key):
            self._load()
        return dict.get(self, key, default)

    def __contains__(self, key) -> bool:
        if not dict.__contains__(self, key):
            self._load()
        return dict.__contains__(self, key)


def verify_event(event: SignedEvent, key: PublicKey) -> None:
    """Raise ``SignatureError`` unless ``event`` carries a valid signature by ``key``."""
    if event.env.get("alg") not in SUPPORTED_ALGS:
        raise EnvelopeError(f"alg {event.env.get('alg')!r} is not supported",
                            code="unknown_alg", field="alg", seq=event.env.get("seq"))
    try:
        key.verify(event.signature, event.entry_hash)
    except SignatureError as exc:
        exc.seq = event.env.get("seq")
        raise


def open_event(canonical: bytes, signature: bytes, key: PublicKey) -> SignedEvent:
    """Verify one event from a peer in the order of SPEC.md section 4.4: canonical form and
    envelope, signature shape, then the signature itself. (The key was checked when the
    ``PublicKey`` was built.)"""
    event = decode_event(canonical, signature)
    verify_event(event, key)
    return event
