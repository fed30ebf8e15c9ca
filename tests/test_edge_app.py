"""The node's web app (in process) and the offline guarantee."""

from __future__ import annotations

import socket

import pytest
from starlette.testclient import TestClient

from edge_node.app import create_app

from conftest import EDGE_ADMIN_PASSWORD, EDGE_STAFF_PASSWORD

INTAKE = {"item": "MZ-JF-0005", "outcome": "accept", "materials": ["M1", "M2", "M3", "M4", "M5"],
          "applicant": {"kind": "person", "name": "王五", "id_no": "11010519491231002X"}}


@pytest.fixture
def client(edge_node, edge_staff):
    app = create_app(edge_node.config, node=edge_node)
    with TestClient(app) as client:
        yield client


def login(client, username="clerk") -> str:
    response = client.post("/api/login", json={"username": username,
                                               "password": EDGE_STAFF_PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]


def test_home_and_health(client):
    assert client.get("/health").json()["ok"] is True
    page = client.get("/")
    assert page.status_code == 200 and "测试镇便民服务中心" in page.text


def test_intake_over_http(client, edge_node):
    token = login(client)
    response = client.post("/api/cases", json=INTAKE, headers={"X-CSRF-Token": token})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "accepted" and body["deadline"]["due"] == "2026-02-26"
    shown = client.get(f"/api/cases/{body['case']}")
    assert shown.json()["applicant"]["name"] == "王五"
    assert edge_node.store.case(body["case"])["last_seq"] == body["seq"]


def test_intake_errors_have_statuses_and_write_nothing(client, edge_node):
    head = edge_node.store.chain_head()
    assert client.post("/api/cases", json=INTAKE).status_code == 401
    token = login(client)
    assert client.post("/api/cases", json=INTAKE).status_code == 403          # no CSRF
    bad = client.post("/api/cases", json={**INTAKE, "materials": ["M1"]},
                      headers={"X-CSRF-Token": token})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "materials"
    assert "补正" in bad.json()["error"]["detail"]
    wrong_role = client.post("/api/cases", json={**INTAKE, "role": "approver"},
                             headers={"X-CSRF-Token": token})
    assert wrong_role.status_code == 403
    missing = client.get("/api/cases/NOPE-1")
    assert missing.status_code == 404
    assert client.post("/api/cases", content=b"x", headers={
        "X-CSRF-Token": token, "content-type": "text/plain"}).status_code == 422
    assert edge_node.store.chain_head() == head


@pytest.mark.parametrize("role", ("clerk", "handler", "reviewer", "approver", "head",
                                  "supervisor", "admin"))
def test_case_json_follows_the_case_page_rules(client, edge_node, role):
    """GET /api/cases/{no} gives the applicant's record to the roles the case page shows it
    to, and the node administrator (who manages accounts, not cases) gets 403 on both."""
    created = client.post("/api/cases", json=INTAKE, headers={"X-CSRF-Token": login(client)})
    case_no = created.json()["case"]
    client.cookies.clear()
    password = EDGE_ADMIN_PASSWORD if role == "admin" else EDGE_STAFF_PASSWORD
    signed = client.post("/api/login", json={"username": role, "password": password})
    assert signed.status_code == 200, signed.text
    shown = client.get(f"/api/cases/{case_no}")
    page = client.get(f"/cases/{case_no}", follow_redirects=False)
    if role == "admin":
        assert shown.status_code == 403 and page.status_code == 403
        assert "王五" not in shown.text and "11010519491231002X" not in shown.text
        assert shown.json()["error"]["detail"] == "您的岗位无权使用此页面"
    else:
        assert shown.status_code == 200 and page.status_code == 200
        assert shown.json()["applicant"]["name"] == "王五"


def test_wrong_password(client):
    response = client.post("/api/login", json={"username": "clerk", "password": "nope"})
    assert response.status_code == 403


@pytest.fixture
def offline(monkeypatch):
    """Refuse every connection to a non-loopback address."""
    real_connect = socket.socket.connect
    real_create = socket.create_connection

    def loopback(address) -> bool:
        host = address[0] if isinstance(address, tuple) else address
        return isinstance(host, str) and (host in ("localhost", "::1")
                                          or host.startswith("127.") or host.startswith("/"))

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address):
            raise OSError(f"offline test: connection to {address} refused")
        return real_connect(self, address)

    def create_connection(address, *args, **kwargs):
        if not loopback(address):
            raise OSError(f"offline test: connection to {address} refused")
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)


def test_handling_flows_work_offline(offline, tmp_path, settable_clock):
    with pytest.raises(OSError):
        socket.create_connection(("10.1.2.3", 80), timeout=0.1)
    from datetime import date

    from edge_node.node import init_node
    from edge_node.demo.simulate import simulate
    from edge_node.status import node_status

    node, _ = init_node(tmp_path / "offline", "OFF01", "离线镇", clock=settable_clock,
                        admin_password="lantern-ridge-41")
    try:
        report = simulate(node, cases=200, start=date(2026, 3, 2), days=30, seed=11)
        assert report.cases == 200 and report.events > 1000
        assert node_status(node)["chain"]["verifies"]
        app = create_app(node.config, node=node)
        with TestClient(app) as client:
            response = client.post("/api/login", json={"username": "sim-clerk1",
                                                       "password": "sim-window-2026"})
            token = response.json()["csrf_token"]
            created = client.post("/api/cases", json=INTAKE, headers={"X-CSRF-Token": token})
            assert created.status_code == 201, created.text
    finally:
        node.close()
