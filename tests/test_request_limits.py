"""What the apps take in and leave behind: every route that takes a body is bounded (its
own limit, else the app's default); access logs carry no query strings; new databases
are readable by their owner only."""

from __future__ import annotations

import logging
import os
import stat

from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.routing import Route
from starlette.testclient import TestClient

from central_hub.app import create_app
from central_hub.bootstrap import init_hub
from central_hub.config import HubConfig
from central_hub.web_common import FORM_LIMIT
from edge_node.node import init_node
from web.security import BODY_METHODS
from web.transport import uvicorn_log_config


def _hub_app(tmp_path):
    init_hub(tmp_path / "hub", "test-hub")
    return create_app(HubConfig.load(tmp_path / "hub", background_jobs=False))


def test_every_hub_route_with_a_body_has_a_limit(tmp_path):
    app = _hub_app(tmp_path)
    body_routes = [r for r in app.routes
                   if isinstance(r, Route) and (r.methods or set()) & BODY_METHODS]
    assert len(body_routes) > 40
    for route in body_routes:
        assert isinstance(route.app, RequestBodyLimitMiddleware), route.path
        # uploads and sync batches declare their own, larger limits; forms get the default
        assert route.app.max_body_size <= 64 * 1024 * 1024, route.path


def test_an_oversized_public_form_is_refused_before_it_is_read(tmp_path):
    app = _hub_app(tmp_path)
    with TestClient(app) as client:
        page = client.get("/portal/ask")
        assert page.status_code == 200
        answer = client.post("/portal/ask", content=b"a=" + b"x" * FORM_LIMIT,
                             headers={"content-type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 413
        # a sync batch may still be as large as the protocol allows: this one is read and
        # refused for what it is (unsigned), not for its size
        push = client.post("/sync/v1/push", content=b"x" * (FORM_LIMIT + 1),
                           headers={"content-type": "application/x-township-batch"})
        assert push.status_code == 401, push.text
        assert push.json()["error"]["code"] != "request_too_large"


def test_access_log_lines_carry_no_query_string():
    config = uvicorn_log_config()
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("10.0.0.5:5123", "GET",
                                "/portal/apply/status?no=WS-20261204-000001&code=7KQ2MX",
                                "1.1", 200), None)
    for spec in config["handlers"]["access"]["filters"]:
        config["filters"][spec]["()"]().filter(record)
    line = record.getMessage()
    assert "/portal/apply/status" in line and "code=" not in line and "7KQ2MX" not in line


def test_a_new_database_is_readable_by_its_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        node, _ = init_node(tmp_path / "node", "XZ-009", "测试镇",
                            admin_password="lantern-ridge-7294")
        node.close()
        init_hub(tmp_path / "hub", "test-hub")
    finally:
        os.umask(old)
    for path in (tmp_path / "node" / "node.db", tmp_path / "hub" / "hub.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
