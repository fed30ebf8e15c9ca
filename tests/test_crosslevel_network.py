"""Cross-level handling over a real, failing network (issue #11, item 5).

A hub served by uvicorn (``central-hub serve`` in a subprocess) and nodes that sync over
HTTP, each through its own fault proxy (scripts/faultproxy.py) whose link is cut and
restored at random (every connection dropped, reset or truncated while cut). Afterwards:
a case forwarded, decided and returned arrived exactly once, in order, with every chain
verifying; an on-line application taken by two nodes was resolved (the first take to
arrive wins, the other node handed back) and nobody handled it twice unnoticed.
"""

from __future__ import annotations

import random
import re

import httpx
import pytest

from central_hub.store import open_store
from central_hub.store import routing as hub_routing
from edge_node.cases import inbox
from edge_node.cases import handling as cases
from edge_node.sync.hub_link import SyncError
from edge_node.node import init_node
from edge_node.sync.client import SyncClient
from test_crosslevel_flow import ALL_REQUIRED, APPLICANT, ITEM, TOWNSHIP_UNIT, \
    assert_hub_holds_exactly, first_review, staff
from test_sync_faults import ServedHub, faultproxy

CUT = faultproxy.Faults(drop=0.5, reset=0.25, truncate=0.25)
CLEAR = faultproxy.Faults()


class Link:
    """One node's way to the hub: a fault proxy and a sync client through it."""

    def __init__(self, hub: ServedHub, node, rng: random.Random, org_unit: str) -> None:
        self.node, self.rng = node, rng
        self.proxy = faultproxy.FaultProxy(hub.port, seed=rng.randrange(1 << 30)).start()
        self.http = httpx.Client(timeout=httpx.Timeout(3.0), trust_env=False,
                                 limits=httpx.Limits(max_keepalive_connections=0))
        self.client = SyncClient(node, http=self.http, max_batch_events=7)
        self.client.enroll(f"http://127.0.0.1:{self.proxy.port}", hub.token(node.code))
        store = open_store(hub.config.db_path, hub.config.now_ts())
        try:
            store.set_node_org_unit(node.code, org_unit)
        finally:
            store.close()
        self.cuts = 0
        self.failed_rounds = 0

    def flap(self) -> None:
        """Cut or restore the link at random."""
        if self.rng.random() < 0.5:
            self.proxy.set_faults(CUT)
            self.cuts += 1
        else:
            self.proxy.set_faults(CLEAR)

    def sync_until(self, done, rounds: int = 80) -> None:
        for _ in range(rounds):
            self.flap()
            try:
                self.client.sync_once()
            except SyncError as exc:
                assert exc.network, exc        # a cut line is never a refusal
                self.failed_rounds += 1
            if done():
                return
        self.proxy.set_faults(CLEAR)
        self.client.sync_until_acknowledged(retries=3)
        assert done(), "not done after the link was restored"

    def settle(self) -> None:
        self.proxy.set_faults(CLEAR)
        assert self.client.sync_until_acknowledged(retries=3).complete

    def close(self) -> None:
        self.http.close()
        self.proxy.stop()


@pytest.fixture
def hub(tmp_path):
    hub = ServedHub(tmp_path / "hub")
    hub.start()
    yield hub
    hub.kill()


def hub_events(hub: ServedHub, code: str) -> list:
    store = open_store(hub.config.db_path, hub.config.now_ts())
    try:
        out, after = [], 0
        while batch := store.node_events(code, after, 1000):
            out += batch
            after = batch[-1].seq
        return out
    finally:
        store.close()


def waiting(node, kind: str) -> list[dict]:
    return [e for e in inbox.inbox_entries(node) if e["kind"] == kind]


