"""The edge node web app: ``create_app(config)``.

The screens live in ``edge_node/views/`` (one small module per concern: auth, queue,
intake, cases, search, receipts, admin, selfservice, and the JSON ``api`` the crash test
and the benchmark drive); the sync page comes from ``edge_node.sync.status_views``. The
one route table is :data:`SCREENS`, below. HTTP statuses are decided here, once, in
``exception_handlers``: a domain ``ValidationError`` 422, an illegal transition 409, a
missing case 404, a forbidden role 403, no session 401 (a browser is sent to the login
page instead).

Concurrency: every endpoint is ``async def`` and calls the store synchronously, so all
database work happens on the event-loop thread, one request at a time, on the app's one
SQLite connection. An intake holds the loop for about a millisecond (one fsync'd
transaction); a township window serves a handful of staff, so serialising writes costs
nothing and removes every cross-thread question. The store is opened in the factory (not
in lifespan), so in-process test clients without lifespan events work too.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from protocol.errors import ProtocolError
from web import assets, security
from web.errors import error_response, install_error_handlers
from web.flash import pop_flashes
from web.templating import is_htmx, make_templates, static_mount
from web.transport import TransportSecurityMiddleware

from .config import NodeConfig
from .errors import NodeError, NotSignedIn
from .node import Node, open_node
from .sync import status_views as sync_status
from .views import admin, api, auth, cases, disclosure, disclosure_requests, inbox, intake, \
    notices, queue, receipts, search, selfservice, supervision
from .views.common import Ui, require_user, staff_context_processor

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
COOKIE = "node_session"

#: The route table: each screen module's ``routes(ui)``, in this order, then the sync page
#: (``sync.status_views``) and the static files.
SCREENS = (auth, queue, intake, cases, search, receipts, admin, selfservice, api, disclosure,
           disclosure_requests, inbox, notices, supervision)


def make_node_templates(config: NodeConfig):
    """The node's templates: its own directory first, then web/templates; the shared
    base layout is also reachable as ``web/base.html`` so the node's ``base.html`` (staff
    header, navigation, sync indicator) can extend it under the same name."""
    templates = make_templates([TEMPLATES_DIR], app_name=config.name)
    env = templates.env
    env.loader = jinja2.ChoiceLoader([
        env.loader,
        jinja2.PrefixLoader({"web": jinja2.FileSystemLoader(str(assets.TEMPLATES_DIR))}),
    ])
    return templates


def create_app(config: NodeConfig, *, node: Node | None = None) -> Starlette:
    """Build the node's app. ``node`` lets a test share an already open node."""
    owns_node = node is None
    node = node or open_node(config)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        if owns_node:
            node.close()

    templates = make_node_templates(config)
    ui = Ui(node=node, config=config, templates=templates,
            login_throttle=security.LoginThrottle(),
            # the self-service status look-up: per terminal about 6 a minute, 10 at once;
            # failed look-ups of one case number are throttled like failed logins
            lookup_limiter=security.RateLimiter(rate=0.1, burst=10),
            lookup_throttle=security.LoginThrottle())
    templates.context_processors.append(staff_context_processor(ui))

    async def node_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NodeError)
        status = exc.status
        if isinstance(exc, NotSignedIn) and (request.url.path.startswith("/api/")
                                             or not (is_htmx(request)
                                                     or request.method == "GET")):
            pop_flashes(request)            # the answer itself says why
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": {"status": status, "detail": exc.zh,
                                           **{k: v for k, v in exc.to_dict().items()
                                              if k in ("field", "rule", "error")}}},
                                status_code=status)
        if isinstance(exc, NotSignedIn):
            target = "/login?next=" + quote(request.url.path, safe="/")
            if is_htmx(request):
                return Response(status_code=401, headers={"HX-Redirect": target})
            if request.method == "GET":
                return RedirectResponse(target, status_code=303)
        return error_response(templates, request, status, message=exc.zh)

    async def protocol_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProtocolError)
        detail = f"内容超出协议限制：{getattr(exc, 'zh', None) or exc}"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": {"status": 422, "detail": detail,
                                           "code": exc.code, "field": exc.field}},
                                status_code=422)
        return error_response(templates, request, 422, message=detail)

    handlers = install_error_handlers(templates)
    handlers[NodeError] = node_error
    handlers[ProtocolError] = protocol_error

    middleware = [
        Middleware(TransportSecurityMiddleware),   # no-store; HSTS, Secure over HTTPS
        Middleware(security.SecurityHeadersMiddleware),
        security.body_limit_middleware(config.max_body_bytes, templates),
        security.session_middleware(config.secret_key, config.settings.get("https_only", False),
                                    cookie_name=COOKIE, max_age=config.session_lifetime_seconds),
    ]
    routes = [route for screen in SCREENS for route in screen.routes(ui)]
    routes += sync_status.sync_routes(
        node, templates, lambda request: require_user(ui, request))
    routes.append(static_mount())
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers,
                    lifespan=lifespan)
    app.state.node = node
    app.state.ui = ui
    return app


__all__ = ["create_app", "COOKIE"]
