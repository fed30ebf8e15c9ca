"""The hub's public face (issue #8): dashboards and exports, the portal (status look-up,
好差评 with follow-up, consultations and complaints), notices to nodes with read receipts,
the /api/v1 data exchange with tokens and scopes, and bad input never giving a 5xx."""

from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from openpyxl import load_workbook
from starlette.routing import Route
from starlette.testclient import TestClient

from central_hub.api.openapi import openapi_document
from central_hub.projection.registry import rebuild_all, run_all
from central_hub.store import face as sql
from test_hub_core import Hub, TOWNSHIP, csrf, push_cases

PERIOD = "from=2026-01-01&to=2026-12-31"


@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path / "hub")
    push_cases(hub, "XZ-001", 6, org_unit=TOWNSHIP)
    push_cases(hub, "XZ-002", 3, until="accepted")
    run_all(hub.store)
    yield hub
    hub.close()


def query_code(hub, case_no: str) -> str:
    return hub.store.case_states([case_no])[case_no]["query_code"]


def portal_lookup(client, hub, case_no: str, code: str | None = None):
    return client.post("/portal/status", data={
        "csrf_token": csrf(client, "/portal/status"), "case_no": case_no,
        "query_code": query_code(hub, case_no) if code is None else code},
        follow_redirects=False)


def table_text(html: str, table_id: str) -> str:
    match = re.search(rf'id="{table_id}".*?</table>', html, re.S)
    assert match, table_id
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0)))


# --------------------------------------------------------------------------- dashboards


def test_dashboard_figures_follow_the_projection_and_drill_down(hub):
    totals = sql.totals(hub.store, since="2026-01-01", until="2026-12-31")[0]
    assert (totals["received"], totals["accepted"], totals["completed"]) == (9, 9, 6)
    assert totals["on_time"] == 6
    client = hub.client("admin")
    page = client.get(f"/dashboard?{PERIOD}")
    assert page.status_code == 200
    summary = table_text(page.text, "summary-table")
    assert " 9 9 0 6 100.0% " in summary
    # the charts are ECharts options in JSON blocks, the numbers also as tables
    assert 'data-chart="chart-nodes"' in page.text and 'id="chart-nodes"' in page.text
    assert "node-table" in page.text and "trend-table" in page.text
    # each figure links to the cases behind it
    link = re.search(r'href="(/dashboard/cases\?[^"]*metric=completed)"', page.text).group(1)
    drill = client.get(link.replace("&amp;", "&"))
    assert drill.status_code == 200
    assert len(set(re.findall(r'href="/cases/(XZ-[0-9-]+)"', drill.text))) == 6
    accepted_only = client.get(f"/dashboard/cases?{PERIOD}&metric=accepted&node=XZ-002")
    assert set(re.findall(r'href="/cases/(XZ-[0-9-]+)"', accepted_only.text)) == {
        f"XZ-002-0000{i}" for i in range(3)}
    # a rebuild gives the same facts
    before = hub.store.conn.execute("SELECT * FROM face_daily ORDER BY 1, 2, 3").fetchall()
    rebuild_all(hub.store)
    assert hub.store.conn.execute("SELECT * FROM face_daily ORDER BY 1, 2, 3").fetchall() == before


def test_dashboard_scope_follows_the_org_hierarchy(hub):
    page = hub.client("township").get(f"/dashboard?{PERIOD}")
    assert page.status_code == 200
    assert " 6 6 0 6 " in table_text(page.text, "summary-table")     # XZ-001 only
    dept = hub.client("mzviewer").get(f"/dashboard?{PERIOD}")
    assert dept.status_code == 200 and "summary-table" in dept.text


def test_stale_nodes_say_so_beside_their_figures(hub):
    hub.store.conn.execute("UPDATE nodes SET caught_up_at = '2026-01-01T09:00:00.000+08:00', "
                           "last_seen = '2026-01-01T09:00:00.000+08:00' WHERE code = 'XZ-002'")
    page = hub.client("admin").get(f"/dashboard?{PERIOD}")
    assert "天未同步" in table_text(page.text, "node-table")
    assert 'id="stale-warning"' in page.text


