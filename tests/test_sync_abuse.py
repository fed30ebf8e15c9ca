"""Abuse of the node-facing API (/sync/v1): alert floods, rate limits, and refused
requests that must change nothing (docs/sync.md, "Abuse limits")."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from starlette.testclient import TestClient

from central_hub.app import create_app
from central_hub.operations.bootstrap import init_hub
from central_hub.config import HubConfig
from central_hub.sync.enrolment import issue_token
from central_hub.sync.simulated_node import SimulatedNode
from protocol.keys import PrivateKey

NAT = "198.51.100.7"          # one county network's public address
ELSEWHERE = "203.0.113.9"
START = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Hub:
    def __init__(self, path, settings: dict | None = None) -> None:
        init_hub(path, "test-hub")
        if settings:       # the limits are settings of hub.json like any other
            data = json.loads((path / "hub.json").read_text(encoding="utf-8"))
            data.update(settings)
            (path / "hub.json").write_text(json.dumps(data), encoding="utf-8")
        self.clock = Clock()
        self.config = HubConfig.load(path, background_jobs=False, clock=self.clock)
        self.app = create_app(self.config)
        self.ctx = self.app.state.hub
        self.store = self.ctx.store
        self.clients: dict[str, TestClient] = {}

    def at(self, address: str) -> TestClient:
        """A client whose requests come from ``address``."""
        if address not in self.clients:
            self.clients[address] = TestClient(self.app, client=(address, 40000))
        return self.clients[address]

    def enrol(self, code: str) -> SimulatedNode:
        node = SimulatedNode(code)
        token, _ = issue_token(self.store, self.config, code, f"{code} 便民服务中心")
        # each from its own address: this file is not about the enrolment limit
        response = self.at(f"192.0.2.{len(self.clients) + 1}").post(
            "/sync/v1/enroll", json=node.enrol_body(token))
        assert response.status_code == 200, response.text
        return node

    def get(self, node: SimulatedNode, path: str, address: str = NAT, **kwargs):
        headers = node.headers("GET", path, now=self.clock(), **kwargs)
        return self.at(address).get(path, headers=headers), headers

    def close(self) -> None:
        self.ctx.close()


@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path / "hub")
    yield hub
    hub.close()


def _push(hub: Hub, node: SimulatedNode, path: str = "/sync/v1/push", address: str = NAT):
    body = node.batch()
    return hub.at(address).post(path, content=body,
                                headers=node.push_request(body, path=path, now=hub.clock()))


def _contact(hub: Hub, code: str) -> tuple:
    record = hub.store.node(code)
    return (record.last_seen, record.reported_head, record.caught_up_at, record.acked_seq)


# --------------------------------------------------------------------------- alert floods


def test_thirty_invented_nodes_from_one_address_make_one_counted_alert(hub):
    for i in range(30):
        stranger = SimulatedNode(f"XZ-{500 + i}")
        response, _ = hub.get(stranger, "/sync/v1/status")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "node_unknown"
    [alert] = hub.store.alerts(alert_type="unknown_key")
    assert alert.occurrences == 30
    assert alert.details["source"] == NAT and NAT in alert.content
    # another address is another alert; so is the same address in the next window
    hub.get(SimulatedNode("XZ-600"), "/sync/v1/status", address=ELSEWHERE)
    hub.clock.advance(hours=1)
    hub.get(SimulatedNode("XZ-601"), "/sync/v1/status")
    alerts = hub.store.alerts(alert_type="unknown_key")
    assert [(a.details["source"], a.occurrences) for a in alerts] == \
        [(NAT, 30), (ELSEWHERE, 1), (NAT, 1)]


def test_forged_requests_for_many_nodes_from_one_address_make_one_counted_alert(hub):
    nodes = [hub.enrol(f"XZ-{i:03d}") for i in range(1, 6)]
    forger = PrivateKey.generate()
    for node in nodes:
        for _ in range(3):
            response, _ = hub.get(node, "/sync/v1/status", key=forger)
            assert response.json()["error"]["code"] == "request_signature_invalid"
    [alert] = hub.store.alerts(alert_type="request_forged")
    assert alert.occurrences == 15 and alert.details["source"] == NAT
    assert all(_contact(hub, n.code)[0] is None for n in nodes)


# --------------------------------------------------------------------------- rate limits


def test_failures_from_one_address_get_429_with_retry_after(tmp_path):
    hub = Hub(tmp_path / "hub", {"auth_failure_burst": 5, "auth_failures_per_hour": 60})
    try:
        honest = hub.enrol("XZ-001")
        strangers = [SimulatedNode(f"XZ-{700 + i}") for i in range(8)]
        codes = [hub.get(s, "/sync/v1/status")[0].status_code for s in strangers[:5]]
        assert codes == [401] * 5
        response, _ = hub.get(strangers[5], "/sync/v1/status")
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert "X-Hub-Time" in response.headers
        # unsigned and forged requests are failures too; refused, they record nothing
        assert hub.at(NAT).get("/sync/v1/status").status_code == 429
        forged, _ = hub.get(honest, "/sync/v1/status", key=PrivateKey.generate())
        assert forged.status_code == 429
        assert hub.store.alerts(alert_type="request_forged") == []
        [alert] = hub.store.alerts(alert_type="unknown_key")
        assert alert.occurrences == 5
        # the honest node behind the same address is not cut off
        response, _ = hub.get(honest, "/sync/v1/status")
        assert response.status_code == 200
        # another address is not limited; the limited one recovers with time
        assert hub.get(strangers[6], "/sync/v1/status", address=ELSEWHERE)[0].status_code == 401
        hub.ctx.sync_limits.failures.clock = lambda: 1e9    # an hour and more later
        assert hub.get(strangers[7], "/sync/v1/status")[0].status_code == 401
    finally:
        hub.close()


def test_many_nodes_behind_one_address_all_pass(hub):
    """A county's townships reach the hub through one NAT, all at once after an outage."""
    nodes = [hub.enrol(f"XZ-{i:03d}") for i in range(1, 41)]
    for node in nodes:
        node.append_many(2)
    for _round in range(3):
        for node in nodes:
            response, _ = hub.get(node, "/sync/v1/status")
            assert response.status_code == 200, response.text
            response, _ = hub.get(node, "/sync/v1/manifest")
            assert response.status_code == 200, response.text
    for node in nodes:
        assert _push(hub, node).status_code == 200
    assert hub.store.event_count() == 80


