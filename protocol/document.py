"""Signed documents: acks, configuration snapshots, key statements (SPEC.md section 7).

A document is the canonical bytes of::

    {"alg": "ed25519-sha256", "body": {...}, "issued_at": "<ts>", "issuer": "<name>",
     "kind": "<kind>", "v": "1.1"}

and a signature over SHA-256 of those bytes. On the wire it is a JSON object
``{"document": "<canonical bytes as text>", "signature": "<128 hex>"}``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from . import limits
from .canonical import canonical_bytes, parse_canonical
from .envelope import parse_ts
from .errors import DocumentError, ProtocolError
from .keys import ALG_ED25519, PrivateKey, PublicKey
from .version import check_version, version_string

KIND_RE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
DOCUMENT_FIELDS = frozenset({"alg", "body", "issued_at", "issuer", "kind", "v"})


@dataclass(frozen=True, slots=True)
class SignedDocument:
    canonical: bytes
    signature: bytes
    doc: dict

    @property
    def kind(self) -> str:
        return self.doc["kind"]

    @property
    def body(self) -> dict:
        return self.doc["body"]

    @property
    def issued_at(self) -> str:
        return self.doc["issued_at"]

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()

    def to_wire(self) -> dict:
        return {"document": self.canonical.decode("utf-8"), "signature": self.signature.hex()}

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_wire(), ensure_ascii=False).encode("utf-8")


def sign_document(key: PrivateKey, *, kind: str, issuer: str, issued_at: str,
                  body: dict) -> SignedDocument:
    doc = {"alg": ALG_ED25519, "body": body, "issued_at": issued_at, "issuer": issuer,
           "kind": kind, "v": version_string()}
    _check(doc)
    canonical = canonical_bytes(doc)
    if len(canonical) > limits.MAX_DOCUMENT_BYTES:
        raise DocumentError(f"document is {len(canonical)} bytes, over the limit of "
                            f"{limits.MAX_DOCUMENT_BYTES}", code="too_large")
    return SignedDocument(canonical, key.sign(hashlib.sha256(canonical).digest()),
                          json.loads(canonical))


def _check(doc: Any) -> None:
    if not isinstance(doc, dict) or set(doc) != DOCUMENT_FIELDS:
        raise DocumentError("document must have exactly the fields "
                            + ", ".join(sorted(DOCUMENT_FIELDS)))
    if doc["alg"] != ALG_ED25519:
        raise DocumentError(f"alg {doc['alg']!r} is not supported", code="unknown_alg",
                            field="alg")
    if not isinstance(doc["kind"], str) or not KIND_RE.match(doc["kind"]):
        raise DocumentError("kind must be 1-64 characters of a-z 0-9 _ .", field="kind")
    if not isinstance(doc["issuer"], str) or not 1 <= len(doc["issuer"]) <= 64:
        raise DocumentError("issuer must be 1-64 characters", field="issuer")
    if not isinstance(doc["body"], dict):
        raise DocumentError("body must be an object", field="body")
    check_version(doc["v"])
    parse_ts(doc["issued_at"])


def verify_document(wire: Any, key: PublicKey, kind: str | None = None) -> SignedDocument:
    """Check a document from the wire (dict or bytes) and its signature by ``key``."""
    try:
        if isinstance(wire, (bytes, bytearray)):
            if len(wire) > 2 * limits.MAX_DOCUMENT_BYTES + 1024:
                raise DocumentError("document is too large", code="too_large")
            wire = json.loads(wire)
        if not isinstance(wire, dict) or not isinstance(wire.get("document"), str) \
                or not isinstance(wire.get("signature"), str):
            raise DocumentError("a signed document needs 'document' and 'signature' strings")
        canonical = wire["document"].encode("utf-8")
        signature = bytes.fromhex(wire["signature"])
    except ProtocolError:
        raise
    except (ValueError, UnicodeEncodeError, RecursionError):
        raise DocumentError("signed document is not readable JSON with a hex signature") from None
    doc = parse_canonical(canonical, max_bytes=limits.MAX_DOCUMENT_BYTES)
    _check(doc)
    if kind is not None and doc["kind"] != kind:
        raise DocumentError(f"expected a {kind!r} document, got {doc['kind']!r}",
                            code="document_wrong_kind", field="kind")
    key.verify(signature, hashlib.sha256(canonical).digest())
    return SignedDocument(canonical, signature, doc)
