"""Pull: hub-signed configuration, the manifest, hub key rotation; request signing."""

from __future__ import annotations

import ast
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st
from starlette.testclient import TestClient

from central_hub.app import create_app
from central_hub.operations.bootstrap import init_hub
from central_hub.cli import main
from central_hub.config import HubConfig
from central_hub.errors import HubError
from central_hub.sync.publication import publish_config, rotate_hub_key
from central_hub.sync.simulated_node import SimulatedNode, enrol
from protocol.ack import verify_ack
from protocol.calendar import Calendar
from protocol.config_docs import (
    CONFIG_CALENDAR,
    CONFIG_CATALOGUE,
    ConfigError,
    follow_key_statements,
    sign_key_statement,
    verify_config,
    verify_key_statement,
    verify_manifest,
)
from protocol.errors import ProtocolError, SignatureError
from protocol.keys import PrivateKey
from protocol.request_auth import (
    RequestAuthError,
    sign_enrolment,
    sign_request,
    verify_enrolment,
    verify_request,
)

SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def hub(tmp_path):
    init_hub(tmp_path / "hub", "test-hub")
    config = HubConfig.load(tmp_path / "hub", background_jobs=False)
    app = create_app(config)
    ctx = app.state.hub
    ctx.client = TestClient(app)
    yield ctx
    ctx.close()


@pytest.fixture
def node(hub):
    node = SimulatedNode("XZ-001")
    enrol(hub.client, hub, node)
    return node


def get(hub, node, path):
    return hub.client.get(path, headers=node.headers("GET", path))


# --------------------------------------------------------------------------- config pull


def test_manifest_and_documents_verify_with_the_pinned_key(hub, node):
    pinned = hub.identity.signing_key.public
    manifest = verify_manifest(get(hub, node, "/sync/v1/manifest").json(), pinned)
    assert set(manifest) >= {CONFIG_CALENDAR}
    for kind, entry in manifest.items():
        wire = get(hub, node, f"/sync/v1/config/{kind}").json()
        doc = verify_config(wire, pinned, kind, version=entry.version, digest=entry.digest)
        assert doc.version == entry.version
    calendar = verify_config(get(hub, node, f"/sync/v1/config/{CONFIG_CALENDAR}").json(),
                             pinned, CONFIG_CALENDAR)
    assert Calendar.from_document(calendar.content) == Calendar.seeded()


def test_publishing_bumps_the_version_and_the_manifest(hub, node):
    seeded = Calendar.seeded()
    newer = Calendar(seeded.version + 1, seeded.notices).to_document()
    doc = publish_config(hub.store, hub.identity, hub.config, CONFIG_CALENDAR, newer, "admin")
    assert doc.version == seeded.version + 1
    pinned = hub.identity.signing_key.public
    manifest = verify_manifest(get(hub, node, "/sync/v1/manifest").json(), pinned)
    assert manifest[CONFIG_CALENDAR].version == doc.version
    with pytest.raises(HubError) as err:
        publish_config(hub.store, hub.identity, hub.config, CONFIG_CALENDAR, newer, "admin")
    assert err.value.code == "config_version_invalid"
    with pytest.raises(HubError) as err:
        publish_config(hub.store, hub.identity, hub.config, CONFIG_CATALOGUE, {"items": 3})
    assert err.value.code == "config_invalid"
    older = get(hub, node, f"/sync/v1/config/{CONFIG_CALENDAR}?version={seeded.version}")
    assert verify_config(older.json(), pinned, CONFIG_CALENDAR).version == seeded.version


def test_a_tampered_document_or_wrong_digest_fails(hub, node):
    pinned = hub.identity.signing_key.public
    wire = get(hub, node, f"/sync/v1/config/{CONFIG_CALENDAR}").json()
    tampered = dict(wire, document=wire["document"].replace('"version":', '"version": ', 1))
    with pytest.raises(ProtocolError):
        verify_config(tampered, pinned, CONFIG_CALENDAR)
    with pytest.raises(ConfigError) as err:
        verify_config(wire, pinned, CONFIG_CALENDAR, digest="0" * 64)
    assert err.value.code == "config_digest_mismatch"
    with pytest.raises(ProtocolError):
        verify_config(wire, PrivateKey.generate().public, CONFIG_CALENDAR)