@pytest.mark.parametrize("query", ["from=2026-13-01", "from=2026-05-01&to=2026-01-01",
                                   "unit=nowhere", "node=NOPE", "item=XX", "from=2020-01-01"])
def test_bad_dashboard_filters_get_a_clear_message(hub, query):
    page = hub.client("admin").get(f"/dashboard?{query}")
    assert page.status_code == 400 and 'id="filter-error"' in page.text
    assert hub.client("admin").get(f"/dashboard/cases?{query}").status_code == 400
    assert hub.client("admin").get(f"/dashboard/cases?{PERIOD}&metric=x").status_code == 400


def test_csv_and_xlsx_exports(hub):
    client = hub.client("admin")
    response = client.get(f"/dashboard/export.csv?{PERIOD}&metric=completed")
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "办件编号" and len(rows) == 7
    response = client.get(f"/dashboard/export.xlsx?{PERIOD}&metric=received")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    values = list(sheet.values)
    assert values[0][0] == "办件编号" and len(values) == 10
    assert any(e.action == "dashboard.exported" for e in hub.store.audit_entries())


# --------------------------------------------------------------------------- portal


def test_status_lookup_needs_number_and_code_and_shows_only_a_masked_name(hub):
    citizen = TestClient(hub.app)
    assert portal_lookup(citizen, hub, "XZ-001-00001", "WRONG").status_code == 404
    assert portal_lookup(citizen, hub, "XZ-009-99999", "Q-99999").status_code == 404
    assert citizen.get("/portal/case/XZ-001-00001", follow_redirects=False).status_code == 303
    response = portal_lookup(citizen, hub, "XZ-001-00001")
    assert response.status_code == 303
    page = citizen.get(response.headers["location"])
    assert page.status_code == 200 and "张*丰" in page.text and "张三丰" not in page.text
    assert "510104199001011234" not in page.text
    # another browser has not verified the code
    assert TestClient(hub.app).get("/portal/case/XZ-001-00001",
                                   follow_redirects=False).status_code == 303


def test_status_lookup_is_rate_limited_per_client(hub):
    citizen = TestClient(hub.app)
    codes = [portal_lookup(citizen, hub, "XZ-001-00001", f"bad{i}").status_code
             for i in range(14)]
    assert 429 in codes and 500 not in codes


def test_bad_evaluation_is_followed_up_answered_and_rated_again(hub):
    hub.store.conn.execute("INSERT INTO face_settings VALUES ('evaluation.follow_up_days', '3', "
                           "'2026-01-01', 'test')")
    citizen = TestClient(hub.app)
    portal_lookup(citizen, hub, "XZ-001-00002")
    token = csrf(citizen, "/portal/status")
    # a bad evaluation needs a reason
    response = citizen.post("/portal/case/XZ-001-00002/evaluate",
                            data={"csrf_token": token, "stage": "complete", "level": "5"})
    assert response.status_code == 422 and "评价内容" in response.text
    response = citizen.post("/portal/case/XZ-001-00002/evaluate", data={
        "csrf_token": token, "stage": "complete", "level": "5", "text": "跑了三趟"},
        follow_redirects=False)
    assert response.status_code == 303
    _, rows = sql.evaluations(hub.store)
    (evaluation,) = rows
    assert evaluation["unit"] == TOWNSHIP and evaluation["follow_up_due"] > evaluation["day"]
    # once per case and stage
    again = citizen.post("/portal/case/XZ-001-00002/evaluate", data={
        "csrf_token": token, "stage": "complete", "level": "1"})
    assert again.status_code == 422 and "只能评价一次" in again.text
    # the unit answers; a viewer may not
    assert hub.client("viewer").post(f"/evaluations/{evaluation['id']}", data={
        "csrf_token": csrf(hub.client("viewer"), "/"), "answer": "已整改"}).status_code == 403
    staff = hub.client("staff")
    assert staff.post(f"/evaluations/{evaluation['id']}", data={
        "csrf_token": csrf(staff, "/"), "answer": "已约谈窗口并简化流程"},
        follow_redirects=False).status_code == 303
    page = citizen.get("/portal/case/XZ-001-00002")
    assert "已约谈窗口并简化流程" in page.text
    action = re.search(r'action="(/portal/case/[^"]+/follow-up/\d+)"', page.text).group(1)
    assert citizen.post(action, data={"csrf_token": token, "level": "2"},
                        follow_redirects=False).status_code == 303
    assert sql.evaluation(hub.store, evaluation["id"])["follow_up_level"] == 2
    assert citizen.post(action, data={"csrf_token": token, "level": "1"}).status_code == 422
    # the dashboard counts it
    page = hub.client("admin").get(f"/dashboard?{PERIOD}")
    assert "差评 1" in table_text(page.text, "summary-table")


