"""Authenticating a node's signed request at the hub (replay, skew, revocation, limits).

Call :func:`authenticate_node` inside ``store.transaction()`` through
:func:`committed`, so that what a refusal records (the skew of an authentic request,
an alert) is committed even though the request is refused.

Order of checks: the claimed node exists (else ``node_unknown``), the signature verifies
with its current key (``request_signature_invalid``), the time lies in the window
(``request_expired``; the skew of such an authentic request is recorded), the node is
not revoked (``node_revoked``), the node is within its request budget
(``rate_limited``), for pushes the node is not quarantined (``node_quarantined``), the
nonce is new (``request_replayed``). Only a request that passes them all records the
node's contact: last seen, skew, reported head, caught-up mark. A refusal changes nothing
but the skew of an authentic expired request and the alert it raises.

Failures before authentication (node unknown, bad headers, forged signature, expired,
replayed) are counted per client address (:class:`SyncLimits`); an address over its
budget gets 429 for its failing requests, which then record nothing. The alerts such
requests raise (``unknown_key``, ``request_forged``) are counted per address and window,
never one per claimed node. Refusals answer with hub time (see the app), so a node with a
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

from ..supervision import alerts
from ..config import HubConfig
from ..errors import HubError, RateLimited
from ..store.records import NODE_QUARANTINED, NODE_REVOKED, NodeRecord
from ..store import HubStore
from .limits import SyncLimits

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


# Refusals counted against the client address: the request is not (or not provably)
# the node's own.
ADDRESS_FAILURES = frozenset({"request_unsigned", "request_signature_invalid",
                              "request_expired", "request_replayed", "node_unknown"})


def authenticate_node(store: HubStore, config: HubConfig, limits: SyncLimits, *,
                      source: str, method: str, path: str, headers: Mapping[str, str],
                      body: bytes, for_push: bool = False,
                      reported_head: int | None = None) -> tuple[NodeRecord, SignedRequest]:
    """The node and its verified request; ``source`` is the client address."""
    wait = limits.failure_wait(source)
    try:
        node, signed = _verify(store, config, source=source, method=method, path=path,
                               headers=headers, body=body, record=not wait)
        limits.check_node(node.code)
        if for_push and node.status == NODE_QUARANTINED:
            raise HubError(QUARANTINED_MESSAGE.format(code=node.code), code="node_quarantined")
        if not store.use_nonce(node.code, signed.nonce, config.now_ts()):
            if not wait:
                alerts.raise_sync_alert(store, alerts.REQUEST_REPLAYED, node=node.code,
                                        raised_at=config.now_ts(),
                                        content=f"节点 {node.code} 的同步请求被重放",
                                        details={"nonce": signed.nonce})
            raise replayed(node.code, signed.nonce)
    except (HubError, ProtocolError) as exc:
        if exc.code not in ADDRESS_FAILURES:
            raise
        if wait:
            raise RateLimited("too many failed requests from this address; try again later",
                              retry_after=wait) from None
        limits.count_failure(source)
        raise
    limits.take_node(node.code)
    now_ts = config.now_ts()
    store.record_contact(node.code, now_ts, signed.skew_ms, signed.clock_skew_ms,
                         reported_head)
    _check_skew(store, config, node, signed, now_ts)
    return node, signed


def _verify(store: HubStore, config: HubConfig, *, source: str, method: str, path: str,
            headers: Mapping[str, str], body: bytes,
            record: bool) -> tuple[NodeRecord, SignedRequest]:
    """The claimed node and its verified request; writes nothing but, when ``record``,
    the alerts of a refusal and the skew of an authentic expired request."""
    now = config.now()
    now_ts = config.now_ts()
    code = request_node(headers)
    node = store.node(code)
    window = alerts.window_start(now, config.auth_alert_window_seconds)
    if node is None:
        if record:
            alerts.raise_sync_alert(
                store, alerts.UNKNOWN_KEY, node=code, raised_at=now_ts, level="yellow",
                content=f"来自 {source} 的同步请求自称未登记的节点 {code}"
                        "（同一来源同一时段的此类请求只计次数）",
                details={"source": source, "window_start": window, "first_claimed": code},
                dedupe="source", source=source, window=window)
        raise HubError(f"node {code} is not enrolled at this hub", code="node_unknown")
    try:
        signed = verify_request(headers, method, path, body, PublicKey.from_hex(node.public_key),
                                now, config.request_window_seconds)
    except RequestAuthError as exc:
        parsed = getattr(exc, "request", None)
        if record and exc.code == "request_signature_invalid":
            alerts.raise_sync_alert(
                store, alerts.REQUEST_FORGED, node=code, raised_at=now_ts, level="yellow",
                content=f"来自 {source} 的节点 {code} 同步请求签名无效（可能被冒用；"
                        "同一来源同一时段的此类请求只计次数）",
                details={"reason": exc.message, "source": source, "window_start": window,
                         "first_claimed": code},
                dedupe="source", source=source, window=window)
        if record and parsed is not None:   # authentic but out of the window: its skew
            store.record_skew(code, parsed.skew_ms, parsed.clock_skew_ms)
            _check_skew(store, config, node, parsed, now_ts)
        raise
    if node.status == NODE_REVOKED:
        alerts.raise_sync_alert(store, alerts.REVOKED_KEY, node=code, raised_at=now_ts,
                                content=f"已吊销的节点 {code} 仍在请求同步")
        raise HubError(REVOKED_MESSAGE.format(code=code), code="node_revoked")
    return node, signed


def _check_skew(store: HubStore, config: HubConfig, node: NodeRecord, signed: SignedRequest,
                now_ts: str) -> None:
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
