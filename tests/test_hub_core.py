"""County hub core (issue #7): case projection and rebuild, org hierarchy and permissions,
accounts, catalogue review and publication, calendar management, audit, backup/restore,
every route with every role, and random form data on every POST route."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import threading
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from central_hub.catalogue import service as wf
from central_hub.accounts.service import ROLES, create_account
from central_hub.app import create_app
from central_hub.operations.bootstrap import init_hub
from central_hub.calendar.service import check_notice, current_calendar, publish_notice
from central_hub.catalogue.io import export_json, export_xlsx, import_json, import_xlsx
from central_hub.cli import main
from central_hub.config import HubConfig
from central_hub.jobs import run_background_once
from central_hub.projection.registry import rebuild_all, run_all
from central_hub.sync.simulated_node import SimulatedNode, _sample_item, append_case, enrol
from protocol.calendar import Calendar, YearNotice
from protocol.config_docs import CONFIG_CATALOGUE, verify_config

from _hostile import DEEP_JSON, HOSTILE, every_route, fill_path, query_names

PASSWORD = "correct-horse-1"
COUNTY, TOWNSHIP, VILLAGE, MZ = "510829", "510829100", "510829100201", "510829-MZ"
USERS = {  # username -> (role, org unit)
    "staff": ("centre_staff", COUNTY), "mzdept": ("dept_reviewer", MZ),
    "legal": ("legal_reviewer", "510829-SF"), "secrecy": ("secrecy_reviewer", "510829-BM"),
    "super": ("supervisor", COUNTY), "viewer": ("viewer", COUNTY),
    "township": ("viewer", TOWNSHIP), "mzviewer": ("viewer", MZ),
}


class Hub:
    def __init__(self, path):
        result = init_hub(path, "test-hub")
        self.path = path
        self.admin_password = result.admin_password
        # the three administrators init creates (三权分立): admin (system), secadmin, auditadmin
        self.admin_passwords = dict(result.admins.values())
        self.config = HubConfig.load(path, background_jobs=False)
        self.app = create_app(self.config)
        self.ctx = self.app.state.hub
        self.store = self.ctx.store
        now = self.config.now_ts()
        for username, (role, unit) in USERS.items():
            create_account(self.store, now, username=username, password=PASSWORD, role=role,
                           org_unit=unit)
        self.clients: dict[str, TestClient] = {}

    def client(self, username: str | None = None) -> TestClient:
        key = username or ""
        if key not in self.clients:
            client = TestClient(self.app)
            if username:
                login(client, username, self.admin_passwords.get(username, PASSWORD))
            self.clients[key] = client
        return self.clients[key]

    def close(self):
        for client in self.clients.values():
            client.close()
        self.ctx.close()


def csrf(client: TestClient, url: str = "/login") -> str:
    page = client.get(url)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, (url, page.status_code)
    return match.group(1)


def login(client, username, password):
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def post(client, url, data=None, files=None, token_from="/"):
    data = dict(data or {})
    data["csrf_token"] = csrf(client, token_from)
    return client.post(url, data=data, files=files, follow_redirects=False)


@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path / "hub")
    yield hub
    hub.close()


def push_cases(hub, node_code, n, start=0, until="delivered", org_unit=None, **kwargs):
    node = SimulatedNode(node_code)
    enrol(hub.client(), hub.ctx, node)
    if org_unit:
        hub.store.set_node_org_unit(node_code, org_unit)
    for k in range(start, start + n):
        append_case(node, f"{node_code}-{k:05d}", _sample_item(None, k), until=until, **kwargs)
    body = node.batch()
    response = hub.client().post("/sync/v1/push", content=body, headers=node.push_request(body))
    assert response.status_code == 200, response.text
    return node


# --------------------------------------------------------------------------- projection


def test_cases_are_projected_from_the_log_with_lifecycle_and_hub_calendar(hub):
    push_cases(hub, "XZ-001", 6, until="delivered")
    push_cases(hub, "XZ-002", 3, until="accepted")
    run_all(hub.store)
    total, rows = hub.store.cases(limit=100)
    assert total == 9
    by_state = {r["case_no"]: r for r in rows}
    done = by_state["XZ-001-00000"]
    assert done["state"] == "delivered" and done["item_code"] == "MZ-QR-0001"
    assert done["applicant_masked"] == "张*丰"
    assert done["due_date"] and done["due_confirmed"] == 1 and done["calendar_version"] == 1
    steps = hub.store.case_steps("XZ-001-00000")
    assert [s[1] for s in steps][0] == "S2"
    assert all(r["state"] == "accepted" for r in rows if r["node"] == "XZ-002")
    flags = hub.store.content_flags("XZ-001")
    assert all(ok == 1 for ok, _ in flags.values()), flags


def test_rebuild_gives_identical_projections(hub):
    node = push_cases(hub, "XZ-001", 10, until="accepted")
    run_all(hub.store, batch=7)
    # more events after a first projection, and a calendar change in between
    for k in range(10, 14):
        append_case(node, f"XZ-001-{k:05d}", _sample_item(None, k))
    body = node.batch(hub.store.node("XZ-001").acked_seq + 1)
    assert hub.client().post("/sync/v1/push", content=body,
                             headers=node.push_request(body)).status_code == 200
    notice, _, _ = check_notice(hub.store, "2027", "国办发明电〔2026〕9号",
                                "2027-01-01\n2027-02-08 至 2027-02-14", "2027-02-06")
    publish_notice(hub.store, hub.ctx.identity, hub.config, notice, "admin")
    run_all(hub.store, batch=5)
    before = hub.store.projection_digest()
    rebuild_all(hub.store)
    assert hub.store.projection_digest() == before
    result = CliRunner().invoke(main, ["rebuild", str(hub.path), "--check"])
    assert result.exit_code == 0, result.output
    assert "identical" in result.output
    # progress on stderr: each projector reports when it reaches the end of the log
    last = f"{hub.store.last_position():,}/{hub.store.last_position():,} events (100 %)"
    for name in ("node_stats", "content", "supervision"):
        assert f"rebuild: {name} {last}" in result.stderr, result.stderr


def test_content_oddities_are_findings_not_refusals(hub):
    node = SimulatedNode("XZ-009")
    enrol(hub.client(), hub.ctx, node)
    append_case(node, "ODD-1", _sample_item(None, 0), until="received")
    node.append(type="case.completed", case="ODD-1",
                body={"actor": {"id": "x", "role": "clerk"}})      # illegal transition
    body = node.batch()
    assert hub.client().post("/sync/v1/push", content=body,
                             headers=node.push_request(body)).status_code == 200
    run_all(hub.store)
    assert hub.store.case("ODD-1")["state"] == "completed"
    assert hub.store.alerts(alert_type="content_invalid")


# --------------------------------------------------------------------------- calendar


def test_calendar_change_recomputes_open_deadlines_and_records_them(hub):
    hub.config = hub.ctx.config
    node = SimulatedNode("XZ-001")
    node.clock = node.clock.replace(year=2026, month=12, day=21)
    enrol(hub.client(), hub.ctx, node)
    for k in range(3):
        append_case(node, f"C-{k}", _sample_item(None, 5), until="accepted")   # 20 days
    append_case(node, "C-done", _sample_item(None, 5), until="completed")
    body = node.batch()
    assert hub.client().post("/sync/v1/push", content=body,
                             headers=node.push_request(body)).status_code == 200
    run_all(hub.store)
    before = hub.store.case("C-0")
    assert before["due_confirmed"] == 0          # runs into 2027, not entered yet
    notice, proposed, summary = check_notice(
        hub.store, "2027", "国办发明电〔2026〕9号",
        "2027-01-01 至 2027-01-03\n2027-02-05 至 2027-02-11", "2027-02-14")
    assert summary.days == 365 and summary.working_days + summary.weekend_days \
        + summary.holidays_on_weekdays + summary.holidays_on_weekends == 365
    result = publish_notice(hub.store, hub.ctx.identity, hub.config, notice, "admin")
    after = hub.store.case("C-0")
    assert after["due_confirmed"] == 1 and after["calendar_version"] == result.version
    assert after["due_date"] > before["due_date"]        # New Year's Day is now a holiday
    changes = hub.store.deadline_changes("C-0")
    assert len(changes) == 1 and changes[0].before_due == before["due_date"]
    assert changes[0].after_due == after["due_date"] and changes[0].calendar_after == 2
    assert not hub.store.deadline_changes("C-done")    # closed: recomputed, not recorded
    assert result.changes_recorded == 3
    # nodes receive it as signed config
    doc = json.loads(hub.store.config("config.calendar").canonical)
    assert Calendar.from_document(doc["body"]["content"]).knows_year(2027)
    assert hub.store.audit_entries(action="calendar.published")


def test_calendar_entry_is_checked_with_field_messages(hub):
    client = hub.client("admin")
    response = post(client, "/calendar/check", {"year": "2027", "source": "国办发明电〔2026〕9号",
                                                "holidays": "2028-01-01", "workdays": ""})
    assert response.status_code == 422
    assert "不在 2027 年内" in response.text
    response = post(client, "/calendar/check", {"year": "2027", "source": "x",
                                                "holidays": "2027-01-01",
                                                "workdays": "2027-01-04"})
    assert response.status_code == 422 and "只能是周六或周日" in response.text
    response = post(client, "/calendar/check", {"year": "2027", "source": "国办发明电〔2026〕9号",
                                                "holidays": "2027-13-01", "workdays": ""})
    assert response.status_code == 422 and "不是存在的日期" in response.text
    response = post(client, "/calendar/check", {"year": "2027", "source": "国办发明电〔2026〕9号",
                                                "holidays": "2027-01-01", "workdays": ""})
    assert response.status_code == 200 and "每一天均已归类" in response.text
    response = post(client, "/calendar/publish", {"year": "2027", "source": "国办发明电〔2026〕9号",
                                                  "holidays": "2027-01-01", "workdays": ""})
    assert response.status_code == 303
    assert current_calendar(hub.store).knows_year(2027)
    assert post(hub.client("viewer"), "/calendar/publish",
                {"year": "2028", "source": "x", "holidays": "2028-01-01"}).status_code == 403


def test_cli_calendar_due(hub):
    result = CliRunner().invoke(main, ["calendar", "due", "--from", "2026-02-12",
                                       "--working-days", "5", str(hub.path)])
    assert result.exit_code == 0, result.output
    assert "due: 2026-02-26" in result.output and "confirmed: yes" in result.output
    assert "调休工作日" in result.output
    result = CliRunner().invoke(main, ["calendar", "due", "--from", "2026-12-28",
                                       "--working-days", "10"])
    assert "confirmed: no" in result.output and "待确认" in result.output
    result = CliRunner().invoke(main, ["calendar", "due", "--from", "2026-02-30",
                                       "--working-days", "5"])
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output


# --------------------------------------------------------------------------- catalogue


def draft_change(client, code="MZ-QR-0001", **changes):
    page = client.get(f"/catalogue/drafts/new?code={code}")
    assert page.status_code == 200
    fields = dict(re.findall(r'<input class="field__control" id="field-(\w+)" name="\w+" '
                             r'type="text" value="([^"]*)"', page.text))
    for name, value in re.findall(r'<textarea class="field__control" id="field-(\w+)" '
                                  r'name="\w+" rows="\d+"[^>]*>([^<]*)</textarea>', page.text):
        fields[name] = value
    for name, value in re.findall(r'<select class="field__control" id="field-(\w+)".*?'
                                  r'<option value="([^"]*)" selected', page.text, re.S):
        fields[name] = value
    import html
    fields = {k: html.unescape(v) for k, v in fields.items()}
    for name in re.findall(r'name="(\w+)" type="checkbox" value="1" checked', page.text):
        fields[name] = "1"
    fields.update(changes)
    return post(client, "/catalogue/drafts", fields)


def test_catalogue_review_workflow_publishes_a_signed_version(hub):
    response = draft_change(hub.client("mzdept"), phone="0839-6620000")
    assert response.status_code == 303, response.text
    draft_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert post(hub.client("mzdept"), f"/catalogue/drafts/{draft_id}/submit").status_code == 303
    # the secrecy reviewer may not act before the legal review
    assert post(hub.client("secrecy"), f"/catalogue/drafts/{draft_id}/review",
                {"decision": "pass"}).status_code == 403
    # a return needs reasons
    response = post(hub.client("legal"), f"/catalogue/drafts/{draft_id}/review",
                    {"decision": "return", "opinion": ""})
    assert response.status_code == 422 and "必须写明理由" in response.text
    assert post(hub.client("legal"), f"/catalogue/drafts/{draft_id}/review",
                {"decision": "return", "opinion": "设定依据缺条款号"}).status_code == 303
    assert hub.store.draft(draft_id).state == "returned"
    assert post(hub.client("mzdept"), f"/catalogue/drafts/{draft_id}/submit").status_code == 303
    for who in ("legal", "secrecy", "staff"):
        response = post(hub.client(who), f"/catalogue/drafts/{draft_id}/review",
                        {"decision": "pass", "opinion": "同意"})
        assert response.status_code == 303, (who, response.text)
    draft = hub.store.draft(draft_id)
    assert draft.state == "published" and draft.catalogue_version == 2
    reviews = hub.store.reviews(draft_id)
    assert [(r.stage, r.decision) for r in reviews] == [
        ("draft", "submit"), ("legal_review", "return"), ("returned", "submit"),
        ("legal_review", "pass"), ("secrecy_review", "pass"), ("centre_approval", "pass")]
    assert all(r.reviewer and r.at for r in reviews)
    versions = hub.store.item_versions("MZ-QR-0001")
    assert [v.item_version for v in versions] == [1, 2]
    assert wf.diff_items(versions[0].content, versions[1].content)[0].path == "phone"
    page = hub.client("viewer").get("/catalogue/items/MZ-QR-0001?a=1&b=2")
    assert "0839-6620000" in page.text
    # a node fetches the signed document
    node = SimulatedNode("XZ-001")
    enrol(hub.client(), hub.ctx, node)
    path = f"/sync/v1/config/{CONFIG_CATALOGUE}"
    wire = hub.client().get(path, headers=node.headers("GET", path)).json()
    doc = verify_config(wire, hub.ctx.identity.signing_key.public, CONFIG_CATALOGUE)
    assert doc.version == 2
    item = next(i for i in doc.content["items"] if i["code"] == "MZ-QR-0001")
    assert item["phone"] == "0839-6620000"


def test_department_reviewer_drafts_only_own_items_and_errors_name_the_field(hub):
    response = draft_change(hub.client("mzdept"), code="GA-GG-0001")
    assert response.status_code == 403
    response = draft_change(hub.client("mzdept"), flow="S1 | 受理 | clerk | township | 50")
    assert response.status_code == 422 and "办理流程" in response.text and "100" in response.text
    response = draft_change(hub.client("mzdept"), committed_days="abc")
    assert response.status_code == 422 and "承诺办结时限" in response.text
    response = draft_change(hub.client("mzdept"), materials="M1 | 名称 | 机构 | x | 1 | 是 | ")
    assert response.status_code == 422 and "申请材料第 1 行" in response.text
    assert not hub.store.drafts()


def test_catalogue_export_import_round_trip_and_row_errors(hub):
    document = wf.published_document(hub.store)
    assert import_json(export_json(document)).items == document["items"]
    xlsx = export_xlsx(document)
    result = import_xlsx(xlsx)
    assert not result.errors and result.items == document["items"]
    from openpyxl import load_workbook
    book = load_workbook(io.BytesIO(xlsx))
    book["申请材料"]["C3"] = ""          # a material name
    book["申请材料"]["E4"] = "两份"      # originals
    book["事项"]["M2"] = "二十"           # statutory limit of the first item
    out = io.BytesIO()
    book.save(out)
    errors = import_xlsx(out.getvalue()).errors
    assert any("工作表“申请材料”第 4 行“原件份数”：应为整数" in e for e in errors), errors
    assert any("工作表“事项”第 2 行" in e and "法定办结时限" in e for e in errors), errors
    # through the screen: errors shown, nothing drafted
    response = post(hub.client("admin"), "/catalogue/import",
                    files={"file": ("c.xlsx", out.getvalue())}, token_from="/catalogue/import")
    assert response.status_code == 422 and "原件份数" in response.text
    assert not hub.store.drafts()
    # a clean file with one change makes exactly one draft
    document["items"][1]["hours"] = "工作日 9:00-17:00"
    response = post(hub.client("admin"), "/catalogue/import",
                    files={"file": ("c.json", export_json(document))},
                    token_from="/catalogue/import")
    assert response.status_code == 200, response.text
    [draft] = hub.store.drafts()
    assert draft.code == document["items"][1]["code"] and draft.state == "draft"


# --------------------------------------------------------------------------- permissions


def test_case_visibility_follows_the_org_hierarchy(hub):
    push_cases(hub, "XZ-001", 4, org_unit=TOWNSHIP)
    push_cases(hub, "CUN-01", 2, start=10, org_unit=VILLAGE)
    push_cases(hub, "XZ-777", 3, start=20, org_unit=None)
    run_all(hub.store)
    def listed(user):
        text = hub.client(user).get("/cases").text
        return set(re.findall(r'href="/cases/([A-Z0-9-]+)"', text))
    assert len(listed("viewer")) == 9                      # county: all
    township = listed("township")
    assert township == {f"XZ-001-0000{k}" for k in range(4)} | {"CUN-01-00010", "CUN-01-00011"}
    mz = listed("mzviewer")                                # department: its items only
    assert mz and all(hub.store.case(c)["item_code"].startswith("MZ-") for c in mz)
    assert hub.client("township").get("/cases/XZ-777-00020").status_code == 404
    assert hub.client("viewer").get("/cases/XZ-777-00020").status_code == 200


def test_sessions_end_when_password_or_role_changes_and_logins_are_throttled(hub):
    client = hub.client("viewer")
    assert client.get("/cases").status_code == 200
    admin = hub.client("secadmin")
    assert post(admin, "/admin/accounts/viewer/password",
                {"password": "another-pass-2"}).status_code == 303
    assert client.get("/cases", follow_redirects=False).status_code == 303
    stranger = TestClient(hub.app)
    codes = [stranger.post("/login", data={"username": "staff", "password": "wrong",
                                           "csrf_token": csrf(stranger)}).status_code
             for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    stored = hub.store.account("staff").password_hash
    assert stored.startswith("scrypt$")


def test_account_form_validation_names_the_field(hub):
    security = hub.client("secadmin")
    response = post(security, "/admin/accounts", {"username": "Bad Name", "role": "viewer",
                                                  "password": "x"})
    assert response.status_code == 422 and "用户名" in response.text
    response = post(security, "/admin/accounts", {"username": "newuser",
                                                  "role": "dept_reviewer", "org_unit": COUNTY,
                                                  "password": "long-enough-1"})
    assert response.status_code == 422 and "部门审核员须属于" in response.text
    admin = hub.client("admin")
    response = post(admin, "/admin/orgs", {"kind": "township", "parent": COUNTY,
                                           "code": "12345", "name": "新镇"})
    assert response.status_code == 422 and "9 位数字" in response.text
    response = post(admin, "/admin/orgs", {"kind": "village", "parent": TOWNSHIP,
                                           "code": "510829100202", "name": "新村"})
    assert response.status_code == 303
    assert hub.store.org_unit("510829100202").parent == TOWNSHIP


# --------------------------------------------------------------------------- audit


def test_audit_log_records_before_after_and_is_append_only(hub):
    admin = hub.client("secadmin")
    assert post(admin, "/admin/accounts/viewer", {"role": "supervisor", "org_unit": COUNTY,
                                                  "display_name": "王五", "active": "1"}
                ).status_code == 303
    [entry] = hub.store.audit_entries(action="account.updated")
    assert entry.actor == "secadmin" and entry.ip == "testclient"
    assert entry.before["role"] == "viewer" and entry.after["role"] == "supervisor"
    conn = sqlite3.connect(hub.config.db_path)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("DELETE FROM audit_log")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE audit_log SET actor = 'x'")
    conn.close()
    page = hub.client("auditadmin").get("/audit?action=account.")
    assert "account.updated" in page.text
    csv_text = hub.client("auditadmin").get("/audit/export.csv").text
    assert "account.updated" in csv_text and "修改前" in csv_text
    for other in ("township", "super", "admin", "secadmin"):   # the audit administrator only
        assert hub.client(other).get("/audit").status_code == 403
        assert hub.client(other).get("/audit/export.csv").status_code == 403


# --------------------------------------------------------------------------- backup


def test_backup_while_serving_and_restore(hub, tmp_path):
    node = push_cases(hub, "XZ-001", 5)
    stop = threading.Event()
    errors = []

    def keep_writing():   # another connection appends audit entries throughout
        from central_hub.store import open_store
        store = open_store(hub.config.db_path, hub.config.now_ts())
        try:
            while not stop.is_set():
                store.audit(hub.config.now_ts(), "load", "load.write", None)
        except Exception as exc:   # pragma: no cover
            errors.append(exc)
        finally:
            store.close()
    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        result = CliRunner().invoke(main, ["backup", str(hub.path), str(tmp_path / "b.tar")])
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    assert not errors
    assert (tmp_path / "b.tar").stat().st_mode & 0o077 == 0
    # more events after the backup
    for k in range(5, 8):
        append_case(node, f"XZ-001-{k:05d}", _sample_item(None, k))
    body = node.batch(hub.store.node("XZ-001").acked_seq + 1)
    assert hub.client().post("/sync/v1/push", content=body,
                             headers=node.push_request(body)).status_code == 200
    head = hub.store.node("XZ-001").acked_seq
    hub.close()
    result = CliRunner().invoke(main, ["restore", str(tmp_path / "b.tar"), str(hub.path)])
    assert result.exit_code != 0 and "--force" in result.output
    result = CliRunner().invoke(main, ["restore", str(tmp_path / "b.tar"), str(hub.path),
                                       "--force"])
    assert result.exit_code == 0, result.output
    restored = create_app(HubConfig.load(hub.path, background_jobs=False))
    client = TestClient(restored)
    ctx = restored.state.hub
    lost_from = ctx.store.node("XZ-001").acked_seq
    assert lost_from < head
    # the node re-sends: a push beyond the hub's head gets chain_gap with the hub's ack
    body = node.batch(head)
    response = client.post("/sync/v1/push", content=body, headers=node.push_request(body))
    assert response.status_code == 409 and response.json()["error"]["code"] == "chain_gap"
    body = node.batch(lost_from + 1)
    response = client.post("/sync/v1/push", content=body, headers=node.push_request(body))
    assert response.status_code == 200
    assert ctx.store.node("XZ-001").acked_seq == head
    run_background_once(ctx)
    assert ctx.store.case_count() == 8
    client.close()
    ctx.close()
    hub.clients = {}


# --------------------------------------------------------------------------- every route


def _routes(app) -> list[tuple[str, str, object]]:
    out = []
    for route in app.routes:
        if isinstance(route, Route) and not route.path.startswith("/sync/"):
            for method in sorted(route.methods - {"HEAD"}):
                out.append((method, route.path, route.endpoint))
    return out


def _concrete(path: str) -> str:
    path = (path.replace("{username}", "viewer").replace("{code}", "MZ-QR-0001")
            .replace("{draft_id}", "1").replace("{case_no}", "XZ-001-00000")
            .replace("{year}", "2026"))
    path = re.sub(r"\{[^}]+\}", "1", path)     # routes of other issues (disclosure ...)
    if path in ("/disclosure/report.json", "/disclosure/report.xlsx"):
        path += "?year=2026&body=XZ-001"          # these need the body they report on
    return path


def test_every_route_with_every_role(hub):
    push_cases(hub, "XZ-001", 2, org_unit=TOWNSHIP)
    run_all(hub.store)
    draft_change(hub.client("admin"), phone="0839-6620001")
    from central_hub.accounts.service import CAPABILITIES
    routes = _routes(hub.app)
    assert len(routes) >= 30
    roles = {"admin": "system_admin", "secadmin": "security_admin",
             "auditadmin": "audit_admin", **{u: r for u, (r, _) in USERS.items()}}
    for method, path, endpoint in routes:
        url = _concrete(path)
        capability = getattr(endpoint, "capability", None)
        anonymous = TestClient(hub.app)
        if method == "GET":
            response = anonymous.get(url, follow_redirects=False)
            expected = (303, 401) if capability else range(200, 500)
        else:
            response = anonymous.post(url, data={"csrf_token": csrf(anonymous)},
                                      follow_redirects=False)
            expected = (401,) if capability else range(200, 500)
        assert response.status_code in expected, (method, url, response.status_code)
        if path in ("/", "/login"):
            assert anonymous.get(path, follow_redirects=False).status_code in (200, 303)
        if path in ("/login", "/logout"):
            continue
        for user, role in roles.items():
            client = hub.client(user)
            if method == "GET":
                response = client.get(url, follow_redirects=False)
            else:
                response = client.post(url, data={"csrf_token": csrf(client, "/")},
                                       follow_redirects=False)
            assert response.status_code < 500, (method, url, user, response.text[:500])
            # no request leaves a transaction open: the background jobs' connection would
            # wait on its lock, and what it wrote would not be durable
            assert not hub.store.conn.in_transaction, (method, url, user)
            if capability is not None and role not in CAPABILITIES[capability]:
                assert response.status_code == 403, (method, url, user, response.status_code)
            elif capability is not None and method == "GET":
                # a made-up identifier in the path may name nothing: 404, never a 5xx
                allowed = (200, 303, 404) if re.search(r"\{(case_no|no|eval_id|notice_id)\}", path) \
                    else (200, 303)
                assert response.status_code in allowed, (method, url, user,
                                                          response.status_code)
            for header in ("content-security-policy", "x-content-type-options",
                           "referrer-policy"):
                assert header in response.headers, (url, header)
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert "'unsafe-inline'" not in response.headers["content-security-policy"]
            if response.headers.get("content-type", "").startswith("text/html"):
                assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)",
                                     response.text), url
                assert not re.search(r"\son[a-z]+=", response.text), url
        # without the CSRF token every POST is refused
        if method == "POST" and capability is not None:
            response = hub.client("admin").post(url, data={}, follow_redirects=False)
            assert response.status_code == 403, url


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
_form = st.dictionaries(
    st.sampled_from(["username", "password", "role", "org_unit", "display_name", "active",
                     "code", "name", "kind", "parent", "item_prefix", "decision", "opinion",
                     "duty",
                     "note", "year", "source", "holidays", "workdays", "impl_code",
                     "type_code", "level", "body_name", "body_credit_code", "flow",
                     "materials", "risk_points", "faq", "statutory_days", "committed_days",
                     "fee_amount", "fee_charged", "serves", "channels", "basis"]),
    _text | st.sampled_from(["system_admin", "audit_admin", "viewer", "2027", "510829", "pass", "return",
                             "MZ-QR-0001", "2027-01-01 至 2027-01-03", "1", ""]),
    max_size=12)


def test_random_form_data_on_every_post_route_never_5xx(tmp_path):
    hub = Hub(tmp_path / "fuzz")
    try:
        # the system administrator, or the security administrator on the account routes
        admins = {user: (hub.client(user), csrf(hub.client(user), "/"))
                  for user in ("admin", "secadmin")}
        posts = [_concrete(p) for m, p, _ in _routes(hub.app)
                 if m == "POST" and p not in ("/logout", "/login")]

        @settings(max_examples=120, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow])
        @given(url=st.sampled_from(posts), form=_form)
        def check(url, form):
            client, token = admins["secadmin" if url.startswith(("/admin/accounts",
                                                                 "/admin/api-tokens"))
                                   else "admin"]
            response = client.post(url, data={**form, "csrf_token": token},
                                   follow_redirects=False)
            assert response.status_code < 500, (url, form, response.text[:300])
            assert not hub.store.conn.in_transaction, (url, form)
            assert client.get("/", follow_redirects=False).status_code == 200

        check()
    finally:
        hub.close()


# --------------------------------------------------------------------------- hostile input

HUB_KNOWN_500S = ("/sync/v1/status?head=²", "/calendar/²", "/disclosure/report?year=²",
                  "/supervision?age=²", "/supervision/alerts/²", "/supervision/reports?year=²",
                  "/portal/apply/status?no=WS20260101-0001&code=é",
                  "/notices/١٢", "/catalogue/items/MZ-QR-0001?a=²")


def test_known_hostile_values_are_4xx_never_5xx(hub):
    """Each of these answered 500 before (before login, and as admin)."""
    for url in HUB_KNOWN_500S:
        anonymous = TestClient(hub.app).get(url, follow_redirects=False)
        assert anonymous.status_code < 500, (url, anonymous.status_code)
        response = hub.client("admin").get(url, follow_redirects=False)
        assert 400 <= response.status_code < 500, (url, response.status_code)
    status = TestClient(hub.app).get("/sync/v1/status?head=²")       # before any login
    assert status.status_code == 400 and status.json()["error"]["code"] == "request_invalid"
    # a refused number names its field in Chinese
    response = hub.client("super").get("/supervision?age=²")
    assert response.status_code == 400 and "预警天数" in response.text and "age" in response.text
    response = hub.client("admin").get("/disclosure/report?year=²")
    assert response.status_code == 400 and "年度" in response.text
    # NUL in a report filter: the XLSX and CSV exports still answer
    for url in ("/disclosure/report.xlsx?year=2026&body=XZ-001%00",
                "/dashboard/export.xlsx?department=%00", "/dashboard/export.xlsx?item=%00",
                "/dashboard/export.xlsx?nodes=%00", "/supervision/records.xlsx?unit=%00",
                "/supervision/reports.xlsx?by=%00"):
        assert hub.client("admin").get(url).status_code < 500, url


def test_hostile_path_query_and_body_values_on_every_route_never_5xx(tmp_path):
    """Every route (Mount sub-routes included), every role and anonymous: hostile values in
    the path parameters, the query string, the form fields and deep JSON bodies: a 4xx or a
    success, never a 5xx, never an open transaction."""
    hub = Hub(tmp_path / "hostile")
    try:
        push_cases(hub, "XZ-001", 1, org_unit=TOWNSHIP)
        run_all(hub.store)
        routes = every_route(hub.app)
        assert len(routes) >= 60
        names = query_names("central_hub")
        users = [None, "admin", *USERS]
        tokens = {}
        for user in users:
            client = hub.client(user)
            tokens[user] = csrf(client, "/" if user else "/login")

        @settings(max_examples=250, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow])
        @given(route=st.sampled_from(routes), user=st.sampled_from(users),
               value=st.sampled_from(HOSTILE) | _text,
               query=st.dictionaries(st.sampled_from(names), st.sampled_from(HOSTILE) | _text,
                                     max_size=4),
               deep=st.booleans())
        def check(route, user, value, query, deep):
            method, path = route
            if user and path in ("/logout", "/login"):
                return
            client = hub.client(user)
            url = fill_path(path, value)
            if method == "GET":
                response = client.get(url, params=query, follow_redirects=False)
            elif deep:
                response = client.request(method, url, params=query, content=DEEP_JSON,
                                          headers={"content-type": "application/json"},
                                          follow_redirects=False)
            else:
                response = client.request(method, url, params=query, follow_redirects=False,
                                          data={**query, "csrf_token": tokens[user]})
            assert response.status_code < 500, (method, url, user, query,
                                                response.text[:300])
            assert not hub.store.conn.in_transaction, (method, url, user)

        check()
    finally:
        hub.close()
