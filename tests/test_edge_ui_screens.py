"""The node's staff screens and self-service pages, in process (form posts, htmx partials).

Helpers here (``ui``, ``sign_in``, ``csrf``, ``make_case``) are shared with
test_edge_ui_routes.py.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from starlette.testclient import TestClient

from edge_node.cases import handling as cases
from edge_node.app import create_app
from edge_node.store import queries

from conftest import EDGE_ADMIN_PASSWORD, EDGE_STAFF_PASSWORD

PERSON = {"kind": "person", "name": "王小五", "id_no": "11010519491231002X"}
FUNERAL = "MZ-JF-0005"      # flow: clerk, reviewer, head (decides), clerk; M1-M5 required
ID_CARD = "GA-GG-0003"      # charged 10 yuan; clerk, reviewer, approver, clerk; separate
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


# --------------------------------------------------------------------------- helpers


def client_for(node) -> TestClient:
    return TestClient(create_app(node.config, node=node), follow_redirects=False)


def csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    match = _CSRF_RE.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def sign_in(client: TestClient, username: str) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    password = EDGE_ADMIN_PASSWORD if username == "admin" else EDGE_STAFF_PASSWORD
    response = client.post("/login", data={"username": username, "password": password,
                                            "csrf_token": csrf(client)})
    assert response.status_code == 303, response.text
    return csrf(client, "/kiosk/status")


def make_case(node, staff, state: str, *, item: str = FUNERAL) -> str:
    """A case brought into ``state`` through the domain functions; returns its number."""
    clerk, head = staff["clerk"], staff["head"]
    mats = ["M1", "M2", "M3", "M4", "M5"] if item == FUNERAL else ["M1", "M2", "M3"]
    if state == "supplement_requested":
        return cases.intake(node, clerk, item_code=item, applicant=PERSON, materials=["M1"],
                            outcome="supplement")["case"]
    if state == "refused":
        return cases.intake(node, clerk, item_code=item, applicant=PERSON, materials=mats,
                            outcome="refuse", reason="不符合受理条件")["case"]
    no = cases.intake(node, clerk, item_code=item, applicant=PERSON, materials=mats,
                      outcome="accept")["case"]
    if state == "accepted":
        return no
    if state == "suspended":
        cases.suspend(node, staff["handler"] if item != FUNERAL else head, no,
                      procedure="expert_review", reason="组织专家评审")
        return no
    if state == "charged":
        cases.charge_fee(node, clerk, no)
        return no
    cases.complete_step(node, staff["reviewer"], no, opinion="材料属实")
    if state == "reviewed":
        return no
    decider = head if item == FUNERAL else staff["approver"]
    cases.decide(node, decider, no, outcome="approve", reason="符合条件")
    if state == "decided":
        return no
    cases.complete(node, clerk, no)
    if state == "completed":
        return no
    raise AssertionError(state)


@pytest.fixture
def node(edge_node, edge_staff):
    return edge_node


@pytest.fixture
def client(node):
    with client_for(node) as c:
        yield c


# --------------------------------------------------------------------------- sign-in


def test_login_page_and_redirects(client):
    first = client.get("/")
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/"
    page = client.get("/login")
    assert page.status_code == 200 and "工作人员登录" in page.text
    cookie = client.cookies.get("node_session")
    assert cookie
    sign_in(client, "clerk")
    header = client.get("/").headers
    assert "我的待办" in client.get("/").text
    assert "csrf_token" not in header.get("set-cookie", "")


def test_session_cookie_flags(client):
    response = client.get("/login")
    set_cookie = response.headers["set-cookie"].lower()
    assert "node_session=" in set_cookie and "httponly" in set_cookie
    assert "samesite=lax" in set_cookie and "secure" not in set_cookie   # plain HTTP LAN


def test_login_errors_and_throttle(client):
    token = csrf(client)
    empty = client.post("/login", data={"username": "", "password": "", "csrf_token": token})
    assert empty.status_code == 422 and "请填写用户名" in empty.text
    forged = client.post("/login", data={"username": "clerk", "password": "x",
                                         "csrf_token": "forged"})
    assert forged.status_code == 403 and "错误代码 403" in forged.text
    for _ in range(5):
        wrong = client.post("/login", data={"username": "clerk", "password": "wrong-pass",
                                            "csrf_token": token})
        assert wrong.status_code == 422 and "用户名或密码不正确" in wrong.text
    blocked = client.post("/login", data={"username": "clerk", "password": EDGE_STAFF_PASSWORD,
                                          "csrf_token": token})
    assert blocked.status_code == 429 and "秒后再试" in blocked.text
    assert "Retry-After" in blocked.headers
    # another account from the same terminal is not locked out
    assert client.post("/login", data={"username": "handler", "password": EDGE_STAFF_PASSWORD,
                                       "csrf_token": token}).status_code == 303


def test_login_next_is_local_only(client):
    token = csrf(client)
    response = client.post("/login", data={"username": "clerk", "next": "//evil.example/x",
                                           "password": EDGE_STAFF_PASSWORD, "csrf_token": token})
    assert response.headers["location"] == "/"


def test_deactivated_user_is_signed_out(client, node, edge_staff):
    sign_in(client, "clerk")
    queries.set_user_active(node.store, edge_staff["clerk"]["id"], False)
    assert client.get("/").status_code == 303


def test_logout(client):
    token = sign_in(client, "clerk")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 303


# --------------------------------------------------------------------------- work queue


def test_queue_sorted_with_overdue_and_newly_overdue_marks(client, node, edge_staff,
                                                            settable_clock):
    old = make_case(node, edge_staff, "accepted")            # 2026-02-12, due 02-26
    settable_clock.set(2026, 2, 25, 10, 0)
    newer = make_case(node, edge_staff, "accepted")          # due later
    sign_in(client, "reviewer")
    page = client.get("/").text
    assert page.index(old) < page.index(newer)
    assert "剩 1 个工作日" in page and "badge--warning" in page          # due tomorrow
    settable_clock.set(2026, 2, 27, 9, 0)                    # old is overdue since today
    sign_in(client, "reviewer")                              # (days later: a new session)
    page = client.get("/?f=newly").text
    assert old in page and newer not in page and "badge--newly-overdue" in page
    settable_clock.set(2026, 3, 10, 9, 0)                    # long overdue, seen before
    sign_in(client, "reviewer")
    client.get("/")
    settable_clock.set(2026, 3, 11, 9, 0)
    sign_in(client, "reviewer")
    assert old not in client.get("/?f=newly").text
    assert old in client.get("/?f=overdue").text


def test_queue_newly_overdue_since_previous_visit(client, node, edge_staff, settable_clock):
    case_no = make_case(node, edge_staff, "accepted")        # due 2026-02-26
    sign_in(client, "reviewer")
    client.get("/")                                          # visit on 02-12
    settable_clock.set(2026, 3, 16, 9, 0)                    # back weeks later
    sign_in(client, "reviewer")
    assert case_no in client.get("/?f=newly").text          # became overdue since then


def test_queue_is_per_role_and_htmx_partial(client, node, edge_staff):
    case_no = make_case(node, edge_staff, "accepted")        # waiting for the reviewer
    sign_in(client, "handler")
    assert case_no not in client.get("/").text
    client.cookies.clear()
    sign_in(client, "reviewer")
    partial = client.get("/?f=all", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="queue">') and case_no in partial.text
    assert "HX-Request" in partial.headers["vary"]
    client.cookies.clear()
    sign_in(client, "supervisor")
    assert case_no in client.get("/").text


def test_admin_lands_on_accounts(client):
    sign_in(client, "admin")
    assert client.get("/").headers["location"] == "/admin/users"


# --------------------------------------------------------------------------- intake


def test_intake_search_checklist_and_accept(client, node):
    token = sign_in(client, "clerk")
    found = client.get("/intake/items?q=殡葬", headers={"HX-Request": "true"})
    assert "困难群众基本殡葬服务费用减免" in found.text
    short = client.get("/intake/items?q=低保", headers={"HX-Request": "true"})
    assert "最低生活保障对象认定" in short.text and "殡葬" not in short.text
    form = client.get(f"/intake?item={FUNERAL}").text
    assert "必备" in form and "承诺时限" in form and "免费" in form
    response = client.post("/intake", data={
        "csrf_token": token, "item": FUNERAL, "kind": "person", "id_type": "resident_id",
        "name": "王小五", "id_no": "11010519491231002x", "phone": "13800138000",
        "materials": ["M1", "M2", "M3", "M4", "M5"], "outcome": "accept"})
    assert response.status_code == 303
    case_no = response.headers["location"].rsplit("/", 1)[1]
    assert node.store.case(case_no)["state"] == "accepted"
    page = client.get(response.headers["location"]).text
    assert "已受理" in page and "1101**********002X" in page and "11010519491231002X" not in page


def test_intake_field_errors_beside_fields(client, node):
    token = sign_in(client, "clerk")
    head = node.store.chain_head()
    bad_id = client.post("/intake", data={"csrf_token": token, "item": FUNERAL, "name": "王五",
                                          "id_no": "110105194912310021", "materials": ["M1"],
                                          "outcome": "accept"})
    assert bad_id.status_code == 422
    assert 'id="field-id_no-error"' in bad_id.text and "校验位" in bad_id.text
    missing = client.post("/intake", data={"csrf_token": token, "item": FUNERAL, "name": "王五",
                                           "id_no": PERSON["id_no"], "materials": ["M1"],
                                           "outcome": "accept"})
    assert missing.status_code == 422 and "必备材料不齐" in missing.text
    unknown = client.post("/intake", data={"csrf_token": token, "item": "NOPE-1",
                                           "name": "王五", "id_no": PERSON["id_no"]})
    assert unknown.status_code == 422 and "重新选择" in unknown.text
    too_long = client.post("/intake", data={"csrf_token": token, "item": FUNERAL,
                                            "name": "王" * 5000, "id_no": PERSON["id_no"]})
    assert too_long.status_code == 422 and "不能超过" in too_long.text
    refuse = client.post("/intake", data={"csrf_token": token, "item": FUNERAL, "name": "王五",
                                          "id_no": PERSON["id_no"], "outcome": "refuse"})
    assert refuse.status_code == 422 and "不予受理理由" in refuse.text
    assert node.store.chain_head() == head


def test_inline_validation(client):
    token = sign_in(client, "clerk")
    headers = {"X-CSRF-Token": token, "HX-Request": "true"}
    bad = client.post("/intake/check", data={"field": "id_no", "id_no": "123",
                                              "id_type": "resident_id"}, headers=headers)
    assert bad.status_code == 200 and "field-error" in bad.text
    good = client.post("/intake/check", data={"field": "id_no", "id_no": PERSON["id_no"]},
                       headers=headers)
    assert good.status_code == 200 and "格式正确" in good.text
    phone = client.post("/intake/check", data={"field": "phone", "phone": "12"},
                        headers=headers)
    assert "联系电话格式不正确" in phone.text


# --------------------------------------------------------------------------- case detail


def test_case_detail_timeline_deadline_and_actions(client, node, edge_staff):
    case_no = make_case(node, edge_staff, "accepted")
    sign_in(client, "reviewer")
    page = client.get(f"/cases/{case_no}").text
    assert "办理过程" in page and "受理" in page and "2026-02-26" in page
    assert "调休工作日" in page or "不计" in page                 # the explanation
    assert "办理“初审”环节" in page or "act/complete_step" in page
    assert "act/void" not in page                              # the head's, not mine


def test_supervisor_is_read_only(client, node, edge_staff):
    case_no = make_case(node, edge_staff, "accepted")
    token = sign_in(client, "supervisor")
    page = client.get(f"/cases/{case_no}").text
    assert "监察岗位只能查看" in page and "act/" not in page
    response = client.post(f"/cases/{case_no}/act/complete_step",
                           data={"csrf_token": token, "opinion": "x"})
    assert response.status_code == 403


def test_action_flow_with_htmx_and_plain_posts(client, node, edge_staff):
    case_no = make_case(node, edge_staff, "accepted")
    token = sign_in(client, "reviewer")
    empty = client.post(f"/cases/{case_no}/act/complete_step",
                        data={"csrf_token": token, "opinion": ""},
                        headers={"HX-Request": "true"})
    assert empty.status_code == 422 and "请填写办理意见" in empty.text
    assert empty.text.lstrip().startswith('<div id="case-main"')
    done = client.post(f"/cases/{case_no}/act/complete_step",
                       data={"csrf_token": token, "opinion": "材料属实", "outcome": "pass"},
                       headers={"HX-Request": "true"})
    assert done.status_code == 200 and "已完成" in done.text
    again = client.post(f"/cases/{case_no}/act/complete_step",
                        data={"csrf_token": token, "opinion": "再来一次"})
    assert again.status_code == 403                            # now the head's turn
    client.cookies.clear()
    token = sign_in(client, "head")
    decided = client.post(f"/cases/{case_no}/act/decide",
                          data={"csrf_token": token, "outcome": "approve", "reason": "同意"})
    assert decided.status_code == 303
    assert node.store.case(case_no)["state"] == "decided"
    illegal = client.post(f"/cases/{case_no}/act/extend",
                          data={"csrf_token": token, "reason": "太忙", "days": "10"})
    assert illegal.status_code == 409 and "不能进行此操作" in illegal.text   # illegal transition
    void = client.post(f"/cases/{case_no}/act/void", data={"csrf_token": token,
                                                           "reason": "重复录入"})
    assert void.status_code == 303 and node.store.case(case_no)["state"] == "voided"
    assert client.post(f"/cases/{case_no}/act/nope", data={"csrf_token": token}
                       ).status_code == 404
    assert client.post("/cases/NOPE/act/void", data={"csrf_token": token, "reason": "x"}
                       ).status_code == 404


def test_separation_of_duties_is_an_inline_409(client, node, edge_staff):
    clerk2 = edge_staff["clerk2"]                              # also an approver
    no = cases.intake(node, clerk2, item_code=ID_CARD, applicant=PERSON,
                      materials=["M1", "M2", "M3"], outcome="accept")["case"]
    cases.complete_step(node, edge_staff["reviewer"], no, opinion="ok")
    token = sign_in(client, "clerk2")
    response = client.post(f"/cases/{no}/act/decide", data={
        "csrf_token": token, "outcome": "approve", "reason": "同意"})
    assert response.status_code == 409 and "受理与审批分离" in response.text


# --------------------------------------------------------------------------- receipts


@pytest.mark.parametrize("state,kind,title", [
    ("accepted", "acceptance", "受理通知书"), ("supplement_requested", "supplement", "补正告知书"),
    ("refused", "refusal", "不予受理决定书"), ("completed", "completion", "办结通知")])
def test_receipts_have_a_qr_code_to_the_status_lookup(client, node, edge_staff, state, kind,
                                                      title):
    case_no = make_case(node, edge_staff, state)
    sign_in(client, "clerk")
    page = client.get(f"/cases/{case_no}/print/{kind}")
    assert page.status_code == 200 and title in page.text and "<svg" in page.text
    assert f"/kiosk/status?case={case_no}" in page.text and 'class="document"' in page.text
    assert "print.css" in page.text and "data-print" in page.text
    if kind == "supplement":
        item = node.store.catalogue().by_code(FUNERAL)
        for material in item["materials"][1:]:                  # M1 was brought
            assert material["name"] in page.text
        assert "一次性告知" in page.text
    other = "refusal" if kind != "refusal" else "completion"
    assert client.get(f"/cases/{case_no}/print/{other}").status_code == 404


# --------------------------------------------------------------------------- search


def test_search_by_number_name_and_id_masked(client, node, edge_staff):
    case_no = make_case(node, edge_staff, "accepted")
    sign_in(client, "handler")
    for q in (case_no, case_no[-6:], "王小", PERSON["id_no"], PERSON["id_no"][:10]):
        page = client.get("/search", params={"q": q})
        assert page.status_code == 200 and case_no in page.text, q
        assert PERSON["id_no"] not in page.text.replace(f"value=\"{q}\"", "")
        assert "1101**********002X" in page.text
    assert case_no not in client.get("/search?q=李").text
    assert client.get("/search", params={"q": "x" * 100}).status_code == 422
    partial = client.get("/search?q=王", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="search-results">')


# --------------------------------------------------------------------------- admin


def test_admin_creates_deactivates_and_resets(client, node):
    token = sign_in(client, "admin")
    created = client.post("/admin/users", data={"csrf_token": token, "username": "li",
                                                "name": "李四", "roles": ["clerk", "handler"]})
    assert created.status_code == 200 and "只显示这一次" in created.text
    shown = re.search(r'password-once">([^<]+)<', created.text).group(1)
    user = node.store.user_by_username("li")
    assert user["roles"] == ("clerk", "handler")
    dup = client.post("/admin/users", data={"csrf_token": token, "username": "li",
                                            "name": "李四", "roles": ["clerk"]})
    assert dup.status_code == 422 and "已存在" in dup.text
    no_role = client.post("/admin/users", data={"csrf_token": token, "username": "wang",
                                                "name": "王", "roles": []})
    assert no_role.status_code == 422 and "岗位" in no_role.text
    off = client.post(f"/admin/users/{user['id']}/active", data={"csrf_token": token,
                                                                 "active": "0"})
    assert off.status_code == 303 and not node.store.user(user["id"])["active"]
    me = node.store.user_by_username("admin")
    self_off = client.post(f"/admin/users/{me['id']}/active", data={"csrf_token": token,
                                                                    "active": "0"})
    assert self_off.status_code == 422 and "不能停用自己" in self_off.text
    reset = client.post(f"/admin/users/{user['id']}/password", data={"csrf_token": token})
    assert reset.status_code == 200 and "已重置" in reset.text
    assert shown not in reset.text


def test_admin_page_is_admins_only(client):
    token = sign_in(client, "head")
    assert client.get("/admin/users").status_code == 403
    assert client.post("/admin/users", data={"csrf_token": token}).status_code == 403


# --------------------------------------------------------------------------- self-service


def test_kiosk_guide_and_item(client):
    page = client.get("/kiosk?q=身份证")
    assert page.status_code == 200 and "居民身份证补领" in page.text
    assert "退出" not in page.text
    item = client.get("/kiosk/items/GA-GG-0002")
    assert item.status_code == 200 and "40.00 元" in item.text and "监督电话" in item.text
    assert client.get("/kiosk/items/NOPE").status_code == 404


def test_kiosk_status_lookup_masks_and_rate_limits(client, node, edge_staff):
    case_no = make_case(node, edge_staff, "supplement_requested")
    state = node.store.case(case_no)
    token = csrf(client, f"/kiosk/status?case={case_no}")
    assert f'value="{case_no}"' in client.get(f"/kiosk/status?case={case_no}").text
    found = client.post("/kiosk/status", data={"csrf_token": token, "case": case_no,
                                               "code": state["query_code"].lower()})
    assert found.status_code == 200 and "王*五" in found.text and "待补正" in found.text
    assert "王小五" not in found.text and PERSON["id_no"] not in found.text
    assert "居民身份证" in found.text or "请补正" in found.text
    wrong = client.post("/kiosk/status", data={"csrf_token": token, "case": case_no,
                                               "code": "ZZZZZZ"})
    assert wrong.status_code == 422 and "查询码不正确" in wrong.text
    statuses = [client.post("/kiosk/status", data={"csrf_token": token, "case": case_no,
                                                   "code": "ZZZZZZ"}).status_code
                for _ in range(12)]
    assert 429 in statuses
    assert client.post("/kiosk/status", data={"case": case_no, "code": "X"}).status_code == 403


def test_kiosk_rating_after_lookup_once_per_stage(client, node, edge_staff):
    """好差评 at the hall terminal: proven by the look-up, a reason for a 差评, once per
    stage, a signed evaluation.given event, and the next person starts from nothing."""
    case_no = make_case(node, edge_staff, "accepted")
    code = node.store.case(case_no)["query_code"]
    token = csrf(client, "/kiosk/status")
    found = client.post("/kiosk/status", data={"csrf_token": token, "case": case_no,
                                               "code": code})
    assert "评价本次服务" in found.text and "受理环节" in found.text
    assert "办结环节" not in found.text                   # not completed yet
    no_reason = client.post("/kiosk/rate", data={"csrf_token": token, "stage": "accept",
                                                 "level": "5", "text": " "})
    assert no_reason.status_code == 422 and "不满意时请写明原因" in no_reason.text
    early = client.post("/kiosk/rate", data={"csrf_token": token, "stage": "complete",
                                             "level": "1"})
    assert early.status_code == 422 and "尚未到办结环节" in early.text
    head = node.store.chain_head().seq
    rated = client.post("/kiosk/rate", data={"csrf_token": token, "stage": "accept",
                                             "level": "4", "text": "排队时间太长"})
    assert rated.status_code == 200 and "感谢您的评价" in rated.text and "不满意" in rated.text
    [event] = [e for e in node.store.iter_events() if e.seq > head]
    assert event.env["type"] == "evaluation.given" and event.env["case"] is None
    assert event.env["body"] == {"case": case_no, "stage": "accept", "level": 4,
                                 "text": "排队时间太长", "channel": "terminal"}
    # the terminal forgot the case: the next person must look their own case up
    again = client.post("/kiosk/rate", data={"csrf_token": token, "stage": "accept",
                                             "level": "1"})
    assert again.status_code == 422 and "请先用办件编号和查询码查询办件" in again.text
    # looked up again: the stage is rated, no form; rating it anyway is refused
    found = client.post("/kiosk/status", data={"csrf_token": token, "case": case_no,
                                               "code": code})
    assert "评价本次服务" not in found.text
    twice = client.post("/kiosk/rate", data={"csrf_token": token, "stage": "accept",
                                             "level": "1"})
    assert twice.status_code == 422 and "每个环节只能评价一次" in twice.text
    assert node.store.chain_head().seq == head + 1        # nothing else was written
    # the window sees the rating on the case page at once, off-line
    sign_in(client, "clerk")
    page = client.get(f"/cases/{case_no}").text
    assert 'id="ratings"' in page and "不满意" in page and "排队时间太长" in page


def test_restore_rebuilds_the_ratings_given_here(node, edge_staff):
    from edge_node.cases import evaluations
    from edge_node.sync.restore import rebuild_projections

    case_no = make_case(node, edge_staff, "accepted")
    evaluations.give(node, case_no, "accept", 2, None)
    rebuild_projections(node, keep_users=True)
    assert evaluations.open_stages(node, case_no) == []


# --------------------------------------------------------------------------- header


def test_sync_indicator_and_nav_on_every_staff_page(client, node, edge_staff):
    case_no = make_case(node, edge_staff, "accepted")
    sign_in(client, "clerk")
    for path in ("/", "/intake", "/search?q=王", f"/cases/{case_no}", "/sync",
                 f"/cases/{case_no}/print/acceptance", "/nope"):
        page = client.get(path).text
        assert 'class="sync-indicator' in page and "待上报" in page or "待同步" in page, path
        assert "我的待办" in page and "退出" in page, path


def test_queries_record_visit(node):
    assert queries.record_visit(node.store, "u1", date(2026, 2, 12)) is None
    assert queries.record_visit(node.store, "u1", date(2026, 2, 12)) is None
    assert queries.record_visit(node.store, "u1", date(2026, 2, 13)) == date(2026, 2, 12)
    assert queries.record_visit(node.store, "u1", date(2026, 2, 13)) == date(2026, 2, 12)


def test_templates_are_csp_clean():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "edge_node" / "templates"
    for path in root.rglob("*.html"):
        text = path.read_text("utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", text), path
        assert not re.search(r"\son[a-z]+=", text), path
        assert "style=" not in text and "<style" not in text, path
        assert "hx-on" not in text and "javascript:" not in text, path
