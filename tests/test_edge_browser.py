"""The window clerk's day in headless Chromium (Debian's chromium driven by Playwright).

Log in, take in a case with a material missing, issue the supplement notice, resubmit,
hand the case on and complete it, print the completion notice; the work queue is kept as
a screenshot in test-artifacts/. Nothing downloads a browser: the test uses the system's
chromium (scripts/test installs Debian's package when it is missing) and is skipped
without it.
"""

from __future__ import annotations

import threading
import time

import pytest

from edge_node.accounts import users
from edge_node.app import create_app
from web.security import hash_password

from playwright import sync_api as playwright_api

from live import ARTIFACTS, free_port, launch_chromium

PASSWORD = "window-pass-1"


@pytest.fixture
def server(edge_node, edge_staff):
    import uvicorn

    admin = edge_node.store.user_by_username("admin")
    users.create_user(edge_node, "window", "窗口一号", ("clerk", "handler"), "",
                      actor={"id": admin["id"], "role": "admin"},
                      password_hash=hash_password(PASSWORD))
    port = free_port()
    app = create_app(edge_node.config, node=edge_node)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_clerk_takes_in_supplements_completes_and_prints(server, edge_node):
    with playwright_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))        # script errors (CSP too)
        page.on("console", lambda m: errors.append(m.text)
                if m.type == "error" and "Content Security Policy" in m.text else None)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                if r.status >= 500 else None)

        page.goto(server + "/")
        assert "/login" in page.url
        page.fill("#field-username", "window")
        page.fill("#field-password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(server + "/")

        # intake: find the item by search (htmx live results), tick a partial checklist
        page.click("text=接件受理")
        page.fill("#field-q", "失业")
        page.wait_for_selector("#item-results >> text=就业失业登记")
        page.click("#item-results >> text=就业失业登记")
        page.wait_for_selector("text=第二步：核对申请材料")
        page.check("#mat-M1")
        page.fill("#field-name", "赵六")
        page.fill("#field-id_no", "110105194912310021")          # wrong check character
        page.press("#field-id_no", "Tab")
        page.wait_for_selector("#check-id_no .field-error")      # inline validation
        page.fill("#field-id_no", "11010519491231002X")
        page.press("#field-id_no", "Tab")
        page.wait_for_selector("#check-id_no .field-ok")
        page.click("button[value=supplement]")
        page.wait_for_url("**/cases/*")
        case_no = page.url.rsplit("/", 1)[1]
        assert edge_node.store.case(case_no)["state"] == "supplement_requested"
        assert page.is_visible("text=打印补正告知书")

        # resubmit with htmx: the case section is swapped in place
        page.click("text=补正材料")
        page.check("#resubmit-mat-M2")
        page.click("button:has-text('材料齐全，受理')")
        page.wait_for_selector("text=补正材料已完成")
        assert edge_node.store.case(case_no)["state"] == "accepted"

        # the handler step decides this short flow; then completion at the window
        page.click("summary:has-text('审批决定')")
        page.fill("#decide-reason", "符合登记条件")
        page.click("button:has-text('批准')")
        page.wait_for_selector("summary:has-text('办结')")
        assert edge_node.store.case(case_no)["state"] == "decided"
        page.click("summary:has-text('办结')")
        page.click("form[action$='/act/complete'] button[type=submit]")
        page.wait_for_selector("text=打印办结通知")
        assert edge_node.store.case(case_no)["state"] == "completed"

        # print the completion notice: A4 document with the QR code
        page.click("text=打印办结通知")
        page.wait_for_selector("article.document svg")
        assert page.is_visible("text=办结通知")
        page.emulate_media(media="print")
        assert not page.is_visible(".site-header")
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF")
        page.emulate_media(media="screen")

        # the work queue, kept as a test artefact
        page.goto(server + "/")
        page.wait_for_selector("#queue")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "edge-work-queue.png"), full_page=True)

        # the citizen, at the hall terminal: look the case up, rate both stages' service
        query_code = edge_node.store.case(case_no)["query_code"]
        kiosk = browser.new_page(viewport={"width": 1024, "height": 768}, locale="zh-CN")
        kiosk.on("pageerror", lambda e: errors.append(str(e)))
        kiosk.goto(server + f"/kiosk/status?case={case_no}")
        kiosk.fill("#field-code", query_code)
        kiosk.click("#kiosk-status form[action='/kiosk/status'] button[type=submit]")
        kiosk.wait_for_selector("#kiosk-rate")                  # swapped in by htmx
        kiosk.select_option("#field-stage", "complete")
        kiosk.check("input[name=level][value='5']")
        kiosk.click("#kiosk-rate button[type=submit]")
        kiosk.wait_for_selector("#field-text-error")            # a 差评 needs a reason
        kiosk.screenshot(path=str(ARTIFACTS / "edge-kiosk-rate-form.png"), full_page=True)
        kiosk.fill("#field-text", "办结通知上的电话打不通")
        kiosk.click("#kiosk-rate button[type=submit]")
        kiosk.wait_for_selector("text=感谢您的评价")
        kiosk.screenshot(path=str(ARTIFACTS / "edge-kiosk-rated.png"))
        assert [e.env["body"]["level"] for e in edge_node.store.iter_events()
                if e.env["type"] == "evaluation.given"] == [5]
        assert not errors, errors
        browser.close()
