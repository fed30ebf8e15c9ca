"""Fleet status: the per-node figures of the fleet page, ``/api/fleet`` and
``central-hub nodes``: last seen, acknowledged seq, lag in events and time, skew,
quarantined or revoked, events per day."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta

from protocol.envelope import parse_ts

from ..config import HubConfig
from ..store.records import NODE_ACTIVE, NODE_QUARANTINED, NODE_REVOKED, NodeRecord
from ..store import HubStore

STATUS_LABELS = {NODE_ACTIVE: "正常", NODE_QUARANTINED: "已隔离", NODE_REVOKED: "已吊销"}
DAYS_SHOWN = 7


@dataclass(frozen=True)
class NodeStatus:
    code: str
    name: str
    status: str
    status_label: str
    status_reason: str | None
    last_seen: str | None
    seconds_since_seen: int | None
    acked_seq: int
    reported_head: int | None
    lag_events: int | None            # the node's reported head minus acked seq
    lag_seconds: int | None           # since the hub last held everything the node reported
    skew_ms: int | None
    clock_skew_ms: int | None
    skew_flagged: bool
    events_per_day: dict[str, int] = field(default_factory=dict)
    open_alerts: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _seconds_between(earlier: str | None, later) -> int | None:
    if earlier is None:
        return None
    return max(0, int((later - parse_ts(earlier)).total_seconds()))


def node_status(node: NodeRecord, config: HubConfig, days: dict[str, int],
                open_alerts: int) -> NodeStatus:
    now = config.now()
    lag_events = None if node.reported_head is None else max(0, node.reported_head - node.acked_seq)
    if lag_events == 0:
        lag_seconds = 0
    else:
        lag_seconds = _seconds_between(node.caught_up_at or node.enrolled_at, now)
    worst = max(abs(node.skew_ms or 0), abs(node.clock_skew_ms or 0))
    return NodeStatus(
        code=node.code, name=node.name, status=node.status,
        status_label=STATUS_LABELS.get(node.status, node.status),
        status_reason=node.status_reason, last_seen=node.last_seen,
        seconds_since_seen=_seconds_between(node.last_seen, now), acked_seq=node.acked_seq,
        reported_head=node.reported_head, lag_events=lag_events, lag_seconds=lag_seconds,
        skew_ms=node.skew_ms, clock_skew_ms=node.clock_skew_ms,
        skew_flagged=worst > config.skew_alert_seconds * 1000,
        events_per_day=days, open_alerts=open_alerts)


def fleet_status(store: HubStore, config: HubConfig) -> list[NodeStatus]:
    today = config.now().date()
    days = [(today - timedelta(days=i)).isoformat() for i in range(DAYS_SHOWN - 1, -1, -1)]
    per_node: dict[str, dict[str, int]] = {}
    for row in store.day_counts(days[0]):
        per_node.setdefault(row.node, {})[row.day] = row.events
    open_counts: dict[str, int] = {}
    for state in ("open", "answered"):
        for alert in store.alerts(state=state, limit=100_000):
            if alert.node:
                open_counts[alert.node] = open_counts.get(alert.node, 0) + 1
    return [node_status(node, config, {d: per_node.get(node.code, {}).get(d, 0) for d in days},
                        open_counts.get(node.code, 0))
            for node in store.nodes()]