@pytest.mark.parametrize("seed", [11, 23])
def test_forwarded_case_arrives_once_in_order_through_a_flapping_network(hub, tmp_path, seed):
    rng = random.Random(seed)
    town, _ = init_node(tmp_path / "town", "XZ-001", "青岚镇便民服务中心",
                        admin_password="lantern-ridge-7294")
    county, _ = init_node(tmp_path / "county", "XJ-MZ", "县民政局窗口",
                          admin_password="lantern-ridge-7294")
    t, c = staff(town), staff(county)
    tl, cl = Link(hub, town, rng, TOWNSHIP_UNIT), Link(hub, county, rng, "510829-MZ")
    try:
        no = first_review(town, t)
        inbox.forward_case(town, t["reviewer"], no, opinion="同意上报", to="XJ-MZ")
        # the township keeps working while the line flaps: other cases, off-line
        for _ in range(3):
            cases.intake(town, t["clerk"], item_code=ITEM, applicant=APPLICANT,
                         materials=ALL_REQUIRED, outcome="accept")
        tl.sync_until(lambda: town.store.unacked_count() == 0)
        cl.sync_until(lambda: bool(waiting(county, "forwarded")))
        [entry] = waiting(county, "forwarded")
        inbox.take_forwarded(county, c["reviewer"], entry["id"])
        cases.complete_step(county, c["reviewer"], no, opinion="县级审核通过")
        cases.decide(county, c["approver"], no, outcome="approve", reason="符合条件予以确认")
        inbox.return_result(county, c["approver"], no)
        cl.sync_until(lambda: county.store.unacked_count() == 0)
        tl.sync_until(lambda: bool(waiting(town, "result")))
        [result] = waiting(town, "result")
        inbox.receive_result(town, t["clerk"], result["id"])
        cases.complete_step(town, t["handler"], no, opinion="公示期满")
        cases.complete(town, t["clerk"], no, result="认定为低保对象")
        cases.deliver(town, t["clerk"], no, recipient="张三")
        # more rounds with the line flapping: nothing is offered or taken twice
        for link in (tl, cl, tl, cl):
            link.sync_until(lambda: link.node.store.unacked_count() == 0, rounds=10)
        tl.settle()
        cl.settle()
        tl.settle()

        assert tl.cuts + cl.cuts >= 3, "the line should have been cut"
        assert tl.failed_rounds + cl.failed_rounds >= 1, "cuts should have stopped rounds"
        town_events, county_events = hub_events(hub, "XZ-001"), hub_events(hub, "XJ-MZ")
        assert_hub_holds_exactly(town_events, town)
        assert_hub_holds_exactly(county_events, county)
        # exactly once, in order, across the two logs (hub append positions)
        story = sorted([e for e in town_events + county_events if e.case_no == no],
                       key=lambda e: e.position)
        assert [(e.node, e.type) for e in story] == [
            ("XZ-001", "case.received"), ("XZ-001", "case.accepted"),
            ("XZ-001", "case.step_completed"), ("XZ-001", "case.step_completed"),
            ("XZ-001", "case.forwarded"),
            ("XJ-MZ", "case.taken"), ("XJ-MZ", "case.step_completed"),
            ("XJ-MZ", "case.decided"), ("XJ-MZ", "case.result_returned"),
            ("XZ-001", "case.result_received"), ("XZ-001", "case.step_completed"),
            ("XZ-001", "case.completed"), ("XZ-001", "case.delivered")]
        store = open_store(hub.config.db_path, hub.config.now_ts())
        try:
            from central_hub.forwarding.service import run_routing
            run_routing(store, None)
            assert hub_routing.open_entries(store, "XJ-MZ") == []
            assert hub_routing.open_entries(store, "XZ-001") == []
        finally:
            store.close()
        assert waiting(county, "forwarded") == [] and waiting(town, "result") == []
    finally:
        tl.close()
        cl.close()
        town.close()
        county.close()


def submit(hub: ServedHub) -> str:
    with httpx.Client(base_url=hub.url, trust_env=False) as portal:
        page = portal.get(f"/portal/apply/{ITEM}")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        data = {"csrf_token": token, "place": TOWNSHIP_UNIT, "name": "王五",
                "id_type": "resident_id", "id_no": "11010519491231002X",
                "phone": "13800138000", **{f"bring_{m}": "1" for m in ALL_REQUIRED}}
        answer = portal.post(f"/portal/apply/{ITEM}", data=data)
        assert answer.status_code == 200, answer.text[:500]
        return re.search(r'id="tracking-no">([^<]+)<', answer.text).group(1)


def test_application_taken_twice_off_line_is_resolved(hub, tmp_path):
    rng = random.Random(5)
    one, _ = init_node(tmp_path / "one", "XZ-001", "青岚镇便民服务中心",
                       admin_password="lantern-ridge-7294")
    two, _ = init_node(tmp_path / "two", "XZ-002", "青岚镇便民服务中心（二号窗口机）",
                       admin_password="lantern-ridge-7294")
    s1, s2 = staff(one), staff(two)
    l1, l2 = Link(hub, one, rng, TOWNSHIP_UNIT), Link(hub, two, rng, TOWNSHIP_UNIT)
    try:
        tracking = submit(hub)
        l1.sync_until(lambda: bool(waiting(one, "application")))
        l2.sync_until(lambda: bool(waiting(two, "application")))
        # both take it while off-line
        c1 = inbox.take_application(one, s1["clerk"], waiting(one, "application")[0]["id"],
                                    outcome="accept", materials=ALL_REQUIRED)["case"]
        c2 = inbox.take_application(two, s2["clerk"], waiting(two, "application")[0]["id"],
                                    outcome="accept", materials=ALL_REQUIRED)["case"]
        first, second = rng.sample([(l1, one, c1), (l2, two, c2)], 2)
        first[0].sync_until(lambda: first[1].store.unacked_count() == 0)
        second[0].sync_until(lambda: second[1].store.case(second[2])["state"] == "handed_back")
        second[0].settle()
        first[0].settle()
        assert first[1].store.case(first[2])["state"] == "accepted"
        [back] = [e for e in second[1].store.case_events(second[2])
                  if e.type == "application.handed_back"]
        assert back.body["winner"]["node"] == first[1].code
        store = open_store(hub.config.db_path, hub.config.now_ts())
        try:
            takes = hub_routing.takes(store, tracking)
            assert [(x["node"], x["outcome"]) for x in takes] == \
                [(first[1].code, "won"), (second[1].code, "lost")]
            assert store.alerts(alert_type="duplicate_take")
        finally:
            store.close()
        for link, node in ((l1, one), (l2, two)):
            assert_hub_holds_exactly(hub_events(hub, node.code), node)
    finally:
        l1.close()
        l2.close()
        one.close()
        two.close()
