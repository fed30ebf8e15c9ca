"""Restore epochs: a node rebuilt or restored under a new key, authorised by an
administrator (docs/sync-field.md, SPEC.md section 15).

``central-hub restore-token DATA_DIR --node CODE`` issues a one-time token (same form and
checks as an enrolment token, its own table). ``POST /sync/v1/restore`` with the token, the
node's *new* public key and a proof of possession starts an epoch: from ``acked_seq + 1``
on, the node's events and requests are signed by the new key. The hub records it as a
hub-signed ``node.epoch`` statement (kept in ``node_epochs``) and as a row of
``node_keys``, which is what the ack path, the verifier and an auditor use to pick the key
in force at each seq. The epoch starts after what the hub holds, so the new key can never
sign a seq the hub already has: an honest restore cannot fork.

Redeeming the same token again with the same key answers with the same statement (a node
whose answer was lost may retry); with another key it is ``restore_token_used``.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta

from protocol.document import sign_document, verify_document
from protocol.envelope import format_ts, parse_ts
from protocol.errors import ProtocolError
from protocol.keys import PublicKey
from protocol.request_auth import verify_enrolment

from ..config import HubConfig
from ..errors import HubError
from ..identity import HubIdentity
from ..store import HubStore
from ..store import field as sql
from ..store.records import NODE_REVOKED
from ..supervision import alerts
from .auth import REVOKED_MESSAGE
from .enrolment import (ALPHABET, RANDOM_CHARS, _check_chars, format_token, normalise_token,
                        token_hash)

logger = logging.getLogger(__name__)

EPOCH_KIND = "node.epoch"


def issue_restore_token(store: HubStore, config: HubConfig, code: str,
                        ttl_hours: float = 24) -> tuple[str, str]:
    """A one-time token that lets node ``code`` start a new epoch under a new key."""
    node = store.node(code)
    if node is None:
        raise HubError(f"no node {code} is enrolled", code="node_unknown")
    if node.status == NODE_REVOKED:
        raise HubError(f"node {code} is revoked", code="node_revoked")
    if not 0 < ttl_hours <= 24 * 30:
        raise HubError("token lifetime must be between 0 and 720 hours", code="ttl_invalid")
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    cleaned = body + _check_chars(body)
    now = config.now()
    expires = format_ts(now + timedelta(hours=ttl_hours))
    sql.add_restore_token(store, token_hash(cleaned), code, format_ts(now), expires)
    store.audit(format_ts(now), "admin", "restore_token.issued", code, {"expires_at": expires})
    return format_token(cleaned), expires


def start_epoch(store: HubStore, identity: HubIdentity, config: HubConfig, token: str,
                public_key: str, proof: str, min_seq: int | None = None) -> dict:
    """Redeem a restore token: record the epoch; return the signed statement (wire).

    ``min_seq``: a node restored from a backup holding events up to that seq; if the hub
    holds less, the epoch would sign seqs the backup already holds, so it is refused
    (``epoch_behind_backup``) before the token is used."""
    try:
        cleaned = normalise_token(token)
    except HubError as exc:
        raise HubError(exc.message.replace("enrolment", "restore"),
                       code="restore_token_malformed") from None
    try:
        key = verify_enrolment(public_key, token, proof)
    except ProtocolError as exc:
        raise HubError(f"restore refused: {exc.message}", code=exc.code) from None
    record = sql.restore_token(store, token_hash(cleaned))
    if record is None:
        raise HubError("restore token is unknown: it was never issued by this hub",
                       code="restore_token_unknown")
    code = record["node"]
    node = store.node(code)
    if record["used_at"] is not None:
        epochs = sql.epochs(store, code)
        if record["used_by_key"] == key.hex and epochs and epochs[-1]["public_key"] == key.hex:
            return epochs[-1]["statement"]
        raise HubError(f"restore token was already used at {record['used_at']}",
                       code="restore_token_used")
    now = config.now()
    if parse_ts(record["expires_at"]) <= now:
        raise HubError(f"restore token expired at {record['expires_at']}",
                       code="restore_token_expired")
    if node is None:
        raise HubError(f"node {code} is not enrolled", code="node_unknown")
    if node.status == NODE_REVOKED:
        raise HubError(REVOKED_MESSAGE.format(code=code), code="node_revoked")
    if min_seq is not None and node.acked_seq < min_seq:
        raise HubError(f"the hub holds node {code}'s events up to {node.acked_seq}, the backup "
                       f"up to {min_seq}: push them first (the token is not used)",
                       code="epoch_behind_backup")
    now_ts = format_ts(now)
    epoch = len(sql.epochs(store, code)) + 1
    from_seq = node.acked_seq + 1
    keys = [{"from_seq": k.from_seq, "public_key": k.public_key}
            for k in store.node_keys(code) if k.from_seq < from_seq]
    keys.append({"from_seq": from_seq, "public_key": key.hex})
    statement = sign_document(identity.signing_key, kind=EPOCH_KIND, issuer=identity.name,
                              issued_at=now_ts, body={
                                  "node": code, "name": node.name, "epoch": epoch,
                                  "from_seq": from_seq, "public_key": key.hex,
                                  "previous_key": node.public_key,
                                  "acked_seq": node.acked_seq, "acked_link": node.acked_link,
                                  "keys": keys}).to_wire()
    with store.transaction():
        sql.start_epoch(store, node=code, token_hash=record["token_hash"], public_key=key.hex,
                        epoch=epoch, from_seq=from_seq, statement=statement, at=now_ts)
        alerts.raise_sync_alert(
            store, "node_epoch", node=code, raised_at=now_ts, level="warning",
            content=f"节点 {code} 经管理员授权以新密钥重建（第 {epoch} 纪元，自序号 {from_seq} 起）",
            details={"from_seq": from_seq, "public_key": key.hex}, dedupe=None)
        store.audit(now_ts, code, "node.epoch_started", code,
                    {"epoch": epoch, "from_seq": from_seq, "public_key": key.hex})
    logger.info("node %s: epoch %d from seq %d under a new key", code, epoch, from_seq)
    return statement


REINSTATE_CONTEXT = "township.epoch-reinstate.v1"


def _hub_keys(store: HubStore, identity: HubIdentity) -> list:
    """The hub's current signing key and every earlier one named by its key statements."""
    keys = [identity.signing_key.public]
    for record in store.key_statements():
        try:
            body = json.loads(record.canonical)["body"]
            keys.append(PublicKey.from_hex(body["old_key"]))
        except (ValueError, KeyError, TypeError, ProtocolError):
            continue
    return keys


