"""Alerts (预警) raised by the sync layer, on the record supervision will extend.

The record is :class:`central_hub.store.records.AlertRecord` (the fields of GB/T 39046 table 11:
case, content, body, raised at, rule, type, state, result, responsible unit, plus level,
responsible person, node, seq and details). Alerts are never deleted; a state change is
recorded in the alert history. An open alert with the same ``dedupe_key`` is counted
(``occurrences``) rather than repeated, so a node that replays a request a thousand times
makes one alert, not a thousand. Alerts raised before a request is authenticated
(``unknown_key``, ``request_forged``) name a node the sender merely claims, so they are
counted per client address and time window (``dedupe="source"``): thirty requests
claiming thirty invented nodes make one alert counted thirty times.

Sync alert types (``alert_type`` / ``rule_id``):

    chain_fork          a different event at a stored seq (node quarantined)
    signature_invalid   a bad signature: on the ack path, or found by the verifier
    chain_broken        a run that does not link to the stored chain (edited event)
    foreign_events      a node pushed events of another node
    revoked_key         a request from a revoked node
    unknown_key         a signed request from a node the hub does not know
    request_replayed    a request nonce used twice
    request_forged      a request signature that does not verify with the node's key
    clock_skew          a node clock more than the threshold off hub time
    content_invalid     an authentic event whose content breaks the schema or a rule
"""

from __future__ import annotations

from datetime import datetime

from protocol.envelope import format_ts

from ..store import HubStore
from ..store.records import AlertRecord

CHAIN_FORK = "chain_fork"
SIGNATURE_INVALID = "signature_invalid"
CHAIN_BROKEN = "chain_broken"
FOREIGN_EVENTS = "foreign_events"
REVOKED_KEY = "revoked_key"
UNKNOWN_KEY = "unknown_key"
REQUEST_REPLAYED = "request_replayed"
REQUEST_FORGED = "request_forged"
CLOCK_SKEW = "clock_skew"
CONTENT_INVALID = "content_invalid"

ALERT_TYPES = {
    CHAIN_FORK: "同一序号出现不同事件（分叉），节点已隔离",
    SIGNATURE_INVALID: "事件签名无效",
    CHAIN_BROKEN: "事件链断裂（事件可能被篡改）",
    FOREIGN_EVENTS: "节点提交了其他节点的事件",
    REVOKED_KEY: "已吊销的节点仍在请求同步",
    UNKNOWN_KEY: "未登记的节点请求同步",
    REQUEST_REPLAYED: "同步请求被重放",
    REQUEST_FORGED: "同步请求签名无效",
    CLOCK_SKEW: "节点时钟偏差过大",
    CONTENT_INVALID: "事件内容不合规",
}
SYNC_UNIT = "县政务服务中心信息科"   # responsible unit for sync alerts until org units exist


def raise_sync_alert(store: HubStore, alert_type: str, *, node: str | None, raised_at: str,
                     content: str, seq: int | None = None, case_no: str | None = None,
                     level: str = "red", details: dict | None = None,
                     dedupe: str | None = "node", source: str | None = None,
                     window: str | None = None) -> AlertRecord:
    """Raise (or count) a sync alert. ``dedupe``: "node" (one open alert per node and
    type), "event" (per node, seq and type), "source" (per client address ``source`` and
    time window ``window``, see :func:`window_start`) or None (always a new alert)."""
    key = None
    if dedupe == "source":
        key = f"{alert_type}:source:{source}:{window}"
    elif dedupe == "node":
        key = f"{alert_type}:{node}"
    elif dedupe == "event":
        key = f"{alert_type}:{node}:{seq}"
    return store.raise_alert(AlertRecord(
        alert_type=alert_type, content=content, rule_id=f"sync.{alert_type}",
        raised_at=raised_at, level=level, case_no=case_no, body=node,
        item_type="sync", responsible_unit=SYNC_UNIT, node=node, seq=seq,
        details=details or {}, dedupe_key=key))


def window_start(now: datetime, seconds: int) -> str:
    """The start of the alert window of ``seconds`` that holds ``now`` (protocol time)."""
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % max(1, seconds), tz=now.tzinfo)
    return format_ts(start)
