"""In a real browser (headless Chromium) against a real hub server: an administrator drafts a
catalogue change, it passes the legal, confidentiality and service-centre reviews, is
published, and a node receives it on its next sync.

The node side: if ``edge-node`` has a ``sync`` command, a real ``edge-node serve`` and
``edge-node sync`` run as subprocesses; until then the test asserts the hub side with a
node-signed request (central_hub.simulated_node): the published catalogue is retrievable
through ``GET /sync/v1/config/config.catalogue`` and verifies with the hub's key.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from central_hub.simulated_node import SimulatedNode
from protocol.config_docs import CONFIG_CATALOGUE, verify_config, verify_manifest
from protocol.keys import PublicKey

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "review-pass-123"
NEW_PHONE = "0839-6629999"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str) -> str:
    result = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def _wait(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
def hub_server(tmp_path):
    data = tmp_path / "hub"
    out = _run("central-hub", "init", str(data), "--name", "browser-hub")
    admin_password = re.search(r"password: (\S+)", out).group(1)
    for user, role, unit in (("legal", "legal_reviewer", "510829-SF"),
                             ("secrecy", "secrecy_reviewer", "510829-BM"),
                             ("staff", "centre_staff", "510829")):
        _run("central-hub", "user", "add", str(data), user, "--role", role, "--org-unit", unit,
             "--password", PASSWORD)
    port = _free_port()
    with open(tmp_path / "hub.log", "wb") as log:
        process = subprocess.Popen([str(BIN / "central-hub"), "serve", str(data), "--port",
                                    str(port)], stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(url + "/login")
            yield data, url, admin_password
        finally:
            process.terminate()
            process.wait(timeout=20)


def _login(page, url, user, password):
    page.goto(url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")


def _logout(page):
    page.click("header form button[type=submit]")


def _review(page, url, user, draft_url, expect_state):
    _login(page, url, user, PASSWORD)
    page.goto(draft_url)
    page.select_option("select[name=decision]", "pass")
    page.fill("textarea[name=opinion]", "审查通过")
    page.click("form[action$='/review'] button[type=submit]")
    page.wait_for_selector(f"#draft-state:has-text('{expect_state}')")
    _logout(page)


def _edge_node_has_sync() -> bool:
    result = subprocess.run([str(BIN / "edge-node"), "--help"], capture_output=True, text=True,
                            timeout=60)
    return re.search(r"^\s+sync\b", result.stdout, re.M) is not None


def test_catalogue_change_reviewed_published_and_received_by_a_node(hub_server, tmp_path):
    from playwright.sync_api import sync_playwright

    data, url, admin_password = hub_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        console_errors = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        _login(page, url, "admin", admin_password)
        page.goto(url + "/catalogue/drafts/new?code=MZ-QR-0001")
        page.fill("input[name=phone]", NEW_PHONE)
        page.fill("textarea[name=note]", "更换咨询电话")
        page.click("form[action='/catalogue/drafts'] button[type=submit]")
        page.wait_for_url(re.compile(r".*/catalogue/drafts/\d+$"))
        draft_url = page.url
        assert NEW_PHONE in page.content()
        page.click("form[action$='/submit'] button[type=submit]")
        page.wait_for_selector("#draft-state:has-text('待法制审查')")
        _logout(page)
        _review(page, url, "legal", draft_url, "待保密审查")
        _review(page, url, "secrecy", draft_url, "待服务中心审批")
        _review(page, url, "staff", draft_url, "已发布")
        _login(page, url, "admin", admin_password)
        page.goto(url + "/catalogue/items/MZ-QR-0001")
        assert NEW_PHONE in page.content() and "第 2 版" in page.content()
        assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
        browser.close()

    token = _run("central-hub", "enroll-token", str(data), "--node", "XZ-001",
                 "--name", "青岚镇便民服务中心").strip()
    if _edge_node_has_sync():   # the node's sync client exists: a real node, a real sync
        node_dir = tmp_path / "node"
        _run("edge-node", "init", str(node_dir), "--code", "XZ-001", "--name", "青岚镇便民服务中心")
        _run("edge-node", "enroll", str(node_dir), "--hub", url, "--token", token)
        _run("edge-node", "sync", str(node_dir))
        status = _run("edge-node", "status", str(node_dir))
        assert "2" in status
        return
    # Until the node's sync exists: the hub side, with a node-signed request.
    node = SimulatedNode("XZ-001")
    with httpx.Client(base_url=url, timeout=10) as client:
        enrolled = client.post("/sync/v1/enroll", json=node.enrol_body(token))
        assert enrolled.status_code == 200, enrolled.text
        pinned = PublicKey.from_hex(enrolled.json()["hub"]["signing_key"])
        manifest = verify_manifest(client.get("/sync/v1/manifest", headers=node.headers(
            "GET", "/sync/v1/manifest")).json(), pinned)
        entry = manifest[CONFIG_CATALOGUE]
        path = f"/sync/v1/config/{CONFIG_CATALOGUE}"
        wire = client.get(path, headers=node.headers("GET", path)).json()
    doc = verify_config(wire, pinned, CONFIG_CATALOGUE, version=entry.version,
                        digest=entry.digest)
    assert doc.version == 2
    item = next(i for i in doc.content["items"] if i["code"] == "MZ-QR-0001")
    assert item["phone"] == NEW_PHONE
