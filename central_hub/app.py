"""The hub's ASGI app: ``create_app(config)`` builds everything, with no module-level state.

Store, identity, templates and throttles are built here, so a test can use the app
without lifespan having run (httpx's ASGITransport sends no lifespan events); lifespan
only starts the background jobs (:mod:`central_hub.jobs`) when ``config.background_jobs``.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from web.errors import install_error_handlers
from web.security import SecurityHeadersMiddleware, limit_request_bodies, session_middleware
from web.transport import TransportSecurityMiddleware
from web.templating import make_templates, static_mount

from .config import HubConfig
from .context import HubContext
from .admin_views import admin_routes
from .calendar_views import calendar_routes
from .case_views import case_routes
from .catalogue_views import catalogue_routes
from .fleet_views import fleet_routes
from .http_errors import HubTimeMiddleware, sync_exception_handlers
from .identity import load_identity, load_session_secret
from .jobs import BackgroundJobs
from .store import open_store
from .sync_api import sync_routes
from .disclosure.views import routes as disclosure_routes
from .portal_apply import routes as portal_apply_routes
from .routing import routing_routes
from .supervision.views import routes as supervision_routes
from .web_common import FORM_LIMIT
from . import notices as face_notices
from .api import views as face_api
from .dashboard import views as face_dashboard
from .portal import staff as face_staff, views as face_portal

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
APP_NAME = "县级政务服务平台"


def create_app(config: HubConfig) -> Starlette:
    identity = load_identity(config)
    store = open_store(config.db_path, config.now_ts())
    hub = HubContext(config=config, store=store, _identity=identity)
    templates = make_templates([TEMPLATES_DIR], app_name=APP_NAME)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not config.background_jobs:
            yield
            return
        jobs = BackgroundJobs(hub)
        jobs.start()
        try:
            yield
        finally:
            await asyncio.to_thread(jobs.stop)

    handlers = sync_exception_handlers(config.now_ts, lambda: hub.identity.public_hex,
                                       install_error_handlers(templates, home_url="/"),
                                       templates)
    app = Starlette(
        # a route that takes a body and sets no limit of its own gets FORM_LIMIT
        routes=limit_request_bodies([*sync_routes(), *admin_routes(), *fleet_routes(), *case_routes(),
                *catalogue_routes(), *calendar_routes(), *disclosure_routes(),
                *routing_routes(), *portal_apply_routes(),
                # the public face (issue #8): dashboards, portal, notices, /api/v1
                *face_dashboard.routes(), *face_portal.routes(), *face_staff.routes(),
                *face_notices.routes(), *face_api.routes(), *face_api.admin_routes(),
                *supervision_routes(),   # electronic supervision (issue #9)
                static_mount()], FORM_LIMIT),
        middleware=[
            Middleware(TransportSecurityMiddleware),   # no-store; HSTS, Secure over HTTPS
            Middleware(HubTimeMiddleware, now_ts=config.now_ts,
                       hub_key=lambda: hub.identity.public_hex),
            Middleware(SecurityHeadersMiddleware),
            session_middleware(load_session_secret(config), config.https_only,
                               cookie_name="hub_session",
                               max_age=config.session_lifetime_seconds),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.templates = templates
    return app
