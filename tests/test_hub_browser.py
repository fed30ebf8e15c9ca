"""In a real browser (headless Chromium) against a real hub server: an administrator drafts a
catalogue change, it passes the legal, confidentiality and service-centre reviews, is
published, and a node receives it on its next sync.

The node is real too: ``edge-node init/enroll/sync`` before the change, then ``edge-node
serve`` syncing in the background until it holds the published version.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest


from live import BIN, free_port, launch_chromium, run_cli, wait_http

PASSWORD = "review-pass-123"
NEW_PHONE = "0839-6629999"


@pytest.fixture
def hub_server(tmp_path):
    data = tmp_path / "hub"
    out = run_cli("central-hub", "init", str(data), "--name", "browser-hub")
    admin_password = re.search(r"password: (\S+)", out).group(1)
    for user, role, unit in (("legal", "legal_reviewer", "510829-SF"),
                             ("secrecy", "secrecy_reviewer", "510829-BM"),
                             ("staff", "centre_staff", "510829")):
        run_cli("central-hub", "user", "add", str(data), user, "--role", role, "--org-unit", unit,
             "--password", PASSWORD)
    port = free_port()
    with open(tmp_path / "hub.log", "wb") as log:
        process = subprocess.Popen([str(BIN / "central-hub"), "serve", str(data), "--port",
                                    str(port)], stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(url + "/login")
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


def _node_catalogue(node_dir):
    from edge_node.node import open_data_dir
    node = open_data_dir(node_dir)
    try:
        catalogue = node.store.catalogue()
        return catalogue.version, catalogue.by_code("MZ-QR-0001")["phone"]
    finally:
        node.close()


def test_catalogue_change_reviewed_published_and_received_by_a_node(hub_server, tmp_path):
    from playwright.sync_api import sync_playwright

    data, url, admin_password = hub_server
    # a township node, enrolled and synced before the change: it holds version 1
    token = run_cli("central-hub", "enroll-token", str(data), "--node", "XZ-001",
                    "--name", "青岚镇便民服务中心").strip()
    node_dir = tmp_path / "node"
    run_cli("edge-node", "init", str(node_dir), "--code", "XZ-001", "--name", "青岚镇便民服务中心")
    run_cli("edge-node", "enroll", str(node_dir), "--hub", url, "--token", token)
    run_cli("edge-node", "sync", str(node_dir))
    assert _node_catalogue(node_dir)[0] == 1

    with sync_playwright() as p:
        browser = launch_chromium(p)
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

    # the node, running as a real server, receives the published change on its next sync
    port = free_port()
    log = open(tmp_path / "node.log", "wb")
    server = subprocess.Popen([str(BIN / "edge-node"), "serve", str(node_dir), "--port",
                               str(port), "--sync-interval", "1"], stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        deadline = time.monotonic() + 60
        while _node_catalogue(node_dir) != (2, NEW_PHONE):
            assert time.monotonic() < deadline, (tmp_path / "node.log").read_text()
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(20)
        log.close()
