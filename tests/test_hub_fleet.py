"""Status: the fleet page, /api/fleet and the hub's command line."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from central_hub.app import create_app
from central_hub.operations.bootstrap import init_hub
from central_hub.cli import main
from central_hub.config import HubConfig
from central_hub.sync.simulated_node import SimulatedNode, enrol


@pytest.fixture
def hub(tmp_path):
    result = init_hub(tmp_path / "hub", "test-hub")
    config = HubConfig.load(tmp_path / "hub", background_jobs=False)
    app = create_app(config)
    ctx = app.state.hub
    ctx.client = TestClient(app)
    ctx.password = result.admin_password
    yield ctx
    ctx.close()


def login(hub):
    page = hub.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return hub.client.post("/login", data={"username": "admin", "password": hub.password,
                                           "csrf_token": token}, follow_redirects=False)


def test_fleet_page_needs_login_and_shows_nodes(hub):
    node = SimulatedNode("XZ-001")
    enrol(hub.client, hub, node, "城关镇便民服务中心")
    node.append_many(3)
    body = node.batch()
    path = "/sync/v1/push?head=4"
    hub.client.post(path, content=body, headers=node.push_request(body, path=path))
    assert hub.client.get("/fleet", follow_redirects=False).status_code == 303
    assert hub.client.get("/api/fleet").status_code == 401
    assert login(hub).status_code == 303
    page = hub.client.get("/fleet")
    assert page.status_code == 200
    assert "城关镇便民服务中心" in page.text and "正常" in page.text
    data = hub.client.get("/api/fleet").json()
    [status] = data["nodes"]
    assert status["acked_seq"] == 3 and status["reported_head"] == 4
    assert status["lag_events"] == 1 and status["status"] == "active"
    partial = hub.client.get("/fleet", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "XZ-001" in partial.text


def test_wrong_password_is_refused(hub):
    page = hub.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = hub.client.post("/login", data={"username": "admin", "password": "nope",
                                               "csrf_token": token})
    assert response.status_code == 401 and "用户名或密码错误" in response.text


def test_cli_commands(tmp_path):
    runner = CliRunner()
    data_dir = str(tmp_path / "hub")
    result = runner.invoke(main, ["init", data_dir, "--name", "某县"])
    assert result.exit_code == 0, result.output
    assert "admin user: admin" in result.output
    assert runner.invoke(main, ["init", data_dir]).exit_code != 0
    result = runner.invoke(main, ["enroll-token", data_dir, "--node", "XZ-001",
                                  "--name", "城关镇", "--ttl", "2"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){4}-[0-9A-Z]{2}", token)
    app = create_app(HubConfig.load(data_dir, background_jobs=False))
    client = TestClient(app)
    node = SimulatedNode("XZ-001")
    assert client.post("/sync/v1/enroll", json=node.enrol_body(token)).status_code == 200
    result = runner.invoke(main, ["nodes", data_dir, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["nodes"][0]["code"] == "XZ-001"
    result = runner.invoke(main, ["nodes", data_dir])
    assert "XZ-001" in result.output and "active" in result.output
    result = runner.invoke(main, ["enroll-token", data_dir, "--node", "XZ-001", "--name", "x"])
    assert result.exit_code != 0 and "already enrolled" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["revoke", data_dir, "--node", "NOPE"])
    assert result.exit_code != 0 and "NOPE" in result.output
    result = runner.invoke(main, ["nodes", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert runner.invoke(main, ["revoke", data_dir, "--node", "XZ-001"]).exit_code == 0
    assert "revoked" in runner.invoke(main, ["nodes", data_dir]).output
    app.state.hub.close()
