"""The ack path: authenticate a pushed batch as one run and append it (docs/sync.md).

:func:`push_batch` is the unit of work of ``POST /sync/v1/push``. It runs inside the
request's transaction (see :func:`central_hub.sync.auth.committed`), so the nonce, the
node's contact, the events and the node's new head commit together with one fsync:

1. decode the batch (bounded; content is *not* checked here: ``strict=False``);
2. every event must be the pushing node's (else ``batch_wrong_node`` and an alert);
3. the batch must be one contiguous run (``chain_reorder`` / ``chain_duplicate`` /
   ``chain_fork`` / ``chain_gap`` naming the first bad seq);
4. events at or below the stored head must be byte-identical to what is stored
   (resending is a no-op); a different event there is a fork: nothing is stored, the
   node is quarantined, an alert is raised, ``chain_fork``;
5. the rest must continue the stored chain and carry a valid signature at its end
   (:func:`protocol.chain.authenticate_run`), else nothing is stored (an alert for a bad
   signature or a broken link: both mean tampering);
6. the run is appended with one ``executemany`` and the head advanced; the answer is a
   hub-signed ack with the highest contiguous seq durably stored.
"""

from __future__ import annotations

import logging
from typing import Sequence

from protocol.ack import Ack, sign_ack
from protocol.batch import decode_batch
from protocol.chain import KEY_ROTATED, ChainHead, authenticate_run, verify_chain
from protocol.envelope import SignedEvent
from protocol.errors import ChainError, EnvelopeError, KeyError_, SignatureError
from protocol.keys import PublicKey

from ..config import HubConfig
from ..errors import HubError
from ..identity import HubIdentity
from ..store import HubStore
from ..store.records import NODE_QUARANTINED, NewEvent, NodeRecord
from ..supervision import alerts

logger = logging.getLogger(__name__)

_MAX_TEXT = 200


def _text(env: dict, name: str) -> str | None:
    value = env.get(name)
    return value if isinstance(value, str) and len(value) <= _MAX_TEXT else None


def signed_ack(identity: HubIdentity, node: NodeRecord | str, acked_seq: int, acked_link: str,
               stored: int, hub_time: str, error: dict | None = None) -> dict:
    code = node if isinstance(node, str) else node.code
    ack = Ack(node=code, acked_seq=acked_seq, acked_link=acked_link, stored=stored,
              hub_time=hub_time, error=error)
    return sign_ack(identity.signing_key, identity.name, ack).to_wire()


def _check_run_shape(events: Sequence[SignedEvent]) -> None:
    """The batch itself must be consecutive seqs (before comparing with the store)."""
    previous = events[0]
    for event in events[1:]:
        if event.seq == previous.seq + 1:
            previous = event
            continue
        if event.seq == previous.seq:
            if event.canonical == previous.canonical and event.signature == previous.signature:
                raise ChainError(f"event {event.seq} appears twice", code="chain_duplicate",
                                 seq=event.seq)
            raise ChainError(f"two different events claim seq {event.seq}", code="chain_fork",
                             seq=event.seq)
        if event.seq < previous.seq:
            raise ChainError(f"event {event.seq} is out of order: expected {previous.seq + 1}",
                             code="chain_reorder", seq=event.seq)
        raise ChainError(f"events {previous.seq + 1} to {event.seq - 1} are missing",
                         code="chain_gap", seq=previous.seq + 1)


