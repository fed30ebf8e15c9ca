"""Disclosure end to end in one process: a township node drafts, reviews and publishes off-line;
its signed events are pushed to the hub's sync API; the hub projects them (portal, search,
attachments pending, alerts); citizens apply, staff reply, the applicant sees the status;
the annual report is computed from a fixture with known counts (page, XLSX, JSON, CLI)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from datetime import datetime

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from central_hub.app import create_app
from central_hub.operations.bootstrap import init_hub
from central_hub.cli import main as hub_main
from central_hub.config import HubConfig
from central_hub.disclosure import requests as reqs
from central_hub.disclosure.report import build_report
from central_hub.projection.registry import rebuild_all, run_all
from central_hub.sync.simulated_node import SimulatedNode, enrol
from central_hub.store import disclosure as hub_sql
from edge_node.disclosure import documents as nd
from edge_node.app import create_app as create_node_app
from edge_node.errors import PermissionDenied, TransitionError, ValidationError
from edge_node.views import disclosure as node_views
from protocol.batch import encode_batch
from protocol.calendar import SHANGHAI
from web.security import hash_password

from conftest import EDGE_STAFF_PASSWORD, SettableClock

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
STAFF_PASSWORD = "disclosure-pass-1"


@contextlib.contextmanager
def raises_zh(cls, text):
    with pytest.raises(cls) as err:
        yield err
    assert text in err.value.zh, err.value.zh


def csrf(client, url):
    page = client.get(url)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


class Hub:
    def __init__(self, path, clock):
        init_hub(path, "test-hub")
        self.clock = clock
        self.config = HubConfig.load(path, background_jobs=False, clock=clock)
        self.app = create_app(self.config)
        self.client = TestClient(self.app)
        self.ctx = self.app.state.hub
        self.store = self.ctx.store
        self.sims: dict[str, SimulatedNode] = {}

    def push(self, node) -> None:
        """Push the node's unacknowledged events through the sync API, then project."""
        sim = self.sims.get(node.code)
        if sim is None:
            sim = self.sims[node.code] = SimulatedNode(node.code, key=node.key)
            enrol(self.client, self.ctx, sim)
        events = node.store.unacked_events(1000)
        body = encode_batch(events)
        answer = self.client.post("/sync/v1/push", content=body,
                                  headers=sim.push_request(body, now=self.clock()))
        assert answer.status_code == 200, answer.text
        run_all(self.store)

    def login(self, username="gk", role="centre_staff"):
        if self.store.account(username) is None:
            self.store.add_user(username, hash_password(STAFF_PASSWORD), role,
                                self.config.now_ts(), "公开办")
        client = TestClient(self.app)
        token = csrf(client, "/login")
        client.post("/login", data={"username": username, "password": STAFF_PASSWORD,
                                    "csrf_token": token})
        return client


@pytest.fixture
def hub(tmp_path, settable_clock):
    settable_clock.set(2026, 3, 30, 10, 0)
    hub = Hub(tmp_path / "hub", settable_clock)
    yield hub
    hub.ctx.close()


def publish(node, staff, *, title="关于调整最低生活保障标准的通知", made_on="2026-03-02",
            genre="02", attachments=(), text="各村（社区）：现将低保标准调整如下。<b>加粗</b>"):
    state = nd.draft(node, staff["clerk"], {
        "title": title, "text": text, "made_on": made_on, "topic": "16", "genre": genre,
        "grouping": "06", "office": "社会事务办", "person": "李主任", "doc_no": "青镇发〔2026〕3号",
        "keywords": "低保 救助", "attachments": list(attachments)})
    nd.review(node, staff["reviewer"], state["doc"], "pass", "不涉密，同意公开")
    return nd.publish(node, staff["head"], state["doc"])


# --------------------------------------------------------------------------- node rules


