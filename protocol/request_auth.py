"""Signed node requests (docs/sync.md, "Request signing").

Every request a node makes to the hub after enrolment is signed with the node's key. The
signed message is SHA-256 of the canonical bytes of::

    {"body_sha256": "<64 hex>", "method": "POST", "node": "<code>", "nonce": "<32+ hex>",
     "offset_ms": <int>, "path": "/sync/v1/push", "ts": "<RFC 3339 ms with offset>"}

carried in headers ``X-Node``, ``X-Timestamp``, ``X-Nonce``, ``X-Body-SHA256``,
``X-Clock-Offset`` (``offset_ms``), ``X-Signature`` (128 hex) and ``X-Protocol-Version``.
``path`` is the request path with its query string (``?a=b``) when there is one.

Time. ``ts`` is the node's *corrected* clock: every hub response carries hub time, the node
keeps ``offset_ms = hub time - local clock`` and signs ``local clock + offset_ms``. The node
also signs ``offset_ms`` itself, so the hub learns the skew of the node's own clock (for
supervision) even though the corrected timestamps it receives are close to hub time.
A request whose ``ts`` lies outside the hub's window (replay protection) is refused with
``request_expired``; that refusal carries hub time like every response, so a node with a
wildly wrong clock corrects itself and succeeds on the next try.

Replays. A nonce is accepted once per node within the window; the hub keeps the nonces it
has seen for at least twice the window. Checking the nonce needs the hub's store, so this
module only provides :class:`RequestAuthError` with code ``request_replayed`` for it.

Errors (all :class:`RequestAuthError`, a ``ProtocolError``):
``request_unsigned`` (a header is missing or malformed), ``request_signature_invalid``
(signature or body hash do not match), ``request_expired`` (outside the window),
``request_replayed`` (nonce already used; raised by the hub).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from .canonical import canonical_bytes
from .envelope import NODE_RE, format_ts, parse_ts
from .errors import EnvelopeError, ProtocolError, SignatureError
from .keys import PrivateKey, PublicKey
from .version import version_string

H_NODE = "X-Node"
H_TIMESTAMP = "X-Timestamp"
H_NONCE = "X-Nonce"
H_BODY_SHA256 = "X-Body-SHA256"
H_OFFSET = "X-Clock-Offset"
H_SIGNATURE = "X-Signature"
H_VERSION = "X-Protocol-Version"
H_HUB_TIME = "X-Hub-Time"          # on every hub response
H_HUB_KEY = "X-Hub-Key"            # on every hub response: hex of the hub's current signing key

SIGNED_HEADERS = (H_NODE, H_TIMESTAMP, H_NONCE, H_BODY_SHA256, H_OFFSET, H_SIGNATURE)
DEFAULT_WINDOW_SECONDS = 15 * 60
MAX_OFFSET_MS = 10 * 365 * 86400 * 1000   # a node clock off by more than ten years is broken

_NONCE_RE = re.compile(r"^[0-9a-f]{32,128}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_SIG_RE = re.compile(r"^[0-9a-f]{128}$")
_OFFSET_RE = re.compile(r"^-?(0|[1-9][0-9]{0,14})$")
_METHOD_RE = re.compile(r"^[A-Z]{1,10}$")


class RequestAuthError(ProtocolError):
    code = "request_unsigned"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What the hub learns from a verified request."""

    node: str
    ts: datetime
    nonce: str
    offset_ms: int
    skew_ms: int            # ts - hub time: what is left after the node's correction

    @property
    def clock_skew_ms(self) -> int:
        """The skew of the node's own clock against hub time (uncorrected)."""
        return self.skew_ms - self.offset_ms


def new_nonce() -> str:
    return secrets.token_hex(16)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def request_message(*, method: str, path: str, node: str, ts: str, nonce: str,
                    offset_ms: int, body_sha256: str) -> bytes:
    """The bytes whose SHA-256 the node signs."""
    return canonical_bytes({"body_sha256": body_sha256, "method": method, "node": node,
                            "nonce": nonce, "offset_ms": offset_ms, "path": path, "ts": ts})


def sign_request(key: PrivateKey, node: str, method: str, path: str, body: bytes,
                 ts: datetime | str, nonce: str | None = None,
                 offset_ms: int = 0) -> dict[str, str]:
    """Headers for a request from ``node``; ``ts`` is the node's corrected time."""
    ts_text = ts if isinstance(ts, str) else format_ts(ts)
    nonce = nonce or new_nonce()
    digest = body_digest(body)
    message = request_message(method=method.upper(), path=path, node=node, ts=ts_text,
                              nonce=nonce, offset_ms=offset_ms, body_sha256=digest)
    signature = key.sign(hashlib.sha256(message).digest())
    return {H_NODE: node, H_TIMESTAMP: ts_text, H_NONCE: nonce, H_BODY_SHA256: digest,
            H_OFFSET: str(offset_ms), H_SIGNATURE: signature.hex(),
            H_VERSION: version_string()}


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if not isinstance(value, str) or not value:
        raise RequestAuthError(f"request lacks the {name} header (requests must be signed)",
                               field=name)
    return value


def request_node(headers: Mapping[str, str]) -> str:
    """The node a request claims to come from (not yet verified)."""
    node = _header(headers, H_NODE)
    if not NODE_RE.match(node):
        raise RequestAuthError(f"{H_NODE} is not a node code", field=H_NODE)
    return node


