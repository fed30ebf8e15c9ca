"""The node's sync client against a hub in the same process (Starlette TestClient).

Enrolment, push, pull, status, key rotation on both sides, time, and tampering end to
end through the node's own client. Network faults are in test_sync_faults.py.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta

import httpx
import pytest
from starlette.testclient import TestClient

from central_hub.sync.publication import publish_config, rotate_hub_key
from central_hub.store.records import NODE_REVOKED
from edge_node.sync import status_views as sync_status
from edge_node.sync.hub_link import HubRefused, HubUnreachable, HubUntrusted
from edge_node.node import init_node, open_data_dir
from edge_node.status import node_status
from edge_node.sync.client import BATCH_CONTENT_TYPE, SyncClient
from edge_node.sync.loop import SyncService
from edge_node.sync.keys import rotate_key
from protocol.batch import encode_batch
from protocol.calendar import SHANGHAI, Calendar
from protocol.config_docs import CONFIG_CATALOGUE
from protocol.keys import PrivateKey

from _field import URL, client, hub, node  # noqa: E402,F401 (fixtures)


def add_events(node, n: int) -> None:
    for i in range(n):
        node.store.append_event("user.created", None, {
            "user": f"u{node.store.chain_head().seq}x{i}", "username": f"n{i}",
            "name": "用户", "roles": ["clerk"], "actor": None})


# --------------------------------------------------------------------------- enrolment


def test_enrol_pins_hub_keys_and_records_the_hub(hub, node):
    client = SyncClient(node, http=hub.client)
    assert sync_status.indicator(node)["state"] == "never"
    result = client.enroll(URL, hub.token(node.code))
    state = node.store.sync_state()
    assert state["hub_signing_key"] == hub.ctx.identity.public_hex
    assert state["hub_encryption_key"] == hub.ctx.identity.encryption_public_hex
    assert result["fingerprint"] == hub.ctx.identity.fingerprint
    assert hub.store.node(node.code).public_key == node.key.public.hex
    reopened = json.loads((node.config.data_dir / "node.json").read_text("utf-8"))
    assert reopened["settings"]["hub_url"] == URL


@pytest.mark.parametrize("case, code", [("used", "enroll_token_used"),
                                        ("mistyped", "enroll_token_malformed"),
                                        ("expired", "enroll_token_expired")])
def test_bad_tokens_are_refused_in_plain_words(hub, node, tmp_path, case, code):
    token = hub.token(node.code, ttl=0.0001 if case == "expired" else 72.0)
    if case == "used":
        other, _ = init_node(tmp_path / "other", node.code, "另一个", admin_password="lantern-ridge-7294")
        SyncClient(other, http=hub.client).enroll(URL, token)
        other.close()
    if case == "mistyped":
        token = ("1" if token[0] != "1" else "2") + token[1:]
    if case == "expired":
        import time
        time.sleep(0.5)
    with pytest.raises(HubRefused) as err:
        SyncClient(node, http=hub.client).enroll(URL, token)
    assert err.value.code == code
    assert "令牌" in err.value.zh
    assert not node.store.sync_state()["enrolled"]


def test_token_for_another_node_is_refused(hub, node):
    with pytest.raises(HubRefused) as err:
        SyncClient(node, http=hub.client).enroll(URL, hub.token("XZ-999"))
    assert err.value.code == "enroll_node_mismatch"


def test_unexpected_hub_fingerprint_is_refused(hub, node):
    with pytest.raises(HubUntrusted):
        SyncClient(node, http=hub.client).enroll(URL, hub.token(node.code),
                                                 expect_fingerprint="0000-0000-0000-0000-0000")
    assert not node.store.sync_state()["enrolled"]


# --------------------------------------------------------------------------- push and pull


def test_push_in_bounded_batches_until_acknowledged(hub, node, client):
    add_events(node, 150)
    sent = []
    real = hub.client.request

    def spy(method, url, **kwargs):
        if "/push" in url:
            sent.append(kwargs["content"])
        return real(method, url, **kwargs)

    hub.client.request = spy
    report = client.sync_until_acknowledged()
    assert report.complete and node.store.unacked_count() == 0
    assert len(sent) >= 4 and all(body[:4] == b"TSB1" for body in sent)
    assert all(int.from_bytes(body[6:10], "big") <= 40 for body in sent)
    hub.assert_holds_exactly(node)
    ind = sync_status.indicator(node)
    assert ind["state"] == "ok" and ind["label_zh"] == "已同步" and ind["last_ack_at"]
    # nothing left: a round only reports status (and the manifest)
    again = client.sync_once()
    assert again.batches == 0 and again.complete


def test_pull_applies_catalogue_and_calendar_atomically_with_events(hub, node, client):
    client.sync_once()
    applied = node.store.sync_state()["config_versions"]
    assert set(applied) == {"config.catalogue", "config.calendar"}
    catalogue = node.store.catalogue().to_document()
    catalogue["version"] = catalogue["version"] + 1
    doc = publish_config(hub.store, hub.ctx.identity, hub.config, CONFIG_CATALOGUE,
                         catalogue, "test")
    calendar = Calendar.seeded()
    cal_doc = calendar.to_document()
    cal_doc["version"] = calendar.version + 1
    publish_config(hub.store, hub.ctx.identity, hub.config, "config.calendar", cal_doc, "test")
    report = client.sync_once()
    assert set(report.applied) == {"config.catalogue", "config.calendar"}
    assert int(node.store.meta("catalogue_version")) == catalogue["version"]
    assert int(node.store.meta("calendar_version")) == cal_doc["version"]
    types = node.store.event_types()
    assert types["catalogue.applied"] >= 2 and types["calendar.applied"] >= 2
    assert node.store.unacked_count() == 0        # the events of the pull were pushed too
    assert node.store.sync_state()["config_versions"]["config.catalogue"]["version"] == doc.version


def test_config_with_a_bad_signature_is_not_applied(hub, node, client):
    client.sync_once()
    before = node.store.meta("catalogue_version")
    real = hub.client.request

    def forge(method, url, **kwargs):
        response = real(method, url, **kwargs)
        if "/manifest" in url:
            data = response.json()
            data["document"] = data["document"].replace('"version":', '"version":9', 1)
            return httpx.Response(200, json=data, headers=dict(response.headers))
        return response

    hub.client.request = forge
    with pytest.raises(HubUntrusted):
        client.sync_once()
    assert node.store.meta("catalogue_version") == before
    assert sync_status.indicator(node)["state"] == "error"


# --------------------------------------------------------------------------- time


def test_clock_offset_from_refusals_and_retry_after_request_expired(hub, tmp_path):
    wrong = datetime.now(SHANGHAI) - timedelta(hours=3)
    node, _ = init_node(tmp_path / "slow", "XZ-002", "慢钟镇", admin_password="lantern-ridge-7294",
                        clock=lambda: wrong + timedelta(seconds=0))
    try:
        client = SyncClient(node, http=hub.client)
        client.enroll(URL, hub.token(node.code))   # enrolment answers carry hub time too
        node.store.save_sync_state(clock_offset_ms=0)  # forget it: the push must recover
        client.link.offset_ms = 0
        calls = []
        real = hub.client.request

        def spy(method, url, **kwargs):
            response = real(method, url, **kwargs)
            calls.append((url, response.status_code))
            return response

        hub.client.request = spy
        report = client.sync_once()
        assert report.complete
        assert calls[0][1] == 401 and calls[1][1] == 200   # expired, then corrected
        offset = node.store.sync_state()["clock_offset_ms"]
        assert abs(offset - 3 * 3600 * 1000) < 60_000
        assert "慢" in sync_status.details(node)["clock_offset_zh"]
    finally:
        node.close()


# --------------------------------------------------------------------------- identity


def test_revoked_node_says_so_in_plain_words(hub, node, client):
    hub.store.set_node_status(node.code, NODE_REVOKED, "test", hub.config.now_ts())
    add_events(node, 1)
    with pytest.raises(HubRefused) as err:
        client.sync_once()
    assert err.value.code == "node_revoked"
    ind = sync_status.indicator(node)
    assert ind["state"] == "revoked" and "停用" in ind["label_zh"]


def test_node_key_rotation_signs_requests_with_the_old_key_until_acked(hub, node, client):
    add_events(node, 5)
    client.sync_once()
    old = node.key.public.hex
    result = rotate_key(node)
    assert node.key.public.hex != old
    assert node.store.sync_state()["rotation"]["seq"] == result["seq"]
    add_events(node, 3)
    signers = []
    real = hub.client.request

    def spy(method, url, **kwargs):
        signers.append(hub.store.node(node.code).public_key)
        return real(method, url, **kwargs)

    hub.client.request = spy
    client.sync_once()
    assert signers[0] == old                          # the push that carried the rotation
    assert hub.store.node(node.code).public_key == node.key.public.hex
    assert node.store.sync_state()["rotation"] is None
    assert not (node.config.data_dir / "node-old.key").exists()
    add_events(node, 2)
    assert client.sync_once().complete
    hub.assert_holds_exactly(node)
    assert node_status(node)["chain"]["verifies"]


def test_hub_key_rotation_is_followed_through_its_statements(hub, node, client):
    client.sync_once()
    rotate_hub_key(hub.store, hub.config)
    add_events(node, 3)
    assert client.sync_once().complete
    assert node.store.sync_state()["hub_signing_key"] == hub.ctx.identity.public_hex


def test_unpinned_hub_key_is_never_accepted(hub, node, client):
    impostor = PrivateKey.generate()
    real = hub.client.request

    def mitm(method, url, **kwargs):
        response = real(method, url, **kwargs)
        headers = dict(response.headers)
        headers["x-hub-key"] = impostor.public.hex
        return httpx.Response(response.status_code, content=response.content, headers=headers)

    hub.client.request = mitm
    add_events(node, 1)
    with pytest.raises(HubUntrusted) as err:
        client.sync_once()
    assert err.value.code == "hub_key_unpinned"
    assert node.store.sync_state()["hub_signing_key"] == hub.ctx.identity.public_hex
    assert node.store.acked_seq() == 0


# --------------------------------------------------------------------------- tampering


def test_event_edited_in_the_node_database_is_refused_and_nothing_stored(hub, node, client):
    client.sync_once()
    add_events(node, 5)
    seq = node.store.acked_seq() + 2
    canonical = node.store.conn.execute("SELECT canonical FROM events WHERE seq = ?",
                                        (seq,)).fetchone()[0]
    edited = bytes(canonical).replace(b'"name":"\xe7\x94\xa8\xe6\x88\xb7"',
                                      b'"name":"\xe5\x81\x87\xe5\x86\x92"')
    assert edited != bytes(canonical)
    node.store.conn.execute("UPDATE events SET canonical = ? WHERE seq = ?", (edited, seq))
    before = hub.store.event_count(node.code)
    with pytest.raises(HubRefused) as err:
        client.sync_once()
    assert err.value.code == "chain_broken"
    assert hub.store.event_count(node.code) == before
    assert hub.store.alerts(alert_type="chain_broken", node=node.code)
    assert sync_status.indicator(node)["state"] == "error"


def _signed_push(client, events, key=None):
    body = encode_batch(events)
    head = client.node.store.chain_head().seq
    return client.link._send("POST", f"/sync/v1/push?head={head}", body,
                             content_type=BATCH_CONTENT_TYPE, signed=True, key=key,
                             timeout=None)


def test_reordered_batch_is_refused(hub, node, client):
    client.sync_once()
    add_events(node, 4)
    events = node.store.unacked_events()
    answer = _signed_push(client, [events[1], events[0], *events[2:]])
    assert answer.status == 409 and answer.data["error"]["code"] == "chain_reorder"
    assert hub.store.event_count(node.code) == node.store.acked_seq()


def test_replayed_request_is_refused_with_an_alert(hub, node, client):
    add_events(node, 2)
    captured = {}
    real = hub.client.request

    def capture(method, url, **kwargs):
        if "/push" in url:
            captured.update(url=url, **kwargs)
        return real(method, url, **kwargs)

    hub.client.request = capture
    client.sync_once()
    hub.client.request = real
    response = hub.client.post(captured["url"], content=captured["content"],
                               headers=captured["headers"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "request_replayed"
    assert hub.store.alerts(alert_type="request_replayed", node=node.code)


def test_batch_signed_with_another_nodes_key_is_refused(hub, node, client, tmp_path):
    client.sync_once()
    other, _ = init_node(tmp_path / "other", "XZ-002", "别镇", admin_password="lantern-ridge-7294")
    try:
        other_client = SyncClient(other, http=hub.client)
        other_client.enroll(URL, hub.token(other.code))
        add_events(node, 2)
        # node XZ-001's events pushed in a request signed by XZ-002
        answer = _signed_push(other_client, node.store.unacked_events())
        assert answer.status == 403 and answer.data["error"]["code"] == "batch_wrong_node"
        # XZ-001's request signed with XZ-002's key
        answer = _signed_push(client, node.store.unacked_events(), key=other.key)
        assert answer.status == 401
        assert answer.data["error"]["code"] == "request_signature_invalid"
        assert hub.store.event_count(node.code) == node.store.acked_seq()
    finally:
        other.close()


def test_fork_after_restoring_an_old_backup_quarantines(hub, node, client, tmp_path):
    add_events(node, 3)
    client.sync_once()
    backup = tmp_path / "backup"
    node.store.checkpoint()
    shutil.copytree(node.config.data_dir, backup)
    add_events(node, 4)
    client.sync_once()
    stored = hub.store.event_count(node.code)
    # the backup is restored (its sync state says fewer acked), then diverges
    restored = open_data_dir(backup)
    try:
        restored.store.append_event("user.created", None, {
            "user": "fork", "username": "fork", "name": "分叉", "roles": ["clerk"],
            "actor": None})
        fork_client = SyncClient(restored, http=hub.client)
        with pytest.raises(HubRefused) as err:
            fork_client.sync_once()
        assert err.value.code == "chain_fork"
        assert hub.store.event_count(node.code) == stored
        assert hub.store.alerts(alert_type="chain_fork", node=node.code)
        ind = sync_status.indicator(restored)
        assert ind["state"] == "quarantined" and "隔离" in ind["label_zh"]
    finally:
        restored.close()


def test_ack_for_another_chain_is_not_marked(hub, node, client):
    add_events(node, 2)
    from protocol.ack import Ack, sign_ack
    ack = sign_ack(hub.ctx.identity.signing_key, "hub",
                   Ack(node.code, 2, "ab" * 32, 2, hub.config.now_ts()))
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=ack.to_wire()))
    client.link.http = httpx.Client(transport=transport)
    with pytest.raises(Exception) as err:
        client.push()
    assert getattr(err.value, "code", None) == "ack_mismatch"
    assert node.store.acked_seq() == 0


# --------------------------------------------------------------------------- failures


def test_network_failure_is_recorded_as_offline(node, client):
    def fail(request):
        raise httpx.ConnectError("connection refused", request=request)

    client.link.http = httpx.Client(transport=httpx.MockTransport(fail))
    add_events(node, 1)
    with pytest.raises(HubUnreachable):
        client.sync_once()
    ind = sync_status.indicator(node)
    assert ind["state"] == "offline" and ind["label_zh"].startswith("离线")
    rounds = node.store.recent_sync_rounds()
    assert rounds[0]["outcome"] == "hub_unreachable"


def test_5xx_and_truncated_answers_are_transient(node, client):
    answers = iter([httpx.Response(503, text="busy"), httpx.Response(200, content=b'{"acke')])
    client.link.http = httpx.Client(transport=httpx.MockTransport(lambda r: next(answers)))
    add_events(node, 1)
    for _ in range(2):
        with pytest.raises(HubUnreachable) as err:
            client.sync_once()
        assert err.value.network
    assert node.store.acked_seq() == 0


def test_service_backs_off_with_jitter_and_caps():
    class Config:
        sync_interval = 60
    service = SyncService(Config(), backoff_base=5, backoff_cap=300, rng=lambda: 1.0)
    assert service.next_delay() == 60
    service.last_error = HubUnreachable("x")
    delays = []
    for n in range(1, 10):
        service.failures = n
        delays.append(service.next_delay())
    assert delays[:4] == [5, 10, 20, 40] and max(delays) == 300
    service.rng = lambda: 0.0
    assert service.next_delay() == 150


def test_service_runs_rounds_in_its_own_thread_and_on_demand(hub, node, client):
    add_events(node, 3)
    service = SyncService(node.config, http_factory=lambda: hub.client, interval=3600)
    service.start()
    try:
        assert service.run_now(wait=10)
        assert service.run_now(wait=10)
    finally:
        service.stop()
    assert service.failures == 0
    assert node.store.unacked_count() == 0


# --------------------------------------------------------------------------- screens


def _web(node, service=None):
    from edge_node.app import create_app as create_node_app
    app = create_node_app(node.config, node=node)
    if service is not None:
        app.state.sync_service = service
    web = TestClient(app)
    response = web.post("/api/login", json={"username": "admin", "password": "lantern-ridge-7294"})
    assert response.status_code == 200, response.text
    return web, response.json()["csrf_token"]


def test_sync_page_shows_the_figures(hub, node, client):
    add_events(node, 2)
    client.sync_once()
    add_events(node, 3)
    from edge_node.app import create_app as create_node_app
    anonymous = TestClient(create_node_app(node.config, node=node))
    assert anonymous.get("/sync", follow_redirects=False).status_code in (302, 303, 401)
    web, _ = _web(node)
    page = web.get("/sync")
    assert page.status_code == 200
    for text in ("待同步 3 条", URL, hub.ctx.identity.fingerprint, "本机时钟", "最近一次确认"):
        assert text in page.text
    part = web.get("/sync/indicator", headers={"HX-Request": "true"})
    assert "sync--pending" in part.text and "<html" not in part.text


def test_sync_now_needs_csrf_and_triggers_a_round(hub, node, client):
    add_events(node, 2)
    service = SyncService(node.config, http_factory=lambda: hub.client, interval=3600)
    web, token = _web(node, service)
    assert web.post("/sync/now", data={}, follow_redirects=False).status_code == 403
    service.start()
    try:
        response = web.post("/sync/now", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303
    finally:
        service.stop()
    assert node.store.unacked_count() == 0
