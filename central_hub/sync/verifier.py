"""The background verifier: every signature, checked within minutes of arrival.

The ack path checks one signature per run (the chain commits to the others); this job
checks every stored event's own signature with the key in force at its seq, in append
order, and marks it verified (1) or bad (-1). A bad signature inside an intact chain is
possible only for a node that signed garbage or a hostile one, and raises a
``signature_invalid`` alert naming the node and seq. Events wait in the partial index
``events_unverified``, which is the verifier's cursor.
"""

from __future__ import annotations

import json
import logging
import time
from bisect import bisect_right

from protocol.envelope import SignedEvent, verify_event
from protocol.errors import ProtocolError
from protocol.keys import PublicKey

from ..supervision import alerts
from ..config import HubConfig
from ..store.records import VERIFY_BAD, VERIFY_OK, NodeKey
from ..store import HubStore

logger = logging.getLogger(__name__)


def _key_at(keys: list[NodeKey], seq: int) -> PublicKey:
    index = bisect_right([k.from_seq for k in keys], seq) - 1
    return PublicKey.from_hex(keys[max(index, 0)].public_key)


def verify_pending(store: HubStore, config: HubConfig, batch: int = 500,
                   time_budget: float | None = None) -> tuple[int, int]:
    """Verify stored events not yet verified; return (verified, bad)."""
    good = bad = 0
    started = time.monotonic()
    keys: dict[str, list[NodeKey]] = {}
    while True:
        pending = store.unverified_events(batch)
        if not pending:
            break
        results = []
        with store.transaction():
            for stored in pending:
                node_keys = keys.setdefault(stored.node, store.node_keys(stored.node))
                env = {**_envelope(stored.canonical), "seq": stored.seq}
                event = SignedEvent.of(stored.canonical, stored.signature, env)
                try:
                    verify_event(event, _key_at(node_keys, stored.seq))
                except ProtocolError as exc:
                    bad += 1
                    results.append((stored.position, VERIFY_BAD))
                    alerts.raise_sync_alert(
                        store, alerts.SIGNATURE_INVALID, node=stored.node, seq=stored.seq,
                        raised_at=config.now_ts(), dedupe="event",
                        content=f"节点 {stored.node} 的事件 {stored.seq} 签名无效"
                                "（链条完整，但该事件的签名不能验证）",
                        details={"reason": exc.message, "position": stored.position})
                    logger.warning("bad signature: node %s seq %s", stored.node, stored.seq)
                else:
                    good += 1
                    results.append((stored.position, VERIFY_OK))
            store.set_verified(results)
        if time_budget is not None and time.monotonic() - started > time_budget:
            break
    return good, bad


def _envelope(canonical: bytes) -> dict:
    """Enough of the envelope for verify_event (its alg); content is the projector's job."""
    try:
        env = json.loads(canonical)
    except (ValueError, RecursionError):
        return {}
    return env if isinstance(env, dict) else {}
