"""Cross-level handling in one process (issue #11): a township node forwards a 初审 case to
a county department node through the hub's inboxes, the county decides, the result comes
back and the township delivers; on-line applications from the portal, taken twice.

The hub is a Starlette TestClient; the two nodes sync through their own SyncClient.
Real servers and a cut network are in test_crosslevel_network.py.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from starlette.testclient import TestClient

from central_hub.app import create_app as create_hub_app
from central_hub.operations.bootstrap import init_hub
from central_hub.config import HubConfig
from central_hub.sync.enrolment import issue_token
from central_hub.forwarding.service import run_routing
from central_hub.store import routing as hub_routing
from edge_node.cases import inbox
from edge_node.cases import handling as cases
from edge_node.accounts import users
from edge_node.sync.hub_link import HubRefused
from edge_node.node import init_node
from edge_node.sync.verification import check_integrity
from edge_node.sync.client import SyncClient
from protocol import lifecycle, routing
from protocol.chain import verify_chain
from protocol.envelope import decode_event
from protocol.events import validate_body
from protocol.keys import PublicKey

URL = "http://testserver"
ITEM = "MZ-QR-0001"        # 最低生活保障对象认定: S1-S3 township, S4-S5 county, S6-S7 township
APPLICANT = {"kind": "person", "name": "张三", "id_type": "resident_id",
             "id_no": "11010519491231002X", "phone": "13800138000"}
ALL_REQUIRED = ["M1", "M2", "M3", "M4", "M5", "M7"]
TOWNSHIP_UNIT = "510829100"


def staff(node) -> dict:
    admin = node.store.user_by_username("admin")
    admin_actor = {"id": admin["id"], "role": "admin"}
    out = {}
    for role in ("clerk", "handler", "reviewer", "approver", "head"):
        user = users.create_user(node, f"{role}", f"{role} 用户", (role,), "staff-pass-123",
                                 actor=admin_actor)
        out[role] = {"id": user["id"], "role": role}
    return out


class InProcessHub:
    def __init__(self, path) -> None:
        init_hub(path, "县级平台")
        self.config = HubConfig.load(path, background_jobs=False)
        self.app = create_hub_app(self.config)
        self.client = TestClient(self.app)
        self.store = self.app.state.hub.store

    def enrol(self, node, org_unit: str | None = None) -> SyncClient:
        client = SyncClient(node, http=self.client)
        client.enroll(URL, issue_token(self.store, self.config, node.code, node.code)[0])
        if org_unit:
            self.store.set_node_org_unit(node.code, org_unit)
        return client

    def events(self, code: str) -> list:
        out, after = [], 0
        while batch := self.store.node_events(code, after, 1000):
            out += batch
            after = batch[-1].seq
        return out


def assert_hub_holds_exactly(events, node) -> None:
    """Every event of ``node`` once, byte-identical, in seq order, the chain verifying."""
    assert [e.seq for e in events] == list(range(1, node.store.chain_head().seq + 1))
    mine = {e.seq: (e.canonical, e.signature) for e in node.store.iter_events()}
    decoded = []
    for e in events:
        assert (bytes(e.canonical), bytes(e.signature)) == mine[e.seq]
        decoded.append(decode_event(bytes(e.canonical), bytes(e.signature)))
    verify_chain(decoded, PublicKey.from_hex(decoded[0].body["public_key"]))
    assert check_integrity(node) == []


@pytest.fixture
def world(tmp_path):
    hub = InProcessHub(tmp_path / "hub")
    town, _ = init_node(tmp_path / "town", "XZ-001", "青岚镇便民服务中心",
                        admin_password="lantern-ridge-7294")
    county, _ = init_node(tmp_path / "county", "XJ-MZ", "县民政局窗口",
                          admin_password="lantern-ridge-7294")
    town_sync = hub.enrol(town, TOWNSHIP_UNIT)
    county_sync = hub.enrol(county, "510829-MZ")
    yield hub, town, county, town_sync, county_sync, staff(town), staff(county)
    town.close()
    county.close()


def first_review(town, t) -> str:
    """A township 初审: accepted, investigated, reviewed; the county steps are next."""
    state = cases.intake(town, t["clerk"], item_code=ITEM, applicant=APPLICANT,
                         materials=ALL_REQUIRED, outcome="accept")
    no = state["case"]
    cases.complete_step(town, t["handler"], no, opinion="入户调查属实")
    cases.complete_step(town, t["reviewer"], no, opinion="乡镇审核同意上报")
    return no


def test_forward_decide_return_deliver(world):
    hub, town, county, town_sync, county_sync, t, c = world
    no = first_review(town, t)
    # the hub's directory names the county node for MZ items (org unit 510829-MZ)
    town_sync.sync_once()
    assert inbox.receiver_for(town, ITEM) == "XJ-MZ"
    state = inbox.forward_case(town, t["reviewer"], no, opinion="符合条件，同意上报")
    assert state["state"] == "forwarded" and state["forwarded_to"] == "XJ-MZ"
    with pytest.raises(Exception):
        cases.complete_step(town, t["reviewer"], no, opinion="不能再办")   # waits for the county

    town_sync.sync_once()
    county_sync.sync_once()
    [entry] = inbox.inbox_entries(county)
    assert entry["kind"] == "forwarded" and entry["case"] == no
    taken = inbox.take_forwarded(county, c["reviewer"], entry["id"])
    assert taken["case"] == no and taken["state"] == "accepted"
    assert lifecycle.next_flow_step(taken)["id"] == "S4"
    forwarded = [e for e in town.store.case_events(no) if e.type == "case.forwarded"][-1]
    assert taken["origin"] == routing.origin_ref(forwarded)
    with pytest.raises(Exception):
        inbox.take_forwarded(county, c["reviewer"], entry["id"])           # taken once only
    cases.complete_step(county, c["reviewer"], no, opinion="县级审核通过")
    cases.decide(county, c["approver"], no, outcome="approve", reason="符合低保条件，予以确认")
    returned = inbox.return_result(county, c["approver"], no)
    assert returned["state"] == "returned"

    county_sync.sync_once()
    town_sync.sync_once()
    [result] = inbox.inbox_entries(town)
    assert result["kind"] == "result"
    state = inbox.receive_result(town, t["clerk"], result["id"])
    assert state["state"] == "decided" and state["decision"] == "approve"
    assert lifecycle.next_flow_step(state)["id"] == "S6"
    cases.complete_step(town, t["handler"], no, opinion="公示期满无异议")
    cases.complete(town, t["clerk"], no, result="认定为低保对象")
    cases.deliver(town, t["clerk"], no, recipient="张三")
    town_sync.sync_until_acknowledged()
    county_sync.sync_until_acknowledged()

    assert_hub_holds_exactly(hub.events("XZ-001"), town)
    assert_hub_holds_exactly(hub.events("XJ-MZ"), county)
    run_routing(hub.store, None)
    assert hub_routing.open_entries(hub.store, "XJ-MZ") == []
    assert hub_routing.open_entries(hub.store, "XZ-001") == []
    from central_hub.projection.registry import run_all
    run_all(hub.store)
    assert hub.store.case(no)["state"] == "delivered"
    # every cross-level event passes the hub's content checks (schema, legal transition)
    assert [(x.node, x.seq, x.details) for x in hub.store.alerts(alert_type="content_invalid")] == []
    # time per side: township before and after, county in between, each judged on its own
    envs = sorted([decode_event(bytes(e.canonical), bytes(e.signature)).env
                   for e in hub.events("XZ-001") + hub.events("XJ-MZ") if e.case_no == no],
                  key=lambda env: env["ts"])
    periods = routing.held_periods(envs)
    assert len(periods["township"]) == 2 and len(periods["county"]) == 1
    item = next(i for i in town.store.catalogue().items if i["code"] == ITEM)
    assert routing.side_shares(item) == {"township": 70, "county": 30}


def test_forward_refused_when_the_next_step_is_the_townships(world):
    hub, town, county, town_sync, county_sync, t, c = world
    state = cases.intake(town, t["clerk"], item_code=ITEM, applicant=APPLICANT,
                         materials=ALL_REQUIRED, outcome="accept")
    with pytest.raises(Exception) as err:
        inbox.forward_case(town, t["clerk"], state["case"], opinion="上报", to="XJ-MZ")
    assert "本级" in err.value.zh


def test_tampered_inbox_event_is_not_offered(world):
    hub, town, county, town_sync, county_sync, t, c = world
    no = first_review(town, t)
    inbox.forward_case(town, t["reviewer"], no, opinion="同意上报", to="XJ-MZ")
    town_sync.sync_once()
    run_routing(hub.store, None)
    [entry] = hub_routing.open_entries(hub.store, "XJ-MZ")
    wire = entry["events"][0]
    wire["canonical"] = wire["canonical"].replace("张三", "李四")
    counts = inbox.apply_inbox(county, {**routing.empty_inbox("XJ-MZ"), "entries": [entry]}, 99)
    assert counts["invalid"] == 1
    assert inbox.inbox_entries(county) == []


def submit_application(hub, *, name="王五", upload=True):
    portal = TestClient(hub.app)
    page = portal.get(f"/portal/apply/{ITEM}")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    data = {"csrf_token": token, "place": TOWNSHIP_UNIT, "name": name,
            "id_type": "resident_id", "id_no": "11010519491231002X", "phone": "13800138000",
            "note": "申请低保"}
    for m in ALL_REQUIRED:
        data[f"bring_{m}"] = "1"
    files = {"file_M1": ("申请书.pdf", b"%PDF-1.4 test", "application/pdf")} if upload else None
    answer = portal.post(f"/portal/apply/{ITEM}", data=data, files=files)
    assert answer.status_code == 200, answer.text[:2000]
    tracking = re.search(r'id="tracking-no">([^<]+)<', answer.text).group(1)
    code = re.search(r'id="query-code">([^<]+)<', answer.text).group(1)
    return portal, tracking, code


def test_online_application_lands_in_the_township_inbox_and_status_follows(world):
    hub, town, county, town_sync, county_sync, t, c = world
    portal, tracking, code = submit_application(hub)
    status = portal.get(f"/portal/apply/status?no={tracking}&code={code}")
    assert "等待" in status.text
    assert portal.get(f"/portal/apply/status?no={tracking}&code=XXXXXX").status_code == 404
    # a non-ASCII code is a mismatch, not a TypeError from secrets.compare_digest (500)
    for hostile in ("é", "é" * 6, code[:-1] + "é", "²"):
        answer = portal.get("/portal/apply/status", params={"no": tracking, "code": hostile})
        assert answer.status_code == 404 and "没有找到该申请" in answer.text, hostile
    town_sync.sync_once()
    [entry] = inbox.inbox_entries(town)
    assert entry["kind"] == "application" and entry["application"] == tracking
    assert entry["data"]["materials"][0]["files"][0]["sha256"] == \
        hashlib.sha256(b"%PDF-1.4 test").hexdigest()
    state = inbox.take_application(town, t["clerk"], entry["id"], outcome="accept",
                                   materials=ALL_REQUIRED)
    assert state["channel"] == "online" and state["state"] == "accepted"
    town_sync.sync_until_acknowledged()
    from central_hub.projection.registry import run_all
    run_all(hub.store)
    assert "已受理" in portal.get(f"/portal/apply/status?no={tracking}&code={code}").text
    assert check_integrity(town) == []


def test_bad_upload_type_and_missing_csrf_are_refused(world):
    hub = world[0]
    portal = TestClient(hub.app)
    page = portal.get(f"/portal/apply/{ITEM}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    data = {"csrf_token": token, "place": TOWNSHIP_UNIT, "name": "王五",
            "id_type": "resident_id", "id_no": "11010519491231002X", "phone": "13800138000"}
    answer = portal.post(f"/portal/apply/{ITEM}", data=data,
                         files={"file_M1": ("a.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")})
    assert answer.status_code == 422 and "只能上传 PDF" in answer.text
    assert portal.post(f"/portal/apply/{ITEM}", data={**data, "csrf_token": "x"}).status_code == 403


def test_application_taken_twice_first_to_arrive_wins_the_other_hands_back(world, tmp_path):
    hub, town, county, town_sync, county_sync, t, c = world
    # a second node serving the same township: the application is offered to both, and
    # both take it off-line
    town2, _ = init_node(tmp_path / "town2", "XZ-002", "青岚镇便民服务中心（二）",
                         admin_password="lantern-ridge-7294")
    t2 = staff(town2)
    town2_sync = hub.enrol(town2, TOWNSHIP_UNIT)
    portal, tracking, code = submit_application(hub, upload=False)
    town_sync.sync_once()
    town2_sync.sync_once()
    [entry] = inbox.inbox_entries(town)
    [entry2] = inbox.inbox_entries(town2)
    assert entry2["application"] == entry["application"] == tracking
    first = inbox.take_application(town2, t2["clerk"], entry2["id"], outcome="accept",
                                   materials=ALL_REQUIRED)
    second = inbox.take_application(town, t["clerk"], entry["id"], outcome="accept",
                                    materials=ALL_REQUIRED)
    town2_sync.sync_until_acknowledged()      # XZ-002's take arrives first: it wins
    town_sync.sync_until_acknowledged()
    town_sync.sync_until_acknowledged()       # pulls the conflict, hands back, pushes it
    mine = town.store.case(second["case"])
    assert mine["state"] == "handed_back"
    handed = [e for e in town.store.case_events(second["case"])
              if e.type == "application.handed_back"][0]
    assert handed.body["winner"]["node"] == "XZ-002"
    assert town2.store.case(first["case"])["state"] == "accepted"
    takes = hub_routing.takes(hub.store, tracking)
    assert [(x["node"], x["outcome"]) for x in takes] == [("XZ-002", "won"), ("XZ-001", "lost")]
    alerts = hub.store.alerts(alert_type="duplicate_take")
    assert alerts and alerts[0].case_no == second["case"]
    run_routing(hub.store, None)
    assert hub_routing.open_entries(hub.store, "XZ-001") == []
    assert [e["status"] for e in inbox.inbox_entries(town, ("done",))] == ["done"]
    from central_hub.projection.registry import run_all
    run_all(hub.store)
    assert [(x.node, x.seq, x.details) for x in hub.store.alerts(alert_type="content_invalid")] == []
    for node in (town, town2):
        assert check_integrity(node) == []
    # a rebuild of the hub's projections gives the same routing
    from central_hub.projection.registry import rebuild_all
    rebuild_all(hub.store)
    assert [(x["node"], x["outcome"]) for x in hub_routing.takes(hub.store, tracking)] == \
        [("XZ-002", "won"), ("XZ-001", "lost")]
    assert hub_routing.open_entries(hub.store, "XZ-001") == []
    assert hub_routing.open_entries(hub.store, "XZ-002") == []
    town2.close()


def test_new_event_bodies_validate():
    ref = {"node": "XZ-001", "seq": 3, "hash": "a" * 64}
    validate_body("application.handed_back", {"application": "WS-20260212-000001",
                                              "winner": ref, "reason": "已由他处接收"}, "C-1")
    with pytest.raises(Exception):
        validate_body("case.taken", {"actor": {"id": "u1", "role": "clerk"}, "origin": ref},
                      "C-1")


def test_crosslevel_vectors_verify_as_they_say():
    import json
    from pathlib import Path

    from protocol.envelope import open_event
    from protocol.errors import ProtocolError

    vectors = json.loads((Path(__file__).parent / "vectors" / "crosslevel.json")
                         .read_text(encoding="utf-8"))
    assert len(vectors) >= 6
    for v in vectors:
        try:
            events = routing.open_foreign_events(v["origin_events"], node=v["origin_node"],
                                                 case=v["case"])
            for wire, event in zip(v["origin_events"], events):
                assert event.link_hex == wire["link"]
            event = open_event(v["event"]["canonical"].encode(),
                               bytes.fromhex(v["event"]["signature"]),
                               PublicKey.from_hex(v["event"]["key"]))
            validate_body(event.type, event.body, event.case)
            named = routing.find_ref(events, event.body["origin"])
            assert named.link_hex == event.body["origin"]["hash"]
        except ProtocolError as exc:
            assert not v["valid"], (v["description"], exc)
            assert exc.code == v["error"], (v["description"], exc.code)
        else:
            assert v["valid"], v["description"]


def test_inbox_screens_forward_and_take(world):
    from edge_node.app import create_app as create_node_app

    hub, town, county, town_sync, county_sync, t, c = world
    no = first_review(town, t)
    town_sync.sync_once()                     # the directory: MZ items go to XJ-MZ

    def signed_in(node, username):
        client = TestClient(create_node_app(node.config, node=node), follow_redirects=False)
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        assert client.post("/login", data={"username": username, "password": "staff-pass-123",
                                           "csrf_token": token}).status_code == 303
        page = client.get("/inbox")
        assert page.status_code == 200
        return client, page, re.search(r'name="csrf_token" value="([^"]+)"', page.text)

    client, page, token = signed_in(town, "reviewer")
    assert no in page.text and 'value="XJ-MZ"' in page.text
    answer = client.post(f"/inbox/forward/{no}", data={"csrf_token": token.group(1),
                                                        "opinion": "同意上报", "to": "XJ-MZ"})
    assert answer.status_code == 303 and town.store.case(no)["state"] == "forwarded"
    answer = client.post(f"/inbox/forward/{no}", data={"csrf_token": token.group(1),
                                                        "opinion": "再报一次"})
    assert answer.status_code == 422 and "只有办理中的办件才能上报" in answer.text
    town_sync.sync_once()
    county_sync.sync_once()
    client, page, token = signed_in(county, "reviewer")
    assert "上报转办件" in page.text and no in page.text
    [entry] = inbox.inbox_entries(county)
    assert client.get(f"/inbox/entries/{entry['id']}").status_code == 200
    answer = client.post(f"/inbox/entries/{entry['id']}/take",
                         data={"csrf_token": token.group(1)})
    assert answer.status_code == 303 and answer.headers["location"] == f"/cases/{no}"
    assert county.store.case(no)["state"] == "accepted"
    assert client.get(f"/cases/{no}").status_code == 200


def test_inbox_routes_never_5xx_on_random_forms(world):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from edge_node.app import create_app as create_node_app

    hub, town, county, town_sync, county_sync, t, c = world
    no = first_review(town, t)
    client = TestClient(create_node_app(town.config, node=town), follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "clerk", "password": "staff-pass-123",
                                "csrf_token": token})
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/inbox").text).group(1)
    text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(path=st.sampled_from([f"/inbox/forward/{no}", f"/inbox/return/{no}",
                                 "/inbox/entries/x/take", "/inbox/forward/nope"]),
           form=st.dictionaries(st.sampled_from(["opinion", "to", "outcome", "materials",
                                                 "reason", "note"]), text, max_size=6))
    def post(path, form):
        answer = client.post(path, data={**form, "csrf_token": token})
        assert answer.status_code < 500, (path, form, answer.text[-300:])

    post()
    anonymous = TestClient(create_node_app(town.config, node=town), follow_redirects=False)
    assert anonymous.post(f"/inbox/forward/{no}", data={"opinion": "x"}).status_code in (401, 403)


def test_portal_apply_routes_never_5xx(world):
    hub = world[0]
    portal = TestClient(hub.app)
    assert portal.get("/portal/apply").status_code == 200
    assert portal.get("/portal/apply/NOPE-0001").status_code == 404
    assert portal.get("/portal/apply/status").status_code == 200
    assert portal.get("/portal/apply/status?no=%00&code=%FF").status_code == 404
    page = portal.get(f"/portal/apply/{ITEM}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    for data in ({}, {"place": "x" * 5000, "name": "\u0000"}, {"id_no": "1" * 100}):
        answer = portal.post(f"/portal/apply/{ITEM}", data={**data, "csrf_token": token})
        assert answer.status_code == 422


def test_each_side_is_judged_on_its_own_share():
    from datetime import date

    from protocol.calendar import Calendar

    def ev(type_, ts):
        return {"type": type_, "ts": f"{ts}T10:00:00.000+08:00"}

    # township holds 2026-03-02 → 03-04 (2 working days), the case sits in the county's
    # inbox over a weekend (transit), the county holds 03-09 → 03-20 (9 working days)
    events = [ev("case.received", "2026-03-02"), ev("case.forwarded", "2026-03-04"),
              ev("case.taken", "2026-03-09"), ev("case.result_returned", "2026-03-20"),
              ev("case.result_received", "2026-03-20"), ev("case.completed", "2026-03-23")]
    item = {"flow": [{"id": "S1", "level": "township", "share_pct": 40},
                     {"id": "S2", "level": "county", "share_pct": 30},
                     {"id": "S3", "level": "township", "share_pct": 30}]}
    verdict = {v["side"]: v for v in routing.judge_sides(events, item, Calendar.seeded(),
                                                         date(2026, 3, 23), 40)}
    assert verdict["township"]["held_days"] == 3 and not verdict["township"]["over"]
    assert verdict["county"] == {"side": "county", "held_days": 9, "allowed_days": 6,
                                 "over": True}
    periods = routing.held_periods(events)
    assert periods["transit"][0] == (events[1]["ts"], events[2]["ts"])


def test_inbox_document_stays_within_its_bounds(world, monkeypatch):
    from central_hub.forwarding import service as hub_routing_module

    hub = world[0]
    for i in range(30):
        hub_routing.put_entry(hub.store, {"id": f"app-X{i}", "kind": "application",
                                          "application": f"X{i}", "digest": "0" * 64,
                                          "placed_at": f"2026-02-12T09:{i:02d}:00.000+08:00",
                                          "note": "长" * 2000}, "XZ-001")
    monkeypatch.setattr(hub_routing_module, "INBOX_BUDGET_BYTES", 20_000)
    content = hub_routing_module.inbox_content(hub.store, "XZ-001")
    assert 0 < len(content["entries"]) < 30
    assert [e["id"] for e in content["entries"]] == [f"app-X{i}" for i in
                                                     range(len(content["entries"]))]