def test_unknown_config_kind_is_404(hub, node):
    response = get(hub, node, "/sync/v1/config/config.nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "config_unknown"


# --------------------------------------------------------------------------- hub keys


def test_hub_key_rotation_is_verifiable_with_the_old_key(hub, node):
    pinned = hub.identity.signing_key.public
    node.append()
    result = CliRunner().invoke(main, ["rotate-key", str(hub.config.data_dir)])
    assert result.exit_code == 0, result.output
    response = hub.client.get("/sync/v1/keys")
    data = response.json()
    current, enc = follow_key_statements(pinned, data["statements"])
    assert current.hex == data["signing_key"] == response.headers["X-Hub-Key"]
    assert enc == data["encryption_key"]
    # the running app picked up the new key: acks and configs verify with it
    body = node.batch()
    ack = hub.client.post("/sync/v1/push", content=body, headers=node.push_request(body))
    verify_ack(ack.json(), current, node.code)
    with pytest.raises(SignatureError):
        verify_ack(ack.json(), pinned, node.code)
    verify_config(get(hub, node, f"/sync/v1/config/{CONFIG_CALENDAR}").json(), current,
                  CONFIG_CALENDAR)
    # a second rotation chains from the first
    rotate_hub_key(hub.store, hub.config)
    statements = hub.client.get("/sync/v1/keys").json()["statements"]
    assert len(statements) == 2
    assert follow_key_statements(pinned, statements)[0] == hub.identity.signing_key.public
    assert follow_key_statements(current, statements)[0] == hub.identity.signing_key.public


def test_key_statement_needs_both_keys():
    old, new, mallory = PrivateKey.generate(), PrivateKey.generate(), PrivateKey.generate()
    statement = sign_key_statement(old, new, issuer="hub", issued_at="2026-11-26T10:00:00.000+08:00",
                                   seq=1, encryption_key="ab" * 32)
    assert verify_key_statement(statement.document.to_wire(), old.public).new_key == new.public
    with pytest.raises(ProtocolError):
        verify_key_statement(statement.document.to_wire(), mallory.public)
    # a statement signed by the old key naming a key whose holder did not consent
    from protocol.document import sign_document
    body = dict(statement.document.body, new_key=mallory.public.hex)
    forged = sign_document(old, kind="hub.key_rotated", issuer="hub",
                           issued_at="2026-11-26T10:00:00.000+08:00", body=body)
    with pytest.raises(SignatureError):
        verify_key_statement(forged.to_wire(), old.public)


# --------------------------------------------------------------------------- request signing


def test_signed_request_round_trip_and_tampering():
    key = PrivateKey.generate()
    headers = sign_request(key, "XZ-001", "POST", "/sync/v1/push", b"body", NOW, offset_ms=-5)
    parsed = verify_request(headers, "POST", "/sync/v1/push", b"body", key.public, NOW)
    assert parsed.node == "XZ-001" and parsed.skew_ms == 0 and parsed.clock_skew_ms == 5
    for method, path, body in (("GET", "/sync/v1/push", b"body"),
                               ("POST", "/sync/v1/status", b"body"),
                               ("POST", "/sync/v1/push", b"bodx")):
        with pytest.raises(RequestAuthError) as err:
            verify_request(headers, method, path, body, key.public, NOW)
        assert err.value.code == "request_signature_invalid"
    for name in ("X-Timestamp", "X-Nonce", "X-Clock-Offset"):
        changed = dict(headers)
        changed[name] = {"X-Timestamp": "2026-11-26T10:00:01.000+08:00",
                         "X-Nonce": "ab" * 16, "X-Clock-Offset": "0"}[name]
        with pytest.raises(RequestAuthError) as err:
            verify_request(changed, "POST", "/sync/v1/push", b"body", key.public, NOW)
        assert err.value.code == "request_signature_invalid"
    with pytest.raises(RequestAuthError) as err:
        verify_request({}, "POST", "/sync/v1/push", b"body", key.public, NOW)
    assert err.value.code == "request_unsigned"


def test_request_outside_the_window_is_expired_but_parsed():
    key = PrivateKey.generate()
    headers = sign_request(key, "XZ-001", "GET", "/x", b"", NOW + timedelta(minutes=20))
    with pytest.raises(RequestAuthError) as err:
        verify_request(headers, "GET", "/x", b"", key.public, NOW, max_skew_seconds=900)
    assert err.value.code == "request_expired"
    assert err.value.request.skew_ms == 20 * 60 * 1000


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.sampled_from(["X-Node", "X-Timestamp", "X-Nonce", "X-Body-SHA256",
                                        "X-Signature", "X-Clock-Offset"]),
                       st.text(max_size=200)))
def test_arbitrary_headers_never_crash(headers):
    try:
        verify_request(headers, "POST", "/sync/v1/push", b"", PrivateKey.from_seed(b"\1" * 32).public,
                       NOW)
    except RequestAuthError:
        pass


def test_enrolment_proof():
    key = PrivateKey.generate()
    proof = sign_enrolment(key, "TOKEN")
    assert verify_enrolment(key.public.hex, "TOKEN", proof) == key.public
    with pytest.raises(RequestAuthError):
        verify_enrolment(key.public.hex, "OTHER", proof)


def test_protocol_modules_import_only_stdlib_and_cryptography():
    root = Path(__file__).resolve().parent.parent / "protocol"
    for name in ("request_auth.py", "config_docs.py"):
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        for item in ast.walk(tree):
            if isinstance(item, ast.Import):
                modules = [a.name for a in item.names]
            elif isinstance(item, ast.ImportFrom) and item.level == 0:
                modules = [item.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or top == "cryptography", (name, module)
