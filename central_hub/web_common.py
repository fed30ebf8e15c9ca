"""What every county screen shares: the signed-in account, role checks, rendering, forms.

Every route declares its capability (:data:`central_hub.accounts.CAPABILITIES`) with
:func:`page`; a request without a session is sent to the login page (401 for APIs and
POSTs), a role without the capability gets 403. The session holds the user name, the
account's ``session_epoch`` and a session id whose record the store keeps
(:mod:`web.sessions`): a new password, a change of role or unit, or deactivation ends
every session of the account at once (the epoch); logging out, the idle timeout and the
absolute lifetime end one session (its record). When ``require_totp_for_admins`` is set,
an administrator without a TOTP second factor is sent to enrol before anything else.
"""

from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable, Mapping

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from web.errors import error_response
from web.flash import flash, pop_flashes
from web.negotiation import wants_json
from web.security import check_csrf, client_ip, rotate_csrf_token
from web.sessions import (
    EXPIRED,
    SESSION_ID,
    TOUCH,
    new_session_id,
    prune_bounds,
    session_key,
    verdict,
)
from web.templating import render

from .accounts import CAPABILITIES, ROLES, can, is_admin, may_use_totp
from .context import HubContext
from .records import Account

SESSION_USER = "hub_user"
SESSION_EPOCH = "hub_epoch"
TOTP_ENROL_URL = "/account/totp"
NAV = (
    ("home", "/", "首页"),
    ("cases.view", "/cases", "办件"),
    ("catalogue.view", "/catalogue", "事项目录"),
    ("catalogue.view", "/catalogue/drafts", "起草与审查"),
    ("calendar.view", "/calendar", "工作日历"),
    ("fleet.view", "/fleet", "节点状态"),
    ("orgs.manage", "/admin/orgs", "组织机构"),
    ("accounts.manage", "/admin/accounts", "账号"),
    ("nodes.manage", "/admin/nodes", "节点归属"),
    ("audit.view", "/audit", "审计日志"),
    ("dashboard.view", "/dashboard", "统计分析"),
    ("evaluations.view", "/evaluations", "好差评"),
    ("interactions.view", "/interactions", "咨询投诉"),
    ("notices.view", "/notices", "通知公告"),
    ("supervision.view", "/supervision", "电子监察"),
    ("disclosure.view", "/disclosure", "信息公开"),
)
FORM_LIMIT = 256 * 1024

Endpoint = Callable[[Request], Awaitable[Response]]


def hub_of(request: Request) -> HubContext:
    return request.app.state.hub


def current_account(request: Request) -> Account | None:
    cached = request.scope.get("hub.account", False)
    if cached is not False:
        return cached
    account = None
    session = request.session if "session" in request.scope else {}
    username, sid = session.get(SESSION_USER), session.get(SESSION_ID)
    if isinstance(username, str) and isinstance(sid, str):
        hub = hub_of(request)
        found = hub.store.account(username)
        state = _session_state(hub, sid, username)
        if found is not None and found.active \
                and session.get(SESSION_EPOCH) == found.session_epoch and state == "alive":
            account = found
        else:
            _forget_ended_session(request, hub, state)
    request.scope["hub.account"] = account
    return account


def _forget_ended_session(request: Request, hub: HubContext, state: str) -> None:
    """The cookie names a session that has ended: drop it from the cookie and tell the
    person why on the next page (the login page), instead of a silent bounce."""
    for key in (SESSION_USER, SESSION_EPOCH, SESSION_ID):
        request.session.pop(key, None)
    message = session_ended_message(hub, state)
    request.scope["hub.session_ended"] = message
    flash(request, message, "warning")


def session_ended_message(hub: HubContext, state: str) -> str:
    if state == EXPIRED:
        minutes = max(1, round(hub.session_policy.idle_seconds / 60))
        return f"登录已超时（超过 {minutes} 分钟未操作或登录时间过长），请重新登录"
    return "登录已失效（已在别处退出、密码或账号已变更），请重新登录"


