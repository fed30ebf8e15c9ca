"""The node's sync status for staff: the header indicator and the /sync page.

Stable API (the screens call it from every page header and mount the routes)::

    indicator(node) -> dict
        {"state": "ok"|"waiting"|"offline"|"error"|"revoked"|"quarantined"|"never",
         "label_zh": "已同步" | "待同步 12 条" | "离线（上次同步 3 小时前）" | ...,
         "waiting": int, "oldest_waiting_age_s": int | None,
         "last_ack_at": str | None, "hub_url": str | None,
         "css": "sync--ok" | ...}          # extra key: the CSS modifier of .sync-indicator

    sync_routes(node, templates, require_user) -> list[BaseRoute]
        GET  /sync            the sync page (any signed-in member of staff)
        GET  /sync/indicator  the header indicator alone (htmx polling)
        POST /sync/now        CSRF-checked; triggers a round and waits at most a few
                              seconds for it, then shows the page again

Everything here reads the node's own database only: rendering a page never touches the
network. The figures are written by :mod:`edge_node.sync` after each round.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from protocol.envelope import parse_ts
from protocol.errors import ProtocolError
from protocol.keys import PublicKey
from web import security
from web.templating import render

log = logging.getLogger(__name__)

#: How long POST /sync/now waits for the round it triggered before answering anyway.
SYNC_NOW_WAIT_S = 4.0

#: After this long without a successful round, a node that has something to send (or
#: whose last round failed on the network) shows as offline.
OFFLINE_AFTER_S = 15 * 60

_CSS = {"ok": "sync--ok", "waiting": "sync--pending", "offline": "sync--offline",
        "error": "sync--error", "revoked": "sync--error", "quarantined": "sync--error",
        "never": "sync--offline"}


def age_zh(seconds: int | None) -> str:
    """'刚刚', '5 分钟前', '3 小时前', '2 天前' (None: '从未')."""
    if seconds is None:
        return "从未"
    if seconds < 60:
        return "刚刚"
    if seconds < 3600:
        return f"{seconds // 60} 分钟前"
    if seconds < 86400:
        return f"{seconds // 3600} 小时前"
    return f"{seconds // 86400} 天前"


def duration_zh(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds} 秒"
    if seconds < 3600:
        return f"{seconds // 60} 分钟"
    if seconds < 86400:
        return f"{seconds // 3600} 小时 {seconds % 3600 // 60} 分钟"
    return f"{seconds // 86400} 天 {seconds % 86400 // 3600} 小时"


def _age_s(now: datetime, ts: str | None) -> int | None:
    if not ts:
        return None
    try:
        return max(0, int((now - parse_ts(ts)).total_seconds()))
    except (ValueError, TypeError):
        return None


def _state_of(node) -> dict[str, Any]:
    """The raw sync state of ``node`` (figures written by edge_node.sync)."""
    store = node.store
    getter = getattr(store, "sync_state", None)
    if getter is not None:
        return getter()
    # Fallback before the sync state of the store exists: the counters alone.
    return {"hub_url": node.config.hub_url, "enrolled": False, "status": None,
            "last_ack_at": None, "last_attempt_at": None, "last_error_code": None,
            "last_error_zh": None, "last_error_network": False, "clock_offset_ms": None,
            "hub_key_fingerprint": None, "oldest_waiting_ts": None}


def indicator(node) -> dict:
    """The header indicator of ``node``; reads the database only (see module docs)."""
    store = node.store
    st = _state_of(node)
    now = node.now()
    waiting = store.unacked_count()
    oldest_age = _age_s(now, st.get("oldest_waiting_ts")) if waiting else None
    last_ack_at = st.get("last_ack_at")
    hub_url = st.get("hub_url") or node.config.hub_url
    since_ack = _age_s(now, last_ack_at)
    status = st.get("status")
    if status == "revoked":
        state, label = "revoked", "本节点已被县级平台停用，请联系县级管理员"
    elif status == "quarantined":
        state, label = "quarantined", "本节点已被县级平台隔离，暂停上报，请联系县级管理员"
    elif not st.get("enrolled"):
        state = "never"
        label = "未接入县级平台" + (f"（待上报 {waiting} 条）" if waiting else "")
    elif st.get("last_error_code") and not st.get("last_error_network"):
        state, label = "error", "同步出错：" + (st.get("last_error_zh") or "请查看同步页面")
    elif st.get("last_error_network") and (
            waiting or since_ack is None or since_ack > OFFLINE_AFTER_S):
        state = "offline"
        label = ("离线（从未同步）" if since_ack is None
                 else f"离线（上次同步 {age_zh(since_ack)}）")
    elif waiting:
        state, label = "waiting", f"待同步 {waiting} 条"
    else:
        state, label = "ok", "已同步"
    return {"state": state, "label_zh": label, "waiting": waiting,
            "oldest_waiting_age_s": oldest_age, "last_ack_at": last_ack_at,
            "hub_url": hub_url, "css": _CSS[state]}


def _fingerprint(hex_key: str | None) -> str | None:
    if not hex_key:
        return None
    try:
        return PublicKey.from_hex(hex_key).fingerprint
    except ProtocolError:
        return None


def _rounds(node) -> list[dict]:
    getter = getattr(node.store, "recent_sync_rounds", None)
    return [] if getter is None else getter(10)


def details(node) -> dict:
    """Everything the /sync page shows (indicator plus the raw figures)."""
    st = _state_of(node)
    ind = indicator(node)
    now = node.now()
    offset = st.get("clock_offset_ms")
    return {**ind,
            "acked_seq": node.store.acked_seq(),
            "head_seq": node.store.chain_head().seq,
            "last_ack_ago": age_zh(_age_s(now, ind["last_ack_at"])),
            "last_attempt_at": st.get("last_attempt_at"),
            "last_attempt_ago": age_zh(_age_s(now, st.get("last_attempt_at"))),
            "oldest_waiting": duration_zh(ind["oldest_waiting_age_s"]),
            "clock_offset_ms": offset,
            "clock_offset_zh": clock_offset_zh(offset),
            "last_error_code": st.get("last_error_code"),
            "last_error_zh": st.get("last_error_zh"),
            "hub_key_fingerprint": _fingerprint(st.get("hub_signing_key")),
            "node_key_fingerprint": node.key.public.fingerprint,
            "key_rotation_pending": bool(st.get("rotation")),
            "rounds": _rounds(node),
            "enrolled": st.get("enrolled", False),
            "catalogue_version": st.get("catalogue_version"),
            "calendar_version": st.get("calendar_version")}


def status_section(node) -> dict:
    """The sync figures of ``edge-node status --json`` (machine-readable)."""
    d = details(node)
    keys = ("state", "label_zh", "waiting", "oldest_waiting_age_s", "last_ack_at",
            "last_attempt_at", "hub_url", "hub_key_fingerprint", "clock_offset_ms",
            "last_error_code", "last_error_zh", "key_rotation_pending", "enrolled")
    return {k: d[k] for k in keys}


def format_section(section: dict) -> list[str]:
    """Lines of ``edge-node status`` for the sync section."""
    lines = [f"同步：{section['label_zh']}"]
    if section["hub_url"]:
        lines.append(f"  县级平台：{section['hub_url']}（密钥指纹 "
                     f"{section['hub_key_fingerprint'] or '—'}）")
    lines.append(f"  最近确认：{section['last_ack_at'] or '从未'}；待同步 {section['waiting']} 条"
                 f"（最早已等待 {duration_zh(section['oldest_waiting_age_s'])}）")
    lines.append(f"  本机时钟：{clock_offset_zh(section['clock_offset_ms'])}")
    if section["last_error_zh"]:
        lines.append(f"  最近错误：{section['last_error_zh']}（{section['last_error_code']}）")
    return lines


def clock_offset_zh(offset_ms: int | None) -> str:
    """How far the node's clock is from the hub's, in words."""
    if offset_ms is None:
        return "未知（尚未与县级平台通信）"
    if abs(offset_ms) < 1000:
        return f"与县级平台一致（相差 {offset_ms} 毫秒）"
    direction = "慢" if offset_ms > 0 else "快"   # offset = hub - node
    return f"本机时钟比县级平台{direction} {duration_zh(abs(offset_ms) // 1000)}"


def _trigger(request: Request, node) -> Callable[[float], bool] | None:
    """The app's background sync service's trigger, if one runs (edge-node serve)."""
    service = getattr(request.app.state, "sync_service", None)
    return None if service is None else service.run_now


def sync_routes(node, templates, require_user) -> list[BaseRoute]:
    """The /sync routes for the node app (see module docs)."""

    async def sync_page(request: Request) -> Response:
        user = require_user(request)
        context = {"sync": details(node), "user": user,
                   "can_sync": _trigger(request, node) is not None}
        return render(templates, request, "pages/sync.html", "partials/_sync_detail.html",
                      context)

    async def sync_indicator(request: Request) -> Response:
        require_user(request)
        return render(templates, request, "partials/_sync_indicator.html",
                      "partials/_sync_indicator.html", {"sync_indicator": indicator(node)})

    async def sync_now(request: Request) -> Response:
        require_user(request)
        form = await request.form()
        security.check_csrf(request, form)
        trigger = _trigger(request, node)
        if trigger is None:
            return RedirectResponse("/sync?run=unavailable", status_code=303)
        done = await asyncio.to_thread(trigger, SYNC_NOW_WAIT_S)
        return RedirectResponse("/sync" if done else "/sync?run=pending", status_code=303)

    return [Route("/sync", sync_page, methods=["GET"]),
            Route("/sync/indicator", sync_indicator, methods=["GET"]),
            Route("/sync/now", sync_now, methods=["POST"])]


__all__ = ["indicator", "details", "sync_routes", "age_zh", "clock_offset_zh"]
