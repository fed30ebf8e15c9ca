"""The hub's sync API: enrolment, push and ack, refusals and tampering."""

from __future__ import annotations

import zlib
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from central_hub.app import create_app
from central_hub.operations.bootstrap import init_hub
from central_hub.config import HubConfig
from central_hub.sync.enrolment import issue_token
from central_hub.sync.simulated_node import BATCH_CONTENT_TYPE, SimulatedNode, enrol
from protocol.ack import verify_ack
from protocol.batch import MAGIC, encode_batch
from protocol.envelope import SignedEvent
from protocol.keys import PrivateKey, PublicKey
from protocol.request_auth import H_HUB_TIME


class Hub:
    def __init__(self, path, **overrides):
        init_hub(path, "test-hub")
        self.config = HubConfig.load(path, background_jobs=False, **overrides)
        self.app = create_app(self.config)
        self.client = TestClient(self.app)
        self.ctx = self.app.state.hub
        self.store = self.ctx.store

    @property
    def key(self) -> PublicKey:
        return self.ctx.identity.signing_key.public

    def push(self, node: SimulatedNode, body: bytes, **kwargs):
        return self.client.post("/sync/v1/push", content=body,
                                headers=node.push_request(body, **kwargs))

    def alerts(self, alert_type=None, node=None):
        return self.store.alerts(alert_type=alert_type, node=node)


@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path / "hub")
    yield hub
    hub.ctx.close()


@pytest.fixture
def node(hub):
    node = SimulatedNode("XZ-001")
    enrol(hub.client, hub.ctx, node)
    return node


# --------------------------------------------------------------------------- enrolment


def test_enrolment_pins_hub_keys_and_registers_node(hub):
    node = SimulatedNode("XZ-002")
    token, _ = issue_token(hub.store, hub.config, node.code, "城关镇便民服务中心")
    response = hub.client.post("/sync/v1/enroll", json=node.enrol_body(token))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["node"] == "XZ-002" and data["name"] == "城关镇便民服务中心"
    assert data["hub"]["signing_key"] == hub.key.hex
    assert len(data["hub"]["encryption_key"]) == 64
    assert H_HUB_TIME in response.headers
    record = hub.store.node("XZ-002")
    assert record.public_key == node.key.public.hex and record.acked_seq == 0


def test_enrolment_accepts_token_typed_in_lower_case_without_dashes(hub):
    node = SimulatedNode("XZ-003")
    token, _ = issue_token(hub.store, hub.config, node.code, "name")
    typed = token.replace("-", "").lower()
    assert hub.client.post("/sync/v1/enroll", json=node.enrol_body(typed)).status_code == 200


def test_used_token_is_refused_but_same_key_may_retry(hub):
    node = SimulatedNode("XZ-004")
    token, _ = issue_token(hub.store, hub.config, node.code, "name")
    assert hub.client.post("/sync/v1/enroll", json=node.enrol_body(token)).status_code == 200
    assert hub.client.post("/sync/v1/enroll", json=node.enrol_body(token)).status_code == 200
    other = SimulatedNode("XZ-004")
    response = hub.client.post("/sync/v1/enroll", json=other.enrol_body(token))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "enroll_token_used"
    assert "already used" in response.json()["error"]["message"]


def test_expired_token_is_refused(tmp_path):
    hub = Hub(tmp_path / "hub")
    node = SimulatedNode("XZ-005")
    token, _ = issue_token(hub.store, hub.config, node.code, "name", ttl_hours=0.001)
    later = HubConfig.load(tmp_path / "hub", background_jobs=False,
                           clock=lambda: hub.config.clock() + timedelta(hours=1))
    hub.ctx.config = later
    response = hub.client.post("/sync/v1/enroll", json=node.enrol_body(token))
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "enroll_token_expired"
    assert "hub_time" in response.json()
    hub.ctx.close()