def test_node_flow_rules(edge_node, edge_staff, settable_clock):
    settable_clock.set(2026, 3, 20, 9, 0)
    state = nd.draft(edge_node, edge_staff["clerk"], {
        "title": "工作动态", "text": "内容", "made_on": "2026-03-19", "topic": "01",
        "genre": "07", "grouping": "10", "office": "党政办", "person": "王五"})
    doc = state["doc"]
    with raises_zh(TransitionError, "保密审查"):
        nd.publish(edge_node, edge_staff["head"], doc)
    with pytest.raises(PermissionDenied):
        nd.review(edge_node, edge_staff["clerk"], doc, "pass", "同意")
    head_draft = nd.draft(edge_node, edge_staff["head"], {
        "title": "自审", "text": "x", "made_on": "2026-03-19", "topic": "01", "genre": "07",
        "grouping": "10", "office": "党政办", "person": "王五"})
    with raises_zh(TransitionError, "起草人以外"):
        nd.review(edge_node, edge_staff["head"], head_draft["doc"], "pass", "同意")
    nd.review(edge_node, edge_staff["reviewer"], doc, "fail", "含个人信息，请删除")
    with pytest.raises(TransitionError):
        nd.publish(edge_node, edge_staff["head"], doc)
    nd.draft(edge_node, edge_staff["clerk"], {**state["draft"]["meta"], "text": "已删除个人信息"},
             doc_id=doc)
    nd.review(edge_node, edge_staff["reviewer"], doc, "pass", "同意")
    published = nd.publish(edge_node, edge_staff["head"], doc)
    assert published["published"]["index_no"] == "TEST01/2026-00001"
    assert published["published"]["days_late"] == 0
    with raises_zh(TransitionError, "先起草"):
        nd.correct(edge_node, edge_staff["head"], doc, "改正错别字")
    with raises_zh(TransitionError, "规章或行政规范性文件"):
        nd.repeal(edge_node, edge_staff["head"], doc, "2026-03-20", "已废止")
    withdrawn = nd.withdraw(edge_node, edge_staff["head"], doc, "发布有误")
    assert withdrawn["state"] == "withdrawn" and len(withdrawn["history"]) == 6
    assert nd.rebuild_matches(edge_node, doc)
    with pytest.raises(ValidationError) as err:
        nd.store_attachment(edge_node, "a.pdf", b"MZ\x90\x00 an executable")
    assert "PDF、PNG 或 JPEG" in err.value.zh
    with pytest.raises(ValidationError):
        nd.draft(edge_node, edge_staff["clerk"], {**state["draft"]["meta"], "made_on": "2026-13-01"})


def test_node_screens_draft_with_upload_and_never_500(edge_node, edge_staff):
    app = create_node_app(edge_node.config, node=edge_node)
    app.router.routes[0:0] = node_views.routes(app.state.ui)
    client = TestClient(app, raise_server_exceptions=False)
    token = csrf(client, "/login")
    client.post("/login", data={"username": "clerk", "password": EDGE_STAFF_PASSWORD,
                                "csrf_token": token})
    token = csrf(client, "/disclosure/new")
    form = {"csrf_token": token, "title": "<script>alert(1)</script>公告", "made_on": "2026-02-10",
            "topic": "01", "genre": "05", "grouping": "10", "office": "党政办", "person": "赵六",
            "text": "见附件", "methods": "website"}
    bad = client.post("/disclosure/new", data=form,
                      files={"files": ("../../evil.pdf", b"<html>x</html>", "application/pdf")})
    assert bad.status_code == 422 and "PDF、PNG 或 JPEG" in bad.text
    ok = client.post("/disclosure/new", data=form, follow_redirects=False,
                     files={"files": ("..\\..\\扫描件.pdf", PDF, "application/pdf")})
    assert ok.status_code == 303, ok.text
    page = client.get(ok.headers["location"])
    assert "&lt;script&gt;" in page.text and "<script>alert" not in page.text
    assert "扫描件.pdf" in page.text
    for path in ("/disclosure/nope", "/disclosure/nope/edit"):
        assert client.get(path).status_code == 404
    assert client.post("/disclosure/x/act/publish", data={"csrf_token": token}).status_code in (403, 404)
    assert client.post("/disclosure/x/act/bogus", data={"csrf_token": token}).status_code in (403, 404)


# --------------------------------------------------------------------------- sync to the portal


