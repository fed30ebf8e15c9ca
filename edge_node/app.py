"""The edge node web app: ``create_app(config)``.

A minimal surface for now (the screens come with a later issue): a home page, a health
check, JSON sign-in and the JSON intake endpoint that the crash test and the benchmark
drive. HTTP statuses are decided here, once, in ``exception_handlers``.

Concurrency: every endpoint is ``async def`` and calls the store synchronously, so all
database work happens on the event-loop thread, one request at a time, on the app's one
SQLite connection. An intake holds the loop for about a millisecond (one fsync'd
transaction); a township window serves a handful of staff, so serialising writes costs
nothing and removes every cross-thread question. The store is opened in the factory (not
in lifespan), so in-process test clients without lifespan events work too.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from protocol import lifecycle
from protocol.errors import ProtocolError
from web import security
from web.errors import error_response, install_error_handlers
from web.templating import make_templates, static_mount

from . import cases, users
from .config import NodeConfig
from .errors import NodeError, NotSignedIn, PermissionDenied, ValidationError
from .node import Node, open_node

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
COOKIE = "node_session"


def create_app(config: NodeConfig, *, node: Node | None = None) -> Starlette:
    """Build the node's app. ``node`` lets a test share an already open node."""
    owns_node = node is None
    node = node or open_node(config)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        if owns_node:
            node.close()
    templates = make_templates([TEMPLATES_DIR], app_name=config.name)
    throttle = security.LoginThrottle()

    def current_user(request: Request) -> dict:
        uid = request.session.get("user")
        user = node.store.user(uid) if isinstance(uid, str) else None
        if user is None or not user["active"]:
            raise NotSignedIn("not signed in", zh="请先登录")
        return user

    async def read_json(request: Request) -> dict:
        if "application/json" not in request.headers.get("content-type", ""):
            raise ValidationError("body", "content_type", "请以 JSON 格式提交（application/json）")
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise ValidationError("body", "json", "提交的内容不是有效的 JSON") from None
        if not isinstance(data, dict):
            raise ValidationError("body", "json", "提交的内容须为 JSON 对象")
        return data

    async def home(request: Request) -> Response:
        by_state = node.store.cases_by_state()
        states = [(lifecycle.STATE_LABELS.get(s, s), by_state.get(s, 0))
                  for s in lifecycle.STATES if by_state.get(s)]
        return templates.TemplateResponse(request, "pages/home.html", {
            "node_name": config.name, "node_code": config.code, "states": states,
            "events": node.store.event_count(), "unacked": node.store.unacked_count()})

    async def health(request: Request) -> Response:
        head = node.store.chain_head()
        return JSONResponse({"ok": True, "node": config.code, "head_seq": head.seq})

    async def login(request: Request) -> Response:
        data = await read_json(request)
        username, password = str(data.get("username", "")), str(data.get("password", ""))
        key = security.login_throttle_key(username, request)
        wait = throttle.check(key)
        if wait > 0:
            return JSONResponse({"error": {"status": 429, "detail":
                                           f"登录失败次数过多，请 {int(wait) + 1} 秒后再试"}},
                                status_code=429, headers=security.retry_after_header(wait))
        user = users.authenticate(node, username, password)
        if user is None:
            throttle.failure(key)
            raise PermissionDenied("wrong username or password", zh="用户名或密码不正确")
        throttle.success(key)
        request.session.clear()
        request.session["user"] = user["id"]
        token = security.rotate_csrf_token(request)
        return JSONResponse({"user": user["id"], "name": user["name"],
                             "roles": list(user["roles"]), "csrf_token": token})

    async def logout(request: Request) -> Response:
        security.check_csrf(request)
        request.session.clear()
        return JSONResponse({"ok": True})

    async def create_case(request: Request) -> Response:
        user = current_user(request)
        security.check_csrf(request)
        data = await read_json(request)
        actor = users.actor_for(user, str(data.get("role") or "clerk"))
        materials = data.get("materials", [])
        if not isinstance(materials, (list, dict)):
            raise ValidationError("materials", "format", "材料清单格式不正确")
        state = cases.intake(node, actor, item_code=str(data.get("item", "")),
                             applicant=data.get("applicant") or {}, materials=materials,
                             outcome=str(data.get("outcome", "accept")),
                             reason=data.get("reason"), note=data.get("note"))
        return JSONResponse({"case": state["case"], "query_code": state["query_code"],
                             "state": state["state"], "seq": state["last_seq"],
                             "deadline": state["deadline"]}, status_code=201)

    async def show_case(request: Request) -> Response:
        current_user(request)
        return JSONResponse(cases.get_case(node, request.path_params["case_no"]))

    async def node_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NodeError)
        status = exc.status
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": {"status": status, "detail": exc.zh,
                                           **{k: v for k, v in exc.to_dict().items()
                                              if k in ("field", "rule", "error")}}},
                                status_code=status)
        return error_response(templates, request, status, message=exc.zh)

    async def protocol_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProtocolError)
        detail = f"内容超出协议限制：{exc}"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": {"status": 422, "detail": detail,
                                           "code": exc.code, "field": exc.field}},
                                status_code=422)
        return error_response(templates, request, 422, message=detail)

    handlers = install_error_handlers(templates)
    handlers[NodeError] = node_error
    handlers[ProtocolError] = protocol_error

    middleware = [
        Middleware(security.SecurityHeadersMiddleware),
        security.body_limit_middleware(config.max_body_bytes, templates),
        security.session_middleware(config.secret_key, cookie_name=COOKIE),
    ]
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/health", health),
            Route("/api/login", login, methods=["POST"]),
            Route("/api/logout", logout, methods=["POST"]),
            Route("/api/cases", create_case, methods=["POST"]),
            Route("/api/cases/{case_no}", show_case),
            static_mount(),
        ],
        middleware=middleware,
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.node = node
    return app


__all__ = ["create_app"]