def verify_request(headers: Mapping[str, str], method: str, path: str, body: bytes,
                   key: PublicKey, now: datetime,
                   max_skew_seconds: float = DEFAULT_WINDOW_SECONDS) -> SignedRequest:
    """Verify a signed request against ``key``; return what it says.

    Checks in this order, so that a hub can record the skew of an authentic request even
    when it refuses it: headers well formed, body hash, signature, then the time window.
    Raise :class:`RequestAuthError` on failure; a ``request_expired`` error carries the
    verified :class:`SignedRequest` in ``exc.request``.
    """
    node = request_node(headers)
    ts_text = _header(headers, H_TIMESTAMP)
    nonce = _header(headers, H_NONCE)
    digest = _header(headers, H_BODY_SHA256)
    signature_hex = _header(headers, H_SIGNATURE)
    offset_text = headers.get(H_OFFSET) or headers.get(H_OFFSET.lower()) or "0"
    try:
        ts = parse_ts(ts_text)
    except EnvelopeError:
        raise RequestAuthError(f"{H_TIMESTAMP} must be RFC 3339 with milliseconds and offset",
                               field=H_TIMESTAMP) from None
    if not _NONCE_RE.match(nonce):
        raise RequestAuthError(f"{H_NONCE} must be 32-128 lower-case hex characters",
                               field=H_NONCE)
    if not _HEX64_RE.match(digest):
        raise RequestAuthError(f"{H_BODY_SHA256} must be 64 lower-case hex characters",
                               field=H_BODY_SHA256)
    if not _SIG_RE.match(signature_hex):
        raise RequestAuthError(f"{H_SIGNATURE} must be 128 lower-case hex characters",
                               field=H_SIGNATURE)
    if not _OFFSET_RE.match(offset_text) or abs(int(offset_text)) > MAX_OFFSET_MS:
        raise RequestAuthError(f"{H_OFFSET} must be an integer number of milliseconds",
                               field=H_OFFSET)
    offset_ms = int(offset_text)
    method = method.upper()
    if not _METHOD_RE.match(method):
        raise RequestAuthError("request method is not valid", field="method")
    if body_digest(body) != digest:
        raise RequestAuthError("the body does not match its signed SHA-256",
                               code="request_signature_invalid", field=H_BODY_SHA256)
    message = request_message(method=method, path=path, node=node, ts=ts_text, nonce=nonce,
                              offset_ms=offset_ms, body_sha256=digest)
    try:
        key.verify(bytes.fromhex(signature_hex), hashlib.sha256(message).digest())
    except SignatureError:
        raise RequestAuthError(f"request signature does not verify with the key of node "
                               f"{node}", code="request_signature_invalid",
                               field=H_SIGNATURE) from None
    skew_ms = round((ts - now).total_seconds() * 1000)
    parsed = SignedRequest(node=node, ts=ts, nonce=nonce, offset_ms=offset_ms, skew_ms=skew_ms)
    if abs(skew_ms) > max_skew_seconds * 1000:
        exc = RequestAuthError(
            f"request time {ts_text} is {abs(skew_ms) // 1000} s from hub time, outside the "
            f"window of {int(max_skew_seconds)} s: correct the clock from the hub time in "
            "this response and retry", code="request_expired", field=H_TIMESTAMP)
        exc.request = parsed  # type: ignore[attr-defined]
        raise exc
    return parsed


def replayed(node: str, nonce: str) -> RequestAuthError:
    """The error a hub raises for a nonce it has already seen."""
    return RequestAuthError(f"request nonce {nonce[:16]}... of node {node} was already used "
                            "(replayed request)", code="request_replayed", field=H_NONCE)


__all__ = ["H_BODY_SHA256", "H_HUB_KEY", "H_HUB_TIME", "H_NODE", "H_NONCE", "H_OFFSET",
           "H_SIGNATURE", "H_TIMESTAMP", "H_VERSION", "RequestAuthError", "SignedRequest",
           "body_digest", "new_nonce", "replayed", "request_message", "request_node",
           "sign_request", "verify_request"]


# --------------------------------------------------------------------------- enrolment proof

ENROL_CONTEXT = "township.enrol.v1"


def enrolment_message(token: str, public_key_hex: str) -> bytes:
    """What a node signs to prove it holds the key it enrols: the token binds it."""
    return hashlib.sha256(canonical_bytes({"context": ENROL_CONTEXT, "public_key": public_key_hex,
                                           "token": token})).digest()


def sign_enrolment(key: PrivateKey, token: str) -> str:
    """Hex proof of possession of ``key`` for enrolment ``token``."""
    return key.sign(enrolment_message(token, key.public.hex)).hex()


def verify_enrolment(public_key_hex: str, token: str, proof_hex: str) -> PublicKey:
    """Return the node's key if ``proof_hex`` proves possession of it; else raise."""
    key = PublicKey.from_hex(public_key_hex)
    if not isinstance(proof_hex, str) or not _SIG_RE.match(proof_hex):
        raise RequestAuthError("enrolment proof must be 128 hex characters",
                               code="request_signature_invalid", field="proof")
    try:
        key.verify(bytes.fromhex(proof_hex), enrolment_message(token, key.hex))
    except SignatureError:
        raise RequestAuthError("enrolment proof does not verify with the submitted key",
                               code="request_signature_invalid", field="proof") from None
    return key