def _session_state(hub: HubContext, sid: str, username: str) -> str:
    """"alive" when the session's record exists, is the account's and is within its limits
    (refreshing ``last_seen`` at most once a minute); EXPIRED past them (the record is
    deleted); "ended" when there is no such record."""
    key = session_key(sid)
    record = hub.store.session(key)
    if record is None or record.user != username:
        return "ended"
    now = hub.clock_seconds()
    state = verdict(hub.session_policy, record, now)
    if state == EXPIRED:
        hub.store.end_session(key)
        return EXPIRED
    if state == TOUCH:
        hub.store.touch_session(key, now)
    return "alive"


def start_session(request: Request, account: Account) -> None:
    """Sign ``account`` in: a new session record (dead ones pruned), a fresh cookie."""
    hub = hub_of(request)
    now = hub.clock_seconds()
    sid = new_session_id()
    with hub.store.transaction():
        hub.store.prune_sessions(*prune_bounds(hub.session_policy, now))
        hub.store.add_session(session_key(sid), account.username, now)
    request.session.clear()
    request.session[SESSION_USER] = account.username
    request.session[SESSION_EPOCH] = account.session_epoch
    request.session[SESSION_ID] = sid
    request.scope.pop("hub.account", None)
    rotate_csrf_token(request)


def end_session(request: Request) -> None:
    """Sign out: delete this session's record (a copied cookie is refused too)."""
    sid = request.session.get(SESSION_ID)
    if isinstance(sid, str):
        hub_of(request).store.end_session(session_key(sid))
    request.session.clear()
    request.scope.pop("hub.account", None)
    rotate_csrf_token(request)


def totp_missing(request: Request, account: Account) -> bool:
    """True when the hub requires a second factor of administrators and ``account`` is one
    without it."""
    return hub_of(request).config.require_totp_for_admins and is_admin(account) \
        and not account.totp_enabled


def account_of(request: Request) -> Account:
    account = current_account(request)
    assert account is not None
    return account


def page(capability: str) -> Callable[[Endpoint], Endpoint]:
    """Require a signed-in account whose role has ``capability``."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability}")

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            account = current_account(request)
            if account is None:
                if request.method == "GET" and not wants_json(request):
                    return RedirectResponse("/login", status_code=303)
                pop_flashes(request)            # the answer itself says why
                return error_response(request.app.state.templates, request, 401,
                                      message=request.scope.get("hub.session_ended")
                                      or "请先登录")
            if totp_missing(request, account):
                if request.method == "GET" and not wants_json(request):
                    return RedirectResponse(TOTP_ENROL_URL, status_code=303)
                return error_response(request.app.state.templates, request, 403,
                                      message="请先启用双因素认证（动态验证码）")
            if not can(account, capability):
                return error_response(request.app.state.templates, request, 403,
                                      message=f"您的角色（{ROLES.get(account.role)}）无权进行此操作")
            return await endpoint(request)
        wrapper.capability = capability  # type: ignore[attr-defined]
        return wrapper
    return decorate


def show(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
         partial: str | None = None, status_code: int = 200) -> Response:
    account = current_account(request)
    ctx = {"account": account, "role_label": ROLES.get(account.role, "") if account else "",
           "nav": [(url, label) for cap, url, label in NAV if can(account, cap)],
           "may_totp": may_use_totp(account),
           "path": request.url.path, **(context or {})}
    return render(request.app.state.templates, request, template, partial or template, ctx,
                  status_code=status_code)


async def read_form(request: Request) -> FormData:
    """The posted form after the CSRF check (403 without a valid token)."""
    form = await request.form(max_files=2, max_fields=200)
    try:
        check_csrf(request, form)
    except Exception:
        await form.close()
        raise
    return form


def text_field(form: FormData, name: str, max_len: int = 20_000) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        return ""
    return value[:max_len].replace("\r\n", "\n")


def audit(request: Request, action: str, target: str | None, details: dict | None = None, *,
          before: object = None, after: object = None) -> None:
    hub = hub_of(request)
    account = current_account(request)
    hub.store.audit(hub.config.now_ts(), account.username if account else "anonymous", action,
                    target, details, ip=client_ip(request), before=before, after=after)


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)