def test_one_node_over_its_budget_is_refused_while_others_pass(tmp_path):
    hub = Hub(tmp_path / "hub", {"node_request_burst": 5, "node_requests_per_second": 0.01})
    try:
        busy, quiet = hub.enrol("XZ-001"), hub.enrol("XZ-002")
        for _ in range(5):
            assert hub.get(busy, "/sync/v1/status?head=0")[0].status_code == 200
        before = _contact(hub, busy.code)
        hub.clock.advance(seconds=1)
        response, _ = hub.get(busy, "/sync/v1/status?head=7")
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "rate_limited"
        assert int(response.headers["Retry-After"]) >= 1
        assert _contact(hub, busy.code) == before        # the refusal changed nothing
        # another node, same address: its own budget
        assert hub.get(quiet, "/sync/v1/status")[0].status_code == 200
        # a node over budget is not an address failure: it costs the others nothing
        assert hub.ctx.sync_limits.failure_wait(NAT) == 0.0
    finally:
        hub.close()


def test_enrolment_limit_answers_retry_after(hub):
    node = SimulatedNode("XZ-001")
    codes = [hub.at(NAT).post("/sync/v1/enroll", json=node.enrol_body("0" * 22))
             for _ in range(11)]
    assert codes[-1].status_code == 429
    assert codes[-1].json()["error"]["code"] == "rate_limited"
    assert int(codes[-1].headers["Retry-After"]) >= 1


# --------------------------------------------------------------------------- refusals change nothing


