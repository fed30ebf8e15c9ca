"""In headless Chromium against a real hub server (issue #8): a citizen looks up a case,
evaluates it badly, the handling unit answers, the citizen sees the answer; the county
dashboard renders its ECharts charts (screenshot kept in test-artifacts/) and a figure
drills down to a case."""

from __future__ import annotations

import subprocess

import pytest
from playwright.sync_api import sync_playwright

from central_hub.projection.registry import run_all
from live import ARTIFACTS, BIN, free_port, launch_chromium, wait_http
from test_hub_core import PASSWORD, Hub, TOWNSHIP, push_cases


@pytest.fixture
def server(tmp_path):
    hub = Hub(tmp_path / "hub")
    push_cases(hub, "XZ-001", 6, org_unit=TOWNSHIP)
    push_cases(hub, "XZ-002", 3, until="accepted")
    run_all(hub.store)
    code = hub.store.case_states(["XZ-001-00003"])["XZ-001-00003"]["query_code"]
    admin_password = hub.admin_password
    hub.close()
    port = free_port()
    with open(tmp_path / "hub.log", "wb") as log:
        process = subprocess.Popen([str(BIN / "central-hub"), "serve", str(tmp_path / "hub"),
                                    "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(url + "/portal")
            yield url, code, admin_password
        finally:
            process.terminate()
            process.wait(timeout=20)


def _login(page, url: str, user: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")


def test_citizen_evaluates_unit_answers_and_dashboard_drills_down(server):
    url, code, admin_password = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            citizen = browser.new_context().new_page()
            citizen.goto(url + "/portal/status")
            citizen.fill("input[name=case_no]", "XZ-001-00003")
            citizen.fill("input[name=query_code]", code)
            citizen.click("#status-form button[type=submit]")
            citizen.wait_for_url(url + "/portal/case/XZ-001-00003")
            assert "张*丰" in citizen.inner_text("#case-status")
            citizen.select_option("select[name=stage]", "complete")
            citizen.check("input[name=level][value='5']")
            citizen.fill("textarea[name=text]", "材料要求反复变化")
            citizen.click("#evaluate-form button[type=submit]")
            citizen.wait_for_selector(".evaluation")
            assert "已转交办理单位整改" in citizen.inner_text(".evaluation")

            staff = browser.new_context().new_page()
            _login(staff, url, "staff", PASSWORD)
            staff.goto(url + "/evaluations")
            staff.click("#evaluations-table a:has-text('XZ-001-00003')")
            staff.fill("textarea[name=answer]", "已统一材料清单并向群众致歉")
            staff.click("#answer-form button[type=submit]")
            staff.wait_for_selector("#evaluation-answer")

            citizen.reload()
            assert "已统一材料清单并向群众致歉" in citizen.inner_text(".follow-up-answer")

            admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            _login(admin, url, "admin", admin_password)
            admin.goto(url + "/dashboard?from=2026-01-01&to=2026-12-31")
            for chart in ("chart-nodes", "chart-trend", "chart-levels"):
                admin.wait_for_selector(f"[data-chart={chart}] canvas", timeout=15000)
            admin.screenshot(path=str(ARTIFACTS / "hub-face-dashboard.png"), full_page=True)
            admin.click("#summary-table a[href*='metric=completed']")
            admin.wait_for_selector("#drill-table")
            admin.click("#drill-table a:has-text('XZ-001-00003')")
            admin.wait_for_url(url + "/cases/XZ-001-00003")
            assert "XZ-001-00003" in admin.inner_text("h1")
        finally:
            browser.close()