def reinstate_epoch(store: HubStore, identity: HubIdentity, config: HubConfig,
                    statement: dict, proof: str) -> dict:
    """Record again an epoch this hub signed but lost (it was restored from a backup older
    than the epoch). The statement is the hub's own authorisation; ``proof`` shows the
    caller holds the epoch's key. Refused when the hub holds events at or after the
    epoch's first seq under another key (``chain_fork``: not an honest restore)."""
    doc = None
    for key in _hub_keys(store, identity):
        try:
            doc = verify_document(statement, key, kind=EPOCH_KIND)
            break
        except ProtocolError:
            continue
    if doc is None:
        raise HubError("the epoch statement is not signed by this hub",
                       code="request_signature_invalid")
    body = doc.body
    code, new_key, from_seq = body.get("node"), body.get("public_key"), body.get("from_seq")
    node = store.node(code) if isinstance(code, str) else None
    if node is None or type(from_seq) is not int or not isinstance(new_key, str):
        raise HubError("the epoch statement names no enrolled node", code="node_unknown")
    try:
        verify_enrolment(new_key, doc.digest, proof)
    except ProtocolError as exc:
        raise HubError(f"epoch reinstatement refused: {exc.message}", code=exc.code) from None
    if node.status == NODE_REVOKED:
        raise HubError(REVOKED_MESSAGE.format(code=code), code="node_revoked")
    known = [e for e in sql.epochs(store, code) if e["epoch"] >= body.get("epoch", 0)]
    if any(e["public_key"] == new_key for e in known):
        return statement                           # already known: nothing to do
    if known or node.acked_seq >= from_seq:
        raise HubError(f"node {code} has events or a later epoch from seq {from_seq} on",
                       code="chain_fork", seq=from_seq)
    now_ts = config.now_ts()
    with store.transaction():
        sql.reinstate_epoch(store, node=code, public_key=new_key, epoch=body["epoch"],
                            from_seq=from_seq, statement=statement, at=now_ts)
        store.audit(now_ts, code, "node.epoch_reinstated", code,
                    {"epoch": body["epoch"], "from_seq": from_seq})
    logger.info("node %s: epoch %s reinstated from its statement", code, body["epoch"])
    return statement


__all__ = ["EPOCH_KIND", "issue_restore_token", "start_epoch", "reinstate_epoch"]