def test_published_at_node_appears_on_portal_with_search_and_pending_attachment(
        hub, edge_node, edge_staff, settable_clock):
    settable_clock.set(2026, 3, 27, 9, 0)
    ref = nd.store_attachment(edge_node, "../标准表.pdf", PDF)
    state = publish(edge_node, edge_staff, attachments=[ref])
    late = publish(edge_node, edge_staff, title="2025年财政决算公开", made_on="2026-01-05", genre="09")
    settable_clock.set(2026, 3, 30, 10, 0)
    hub.push(edge_node)
    doc = hub_sql.document(hub.store, state["doc"])
    assert doc["state"] == "published" and doc["index_no"] == "TEST01/2026-00001"
    assert doc["office"] == "社会事务办" and doc["person"] == "李主任"

    listing = hub.client.get("/gk", params={"q": "低保"})
    assert "关于调整最低生活保障标准的通知" in listing.text
    assert hub.client.get("/gk", params={"q": "决算"}).text.count("/gk/doc/") == 1
    assert "/gk/doc/" not in hub.client.get("/gk", params={"q": "征地"}).text
    assert hub.client.get("/gk", params={"genre": "09"}).text.count("/gk/doc/") == 1
    assert hub.client.get("/gk", params={"from": "2027-01-01"}).text.count("/gk/doc/") == 0
    assert hub.client.get("/gk", params={"q": '"*', "from": "x", "page": "-3"}).status_code == 200

    page = hub.client.get(f"/gk/doc/{state['doc']}")
    assert page.status_code == 200
    assert "&lt;b&gt;加粗&lt;/b&gt;" in page.text and "<b>加粗" not in page.text
    assert "附件待传输" in page.text and "责任人" in page.text and "李主任" in page.text
    sha = ref["sha256"]
    assert hub.client.get(f"/gk/doc/{state['doc']}/attachments/{sha}").status_code == 404
    from central_hub.disclosure.attachments import receive_attachment
    receive_attachment(hub.store, hub.config.data_dir, PDF, hub.config.now_ts())
    download = hub.client.get(f"/gk/doc/{state['doc']}/attachments/{sha}")
    assert download.status_code == 200 and download.content == PDF
    assert "attachment;" in download.headers["content-disposition"]
    assert "附件待传输" not in hub.client.get(f"/gk/doc/{state['doc']}").text

    alerts = hub.store.alerts(alert_type="disclosure")
    assert [(a.rule_id, a.responsible_person) for a in alerts] == [("D-01", "李主任")]
    assert late["doc"] in alerts[0].details["subject"]
    # no content_invalid alert: the disclosure schemas are registered
    assert hub.store.alerts(alert_type="content_invalid") == []

    # rating, with a comment
    token = csrf(hub.client, f"/gk/doc/{state['doc']}")
    rated = hub.client.post(f"/gk/doc/{state['doc']}/rate",
                            data={"useful": "1", "comment": "很有用<script>", "csrf_token": token})
    assert rated.status_code == 200 and "感谢您的评价" in rated.text
    assert hub_sql.rating_summary(hub.store, state["doc"]) == {"useful": 1, "not_useful": 0,
                                                                "total": 1}
    assert hub.client.post(f"/gk/doc/{state['doc']}/rate",
                           data={"useful": "maybe", "csrf_token": token}).status_code == 422

    # correction keeps history; withdrawal hides the text but keeps the page
    nd.draft(edge_node, edge_staff["clerk"], {**state["published"]["meta"],
                                              "title": "关于调整最低生活保障标准的通知（更正）"},
             doc_id=state["doc"])
    nd.review(edge_node, edge_staff["reviewer"], state["doc"], "pass", "同意")
    nd.correct(edge_node, edge_staff["head"], state["doc"], "标题漏字")
    nd.withdraw(edge_node, edge_staff["head"], late["doc"], "误发")
    hub.push(edge_node)
    corrected = hub.client.get(f"/gk/doc/{state['doc']}")
    assert "（更正）" in corrected.text and "标题漏字" in corrected.text
    assert "TEST01/2026-00001" in corrected.text
    assert "已于" in hub.client.get(f"/gk/doc/{late['doc']}").text
    assert hub.client.get("/gk", params={"q": "决算"}).text.count("/gk/doc/") == 0
    before = hub_sql.document(hub.store, state["doc"])["data"]
    rebuild_all(hub.store)
    assert hub_sql.document(hub.store, state["doc"])["data"] == before
    assert hub.client.get("/gk/doc/no-such").status_code == 404


# --------------------------------------------------------------------------- requests


