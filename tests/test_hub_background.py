"""Off the ack path: projector (cursor, rebuild, content checks), verifier, clock skew."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from starlette.testclient import TestClient

from central_hub.app import create_app
from central_hub.operations.bootstrap import init_hub
from central_hub.config import HubConfig
from central_hub.jobs import run_background_once
from central_hub.projection.base import rebuild_projector, run_projector
from central_hub.projection.registry import run_all, standard_projectors
from central_hub.store.records import VERIFY_BAD, VERIFY_OK
from central_hub.sync.simulated_node import SimulatedNode, enrol
from central_hub.sync.verifier import verify_pending
from protocol.envelope import parse_ts
from protocol.keys import PrivateKey


@pytest.fixture
def hub(tmp_path):
    init_hub(tmp_path / "hub", "test-hub")
    config = HubConfig.load(tmp_path / "hub", background_jobs=False)
    app = create_app(config)
    client = TestClient(app)
    ctx = app.state.hub
    ctx.client = client
    yield ctx
    ctx.close()


def push(hub, node, body, **kwargs):
    return hub.client.post("/sync/v1/push", content=body, headers=node.push_request(body, **kwargs))


@pytest.fixture
def node(hub):
    node = SimulatedNode("XZ-001")
    enrol(hub.client, hub, node)
    return node


def test_projector_counts_events_per_day_and_keeps_its_cursor(hub, node):
    node.append_many(4)
    node.clock += timedelta(days=1)
    node.append_many(2)
    assert push(hub, node, node.batch()).status_code == 200
    stats, content = standard_projectors()[:2]
    assert run_projector(hub.store, stats.name, stats.handlers, batch=3) == 6
    assert hub.store.cursor("node_stats") == 6
    assert run_projector(hub.store, stats.name, stats.handlers) == 0
    days = {(r.node, r.day): r.events for r in hub.store.day_counts("2000-01-01")}
    assert days == {("XZ-001", "2026-11-26"): 4, ("XZ-001", "2026-11-27"): 2}
    node.append()
    push(hub, node, node.batch(7, 7))
    assert run_projector(hub.store, stats.name, stats.handlers) == 1
    assert rebuild_projector(hub.store, stats) == 7
    days = {(r.node, r.day): r.events for r in hub.store.day_counts("2000-01-01")}
    assert days == {("XZ-001", "2026-11-26"): 4, ("XZ-001", "2026-11-27"): 3}


def test_content_check_flags_but_never_refuses(hub, node):
    node.append()                                                # a valid user.created
    node.append(type="made.up", body={"x": 1})                  # unknown type
    node.append(type="case.accepted", case="C-1",               # transition without case
                body={"actor": {"id": "u1", "role": "clerk"}, "materials": [],
                      "deadline": {"limit_half_days": 10, "due": "2026-12-10",
                                   "confirmed": True, "calendar_version": 1}})
    response = push(hub, node, node.batch())
    assert response.status_code == 200 and response.json()
    run_all(hub.store)
    flags = hub.store.content_flags(node.code)
    assert flags[1] == (1, None)
    assert flags[2][0] == 0 and "event_type_unknown" in flags[2][1]
    assert flags[3][0] == 0 and "transition_not_allowed" in flags[3][1]
    alerts = hub.store.alerts(alert_type="content_invalid")
    assert {a.seq for a in alerts} == {2, 3}
    assert all(a.level == "yellow" for a in alerts)
    # rebuilding re-checks without duplicating open alerts
    rebuild_projector(hub.store, standard_projectors()[1])
    assert len(hub.store.alerts(alert_type="content_invalid")) == 2


def test_verifier_catches_a_bad_signature_inside_an_intact_chain(hub, node):
    node.append_many(2)
    node.append(key=PrivateKey.generate())    # seq 3: links are consistent, signature garbage
    node.append_many(2)
    response = push(hub, node, node.batch())
    assert response.status_code == 200, response.text      # the ack path checks seq 5 only
    good, bad = verify_pending(hub.store, hub.config)
    assert (good, bad) == (4, 1)
    [alert] = hub.store.alerts(alert_type="signature_invalid")
    assert (alert.node, alert.seq) == (node.code, 3)
    states = {e.seq: e.verified for e in hub.store.node_events(node.code)}
    assert states == {1: VERIFY_OK, 2: VERIFY_OK, 3: VERIFY_BAD, 4: VERIFY_OK, 5: VERIFY_OK}
    assert verify_pending(hub.store, hub.config) == (0, 0)


def test_verifier_uses_the_key_in_force_at_each_seq(hub, node):
    node.append()
    old = node.key
    node.rotate_key()
    node.append_many(2)
    assert push(hub, node, node.batch(), key=old).status_code == 200
    assert verify_pending(hub.store, hub.config) == (4, 0)


def test_wrong_clock_is_refused_with_hub_time_then_succeeds(hub, node):
    node.append()
    body = node.batch()
    wrong = datetime.now(timezone.utc) + timedelta(days=1)
    response = hub.client.post("/sync/v1/push", content=body,
                               headers=node.push_request(body, now=wrong))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "request_expired"
    hub_time = parse_ts(response.headers["X-Hub-Time"])
    assert parse_ts(response.json()["hub_time"])
    node.offset_ms = round((hub_time - wrong).total_seconds() * 1000)
    response = hub.client.post("/sync/v1/push", content=body,
                               headers=node.push_request(body, now=wrong))
    assert response.status_code == 200, response.text
    record = hub.store.node(node.code)
    assert abs(record.skew_ms) < 60_000
    assert abs(record.clock_skew_ms - 86_400_000) < 60_000
    [alert] = hub.store.alerts(alert_type="clock_skew")
    assert alert.node == node.code and alert.occurrences == 2


def test_small_skew_is_recorded_without_alert(hub, node):
    path = "/sync/v1/status"
    ahead = datetime.now(timezone.utc) + timedelta(seconds=90)
    assert hub.client.get(path, headers=node.headers("GET", path, now=ahead)).status_code == 200
    assert 80_000 < hub.store.node(node.code).skew_ms < 100_000
    assert not hub.store.alerts(alert_type="clock_skew")


def test_alerts_are_never_deleted(hub, node):
    import sqlite3
    node.append()
    node.append(type="made.up", body={})
    push(hub, node, node.batch())
    run_background_once(hub)
    [alert] = hub.store.alerts(alert_type="content_invalid")
    hub.store.change_alert_state(alert.id, "closed", hub.config.now_ts(), "supervisor",
                                 "checked", result="node software bug")
    assert [h[0] for h in hub.store.alert_history(alert.id)] == ["open", "closed"]
    with pytest.raises(sqlite3.IntegrityError):
        hub.store.conn.execute("DELETE FROM alerts")
    with pytest.raises(sqlite3.IntegrityError):
        hub.store.conn.execute("DELETE FROM events")
    with pytest.raises(sqlite3.IntegrityError):
        hub.store.conn.execute("UPDATE events SET canonical = x'00'")


def test_background_jobs_run_in_the_serve_lifespan(tmp_path):
    init_hub(tmp_path / "hub", "test-hub")
    config = HubConfig.load(tmp_path / "hub", projector_interval_seconds=0.05,
                            verifier_interval_seconds=0.05)
    app = create_app(config)
    node = SimulatedNode("XZ-002")
    with TestClient(app) as client:
        ctx = app.state.hub
        enrol(client, ctx, node)
        node.append_many(3)
        body = node.batch()
        assert client.post("/sync/v1/push", content=body,
                           headers=node.push_request(body)).status_code == 200
        import time
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert client.get("/sync/v1/keys").status_code == 200   # serving meanwhile
            if ctx.store.verification_counts().get(VERIFY_OK) == 3 \
                    and ctx.store.cursor("content") == 3:
                break
            time.sleep(0.05)
        assert ctx.store.verification_counts() == {VERIFY_OK: 3}
        assert ctx.store.cursor("node_stats") == 3
        # the jobs run beside the event loop, not on it, and stop with the app
        assert [t for t in threading.enumerate() if t.name == "hub-background-jobs"]
    assert not [t for t in threading.enumerate() if t.name == "hub-background-jobs"]
    ctx.close()