def test_replayed_status_request_changes_nothing(hub):
    node = hub.enrol("XZ-001")
    node.append_many(3)
    assert _push(hub, node).status_code == 200
    old, old_headers = hub.get(node, "/sync/v1/status?head=9")
    assert old.status_code == 200
    hub.clock.advance(minutes=2)
    assert hub.get(node, "/sync/v1/status?head=3")[0].status_code == 200
    before = _contact(hub, node.code)
    assert before[1] == 3 and before[2] == before[0]     # caught up at last contact
    hub.clock.advance(minutes=2)
    replay = hub.at(NAT).get("/sync/v1/status?head=9", headers=old_headers)
    assert replay.status_code == 409
    assert replay.json()["error"]["code"] == "request_replayed"
    assert _contact(hub, node.code) == before
    fleet = {n.code: n for n in hub.store.nodes()}[node.code]
    assert fleet.reported_head == 3


def test_authentic_request_after_its_window_changes_only_the_skew(hub):
    node = hub.enrol("XZ-001")
    node.append_many(3)
    assert _push(hub, node, "/sync/v1/push?head=3").status_code == 200
    before = _contact(hub, node.code)
    assert hub.store.node(node.code).skew_ms == 0
    # signed now, delivered 20 minutes later (held back, or replayed from a capture)
    headers = node.headers("GET", "/sync/v1/status?head=9", now=hub.clock())
    hub.clock.advance(minutes=20)
    late = hub.at(NAT).get("/sync/v1/status?head=9", headers=headers)
    assert late.status_code == 401
    assert late.json()["error"]["code"] == "request_expired"
    assert _contact(hub, node.code) == before
    assert hub.store.node(node.code).skew_ms == -20 * 60 * 1000     # the skew is recorded


def test_refused_revoked_and_quarantined_requests_change_nothing(hub):
    from central_hub.store.records import NODE_QUARANTINED, NODE_REVOKED
    revoked, quarantined = hub.enrol("XZ-001"), hub.enrol("XZ-002")
    for node in (revoked, quarantined):
        node.append_many(2)
        assert _push(hub, node, "/sync/v1/push?head=2").status_code == 200
    hub.store.set_node_status(revoked.code, NODE_REVOKED, "test", hub.config.now_ts())
    hub.store.set_node_status(quarantined.code, NODE_QUARANTINED, "test", hub.config.now_ts())
    before = {n.code: _contact(hub, n.code) for n in (revoked, quarantined)}
    hub.clock.advance(minutes=1)
    assert hub.get(revoked, "/sync/v1/status?head=8")[0].status_code == 403
    quarantined.append_many(2)
    assert _push(hub, quarantined, "/sync/v1/push?head=4").status_code == 403
    assert {n.code: _contact(hub, n.code) for n in (revoked, quarantined)} == before
    # a quarantined node may still read its status: that contact is recorded
    assert hub.get(quarantined, "/sync/v1/status?head=4")[0].status_code == 200
    assert _contact(hub, quarantined.code)[1] == 4


SHA = "ab" * 32


@pytest.mark.parametrize("path", ["/sync/v1/manifest", "/sync/v1/config/config.catalogue",
                                  "/sync/v1/log?after=0", "/sync/v1/inbox?have=0",
                                  f"/sync/v1/attachments/{SHA}/status"])
def test_replay_on_every_signed_read_changes_nothing(hub, path):
    node = hub.enrol("XZ-001")
    first, headers = hub.get(node, path)
    assert first.status_code == 200, first.text
    hub.clock.advance(minutes=1)
    assert hub.get(node, "/sync/v1/status?head=0")[0].status_code == 200
    before = _contact(hub, node.code)
    hub.clock.advance(minutes=1)
    replay = hub.at(NAT).get(path, headers=headers)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "request_replayed"
    assert _contact(hub, node.code) == before


def test_replayed_attachment_upload_changes_nothing(hub):
    node = hub.enrol("XZ-001")
    path = f"/sync/v1/attachments/{SHA}/chunks/0"
    body = b"x" * 100
    headers = node.headers("PUT", path, body, now=hub.clock())
    first = hub.at(NAT).put(path, content=body, headers=headers)
    assert first.json()["error"]["code"] == "attachment_unknown"   # authentic, refused later
    before = _contact(hub, node.code)
    hub.clock.advance(minutes=1)
    replay = hub.at(NAT).put(path, content=body, headers=headers)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "request_replayed"
    assert _contact(hub, node.code) == before