def test_request_on_portal_reply_and_status(hub, settable_clock):
    settable_clock.set(2026, 3, 2, 10, 0)
    token = csrf(hub.client, "/gk/apply")
    bad = hub.client.post("/gk/apply", data={"csrf_token": token, "body_code": "510829100",
                                             "applicant_type": "person", "applicant_name": "",
                                             "contact": "13800000000", "description": "x"})
    assert bad.status_code == 422 and "请填写姓名" in bad.text
    done = hub.client.post("/gk/apply", data={
        "csrf_token": token, "body_code": "510829100", "applicant_type": "person",
        "applicant_name": "张三丰", "contact": "13800000000",
        "description": "2025年青岚镇低保资金发放明细", "delivery": "email"})
    assert done.status_code == 200, done.text
    number = re.search(r'id="request-no">([^<]+)<', done.text).group(1)
    status = hub.client.get("/gk/status", params={"no": number.lower()})
    assert "办理中" in status.text and "2026-03-30" in status.text and "张*" in status.text
    assert "13800000000" not in status.text
    assert hub.client.get("/gk/status", params={"no": "GK20260302-AAAAAAAA"}).status_code == 404

    staff = hub.login()
    page = staff.get(f"/disclosure/requests/{number}")
    assert page.status_code == 200 and "2026-03-11" in page.text   # supplement notice due
    settable_clock.set(2026, 3, 20, 10, 0)
    staff = hub.login()                      # (18 days later: a new session)
    token = csrf(staff, f"/disclosure/requests/{number}")
    refused = staff.post(f"/disclosure/requests/{number}/act", data={
        "csrf_token": token, "type": "reply", "on": "2026-03-20", "reply_type": "refuse",
        "reason_code": "4", "reason": ""})
    assert refused.status_code == 422 and "请填写答复理由及依据" in refused.text
    extended = staff.post(f"/disclosure/requests/{number}/act", data={
        "csrf_token": token, "type": "extend", "on": "2026-03-20", "approver": "办公室主任",
        "reason": "涉及多个年度档案"})
    assert extended.status_code == 200
    assert "2026-04-28" in hub.client.get("/gk/status", params={"no": number}).text
    replied = staff.post(f"/disclosure/requests/{number}/act", data={
        "csrf_token": token, "type": "reply", "on": "2026-03-20", "reply_type": "partial",
        "reason": "涉及个人隐私的部分不予公开（条例第十五条）"})
    assert replied.status_code == 200
    status = hub.client.get("/gk/status", params={"no": number})
    assert "已答复" in status.text and "部分公开" in status.text and "第十五条" in status.text
    actions = hub_sql.request_actions(hub.store, number)
    assert [a["type"] for a in actions] == ["receive", "extend", "reply"]


def test_request_taken_in_at_a_township_window_offline_is_registered_at_the_hub(
        hub, edge_node, edge_staff, settable_clock):
    """依申请公开 at the township window: the clerk registers it off-line and prints the
    receipt; after the sync the hub holds it under the same number, received the day it
    was handed in (in person), and the applicant follows it on the portal."""
    settable_clock.set(2026, 3, 2, 10, 0)            # Monday: handed in at the window
    app = create_node_app(edge_node.config, node=edge_node)
    client = TestClient(app)
    token = csrf(client, "/login")
    client.post("/login", data={"username": "clerk", "password": EDGE_STAFF_PASSWORD,
                                "csrf_token": token})
    token = csrf(client, "/disclosure-requests/new")
    bad = client.post("/disclosure-requests/new", data={
        "csrf_token": token, "applicant_type": "person", "applicant_name": "王五",
        "contact": "电话", "description": "本镇2025年低保资金发放明细"})
    assert bad.status_code == 422 and "联系电话格式不正确" in bad.text
    done = client.post("/disclosure-requests/new", data={
        "csrf_token": token, "applicant_type": "person", "applicant_name": "王五",
        "contact": "13800000000", "description": "本镇2025年低保资金发放明细",
        "delivery": "pickup"}, follow_redirects=False)
    assert done.status_code == 303
    receipt = client.get(done.headers["location"])
    number = re.search(r'id="request-no">([^<]+)<', receipt.text).group(1)
    assert "2026年3月30日" in receipt.text                  # 20 working days
    assert "王*" in client.get("/disclosure-requests").text
    [event] = [e for e in edge_node.store.iter_events()
               if e.env["type"] == "disclosure.request_received"]
    assert event.env["body"]["request"] == number and event.env["case"] is None

    settable_clock.set(2026, 3, 5, 16, 0)            # the network is back on Thursday
    hub.push(edge_node)
    row = hub_sql.request(hub.store, number)
    assert row["channel"] == "in_person" and row["received_on"] == "2026-03-02"
    assert row["due_on"] == "2026-03-30" and row["body_code"] == edge_node.code
    status = hub.client.get("/gk/status", params={"no": number})
    assert status.status_code == 200 and "办理中" in status.text and "王*" in status.text
    rebuild_all(hub.store)                          # projected again: still one request
    assert [a["type"] for a in hub_sql.request_actions(hub.store, number)] == ["receive"]