def push_batch(store: HubStore, identity: HubIdentity, config: HubConfig, node: NodeRecord,
               batch: bytes) -> dict:
    """Ingest one pushed batch of ``node``; return the signed ack (wire form)."""
    now_ts = config.now_ts()
    events = decode_batch(batch, strict=False)
    if not events:
        return signed_ack(identity, node, node.acked_seq, node.acked_link, 0, now_ts)
    foreign = next((e for e in events if e.node != node.code), None)
    if foreign is not None:
        alerts.raise_sync_alert(
            store, alerts.FOREIGN_EVENTS, node=node.code, raised_at=now_ts, seq=foreign.seq,
            content=f"节点 {node.code} 提交了节点 {foreign.node!s:.32} 的事件",
            details={"claimed_node": str(foreign.node)[:64]})
        raise HubError(f"the batch holds events of node {str(foreign.node)[:32]!r}, not of "
                       f"{node.code}", code="batch_wrong_node", seq=foreign.seq)
    _check_run_shape(events)
    head = ChainHead(node.acked_seq, node.acked_link)
    first = events[0].seq
    if first > head.seq + 1:
        raise HubError(f"events {head.seq + 1} to {first - 1} are missing: the hub holds "
                       f"{head.seq}; resend from {head.seq + 1}", code="chain_gap",
                       seq=head.seq + 1,
                       extra={"ack": signed_ack(identity, node, head.seq, head.link, 0, now_ts,
                                                {"code": "chain_gap",
                                                 "message": "resend from acked_seq + 1",
                                                 "seq": head.seq + 1})})
    known = [e for e in events if e.seq <= head.seq]
    if known:
        stored = store.stored_events(node.code, known[0].seq, known[-1].seq)
        for event in known:
            if stored.get(event.seq) != (event.canonical, event.signature):
                _fork(store, node, event, now_ts)
    run = [e for e in events if e.seq > head.seq]
    if not run:
        return signed_ack(identity, node, head.seq, head.link, 0, now_ts)
    key = _key_source(store, node)
    try:
        check = verify_chain if config.ack_verifies_every_signature else authenticate_run
        new_head = check(run, key, after=head)
    except (SignatureError, ChainError) as exc:
        if isinstance(exc, SignatureError) or exc.code == "chain_broken":
            kind = alerts.SIGNATURE_INVALID if isinstance(exc, SignatureError) \
                else alerts.CHAIN_BROKEN
            alerts.raise_sync_alert(
                store, kind, node=node.code, raised_at=now_ts, seq=exc.seq,
                content=f"节点 {node.code} 提交的事件 {exc.seq} 未通过验证（{exc.code}），"
                        "整批未存储", details={"reason": exc.message}, dedupe="event")
        raise
    except (KeyError, TypeError):
        # An envelope without type or body: a node never signs one (sign_event checks).
        raise EnvelopeError("an event lacks its type or body", seq=run[0].seq) from None
    except KeyError_ as exc:
        raise EnvelopeError(f"a key rotation names no valid new key: {exc.message}",
                            seq=exc.seq) from None
    new_keys = []
    rows = []
    for event in run:
        env = event.env
        if env.get("type") == KEY_ROTATED:
            new_keys.append((env["body"]["new_key"], event.seq + 1))
        rows.append(NewEvent(seq=event.seq, type=_text(env, "type"), case_no=_text(env, "case"),
                             ts=_text(env, "ts"), canonical=event.canonical,
                             signature=event.signature, link=event.link_hex))
    store.append_events(node.code, rows, now_ts, new_keys)
    store.mark_caught_up(node.code, now_ts)
    return signed_ack(identity, node, new_head.seq, new_head.link, len(rows), now_ts)


def _key_source(store: HubStore, node: NodeRecord):
    """The node's current key, or, for a node with restore epochs, the key in force at each
    seq (a resend after the hub lost events can cross an epoch boundary)."""
    current = PublicKey.from_hex(node.public_key)
    keys = store.node_keys(node.code)
    if len(keys) <= 1:
        return current
    table = [(k.from_seq, PublicKey.from_hex(k.public_key)) for k in keys]
    if table[-1][1] != current:
        return current

    def key_at(seq: int) -> PublicKey:
        chosen = table[0][1]
        for from_seq, key in table:
            if from_seq <= seq:
                chosen = key
        return chosen
    return key_at


def _fork(store: HubStore, node: NodeRecord, event: SignedEvent, now_ts: str) -> None:
    store.set_node_status(node.code, NODE_QUARANTINED,
                          f"fork at seq {event.seq}: a different event than the one stored",
                          now_ts)
    alerts.raise_sync_alert(
        store, alerts.CHAIN_FORK, node=node.code, raised_at=now_ts, seq=event.seq,
        content=f"节点 {node.code} 在序号 {event.seq} 提交了与已存储事件不同的事件（分叉），"
                "节点已隔离，本批未存储",
        details={"received_link": event.link_hex}, dedupe="event")
    logger.warning("fork: node %s seq %s; node quarantined", node.code, event.seq)
    raise ChainError(f"a different event is stored at seq {event.seq}: the node is "
                     "quarantined", code="chain_fork", seq=event.seq)


__all__ = ["push_batch", "signed_ack"]