def test_ratings_given_at_a_township_terminal_arrive_as_evaluations(hub):
    """evaluation.given events (好差评 at the centre's terminal) become evaluations with
    their channel and the portal's rules: a 差评 is owned and followed up, the first rating
    of a stage stands, and a rebuild adds nothing twice."""
    from central_hub.sync.simulated_node import SimulatedNode, enrol

    node = SimulatedNode("XZ-009")
    enrol(hub.client(), hub.ctx, node)
    hub.store.set_node_org_unit("XZ-009", TOWNSHIP)
    from central_hub.sync.simulated_node import _sample_item, append_case
    append_case(node, "XZ-009-00001", _sample_item(None, 0), until="delivered")
    node.append(type="evaluation.given", body={
        "case": "XZ-009-00001", "stage": "accept", "level": 4, "text": "排队太久",
        "channel": "terminal"})
    node.append(type="evaluation.given", body={
        "case": "XZ-009-00001", "stage": "complete", "level": 1, "text": None,
        "channel": "qr"})
    body = node.batch()
    assert hub.client().post("/sync/v1/push", content=body,
                             headers=node.push_request(body)).status_code == 200
    run_all(hub.store)
    rows = {r["stage"]: r for r in sql.case_evaluations(hub.store, "XZ-009-00001")}
    assert (rows["accept"]["channel"], rows["accept"]["level"]) == ("terminal", 4)
    assert rows["accept"]["unit"] == TOWNSHIP and rows["accept"]["follow_up_due"]
    assert rows["accept"]["item_code"] == "MZ-QR-0001" and rows["accept"]["node"] == "XZ-009"
    assert (rows["complete"]["channel"], rows["complete"]["follow_up_due"]) == ("qr", None)
    assert hub.store.content_flags("XZ-009")[node.events[-1].seq] == (1, None)
    # the staff's follow-up list shows it; the citizen cannot rate the stage again online
    assert "排队太久" in hub.client("staff").get("/evaluations?show=bad").text
    citizen = TestClient(hub.app)
    portal_lookup(citizen, hub, "XZ-009-00001")
    again = citizen.post("/portal/case/XZ-009-00001/evaluate", data={
        "csrf_token": csrf(citizen, "/portal/status"), "stage": "accept", "level": "1"})
    assert again.status_code == 422 and "只能评价一次" in again.text
    rebuild_all(hub.store)
    assert len(sql.case_evaluations(hub.store, "XZ-009-00001")) == 2


def test_a_case_not_yet_accepted_cannot_be_evaluated(hub, tmp_path):
    push_cases(hub, "XZ-003", 1, until="received")
    run_all(hub.store)
    citizen = TestClient(hub.app)
    portal_lookup(citizen, hub, "XZ-003-00000")
    response = citizen.post("/portal/case/XZ-003-00000/evaluate", data={
        "csrf_token": csrf(citizen, "/portal/status"), "stage": "complete", "level": "1"})
    assert response.status_code == 422


