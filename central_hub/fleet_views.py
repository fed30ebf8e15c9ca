"""The county administrator's pages: login, the fleet page and its JSON twin.

Until the county accounts issue lands, ``central-hub init`` creates one ``admin`` user
and these pages need that user's session. Sessions, CSRF and login throttling come from
:mod:`web.security`.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from web.security import (
    check_csrf,
    login_throttle_key,
    rotate_csrf_token,
    verify_password,
)
from web.templating import render

from .context import HubContext
from .fleet import fleet_status

logger = logging.getLogger(__name__)
SESSION_USER = "hub_user"


def _hub(request: Request) -> HubContext:
    return request.app.state.hub


def _user(request: Request) -> str | None:
    user = request.session.get(SESSION_USER)
    return user if isinstance(user, str) else None


async def login_page(request: Request) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, "pages/hub_login.html", {"error": None, "username": ""})


async def login(request: Request) -> Response:
    hub = _hub(request)
    form = await request.form()
    check_csrf(request, form)
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    key = login_throttle_key(username, request)
    templates = request.app.state.templates
    wait = hub.login_throttle.check(key)
    if wait:
        return templates.TemplateResponse(
            request, "pages/hub_login.html",
            {"error": f"登录失败次数过多，请 {int(wait) + 1} 秒后再试", "username": username},
            status_code=429)
    stored = hub.store.user(username)
    if stored is None or not verify_password(password, stored[0]):
        hub.login_throttle.failure(key)
        return templates.TemplateResponse(
            request, "pages/hub_login.html", {"error": "用户名或密码错误", "username": username},
            status_code=401)
    hub.login_throttle.success(key)
    request.session.clear()
    request.session[SESSION_USER] = username
    rotate_csrf_token(request)
    hub.store.audit(hub.config.now_ts(), username, "login", None)
    return RedirectResponse("/fleet", status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def fleet_page(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    hub = _hub(request)
    nodes = fleet_status(hub.store, hub.config)
    days = list(nodes[0].events_per_day) if nodes else []
    return render(request.app.state.templates, request, "pages/fleet.html",
                  "partials/_fleet_table.html",
                  {"nodes": nodes, "days": days, "user": user, "hub_time": hub.config.now_ts()})


async def fleet_api(request: Request) -> Response:
    if _user(request) is None:
        return JSONResponse({"error": {"code": "login_required", "message": "请先登录"}},
                            status_code=401)
    hub = _hub(request)
    return JSONResponse({"hub_time": hub.config.now_ts(),
                         "nodes": [n.to_dict() for n in fleet_status(hub.store, hub.config)]})


async def home(request: Request) -> Response:
    return RedirectResponse("/fleet", status_code=303)


def fleet_routes() -> list[Route]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"], max_body_size=16 * 1024),
        Route("/logout", logout, methods=["POST"], max_body_size=16 * 1024),
        Route("/fleet", fleet_page, methods=["GET"]),
        Route("/api/fleet", fleet_api, methods=["GET"]),
    ]