def test_overdue_request_raises_alert(hub, settable_clock):
    settable_clock.set(2026, 3, 2, 10, 0)
    cal = reqs.CalendarCache().get(hub.store) if hasattr(reqs, "CalendarCache") else None
    from central_hub.calendar.service import current_calendar
    cal = current_calendar(hub.store)
    row = reqs.submit_request(hub.store, cal, hub.config.now(), {
        "body_code": "510829100", "body_name": "青岚镇", "applicant_type": "company",
        "applicant_name": "某公司", "contact": "0839-1234567", "description": "某项目批文"},
        channel="post", actor="gk", signed_for_on=datetime(2026, 3, 2).date())
    settable_clock.set(2026, 4, 1, 10, 0)
    reqs.supervise_open_requests(hub.store, cal, hub.config.now())
    alerts = hub.store.alerts(alert_type="disclosure")
    assert [(a.rule_id, a.details["days_late"]) for a in alerts] == [("D-02", 2)]
    assert alerts[0].details["subject"] == row["request_no"]
    reqs.supervise_open_requests(hub.store, cal, hub.config.now())
    assert hub.store.alerts(alert_type="disclosure")[0].occurrences == 2


# --------------------------------------------------------------------------- annual report


@pytest.fixture
def report_hub(hub, edge_node, edge_staff, settable_clock):
    """Known counts for TEST01 in 2026 (see the assertions)."""
    settable_clock.set(2026, 3, 10, 9, 0)
    publish(edge_node, edge_staff, title="规范性文件甲", made_on="2026-03-02", genre="02")
    old = publish(edge_node, edge_staff, title="规范性文件乙", made_on="2026-03-03", genre="02")
    nd.repeal(edge_node, edge_staff["head"], old["doc"], "2026-03-09", "被甲替代")
    publish(edge_node, edge_staff, title="工作动态", made_on="2026-03-09", genre="07")
    hub.push(edge_node)
    from central_hub.calendar.service import current_calendar
    cal = current_calendar(hub.store)
    base = {"body_code": "TEST01", "body_name": "测试镇", "contact": "13800000000",
            "description": "某信息", "applicant_name": "申请人"}
    settable_clock.set(2026, 12, 1, 9, 0)
    numbers = {}
    for key, applicant in (("a", "person"), ("b", "person"), ("c", "company"),
                           ("d", "legal_service"), ("e", "research")):
        numbers[key] = reqs.submit_request(hub.store, cal, hub.config.now(),
                                           {**base, "applicant_type": applicant},
                                           channel="in_person", actor="gk")["request_no"]
    reply = lambda no, **kw: reqs.act(hub.store, cal, hub.config.now(), no,  # noqa: E731
                                      {"type": "reply", "on": "2026-12-01", **kw}, actor="gk")
    reply(numbers["a"], reply_type="grant")
    reply(numbers["b"], reply_type="refuse", reason_code="6", reason="属于过程性信息，依据条例第十六条")
    reply(numbers["c"], reply_type="unavailable", reason_code="1", reason="本机关不掌握该信息")
    reply(numbers["d"], reply_type="partial", reason="部分涉及商业秘密")
    # e stays open: carried over to next year
    conn = hub.store.conn
    with hub.store.transaction():
        for no, item_type in (("C1", "01"), ("C2", "01"), ("C3", "02"), ("C4", "03"),
                              ("C5", "20")):
            conn.execute("INSERT INTO cases (case_no, node, state, item_type, decision, "
                         "completed_at) VALUES (?, 'TEST01', 'completed', ?, 'approve', "
                         "'2026-05-06T10:00:00.000+08:00')", (no, item_type))
        conn.execute("INSERT INTO case_fees (node, seq, case_no, kind, amount_fen, at) VALUES "
                     "('TEST01', 1, 'C1', 'charged', 1500000, '2026-05-06T10:00:00.000+08:00')")
        conn.execute("INSERT INTO case_fees (node, seq, case_no, kind, amount_fen, at) VALUES "
                     "('TEST01', 2, 'C1', 'refunded', 100000, '2026-05-07T10:00:00.000+08:00')")
    hub_sql.add_appeal(hub.store, "TEST01", 2026, "reconsideration", "corrected", "", "gk",
                       hub.config.now_ts())
    hub_sql.add_appeal(hub.store, "TEST01", 2026, "litigation_direct", "pending", "", "gk",
                       hub.config.now_ts())
    hub_sql.set_report_text(hub.store, "TEST01", 2026, "overview", "全年主动公开信息3条。", "gk",
                            hub.config.now_ts())
    return hub