def test_guide_browse_and_search(hub):
    citizen = TestClient(hub.app)
    page = citizen.get("/portal/guide?q=最低生活")
    assert page.status_code == 200 and "MZ-QR-0001" in page.text
    short = citizen.get("/portal/guide?q=低保")           # what citizens call it
    assert "MZ-QR-0001" in short.text and "GA-GG-0002" not in short.text
    item = citizen.get("/portal/guide/MZ-QR-0001")
    for label in ("事项编码", "实施部门", "设定依据", "受理条件", "收费", "法定办结时限",
                  "承诺办结时限", "办理地点", "咨询电话", "监督电话"):
        assert label in item.text
    assert citizen.get("/portal/guide/NOPE").status_code == 404
    assert 'href="/gk"' in citizen.get("/portal").text


def test_consultations_and_complaints_have_number_owner_deadline_and_status(hub):
    citizen = TestClient(hub.app)
    token = csrf(citizen, "/portal/ask")
    bad = citizen.post("/portal/ask", data={"csrf_token": token, "kind": "complaint"})
    assert bad.status_code == 422 and "标题" in bad.text
    response = citizen.post("/portal/ask", data={
        "csrf_token": token, "kind": "complaint", "unit": TOWNSHIP, "subject": "窗口无人",
        "text": "上午十点窗口没有人", "name": "李四光", "contact": "13800001111"})
    assert response.status_code == 200
    number = re.search(r'id="interaction-no">([^<]+)<', response.text).group(1)
    row = sql.interaction(hub.store, number)
    assert row["state"] == "open" and row["owner"] == "青岚镇" and row["due_date"]
    status = citizen.get(f"/portal/ask/status?no={number}")
    assert "李*光" in status.text and "13800001111" not in status.text
    staff = hub.client("staff")
    assert staff.post(f"/interactions/{number}", data={
        "csrf_token": csrf(staff, "/"), "action": "close"}).status_code == 422
    assert staff.post(f"/interactions/{number}", data={
        "csrf_token": csrf(staff, "/"), "action": "answer", "note": "已安排专人值守"},
        follow_redirects=False).status_code == 303
    assert "已安排专人值守" in citizen.get(f"/portal/ask/status?no={number}").text
    # the township sees it, a department does not
    assert hub.client("township").get(f"/interactions/{number}").status_code == 200
    assert hub.client("mzviewer").get(f"/interactions/{number}").status_code == 404


def test_settings_are_validated(hub):
    admin = hub.client("admin")
    response = admin.post("/evaluations/settings", data={
        "csrf_token": csrf(admin, "/"), "evaluation.follow_up_days": "99",
        "interaction.due_days": "10"})
    assert response.status_code == 422 and "1 至 15" in response.text
    assert admin.post("/evaluations/settings", data={
        "csrf_token": csrf(admin, "/"), "evaluation.follow_up_days": "2",
        "interaction.due_days": "10"}, follow_redirects=False).status_code == 303
    assert sql.settings(hub.store)["evaluation.follow_up_days"] == "2"


# --------------------------------------------------------------------------- API


def issue(hub, scopes) -> str:
    admin = hub.client("secadmin")     # tokens are credentials: the security administrator
    page = admin.post("/admin/api-tokens", data={"csrf_token": csrf(admin, "/"),
                                                  "name": "省平台", "scopes": scopes})
    return re.search(r'id="issued-token">([^<]+)<', page.text).group(1)


