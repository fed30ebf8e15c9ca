"""What every county screen shares: the signed-in account, role checks, rendering, forms.

Every route declares its capability (:data:`central_hub.accounts.CAPABILITIES`) with
:func:`page`; a request without a session is sent to the login page (401 for APIs and
POSTs), a role without the capability gets 403. The session holds the user name and the
account's ``session_epoch``: a new password, a change of role or unit, or deactivation
ends every session of the account at once.
"""

from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable, Mapping

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from web.errors import error_response
from web.negotiation import wants_json
from web.security import check_csrf, client_ip
from web.templating import render

from .accounts import CAPABILITIES, ROLES, can
from .context import HubContext
from .records import Account

SESSION_USER = "hub_user"
SESSION_EPOCH = "hub_epoch"
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
    username = request.session.get(SESSION_USER) if "session" in request.scope else None
    if isinstance(username, str):
        found = hub_of(request).store.account(username)
        if found is not None and found.active \
                and request.session.get(SESSION_EPOCH) == found.session_epoch:
            account = found
    request.scope["hub.account"] = account
    return account


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
                return error_response(request.app.state.templates, request, 401,
                                      message="请先登录")
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