def _assert_known_cells(report):
    assert report["proactive"]["normative"] == {"issued": 2, "repealed": 1, "in_force": 1}
    assert report["proactive"]["rules"] == {"issued": 0, "repealed": 0, "in_force": 0}
    assert report["proactive"]["license"]["decisions"] == 2
    assert report["proactive"]["penalty"]["decisions"] == 1
    assert report["proactive"]["enforcement"]["decisions"] == 1
    assert report["proactive"]["fees"]["amount_wan"] == "1.4000"
    rows = report["requests"]["rows"]
    assert rows["new"] == {"person": 2, "company": 1, "research": 1, "public_interest": 0,
                           "legal_service": 1, "other_org": 0, "total": 5}
    assert rows["grant"]["person"] == 1 and rows["refuse.6"]["person"] == 1
    assert rows["unavailable.1"]["company"] == 1 and rows["partial"]["legal_service"] == 1
    assert rows["total"]["total"] == 4 and rows["carried_out"]["research"] == 1
    assert rows["carried_in"]["total"] == 0
    assert report["appeals"]["reconsideration"] == {"upheld": 0, "corrected": 1, "other": 0,
                                                    "pending": 0, "total": 1}
    assert report["appeals"]["litigation_direct"]["pending"] == 1
    assert report["overview"] == "全年主动公开信息3条。" and report["consistency"] == []


def test_annual_report_known_counts_page_xlsx_json(report_hub):
    hub = report_hub
    _assert_known_cells(build_report(hub.store, 2026, "TEST01"))
    staff = hub.login()
    assert staff.get("/disclosure/report.json", params={"body": "TEST01"}).json()["year"] == 2026
    _assert_known_cells(staff.get("/disclosure/report.json",
                                  params={"body": "TEST01", "year": "2026"}).json())
    page = staff.get("/disclosure/report", params={"body": "TEST01", "year": "2026"})
    assert page.status_code == 200 and "三、收到和处理政府信息公开申请情况" in page.text
    assert "法律服务机构" in page.text and "结转下年度继续办理" in page.text
    printable = staff.get("/disclosure/report/print", params={"body": "TEST01", "year": "2026"})
    assert "data-print" in printable.text
    xlsx = staff.get("/disclosure/report.xlsx", params={"body": "TEST01", "year": "2026"})
    from openpyxl import load_workbook
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    cells = {ws.cell(r, 1).value: [ws.cell(r, c).value for c in range(2, 9)]
             for r in range(1, ws.max_row + 1)}
    assert cells["行政规范性文件"][:3] == [2, 1, 1]
    assert cells["一、本年新收政府信息公开申请数量"] == [2, 1, 1, 0, 1, 0, 5]
    assert cells["行政事业性收费"][0] == pytest.approx(1.4)
    assert staff.get("/disclosure").status_code == 200
    assert staff.get("/disclosure/catalogue").status_code == 200
    assert staff.get("/disclosure/appeals", params={"body": "TEST01"}).status_code == 200
    assert hub.client.get("/disclosure/report.json",
                          follow_redirects=False).status_code == 303