def test_mistyped_and_unknown_tokens_are_refused(hub):
    node = SimulatedNode("XZ-006")
    token, _ = issue_token(hub.store, hub.config, node.code, "name")
    first = token[0]
    mistyped = ("1" if first != "1" else "2") + token[1:]
    response = hub.client.post("/sync/v1/enroll", json=node.enrol_body(mistyped))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "enroll_token_malformed"
    assert "mistyped" in response.json()["error"]["message"]
    from central_hub.sync.enrolment import _check_chars, format_token
    never_issued = "A" * 20 + _check_chars("A" * 20)
    response = hub.client.post("/sync/v1/enroll",
                               json=node.enrol_body(format_token(never_issued)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "enroll_token_unknown"


def test_enrolment_needs_proof_of_possession(hub):
    node = SimulatedNode("XZ-007")
    token, _ = issue_token(hub.store, hub.config, node.code, "name")
    body = node.enrol_body(token)
    body["public_key"] = PrivateKey.generate().public.hex
    response = hub.client.post("/sync/v1/enroll", json=body)
    assert response.status_code == 401
    assert hub.store.node("XZ-007") is None


# --------------------------------------------------------------------------- push and ack


def test_push_is_acked_with_signed_ack(hub, node):
    node.append_many(5)
    response = hub.push(node, node.batch())
    assert response.status_code == 200, response.text
    ack = verify_ack(response.json(), hub.key, node.code)
    assert (ack.acked_seq, ack.acked_link, ack.stored) == (5, node.head[1], 5)
    assert hub.store.event_count(node.code) == 5
    assert response.headers[H_HUB_TIME] and response.headers["X-Hub-Key"] == hub.key.hex


def test_resend_is_a_no_op(hub, node):
    node.append_many(5)
    assert hub.push(node, node.batch()).status_code == 200
    response = hub.push(node, node.batch())
    ack = verify_ack(response.json(), hub.key, node.code)
    assert (ack.acked_seq, ack.stored) == (5, 0)
    node.append_many(3)
    ack = verify_ack(hub.push(node, node.batch(3, 8)).json(), hub.key, node.code)
    assert (ack.acked_seq, ack.stored) == (8, 3)
    assert hub.store.event_count(node.code) == 8


def test_many_batches_get_contiguous_hub_wide_positions(hub, node):
    other = SimulatedNode("XZ-009")
    enrol(hub.client, hub.ctx, other)
    node.append_many(3)
    other.append_many(2)
    hub.push(node, node.batch())
    hub.push(other, other.batch())
    positions = [e.position for e in hub.store.events_after(0, 100)]
    assert positions == [1, 2, 3, 4, 5]


def test_gap_is_refused_with_the_acked_seq(hub, node):
    node.append_many(6)
    hub.push(node, node.batch(1, 2))
    response = hub.push(node, node.batch(4, 6))
    assert response.status_code == 409
    body = response.json()
    assert body["error"]["code"] == "chain_gap" and body["error"]["seq"] == 3
    ack = verify_ack(body["ack"], hub.key, node.code)
    assert ack.acked_seq == 2 and ack.error["code"] == "chain_gap"
    assert hub.store.event_count(node.code) == 2


def test_fork_quarantines_alerts_and_stores_nothing(hub, node):
    node.append_many(3)
    hub.push(node, node.batch())
    forked = SimulatedNode(node.code, key=node.key)
    forked.events = node.events[:2]
    forked.append(body={"user": "x", "username": "evil", "name": "篡改", "roles": ["clerk"],
                        "actor": None})
    forked.append()
    response = hub.push(node, forked.batch(3, 4))
    assert response.status_code == 409
    assert response.json()["error"] == {"code": "chain_fork", "seq": 3,
                                        "message": response.json()["error"]["message"]}
    assert hub.store.event_count(node.code) == 3
    assert hub.store.node(node.code).status == "quarantined"
    [alert] = hub.alerts("chain_fork")
    assert alert.node == node.code and alert.seq == 3 and alert.state == "open"
    node.append()
    response = hub.push(node, node.batch(4, 4))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "node_quarantined"
    status = hub.client.get("/sync/v1/status", headers=node.headers("GET", "/sync/v1/status"))
    assert status.status_code == 200 and status.json()["status"] == "quarantined"
    assert "隔离" in status.json()["message"]


def test_edited_event_breaks_the_chain(hub, node):
    node.append_many(4)
    edited = node.events[1]
    canonical = edited.canonical.replace(b"user2", b"userX")
    node.events[1] = SignedEvent.of(canonical, edited.signature, edited.env)
    response = hub.push(node, encode_batch(node.events))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "chain_broken"
    assert response.json()["error"]["seq"] == 3
    assert hub.store.event_count(node.code) == 0
    assert hub.alerts("chain_broken")


def test_edited_last_event_fails_its_signature(hub, node):
    node.append_many(2)
    last = node.events[-1]
    node.events[-1] = SignedEvent.of(last.canonical.replace(b"user2", b"userX"), last.signature,
                                     last.env)
    response = hub.push(node, encode_batch(node.events))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "signature_invalid"
    assert hub.store.event_count(node.code) == 0
    assert hub.alerts("signature_invalid")


def test_reordered_batch_is_refused(hub, node):
    node.append_many(3)
    events = [node.events[0], node.events[2], node.events[1]]
    body = encode_batch(events)
    response = hub.push(node, body)
    assert response.status_code == 409
    assert response.json()["error"]["code"] in ("chain_gap", "chain_reorder")
    events = [node.events[1], node.events[0], node.events[2]]
    response = hub.push(node, encode_batch(events))
    assert response.json()["error"]["code"] in ("chain_gap", "chain_reorder")
    assert hub.store.event_count(node.code) == 0


def test_replayed_request_is_refused(hub, node):
    node.append_many(2)
    body = node.batch()
    headers = node.push_request(body)
    assert hub.client.post("/sync/v1/push", content=body, headers=headers).status_code == 200
    response = hub.client.post("/sync/v1/push", content=body, headers=headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "request_replayed"
    assert hub.alerts("request_replayed")


def test_batch_signed_with_another_nodes_key(hub, node):
    other = SimulatedNode("XZ-010")
    enrol(hub.client, hub.ctx, other)
    # events in node's name, signed with other's key, pushed by node
    forged = SimulatedNode(node.code, key=other.key)
    forged.append_many(2)
    response = hub.push(node, forged.batch())
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "signature_invalid"
    # other's events pushed by node
    other.append_many(2)
    response = hub.push(node, other.batch())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "batch_wrong_node"
    assert hub.alerts("foreign_events")
    # a request claiming to be node but signed with other's key
    node.append()
    body = node.batch()
    response = hub.client.post("/sync/v1/push", content=body,
                               headers=node.push_request(body, key=other.key))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "request_signature_invalid"
    assert hub.store.event_count() == 0


def test_revoked_node_is_refused_in_plain_words(hub, node):
    from click.testing import CliRunner

    from central_hub.cli import main
    result = CliRunner().invoke(main, ["revoke", str(hub.config.data_dir), "--node", node.code])
    assert result.exit_code == 0, result.output
    node.append()
    response = hub.push(node, node.batch())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "node_revoked"
    assert "吊销" in response.json()["error"]["message"]
    status = hub.client.get("/sync/v1/status", headers=node.headers("GET", "/sync/v1/status"))
    assert status.status_code == 403 and "吊销" in status.json()["error"]["message"]
    assert hub.alerts("revoked_key")
    assert hub.store.event_count() == 0


def test_unknown_node_is_refused(hub):
    stranger = SimulatedNode("XZ-404")
    stranger.append()
    response = hub.push(stranger, stranger.batch())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "node_unknown"
    assert hub.alerts("unknown_key")


def test_unsigned_request_is_refused(hub, node):
    response = hub.client.post("/sync/v1/push", content=b"TSB1",
                               headers={"Content-Type": BATCH_CONTENT_TYPE})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "request_unsigned"


def test_decompression_bomb_is_refused(hub, node):
    import struct
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    packed = comp.compress(b"\0" * (9 * 1024 * 1024)) + comp.flush()
    body = struct.pack(">4sBBI", MAGIC, 1, 1, 1) + packed
    response = hub.push(node, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"
    assert "inflates" in response.json()["error"]["message"]


def test_oversized_body_is_refused(hub, node):
    body = b"TSB1" + b"\0" * (hub.config.max_push_bytes + 10)
    response = hub.push(node, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] in ("request_too_large", "batch_too_large")
    assert "hub_time" in response.json()


@pytest.mark.parametrize("body", [b"", b"TSB1", b"garbage" * 10, MAGIC + b"\x01\x01\0\0\0\x05xx",
                                  MAGIC + b"\x09\x00\0\0\0\x01", b"\xff" * 64])
def test_malformed_batches_get_4xx(hub, node, body):
    response = hub.push(node, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"]


def test_malformed_records_inside_a_valid_frame_get_4xx(hub, node):
    import struct
    for record in (b"\x00\x05hello" + b"\0" * 64, b"\x00\x02[]" + b"\0" * 64,
                   b'\x00\x0b{"seq":"1"}' + b"\0" * 64, b"\x02\x00" + b"\0" * 64):
        comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
        body = struct.pack(">4sBBI", MAGIC, 1, 1, 1) + comp.compress(record) + comp.flush()
        response = hub.push(node, body)
        assert 400 <= response.status_code < 500, response.text


def test_authentic_event_without_type_is_stored_and_flagged_not_refused(hub, node):
    """An authentic event is never refused for what it says (SPEC.md section 9)."""
    import hashlib
    import json
    from central_hub.projection.registry import run_all
    from protocol.envelope import GENESIS
    env = {"alg": "ed25519-sha256", "node": node.code, "seq": 1, "prev": GENESIS,
           "ts": "2026-11-26T09:00:00.000+08:00", "case": None, "body": {}}
    canonical = json.dumps(env, sort_keys=True, separators=(",", ":")).encode()
    event = SignedEvent.of(canonical, node.key.sign(hashlib.sha256(canonical).digest()), env)
    response = hub.push(node, encode_batch([event]))
    assert response.status_code == 200, response.text
    assert verify_ack(response.json(), hub.key, node.code).acked_seq == 1
    run_all(hub.store)
    ok, problem = hub.store.content_flags(node.code)[1]
    assert ok == 0 and "type" in problem


def test_wrong_content_type_is_refused(hub, node):
    node.append()
    body = node.batch()
    headers = node.push_request(body)
    headers["Content-Type"] = "application/json"
    response = hub.client.post("/sync/v1/push", content=body, headers=headers)
    assert response.status_code == 415


def test_key_rotation_event_switches_the_nodes_key(hub, node):
    node.append_many(2)
    old_key = node.key
    node.rotate_key()
    node.append_many(2)
    body = node.batch()
    response = hub.push(node, body, key=old_key)   # requests use the old key until acked
    assert response.status_code == 200, response.text
    assert verify_ack(response.json(), hub.key, node.code).acked_seq == 5
    assert hub.store.node(node.code).public_key == node.key.public.hex
    node.append()
    assert hub.push(node, node.batch(6, 6)).status_code == 200
    response = hub.push(node, node.batch(6, 6), key=old_key)
    assert response.status_code == 401


def test_status_reports_acked_seq(hub, node):
    node.append_many(3)
    hub.push(node, node.batch())
    path = "/sync/v1/status?head=5"
    response = hub.client.get(path, headers=node.headers("GET", path))
    assert response.status_code == 200
    data = response.json()
    assert data["acked_seq"] == 3 and data["status"] == "active"
    assert hub.store.node(node.code).reported_head == 5
