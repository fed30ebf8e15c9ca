"""Hub-signed configuration documents, the manifest, and hub key statements.

Configuration (docs/sync.md, "Pull"). The hub publishes each kind of configuration as a
numbered series of signed documents (:mod:`.document`) whose ``kind`` is the configuration
kind and whose body is::

    {"version": <1, 2, 3 ...>, "content": {...}}

``content`` is the kind's own format (the catalogue of :mod:`.catalogue`, the calendar of
:meth:`.calendar.Calendar.to_document` ...). Versions of a kind start at 1 and only grow.

The *manifest* (kind ``config.manifest``) lists the newest version of every kind with the
SHA-256 of that document's canonical bytes::

    {"configs": {"config.calendar": {"version": 3, "digest": "<64 hex>"}, ...}}

A node fetches the manifest, fetches each document whose version differs from the one it
applied, checks signature, kind, version and digest, and applies the document atomically.

Key statements. When the hub rotates its signing key it publishes a ``hub.key_rotated``
document signed by the *old* key::

    {"old_key": "<hex>", "new_key": "<hex>", "encryption_key": "<hex>", "seq": n,
     "proof": "<128 hex>"}

``proof`` is the new key's signature over SHA-256 of the canonical
``{"context": "township.hub-key.v1", "new_key", "old_key"}``, so a statement cannot name a
key its issuer does not hold. A node holding any earlier pinned key follows the statements
in order (:func:`follow_key_statements`) to the current key.

Errors are ``DocumentError`` (``document_invalid``, ``document_wrong_kind``) or
``SignatureError``; :class:`ConfigError` adds ``config_version_invalid`` and
``config_digest_mismatch``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .canonical import canonical_bytes
from .document import SignedDocument, sign_document, verify_document
from .errors import DocumentError, SignatureError
from .keys import PrivateKey, PublicKey
from .tls import CONFIG_TLS

CONFIG_CATALOGUE = "config.catalogue"
CONFIG_CALENDAR = "config.calendar"
CONFIG_RULES = "config.rules"          # supervision rules (later issue)
CONFIG_NOTICES = "config.notices"      # notices to township staff (later issue)
INBOX = "inbox"                        # on-line applications for one node (later issue)
# the hub's TLS pins (protocol/tls.py): never listed in the manifest, sent beside it
CONFIG_KINDS = (CONFIG_CATALOGUE, CONFIG_CALENDAR, CONFIG_RULES, CONFIG_NOTICES, INBOX,
                CONFIG_TLS)

MANIFEST_KIND = "config.manifest"
KEY_ROTATED_KIND = "hub.key_rotated"
_KEY_CONTEXT = "township.hub-key.v1"
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(DocumentError):
    code = "document_invalid"


def check_config_kind(kind: Any) -> str:
    if kind not in CONFIG_KINDS:
        raise ConfigError(f"{kind!r} is not a configuration kind (known: "
                          f"{', '.join(CONFIG_KINDS)})", code="document_wrong_kind",
                          field="kind")
    return kind


@dataclass(frozen=True, slots=True)
class ConfigDocument:
    kind: str
    version: int
    content: dict
    document: SignedDocument

    @property
    def digest(self) -> str:
        return self.document.digest


def sign_config(key: PrivateKey, *, issuer: str, issued_at: str, kind: str, version: int,
                content: dict) -> ConfigDocument:
    check_config_kind(kind)
    _check_version(version)
    if not isinstance(content, dict):
        raise ConfigError("configuration content must be an object", field="content")
    doc = sign_document(key, kind=kind, issuer=issuer, issued_at=issued_at,
                        body={"version": version, "content": content})
    return ConfigDocument(kind, version, doc.body["content"], doc)


def _check_version(version: Any) -> int:
    if type(version) is not int or version < 1:
        raise ConfigError(f"configuration version must be a positive integer, got {version!r}",
                          code="config_version_invalid", field="version")
    return version


def verify_config(wire: Any, key: PublicKey, kind: str, *, version: int | None = None,
                  digest: str | None = None) -> ConfigDocument:
    """Verify a configuration document from the wire; optionally against a manifest entry."""
    check_config_kind(kind)
    doc = verify_document(wire, key, kind=kind)
    body = doc.body
    if set(body) != {"version", "content"} or not isinstance(body["content"], dict):
        raise ConfigError("configuration body must be {\"version\", \"content\"}", field="body")
    _check_version(body["version"])
    if version is not None and body["version"] != version:
        raise ConfigError(f"expected version {version} of {kind}, got {body['version']}",
                          code="config_version_invalid", field="version")
    if digest is not None and doc.digest != digest:
        raise ConfigError(f"{kind} version {body['version']} does not match the manifest digest",
                          code="config_digest_mismatch", field="digest")
    return ConfigDocument(kind, body["version"], body["content"], doc)


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    version: int
    digest: str


def sign_manifest(key: PrivateKey, *, issuer: str, issued_at: str,
                  entries: dict[str, ManifestEntry]) -> SignedDocument:
    configs = {}
    for kind, entry in sorted(entries.items()):
        check_config_kind(kind)
        configs[kind] = {"version": _check_version(entry.version), "digest": entry.digest}
    return sign_document(key, kind=MANIFEST_KIND, issuer=issuer, issued_at=issued_at,
                         body={"configs": configs})


def verify_manifest(wire: Any, key: PublicKey) -> dict[str, ManifestEntry]:
    doc = verify_document(wire, key, kind=MANIFEST_KIND)
    configs = doc.body.get("configs")
    if not isinstance(configs, dict) or set(doc.body) != {"configs"}:
        raise ConfigError("manifest body must be {\"configs\": {...}}", field="configs")
    out: dict[str, ManifestEntry] = {}
    for kind, entry in configs.items():
        check_config_kind(kind)
        if (not isinstance(entry, dict) or set(entry) != {"version", "digest"}
                or not isinstance(entry["digest"], str) or not _HEX64_RE.match(entry["digest"])):
            raise ConfigError(f"manifest entry for {kind} must be {{version, digest}}",
                              field=kind)
        out[kind] = ManifestEntry(_check_version(entry["version"]), entry["digest"])
    return out


# --------------------------------------------------------------------------- hub keys


@dataclass(frozen=True, slots=True)
class KeyStatement:
    seq: int                   # 1 for the first rotation, 2 for the next ...
    old_key: PublicKey
    new_key: PublicKey
    encryption_key: str        # hex of the hub's X25519 public key from now on
    document: SignedDocument


def _key_proof_message(old_key: PublicKey, new_key: PublicKey) -> bytes:
    return hashlib.sha256(canonical_bytes({"context": _KEY_CONTEXT, "new_key": new_key.hex,
                                           "old_key": old_key.hex})).digest()


def sign_key_statement(old: PrivateKey, new: PrivateKey, *, issuer: str, issued_at: str,
                       seq: int, encryption_key: str) -> KeyStatement:
    """The statement, signed by ``old``, that ``new`` is the hub's signing key from now on."""
    if not isinstance(encryption_key, str) or not _HEX64_RE.match(encryption_key):
        raise ConfigError("encryption_key must be 64 hex characters", field="encryption_key")
    proof = new.sign(_key_proof_message(old.public, new.public)).hex()
    doc = sign_document(old, kind=KEY_ROTATED_KIND, issuer=issuer, issued_at=issued_at,
                        body={"old_key": old.public.hex, "new_key": new.public.hex,
                              "encryption_key": encryption_key, "seq": seq, "proof": proof})
    return KeyStatement(seq, old.public, new.public, encryption_key, doc)


