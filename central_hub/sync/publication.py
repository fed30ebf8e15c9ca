"""Publishing hub-signed configuration and the hub's key statements (docs/sync.md, "Pull").

A kind's versions only grow. When the content carries its own integer ``version`` (the
catalogue and the calendar do), that number is the published version and must exceed the
last one; otherwise the hub numbers versions 1, 2, 3 ... Content is validated by its
kind's own module before it is signed (the catalogue by :mod:`protocol.catalogue`, the
calendar by :mod:`protocol.calendar`); kinds without a validator yet are published as
given. The manifest is signed on request, so it always reflects the newest versions.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from protocol import calendar as working_calendar, catalogue
from protocol.config_docs import (CONFIG_CALENDAR, CONFIG_CATALOGUE, ConfigDocument, KeyStatement,
                                  ManifestEntry, check_config_kind, sign_config,
                                  sign_key_statement, sign_manifest)
from protocol.document import sign_document
from protocol.errors import ProtocolError
from protocol.tls import CONFIG_TLS, validate_tls_content

from ..config import HubConfig
from ..errors import HubError
from ..identity import HubIdentity, rotate_key_files
from ..store import HubStore
from ..store.records import ConfigRecord, KeyStatementRecord


def _validate(kind: str, content: Any) -> None:
    try:
        if kind == CONFIG_CATALOGUE:
            catalogue.validate_catalogue(content)
        elif kind == CONFIG_CALENDAR:
            working_calendar.Calendar.from_document(content)
        elif kind == CONFIG_TLS:
            validate_tls_content(content)
    except (ValueError, ProtocolError) as exc:
        raise HubError(f"{kind} content is not valid: {exc}", code="config_invalid") from None


def publish_config(store: HubStore, identity: HubIdentity, config: HubConfig, kind: str,
                   content: dict, published_by: str | None = None) -> ConfigDocument:
    try:
        check_config_kind(kind)
    except ProtocolError as exc:
        raise HubError(exc.message, code="config_unknown") from None
    if not isinstance(content, dict):
        raise HubError("configuration content must be a JSON object", code="config_invalid")
    _validate(kind, content)
    with store.transaction():
        latest = store.config(kind)
        last = latest.version if latest else 0
        own = content.get("version")
        if type(own) is int:
            if own <= last:
                raise HubError(f"{kind} version {own} is not newer than the published "
                               f"version {last}", code="config_version_invalid")
            version = own
        else:
            version = last + 1
        now = config.now_ts()
        try:
            doc = sign_config(identity.signing_key, issuer=identity.name, issued_at=now,
                              kind=kind, version=version, content=content)
        except ProtocolError as exc:
            raise HubError(f"{kind} content cannot be signed: {exc.message}",
                           code="config_invalid") from None
        store.add_config(ConfigRecord(kind, version, doc.document.canonical,
                                      doc.document.signature, now, published_by))
        store.audit(now, published_by or "hub", "config.published", kind,
                    {"version": version, "digest": doc.digest})
    return doc


def config_wire(store: HubStore, kind: str, version: int | None = None) -> dict:
    record = store.config(kind, version)
    if record is None:
        raise HubError(f"no {kind} document is published"
                       + (f" at version {version}" if version else ""), code="config_unknown")
    return {"document": record.canonical.decode("utf-8"), "signature": record.signature.hex()}


def manifest_wire(store: HubStore, identity: HubIdentity, config: HubConfig) -> dict:
    """The signed manifest; the newest config.tls rides beside it as ``"tls"`` (older
    nodes refuse a manifest listing a kind they do not know, and ignore the sibling)."""
    entries = {}
    tls = None
    for record in store.latest_configs():
        if record.kind == CONFIG_TLS:
            tls = record
            continue
        digest = hashlib.sha256(record.canonical).hexdigest()
        entries[record.kind] = ManifestEntry(record.version, digest)
    wire = sign_manifest(identity.signing_key, issuer=identity.name,
                         issued_at=config.now_ts(), entries=entries).to_wire()
    if tls is not None:
        wire["tls"] = {"document": tls.canonical.decode("utf-8"),
                       "signature": tls.signature.hex()}
    return wire


def key_statements_wire(store: HubStore) -> list[dict]:
    return [{"document": r.canonical.decode("utf-8"), "signature": r.signature.hex()}
            for r in store.key_statements()]


def rotate_hub_key(store: HubStore, config: HubConfig) -> tuple[HubIdentity, KeyStatement]:
    """Replace the hub's keys; publish the statement signed by the old key; re-sign the
    newest configuration documents with the new key."""
    seq = len(store.key_statements()) + 1
    identity, old_key = rotate_key_files(config, seq)
    now = config.now_ts()
    statement = sign_key_statement(old_key, identity.signing_key, issuer=identity.name,
                                   issued_at=now, seq=seq,
                                   encryption_key=identity.encryption_public_hex)
    with store.transaction():
        store.add_key_statement(KeyStatementRecord(seq, statement.document.canonical,
                                                   statement.document.signature, now))
        for record in store.latest_configs():
            doc = json.loads(record.canonical)
            resigned = sign_document(identity.signing_key, kind=doc["kind"],
                                     issuer=identity.name, issued_at=doc["issued_at"],
                                     body=doc["body"])
            store.replace_config_signature(record.kind, record.version, resigned.canonical,
                                           resigned.signature)
        store.audit(now, "hub", "hub.key_rotated", None,
                    {"seq": seq, "old_key": old_key.public.hex,
                     "new_key": identity.public_hex})
    return identity, statement