def test_cli_report_json(report_hub):
    hub = report_hub
    result = CliRunner().invoke(hub_main, ["disclosure-report", str(hub.config.data_dir),
                                           "--year", "2026", "--body", "TEST01", "--json"])
    assert result.exit_code == 0, result.output
    _assert_known_cells(json.loads(result.output))
    text = CliRunner().invoke(hub_main, ["disclosure-report", str(hub.config.data_dir),
                                         "--year", "2026", "--body", "TEST01"])
    assert text.exit_code == 0 and "行政规范性文件：本年制发 2" in text.output
    bad = CliRunner().invoke(hub_main, ["disclosure-report", str(hub.config.data_dir),
                                        "--year", "1900", "--body", "TEST01"])
    assert bad.exit_code == 1 and "年份" in bad.output


def test_catalogue_gap_flagged(hub, settable_clock):
    settable_clock.set(2026, 4, 15, 9, 0)
    staff = hub.login(role="system_admin", username="admin2")
    token = csrf(staff, "/disclosure/catalogue")
    added = staff.post("/disclosure/catalogue", data={
        "csrf_token": token, "body_code": "510829100", "code": "CZYS", "name": "财政预算执行",
        "period": "quarterly"})
    assert added.status_code == 200
    page = staff.get("/disclosure/catalogue", params={"year": "2026"})
    assert "财政预算执行" in page.text and "2026年第1季度未发布信息" in page.text


def test_township_staff_see_only_their_own_bodies_requests(hub, settable_clock):
    """A request (with the applicant's phone) to one township is neither listed nor opened
    nor acted on by the staff of another township; the county sees both."""
    from central_hub.orgs.service import add_unit
    settable_clock.set(2026, 3, 2, 10, 0)
    add_unit(hub.store, hub.config.now_ts(), code="510829101", name="白鹤乡", kind="township",
             parent="510829")
    numbers = {}
    for body, phone in (("510829100", "13811112222"), ("510829101", "13933334444")):
        token = csrf(hub.client, "/gk/apply")
        done = hub.client.post("/gk/apply", data={
            "csrf_token": token, "body_code": body, "applicant_type": "person",
            "applicant_name": "张三丰", "contact": phone, "description": "低保资金发放明细",
            "delivery": "email"})
        assert done.status_code == 200, done.text
        numbers[body] = re.search(r'id="request-no">([^<]+)<', done.text).group(1)
    for username, role in (("viewer-a", "viewer"), ("staff-a", "centre_staff")):
        hub.store.add_user(username, hash_password(STAFF_PASSWORD), role, hub.config.now_ts(),
                           "青岚镇", "510829100")
        client = hub.login(username)
        listed = client.get("/disclosure/requests")
        assert listed.status_code == 200
        assert numbers["510829100"] in listed.text
        assert numbers["510829101"] not in listed.text and "13933334444" not in listed.text
        assert numbers["510829101"] not in client.get(
            "/disclosure/requests", params={"body": "510829101"}).text
        dashboard = client.get("/disclosure")
        assert dashboard.status_code == 200 and numbers["510829101"] not in dashboard.text
        own = client.get(f"/disclosure/requests/{numbers['510829100']}")
        assert own.status_code == 200 and "13811112222" in own.text
        viewed = hub.store.audit_entries(actor=username, action="personal_data.viewed")
        assert [e.target for e in viewed] == [numbers["510829100"]]
        other = client.get(f"/disclosure/requests/{numbers['510829101']}")
        assert other.status_code == 404 and "13933334444" not in other.text
        if role == "centre_staff":
            token = csrf(client, f"/disclosure/requests/{numbers['510829100']}")
            acted = client.post(f"/disclosure/requests/{numbers['510829101']}/act", data={
                "csrf_token": token, "type": "extend", "on": "2026-03-02",
                "approver": "主任", "reason": "理由"})
            assert acted.status_code == 404
    assert [a["type"] for a in hub_sql.request_actions(hub.store, numbers["510829101"])] \
        == ["receive"]
    county = hub.login("county-viewer", "viewer")
    listed = county.get("/disclosure/requests").text
    assert numbers["510829100"] in listed and numbers["510829101"] in listed
    assert county.get(f"/disclosure/requests/{numbers['510829101']}").status_code == 200
