"""In headless Chromium against a served hub: the security administrator creates a
supervisor account (a password the rules refuse first, its message beside the field);
the supervisor signs in, enrols a TOTP second factor from the secret the page shows (the
code computed with pyotp, as a phone would), signs out, and signs in again with password
and code. Screenshots (desktop and phone widths) are kept in test-artifacts/.
"""

from __future__ import annotations

import re
import subprocess
import time

import pyotp
import pytest
from playwright.sync_api import sync_playwright

from live import ARTIFACTS, BIN, free_port, launch_chromium, run_cli, wait_http

SUPERVISOR_PASSWORD = "Ling-Xiao-7rain-cloud!"


@pytest.fixture
def hub_server(tmp_path):
    data = tmp_path / "hub"
    out = run_cli("central-hub", "init", str(data), "--name", "totp-hub")
    passwords = dict(re.findall(r"user: (\S+)\s+password: (\S+)", out))
    port = free_port()
    with open(tmp_path / "hub.log", "wb") as log:
        process = subprocess.Popen([str(BIN / "central-hub"), "serve", str(data), "--port",
                                    str(port)], stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(url + "/login")
            yield url, passwords
        finally:
            process.terminate()
            process.wait(timeout=20)


def _sign_in(page, url, user, password):
    page.goto(url + "/login")
    page.fill("#field-username", user)
    page.fill("#field-password", password)
    page.click("form[action='/login'] button[type=submit]")


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"hub-totp-{name}.png"), full_page=True)


def _fresh_code(secret: str, used: set[str]) -> str:
    """The current code, waiting for the next 30 s step if this one was used already
    (the hub refuses a code, or an earlier one, a second time)."""
    totp = pyotp.TOTP(secret)
    while totp.now() in used:
        time.sleep(1)
    used.add(totp.now())
    return totp.now()


def test_supervisor_created_enrols_totp_and_signs_in_with_a_code(hub_server):
    url, passwords = hub_server
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                if r.status >= 500 else None)

        # the security administrator creates the supervisor
        _sign_in(page, url, "secadmin", passwords["secadmin"])
        page.wait_for_url(url + "/")
        page.goto(url + "/admin/accounts")
        options = page.locator("#field-role option").all_inner_texts()
        assert any(o.startswith("系统管理员（") for o in options)
        assert "安全管理员（账号、角色、密码、会话与接口令牌）" in options
        assert "审计管理员（查阅和导出审计日志）" in options
        page.fill("#field-username", "jiancha")
        page.fill("#field-display_name", "王监察")
        page.select_option("#field-role", "supervisor")
        page.fill("#field-password", "password1234")              # refused by the rules
        page.click("form[action='/admin/accounts'] button[type=submit]")
        error = page.locator("#field-password-error")
        assert "太容易被猜中" in error.inner_text()
        _shot(page, "weak-password")
        page.fill("#field-password", SUPERVISOR_PASSWORD)
        page.click("form[action='/admin/accounts'] button[type=submit]")
        page.wait_for_selector(".flash--success:has-text('已创建账号 jiancha')")
        assert "王监察" in page.locator("table").inner_text()
        page.click("header form button[type=submit]")
        page.wait_for_selector(".flash:has-text('已退出登录')")

        # the supervisor signs in and enrols the second factor
        _sign_in(page, url, "jiancha", SUPERVISOR_PASSWORD)
        page.wait_for_url(url + "/")
        page.click("header >> text=双因素认证")
        page.wait_for_url(url + "/account/totp")
        assert page.locator(".qr svg").count() == 1
        _shot(page, "enrol")
        page.set_viewport_size({"width": 375, "height": 812})
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        _shot(page, "enrol-phone")
        page.set_viewport_size({"width": 1366, "height": 768})
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        used: set[str] = set()
        page.fill("#field-code", _fresh_code(secret, used))
        page.click("form[action='/account/totp'] button[type=submit]")
        page.wait_for_selector(".flash--success:has-text('已启用双因素认证')")
        page.click("header form button[type=submit]")
        page.wait_for_selector(".flash:has-text('已退出登录')")

        # password, then the code
        _sign_in(page, url, "jiancha", SUPERVISOR_PASSWORD)
        page.wait_for_url(url + "/login/totp")
        page.fill("#field-code", "000000" if "000000" not in used else "111111")
        page.click("form[action='/login/totp'] button[type=submit]")
        assert "不正确" in page.locator("#field-code-error").inner_text()
        _shot(page, "code-refused")
        page.fill("#field-code", _fresh_code(secret, used))
        page.click("form[action='/login/totp'] button[type=submit]")
        page.wait_for_url(url + "/")
        assert "王监察" in page.locator("header").inner_text()
        _shot(page, "signed-in")
        assert not errors, errors
        browser.close()
