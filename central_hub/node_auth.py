"""Authenticating a node's signed request at the hub (replay, skew, revocation).

Call :func:`authenticate_node` inside ``store.transaction()`` through
:func:`committed`, so that what a refusal records (the skew of an authentic request,
an alert) is committed even though the request is refused.

Order of checks: the claimed node exists (else ``node_unknown``), the signature verifies
with its current key (``request_signature_invalid``), the skew is recorded, the node is
not revoked (``node_revoked``), the time lies in the window (``request_expired``), the
nonce is new (``request_replayed``), and for pushes the node is not quarantined
(``node_quarantined``). Refusals answer with hub time (see the app), so a node with a
wrong clock corrects it and succeeds on retry.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Callable, Mapping, TypeVar

from protocol.envelope import format_ts
from protocol.errors import ProtocolError
from protocol.keys import PublicKey
from protocol.request_auth import (
    RequestAuthError,
    SignedRequest,
    replayed,
    request_node,
    verify_request,
)

from . import alerts
from .config import HubConfig
from .errors import HubError
from .records import NODE_QUARANTINED, NODE_REVOKED, NodeRecord
from .store import HubStore

logger = logging.getLogger(__name__)
T = TypeVar("T")

REVOKED_MESSAGE = ("本节点已被县级管理员吊销，不能再与县级平台同步。请联系县政务服务中心。"
                   " (node {code} is revoked: its requests are refused)")
QUARANTINED_MESSAGE = ("本节点因事件链分叉已被隔离，暂停接收新的同步数据，等待县级管理员核查。"
                       " (node {code} is quarantined after a chain fork)")


def committed(store: HubStore, work: Callable[[], T]) -> T:
    """Run ``work`` in one transaction; refusals are raised only after the commit."""
    error: Exception | None = None
    with store.transaction():
        try:
            return work()
        except (HubError, ProtocolError) as exc:
            error = exc
    assert error is not None
    raise error


def authenticate_node(store: HubStore, config: HubConfig, *, method: str, path: str,
                      headers: Mapping[str, str], body: bytes, for_push: bool = False,
                      reported_head: int | None = None) -> tuple[NodeRecord, SignedRequest]:
    now = config.now()
    now_ts = config.now_ts()
    code = request_node(headers)
    node = store.node(code)
    if node is None:
        alerts.raise_sync_alert(
            store, alerts.UNKNOWN_KEY, node=code, raised_at=now_ts, level="yellow",
            content=f"未登记的节点 {code} 请求同步")
        raise HubError(f"node {code} is not enrolled at this hub", code="node_unknown")
    try:
        signed = verify_request(headers, method, path, body, PublicKey.from_hex(node.public_key),
                                now, config.request_window_seconds)
    except RequestAuthError as exc:
        parsed = getattr(exc, "request", None)
        if exc.code == "request_signature_invalid":
            alerts.raise_sync_alert(
                store, alerts.REQUEST_FORGED, node=code, raised_at=now_ts, level="yellow",
                content=f"节点 {code} 的同步请求签名无效（可能被冒用）",
                details={"reason": exc.message})
        if parsed is not None:     # authentic but out of the window: record the skew
            _record_skew(store, config, node, parsed, now_ts, reported_head)
        raise
    _record_skew(store, config, node, signed, now_ts, reported_head)
    if node.status == NODE_REVOKED:
        alerts.raise_sync_alert(store, alerts.REVOKED_KEY, node=code, raised_at=now_ts,
                                content=f"已吊销的节点 {code} 仍在请求同步")
        raise HubError(REVOKED_MESSAGE.format(code=code), code="node_revoked")
    if not store.use_nonce(code, signed.nonce, now_ts):
        alerts.raise_sync_alert(store, alerts.REQUEST_REPLAYED, node=code, raised_at=now_ts,
                                content=f"节点 {code} 的同步请求被重放",
                                details={"nonce": signed.nonce})
        raise replayed(code, signed.nonce)
    if for_push and node.status == NODE_QUARANTINED:
        raise HubError(QUARANTINED_MESSAGE.format(code=code), code="node_quarantined")
    return node, signed


def _record_skew(store: HubStore, config: HubConfig, node: NodeRecord, signed: SignedRequest,
                 now_ts: str, reported_head: int | None) -> None:
    store.record_contact(node.code, now_ts, signed.skew_ms, signed.clock_skew_ms,
                         reported_head)
    worst = max(abs(signed.skew_ms), abs(signed.clock_skew_ms))
    if worst > config.skew_alert_seconds * 1000:
        alerts.raise_sync_alert(
            store, alerts.CLOCK_SKEW, node=node.code, raised_at=now_ts, level="yellow",
            content=f"节点 {node.code} 时钟与县级平台相差约 {worst // 1000} 秒，"
                    "该节点记录的办件时间可能受影响",
            details={"skew_ms": signed.skew_ms, "clock_skew_ms": signed.clock_skew_ms})


def prune_nonces(store: HubStore, config: HubConfig) -> int:
    """Forget nonces older than twice the request window (they would be expired anyway)."""
    cutoff = format_ts(config.now() - timedelta(seconds=2 * config.request_window_seconds))
    return store.prune_nonces(cutoff)
