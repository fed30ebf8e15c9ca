"""Transport security (docs/security.md#4-transport): HTTPS served by both apps, the hub's
TLS key pinned by the node from its enrolment token and config.tls, rotation without a
visit, refusal of another certificate before a byte is sent, no-store / HSTS / Secure."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading

import pytest
from cryptography import x509
from starlette.testclient import TestClient

from _field import URL, Hub, add_events, hub, node  # noqa: F401 (fixtures)
from central_hub.app import create_app as create_hub_app
from central_hub.operations.bootstrap import init_hub
from central_hub.config import HubConfig
from central_hub.identity import load_identity
from central_hub.sync.tls import make_certificate, publish_pins
from edge_node.app import create_app as create_edge_app
from edge_node.sync.hub_link import HubUntrusted
from edge_node.node import open_data_dir
from edge_node.sync.client import SyncClient
from edge_node.errors import ValidationError
from live import BIN, free_port, run_cli, wait_http
from protocol.config_docs import verify_manifest
from protocol.keys import PublicKey
from protocol.tls import encode_token_pin, pem_pin, split_token
from test_edge_ui_screens import PERSON, sign_in
from web.transport import write_self_signed


def _serve_hub(hub_dir, port, log_path, cert=None, key=None):
    cert = cert or hub_dir / "tls" / "hub.crt"
    key = key or hub_dir / "tls" / "hub.key"
    with open(log_path, "ab") as log:
        server = subprocess.Popen([str(BIN / "central-hub"), "serve", str(hub_dir), "--port",
                                   str(port), "--tls-cert", str(cert), "--tls-key", str(key)],
                                  stdout=log, stderr=subprocess.STDOUT)
    wait_http(f"https://127.0.0.1:{port}/login", verify=False)
    return server


def _stop(server) -> None:
    server.terminate()
    server.wait(timeout=20)


def _cli(*args):
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True,
                          timeout=120)


def _node_tls(node_dir) -> dict:
    node = open_data_dir(node_dir)
    try:
        return node.store.sync_state().get("hub_tls") or {}
    finally:
        node.close()


def _unacked(node_dir) -> int:
    return json.loads(run_cli("edge-node", "status", str(node_dir), "--json"))["events"]["unacked"]


# --------------------------------------------------------------------------- served hub


def test_https_hub_pinned_from_the_token_syncs_and_rotates_without_a_visit(tmp_path):
    """init --tls makes a 0600 key and a certificate for the --tls-name names; the token
    carries its pin; the node enrols and syncs over HTTPS; tls-cert --next announces the
    next key in config.tls, the node learns it, the hub switches (--promote, restart) and
    the node keeps syncing; the last config.tls drops the old pin."""
    hub_dir, node_dir = tmp_path / "hub", tmp_path / "node"
    out = run_cli("central-hub", "init", str(hub_dir), "--tls", "--tls-name", "127.0.0.1",
                  "--tls-name", "hub.county.example")
    assert "published config.tls" in out
    key_file, cert_file = hub_dir / "tls" / "hub.key", hub_dir / "tls" / "hub.crt"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    sans = x509.load_pem_x509_certificate(cert_file.read_bytes()).extensions \
        .get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["hub.county.example"]
    first_pin = pem_pin(cert_file.read_bytes())

    run_cli("edge-node", "init", str(node_dir), "--code", "XZ-031", "--name", "安全镇",
            "--admin-password", "lantern-ridge-7294")
    run_cli("edge-node", "simulate", str(node_dir), "--cases", "5", "--seed", "3", "--quiet")
    token = run_cli("central-hub", "enroll-token", str(hub_dir), "--node", "XZ-031",
                    "--name", "安全镇").strip().splitlines()[-1]
    assert split_token(token)[1] == first_pin
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    server = _serve_hub(hub_dir, port, tmp_path / "hub.log")
    try:
        run_cli("edge-node", "enroll", str(node_dir), "--hub", url, "--token", token)
        run_cli("edge-node", "sync", str(node_dir))
        assert _unacked(node_dir) == 0
        assert _node_tls(node_dir)["pins"] == [first_pin]

        out = run_cli("central-hub", "tls-cert", str(hub_dir), "--next",
                      "--tls-name", "127.0.0.1")
        next_pin = pem_pin((hub_dir / "tls" / "next.crt").read_bytes())
        assert next_pin != first_pin and "published config.tls" in out
        run_cli("edge-node", "sync", str(node_dir))          # learns the next pin
        assert _node_tls(node_dir)["pins"] == [first_pin, next_pin]
    finally:
        _stop(server)

    run_cli("central-hub", "tls-cert", str(hub_dir), "--promote")
    assert pem_pin(cert_file.read_bytes()) == next_pin
    run_cli("edge-node", "simulate", str(node_dir), "--cases", "3", "--seed", "4", "--quiet")
    assert _unacked(node_dir) > 0
    server = _serve_hub(hub_dir, port, tmp_path / "hub.log")   # now with the new key
    try:
        run_cli("edge-node", "sync", str(node_dir))
        assert _unacked(node_dir) == 0
        assert _node_tls(node_dir)["pins"] == [next_pin]     # the old key is dropped
        nodes = json.loads(run_cli("central-hub", "nodes", str(hub_dir), "--json"))["nodes"]
        assert nodes[0]["code"] == "XZ-031" and nodes[0]["lag_events"] == 0
    finally:
        _stop(server)


class _RawTlsServer:
    """A TLS listener on loopback with a certificate of its own; records every byte a
    client sends after the handshake."""

    def __init__(self, cert, key) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.handshakes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(15)
        try:
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    conn.settimeout(3)
                    try:
                        with self.context.wrap_socket(conn, server_side=True) as tls:
                            self.handshakes += 1
                            while chunk := tls.recv(65536):
                                self.received += chunk
                    except (OSError, ssl.SSLError):
                        pass
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


def test_a_hub_with_another_certificate_is_refused_and_sent_nothing(tmp_path):
    """The same hub served with a certificate whose key is not pinned: `edge-node sync`
    fails with one clear line (hub_tls_untrusted) and the hub logs no request; against a
    bare TLS listener with that certificate, not one byte follows the handshake."""
    hub_dir, node_dir = tmp_path / "hub", tmp_path / "node"
    run_cli("central-hub", "init", str(hub_dir), "--tls")
    run_cli("edge-node", "init", str(node_dir), "--code", "XZ-032", "--name", "安全镇",
            "--admin-password", "lantern-ridge-7294")
    token = run_cli("central-hub", "enroll-token", str(hub_dir), "--node", "XZ-032",
                    "--name", "安全镇").strip().splitlines()[-1]
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    server = _serve_hub(hub_dir, port, tmp_path / "hub.log")
    try:
        run_cli("edge-node", "enroll", str(node_dir), "--hub", url, "--token", token)
        run_cli("edge-node", "sync", str(node_dir))
    finally:
        _stop(server)
    run_cli("edge-node", "simulate", str(node_dir), "--cases", "2", "--quiet")
    other_cert, other_key = tmp_path / "other.crt", tmp_path / "other.key"
    write_self_signed(other_cert, other_key, ["127.0.0.1"], common_name="impostor",
                      new_key=True)
    (tmp_path / "other.log").write_bytes(b"")
    server = _serve_hub(hub_dir, port, tmp_path / "other.log", other_cert, other_key)
    try:
        result = _cli("edge-node", "sync", str(node_dir), "--retries", "0")
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "hub_tls_untrusted" in lines[0] \
            and "未发送任何数据" in lines[0] and "Traceback" not in result.stderr
    finally:
        _stop(server)
    assert "/sync/v1/" not in (tmp_path / "other.log").read_text()
    assert _unacked(node_dir) > 0

    raw = _RawTlsServer(str(other_cert), str(other_key))
    node = open_data_dir(node_dir)
    client = SyncClient(node, hub_url=f"https://127.0.0.1:{raw.port}")
    try:
        with pytest.raises(HubUntrusted) as caught:
            client.sync_once()
        assert caught.value.code == "hub_tls_untrusted"
    finally:
        client.close()
        node.close()
        raw.close()
    assert raw.handshakes >= 1 and raw.received == b""


def test_a_node_without_pins_refuses_a_self_signed_hub(tmp_path):
    """A token without a pin and an https URL: ordinary CA verification, which a
    self-signed hub fails, with a clear error instead of a silent trust."""
    hub_dir, node_dir = tmp_path / "hub", tmp_path / "node"
    run_cli("central-hub", "init", str(hub_dir), "--tls")
    run_cli("edge-node", "init", str(node_dir), "--code", "XZ-033", "--name", "安全镇",
            "--admin-password", "lantern-ridge-7294")
    token = run_cli("central-hub", "enroll-token", str(hub_dir), "--node", "XZ-033",
                    "--name", "安全镇", "--no-tls-pin").strip().splitlines()[-1]
    assert "." not in token
    port = free_port()
    server = _serve_hub(hub_dir, port, tmp_path / "hub.log")
    try:
        result = _cli("edge-node", "enroll", str(node_dir), "--hub",
                      f"https://127.0.0.1:{port}", "--token", token)
    finally:
        _stop(server)
    assert result.returncode == 1 and "hub_tls_untrusted" in result.stderr
    assert "/sync/v1/enroll" not in (tmp_path / "hub.log").read_text()


def test_tls_key_readable_by_others_is_refused_by_both_serve_commands(tmp_path):
    hub_dir, node_dir = tmp_path / "hub", tmp_path / "node"
    run_cli("central-hub", "init", str(hub_dir), "--tls")
    run_cli("edge-node", "init", str(node_dir), "--code", "XZ-034", "--name", "安全镇",
            "--admin-password", "lantern-ridge-7294")
    key, cert = hub_dir / "tls" / "hub.key", hub_dir / "tls" / "hub.crt"
    os.chmod(key, 0o640)
    for app, data_dir in (("central-hub", hub_dir), ("edge-node", node_dir)):
        result = _cli(app, "serve", str(data_dir), "--port", str(free_port()),
                      "--tls-cert", str(cert), "--tls-key", str(key))
        assert result.returncode == 1, (app, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "readable by others" in lines[0] \
            and "chmod 600" in lines[0], (app, lines)


def test_plain_http_on_a_lan_address_is_served_with_a_warning(tmp_path):
    """No certificate and a non-loopback host: serve warns at start-up (the port is held by
    the test, so the server stops right after); on loopback it does not warn."""
    hub_dir, node_dir = tmp_path / "hub", tmp_path / "node"
    run_cli("central-hub", "init", str(hub_dir))
    run_cli("edge-node", "init", str(node_dir), "--code", "XZ-035", "--name", "安全镇",
            "--admin-password", "lantern-ridge-7294")
    for host in ("0.0.0.0", "127.0.0.1"):
        with socket.create_server((host, 0)) as held:
            port = held.getsockname()[1]
            for app, data_dir in (("central-hub", hub_dir), ("edge-node", node_dir)):
                extra = ["--no-sync"] if app == "edge-node" else []
                result = _cli(app, "serve", str(data_dir), "--host", host, "--port",
                              str(port), *extra)
                assert result.returncode != 0    # the port is taken
                warned = "serving plain HTTP on 0.0.0.0" in result.stderr
                assert warned == (host == "0.0.0.0"), (app, host, result.stderr)


# --------------------------------------------------------------------------- in process


def test_http_enrolled_node_keeps_syncing_and_old_nodes_can_read_the_manifest(hub, node):
    """A hub with config.tls: the manifest an older node verifies does not list the new
    kind (it rides beside the manifest), a node enrolled over http keeps syncing over
    http and learns the pins; a pinned token with an http URL is refused."""
    make_certificate(hub.config, ("127.0.0.1",), new_key=True)
    content = publish_pins(hub.store, load_identity(hub.config), hub.config)
    wire = hub.client.get("/sync/v1/keys").json()
    assert wire["signing_key"]
    client = SyncClient(node, http=hub.client)
    pinned = hub.token(node.code) + "." + encode_token_pin(content["current"])
    with pytest.raises(ValidationError) as caught:
        client.enroll(URL, pinned)
    assert caught.value.rule == "https_required"
    client.enroll(URL, hub.token(node.code))
    assert node.store.sync_state().get("hub_tls") is None
    add_events(node, 5)
    client.sync_once()
    manifest = client.link.request("GET", "/sync/v1/manifest").data
    entries = verify_manifest(manifest, PublicKey.from_hex(wire["signing_key"]))
    assert "config.tls" not in entries and "tls" in manifest
    assert node.store.sync_state()["hub_tls"]["pins"] == [content["current"]]
    add_events(node, 3)
    report = client.sync_once()
    assert report.complete and client.link.hub_url == URL


def test_mistyped_pin_in_the_token_is_a_clear_error(hub, node):
    client = SyncClient(node, http=hub.client)
    pin = encode_token_pin("ab" * 32)
    typo = pin[:5] + ("0" if pin[5] != "0" else "1") + pin[6:]
    with pytest.raises(ValidationError) as caught:
        client.enroll("https://hub.example", hub.token(node.code) + "." + typo)
    assert caught.value.field == "token" and "校验位" in caught.value.zh


# --------------------------------------------------------------------------- headers


def _assert_no_store(response, path):
    assert response.headers.get("cache-control") == "no-store", (path, response.status_code)


def test_hub_https_headers_secure_cookie_and_no_store(tmp_path):
    result = init_hub(tmp_path / "hub")
    app = create_hub_app(HubConfig.load(tmp_path / "hub", background_jobs=False))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as https:
        login = https.get("/login")
        assert "Secure" in login.headers["set-cookie"]
        assert login.headers["strict-transport-security"] == "max-age=31536000"
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
        done = https.post("/login", data={"username": "admin", "csrf_token": token,
                                          "password": result.admin_password})
        assert done.status_code == 303 and "Secure" in done.headers["set-cookie"]
        for path in ("/login", "/", "/audit/export.csv", "/catalogue/export.json",
                     "/sync/v1/keys", "/api/v1/catalogue"):
            response = https.get(path)
            assert response.status_code < 500, path
            _assert_no_store(response, path)
        asset = https.get("/static/app.css")
        assert asset.status_code == 200 and "no-store" not in asset.headers.get(
            "cache-control", "")
    with TestClient(app, follow_redirects=False) as plain:
        response = plain.get("/login")
        assert "strict-transport-security" not in response.headers
        assert "secure" not in response.headers["set-cookie"].lower()
        _assert_no_store(response, "/login (http)")
    app.state.hub.close()


def test_node_https_headers_secure_cookie_and_no_store(edge_node, edge_staff):
    from edge_node.cases import handling as cases
    no = cases.intake(edge_node, edge_staff["clerk"], item_code="MZ-JF-0005",
                      applicant=PERSON, materials=["M1", "M2", "M3", "M4", "M5"],
                      outcome="accept")["case"]
    app = create_edge_app(edge_node.config, node=edge_node)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as https:
        login = https.get("/login")
        assert "Secure" in login.headers["set-cookie"]
        assert login.headers["strict-transport-security"] == "max-age=31536000"
        sign_in(https, "clerk")
        for path in ("/login", "/", f"/cases/{no}", f"/cases/{no}/print/acceptance",
                     f"/api/cases/{no}", "/search?q=王小五", "/sync"):
            response = https.get(path)
            assert response.status_code < 400, (path, response.status_code)
            _assert_no_store(response, path)
        assert PERSON["name"] in https.get(f"/cases/{no}").text
        asset = https.get("/static/edge.css")
        assert asset.status_code == 200 and "no-store" not in asset.headers.get(
            "cache-control", "")
    with TestClient(app, follow_redirects=False) as plain:
        response = plain.get("/login")
        assert "strict-transport-security" not in response.headers
        assert "secure" not in response.headers["set-cookie"].lower()


def test_restore_from_an_https_hub_uses_the_pin_in_the_restore_token(tmp_path):
    """restore-token carries the hub's TLS pin exactly as enroll-token does; a node whose
    disk died restores from a self-signed HTTPS hub with it, keeps the pin and syncs on."""
    hub_dir, node_dir = tmp_path / "hub", tmp_path / "node"
    run_cli("central-hub", "init", str(hub_dir), "--tls", "--tls-name", "127.0.0.1")
    pin = pem_pin((hub_dir / "tls" / "hub.crt").read_bytes())
    run_cli("edge-node", "init", str(node_dir), "--code", "XZ-032", "--name", "恢复镇",
            "--admin-password", "lantern-ridge-41")
    run_cli("edge-node", "simulate", str(node_dir), "--cases", "4", "--seed", "2", "--quiet")
    token = run_cli("central-hub", "enroll-token", str(hub_dir), "--node", "XZ-032",
                    "--name", "恢复镇").strip().splitlines()[-1]
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    server = _serve_hub(hub_dir, port, tmp_path / "hub.log")
    try:
        run_cli("edge-node", "enroll", str(node_dir), "--hub", url, "--token", token)
        run_cli("edge-node", "sync", str(node_dir))
        shutil.rmtree(node_dir)                                   # the disk dies
        restore = _cli("central-hub", "restore-token", str(hub_dir), "--node", "XZ-032")
        assert restore.returncode == 0 and f"TLS pin {pin}" in restore.stderr
        restore_token = restore.stdout.strip().splitlines()[-1]
        assert split_token(restore_token)[1] == pin
        # over plain http the pin is refused before anything is sent or written
        plain = _cli("edge-node", "restore", str(node_dir), "--hub", f"http://127.0.0.1:{port}",
                     "--token", restore_token)
        assert plain.returncode == 1 and "https://" in plain.stderr
        assert "Traceback" not in plain.stderr and not (node_dir / "node.key").exists()
        out = run_cli("edge-node", "restore", str(node_dir), "--hub", url, "--token",
                      restore_token, "--admin-password", "new-lantern-ridge-1")
        assert "已恢复" in out
        assert _node_tls(node_dir)["pins"] == [pin]
        run_cli("edge-node", "sync", str(node_dir))               # the new epoch syncs
        assert _unacked(node_dir) == 0
    finally:
        _stop(server)
    plain_token = _cli("central-hub", "restore-token", str(hub_dir), "--node", "XZ-032",
                       "--no-tls-pin")
    assert plain_token.returncode == 0 and "." not in plain_token.stdout.strip()
