"""In a real browser (headless Chromium): staff publish a document at a township node that is
off-line (node server on loopback, no hub reachable), the node syncs to a real hub server,
the document is on the portal; a citizen applies on the portal, staff reply at the hub, the
citizen sees the status by tracking number.

Sync: the node's own ``edge_node.sync.client.SyncClient`` (enrol + ``sync_once``) against the hub
server.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from live import BIN, free_port, launch_chromium, run_cli, wait_http

STAFF_PASSWORD = "staff-pass-123"


@pytest.fixture
def hub_server(tmp_path):
    data = tmp_path / "hub"
    out = run_cli("central-hub", "init", str(data), "--name", "browser-hub")
    admin_password = re.search(r"password: (\S+)", out).group(1)
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


@pytest.fixture
def node_server(tmp_path):
    """A township node served on loopback with the disclosure screens mounted."""
    import uvicorn

    from edge_node.accounts import users
    from edge_node.app import create_app
    from edge_node.config import load_config
    from edge_node.node import init_node
    from web.security import hash_password

    node, _ = init_node(tmp_path / "node", "XZ-101", "青岚镇便民服务中心",
                        admin_password="lantern-ridge-7294")
    admin = node.store.user_by_username("admin")
    hashed = hash_password(STAFF_PASSWORD)
    for username, name, roles in (("clerk", "张受理", ("clerk",)),
                                  ("reviewer", "李保密", ("reviewer",)),
                                  ("head", "王主任", ("head",))):
        users.create_user(node, username, name, roles, "", actor={"id": admin["id"],
                                                                  "role": "admin"},
                          password_hash=hashed)
    node.close()
    config = load_config(tmp_path / "node")
    app = create_app(config)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/login")
    try:
        yield tmp_path / "node", url
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def _login(page, url, user, password, landing=None):
    page.goto(url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit], main button[type=submit]")
    page.wait_for_load_state()


def _logout(page, url):
    page.context.clear_cookies()


def _enroll(node_dir: Path, hub_dir: Path, hub_url: str) -> None:
    from edge_node.node import open_data_dir
    from edge_node.sync.client import SyncClient

    token = run_cli("central-hub", "enroll-token", str(hub_dir), "--node", "XZ-101", "--name",
                    "青岚镇便民服务中心").strip().splitlines()[0]
    node = open_data_dir(node_dir)
    try:
        with httpx.Client(timeout=30) as http:
            SyncClient(node, http).enroll(hub_url, token)
    finally:
        node.close()


def _sync(node_dir: Path) -> None:
    """One sync round of the node's own client (events, then the attachment phase)."""
    from edge_node.node import open_data_dir
    from edge_node.sync.client import SyncClient

    node = open_data_dir(node_dir)
    try:
        with httpx.Client(timeout=30) as http:
            client = SyncClient(node, http)
            client.sync_once()
            client.close()
        assert node.store.unacked_count() == 0
    finally:
        node.close()


def test_publish_offline_sync_portal_request_reply_status(hub_server, node_server):
    from playwright.sync_api import sync_playwright

    hub_dir, hub_url, admin_password = hub_server
    node_dir, node_url = node_server
    today = time.strftime("%Y-%m-%d")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context()
        page = context.new_page()
        errors = []
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                if r.status >= 500 or (r.status == 404 and "favicon" not in r.url) else None)

        # -- at the township node, off-line: draft, review, publish
        _login(page, node_url, "clerk", STAFF_PASSWORD)
        page.goto(node_url + "/disclosure/new")
        page.fill("input[name=title]", "青岚镇2026年高龄津贴发放公示")
        page.fill("input[name=made_on]", today)
        page.select_option("select[name=topic]", "16")
        page.select_option("select[name=genre]", "05")
        page.select_option("select[name=grouping]", "06")
        page.fill("input[name=office]", "社会事务办")
        page.fill("input[name=person]", "张受理")
        page.fill("textarea[name=text]", "经审核，本月高龄津贴发放名单公示如下。<img src=x>")
        page.set_input_files("input[name=files]", files=[{
            "name": "名单.pdf", "mimeType": "application/pdf",
            "buffer": b"%PDF-1.4\n%%EOF\n"}])
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r".*/disclosure/XZ-101-D\d+$"))
        doc_url = page.url
        context.clear_cookies()
        _login(page, node_url, "reviewer", STAFF_PASSWORD)
        page.goto(doc_url)
        page.fill("#review-form textarea[name=opinion]", "不涉及国家秘密和个人隐私")
        page.click("#review-form button[type=submit]")
        page.wait_for_load_state()
        context.clear_cookies()
        _login(page, node_url, "head", STAFF_PASSWORD)
        page.goto(doc_url)
        page.click("#publish")
        page.wait_for_selector("#doc-state:has-text('已公开')")
        index_no = page.inner_text("#index-no")
        assert index_no.startswith("XZ-101/")
        context.clear_cookies()

        # -- the network returns: sync
        _enroll(node_dir, hub_dir, hub_url)
        _sync(node_dir)
        deadline = time.monotonic() + 30     # the hub's projector runs every 2 s
        while "高龄津贴发放公示" not in httpx.get(hub_url + "/gk", params={"q": "津贴"}).text:
            assert time.monotonic() < deadline, "the document never reached the portal"
            time.sleep(0.5)

        # -- the portal
        page.goto(hub_url + "/gk")
        page.fill("input[name=q]", "津贴")
        page.click("form[role=search] button[type=submit]")
        page.wait_for_selector("#gk-results a:has-text('高龄津贴发放公示')")
        page.click("#gk-results a:has-text('高龄津贴发放公示')")
        page.wait_for_selector(f"text={index_no}")
        content = page.content()
        assert "社会事务办" in content and "名单.pdf" in content
        assert "&lt;img src=x&gt;" in content
        # The hub takes an attachment only once its document is projected: whether the
        # first round's attachment phase came before or after that is timing. The next
        # round certainly delivers it, and the portal then links the checked bytes.
        _sync(node_dir)
        page.reload()
        href = page.get_attribute("a:has-text('名单.pdf')", "href")
        assert "附件待传输" not in page.content()
        assert httpx.get(hub_url + href).content == b"%PDF-1.4\n%%EOF\n"

        # -- a citizen applies
        page.goto(hub_url + "/gk/apply")
        page.select_option("select[name=body_code]", "510829100")
        page.fill("input[name=applicant_name]", "赵市民")
        page.fill("input[name=contact]", "13900000000")
        page.fill("textarea[name=description]", "青岚镇2025年高龄津贴资金使用情况")
        page.click("main form button[type=submit]")
        page.wait_for_selector("#request-no")
        number = page.inner_text("#request-no")

        # -- staff reply at the hub
        _login(page, hub_url, "admin", admin_password)
        page.goto(hub_url + f"/disclosure/requests/{number}")
        page.select_option("#act-form select[name=type]", "reply")
        page.select_option("#act-form select[name=reply_type]", "grant")
        page.fill("#act-form textarea[name=reason]", "予以公开，见附件")
        page.click("#act-form button[type=submit]")
        page.wait_for_selector("#request-state:has-text('已答复')")
        context.clear_cookies()

        # -- the citizen follows the status
        page.goto(hub_url + "/gk/status")
        page.fill("input[name=no]", number)
        page.click("main form button[type=submit]")
        page.wait_for_selector("#request-status")
        status = page.inner_text("#request-status")
        assert "已答复" in status and "予以公开" in status and "赵*" in status
        browser.close()
    assert not errors, errors