def test_api_feeds_are_cursor_paginated_and_need_scoped_tokens(hub):
    token = issue(hub, ["cases:read", "events:read"])
    api = TestClient(hub.app)
    headers = {"Authorization": f"Bearer {token}"}
    seen, cursor = [], "0"
    while True:
        page = api.get(f"/api/v1/cases?cursor={cursor}&limit=4", headers=headers).json()
        seen += [c["case_no"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(seen) == len(set(seen)) == 9
    # nothing new after the last cursor; a case that changes comes again
    assert api.get(f"/api/v1/cases?cursor={cursor}", headers=headers).json()["items"] == []
    assert api.get("/api/v1/events?limit=5", headers=headers).json()["items"][0]["seq"] == 1
    assert api.get("/api/v1/evaluations", headers=headers).status_code == 403
    assert api.get("/api/v1/cases").status_code == 401
    assert api.get("/api/v1/cases", headers={"Authorization": "Bearer tsk_nope"}).status_code == 401
    assert api.get("/api/v1/cases?limit=0", headers=headers).status_code == 400
    one = api.get("/api/v1/cases/XZ-001-00001", headers=headers).json()
    assert one["item_type"] == "07" and one["channel"] == "1" and one["applicant_name"] == "张*丰"
    # revoking stops the token at once
    admin = hub.client("secadmin")
    token_id = sql.api_tokens(hub.store)[0]["id"]
    admin.post(f"/admin/api-tokens/{token_id}/revoke", data={"csrf_token": csrf(admin, "/")})
    assert api.get("/api/v1/cases", headers=headers).status_code == 401


def test_event_feed_is_masked_unless_the_token_has_the_personal_scope(hub):
    """Without personal:read the event feed carries masked projections (marked, unsigned)
    and writes no audit entry; with it the envelopes come byte-exact with their signature,
    they verify, and each read is audited (who, what, how many)."""
    from protocol.envelope import open_event
    from protocol.keys import PublicKey

    def verify_item(store, item) -> bool:
        key = PublicKey.from_hex(store.node(item["node"]).public_key)
        event = open_event(item["canonical"].encode("utf-8"), bytes.fromhex(item["signature"]),
                           key)
        return event.env == item["envelope"]

    api = TestClient(hub.app)
    plain = {"Authorization": f"Bearer {issue(hub, ['events:read'])}"}
    before = hub.store.audit_count(action="personal_data.read")
    page = api.get("/api/v1/events?limit=50", headers=plain)
    assert page.status_code == 200
    received = [i for i in page.json()["items"] if i["type"] == "case.received"]
    assert received and all(i["masked"] is True and "signature" not in i
                            and "canonical" not in i for i in page.json()["items"])
    assert "510104199001011234" not in page.text
    assert not any(f'"Q{i["case_no"][-6:]}"' in page.text for i in received)
    applicant = received[0]["envelope"]["body"]["applicant"]
    assert applicant["id_no"] == "5101**********1234" and applicant["name"] == "张*丰"
    assert set(received[0]["envelope"]["body"]["query_code"]) == {"*"}
    assert hub.store.audit_count(action="personal_data.read") == before

    full = {"Authorization": f"Bearer {issue(hub, ['events:read', 'personal:read'])}"}
    page = api.get("/api/v1/events?limit=50", headers=full)
    items = page.json()["items"]
    assert "510104199001011234" in page.text
    first = next(i for i in items if i["type"] == "case.received")
    assert first["masked"] is False
    assert first["envelope"]["body"]["query_code"] == "Q" + first["case_no"][-6:]
    assert all(verify_item(hub.store, i) for i in items)
    (entry,) = hub.store.audit_entries(action="personal_data.read")
    assert entry.actor.startswith("api-token:") and entry.target == "/api/v1/events"
    assert entry.details["items"] == len(items) and entry.details["token_name"] == "省平台"
    assert entry.details["with_personal_data"] == len([i for i in items if i["type"] in (
        "case.received",)])


def test_cli_token_gets_the_personal_scope_only_when_asked(hub):
    from click.testing import CliRunner
    from central_hub.cli import main
    plain = CliRunner().invoke(main, ["api-token", "add", str(hub.path), "--name", "省平台"])
    full = CliRunner().invoke(main, ["api-token", "add", str(hub.path), "--name", "审计接口",
                                     "--scope", "events:read", "--scope", "personal:read"])
    assert plain.exit_code == 0 and full.exit_code == 0, plain.output + full.output
    scopes = {t["name"]: t["scopes"].split() for t in sql.api_tokens(hub.store)}
    assert "personal:read" not in scopes["省平台"] and "events:read" in scopes["省平台"]
    assert scopes["审计接口"] == ["events:read", "personal:read"]


def test_openapi_document_matches_the_routes(hub):
    documented = {path for path in openapi_document()["paths"]}
    served = {r.path.replace(":path", "") for r in hub.app.routes
              if isinstance(r, Route) and r.path.startswith("/api/v1/")}
    assert served - {"/api/v1/openapi.json"} == documented
    assert TestClient(hub.app).get("/api/v1/openapi.json").json()["openapi"].startswith("3.")


# --------------------------------------------------------------------------- notices


def test_notices_reach_chosen_nodes_and_readings_come_back(hub, tmp_path):
    from edge_node.node import init_node
    from edge_node.notices.board import mark_read, notices_for
    from edge_node.sync.client import SyncClient
    from central_hub.sync.enrolment import issue_token

    nodes = {}
    for code in ("XZ-101", "XZ-102"):
        node, _ = init_node(tmp_path / code, code, f"{code}中心", admin_password="lantern-ridge-7294")
        client = SyncClient(node, http=TestClient(hub.app))
        client.enroll("http://testserver", issue_token(hub.store, hub.config, code, code, 72)[0])
        nodes[code] = (node, client)
    admin = hub.client("admin")
    bad = admin.post("/notices", data={"csrf_token": csrf(admin, "/"), "kind": "notice",
                                       "title": "x", "body": "正文", "scope": "all"})
    assert bad.status_code == 422
    for title, scope, chosen in (("全体通知", "all", []), ("仅一〇一", "chosen", ["XZ-101"])):
        response = admin.post("/notices", data={
            "csrf_token": csrf(admin, "/"), "kind": "notice", "title": title,
            "body": "请各中心做好安排", "scope": scope, "nodes": chosen}, follow_redirects=False)
        assert response.status_code == 303
    for node, client in nodes.values():
        client.sync_once()
    titles = {code: [n["title"] for n in notices_for(node, "admin")]
              for code, (node, _) in nodes.items()}
    assert titles == {"XZ-101": ["仅一〇一", "全体通知"], "XZ-102": ["全体通知"]}
    node, client = nodes["XZ-101"]
    user = node.store.user_by_username("admin")
    first = notices_for(node, user["id"])[-1]["id"]
    assert mark_read(node, first, {"id": user["id"], "role": "admin"})
    assert not mark_read(node, first, {"id": user["id"], "role": "admin"})
    client.sync_once()
    run_all(hub.store)
    page = admin.get(f"/notices/{first}")
    readers = table_text(page.text, "readers-table")
    assert "XZ-101 " + user["id"] in readers and "XZ-102 未读" in readers
    for node, client in nodes.values():
        node.close()


# --------------------------------------------------------------------------- bad input


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def test_random_input_to_public_and_face_routes_never_5xx(hub):
    citizen = TestClient(hub.app)
    staff = hub.client("admin")
    token = csrf(citizen, "/portal/status")
    portal_lookup(citizen, hub, "XZ-001-00001")
    posts = ["/portal/status", "/portal/case/XZ-001-00001/evaluate",
             "/portal/case/XZ-001-00001/follow-up/1", "/portal/ask"]
    gets = ["/dashboard", "/dashboard/cases", "/portal/guide", "/portal/ask/status",
            "/evaluations", "/interactions"]
    fields = st.sampled_from(["case_no", "query_code", "stage", "level", "text", "kind",
                              "subject", "name", "contact", "unit", "from", "to", "metric",
                              "node", "item", "q", "no", "page", "show", "state"])

    @settings(max_examples=80, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(url=st.sampled_from(posts + gets), form=st.dictionaries(fields, _text, max_size=6))
    def check(url, form):
        if url in gets:
            response = staff.get(url, params=form)
        else:
            response = citizen.post(url, data={**form, "csrf_token": token},
                                    follow_redirects=False)
        assert response.status_code < 500, (url, form, response.text[:300])

    check()