def verify_key_statement(wire: Any, old_key: PublicKey) -> KeyStatement:
    """Verify a ``hub.key_rotated`` statement made by ``old_key``; return it."""
    doc = verify_document(wire, old_key, kind=KEY_ROTATED_KIND)
    body = doc.body
    if set(body) != {"old_key", "new_key", "encryption_key", "seq", "proof"}:
        raise ConfigError("key statement must have old_key, new_key, encryption_key, seq, "
                          "proof", field="body")
    if body["old_key"] != old_key.hex:
        raise ConfigError("key statement names another old key", field="old_key")
    new_key = PublicKey.from_hex(body["new_key"])
    if new_key == old_key:
        raise ConfigError("key statement does not change the key", field="new_key")
    enc = body["encryption_key"]
    if not isinstance(enc, str) or not _HEX64_RE.match(enc):
        raise ConfigError("encryption_key must be 64 hex characters", field="encryption_key")
    if type(body["seq"]) is not int or body["seq"] < 1:
        raise ConfigError("seq must be a positive integer", field="seq")
    proof = body["proof"]
    try:
        new_key.verify(bytes.fromhex(proof) if isinstance(proof, str) else b"",
                       _key_proof_message(old_key, new_key))
    except (SignatureError, ValueError):
        raise SignatureError("the new key's proof of possession does not verify",
                             field="proof") from None
    return KeyStatement(body["seq"], old_key, new_key, enc, doc)


def follow_key_statements(pinned: PublicKey, statements: Iterable[Any]) -> tuple[PublicKey, str | None]:
    """Follow statements (wire form, oldest first) from ``pinned`` to the current hub key.

    Statements before the pinned key are skipped; from the first statement made by the
    pinned key on, each must be made by the key the previous one introduced. Returns the
    current signing key and the newest encryption key (None if no statement applied).
    """
    current = pinned
    encryption_key: str | None = None
    started = False
    for wire in statements:
        if not started:
            try:
                statement = verify_key_statement(wire, current)
            except (DocumentError, SignatureError):
                continue
            started = True
        else:
            statement = verify_key_statement(wire, current)
        current, encryption_key = statement.new_key, statement.encryption_key
    return current, encryption_key


__all__ = ["CONFIG_CALENDAR", "CONFIG_CATALOGUE", "CONFIG_KINDS", "CONFIG_NOTICES",
           "CONFIG_RULES", "CONFIG_TLS", "ConfigDocument", "ConfigError", "INBOX",
           "KEY_ROTATED_KIND",
           "KeyStatement", "MANIFEST_KIND", "ManifestEntry", "check_config_kind",
           "follow_key_statements", "sign_config", "sign_key_statement", "sign_manifest",
           "verify_config", "verify_key_statement", "verify_manifest"]
