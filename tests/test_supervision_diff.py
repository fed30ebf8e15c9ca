"""Differential test (issue #9): the same event logs, evaluated by the node (its own log,
its pulled catalogue and rules) and by the hub (the synced log, its catalogue versions and
published rules), give identical findings; the hub's open alerts are exactly those
findings. Cases come from the node's own simulator (real node code, random handling:
late cases, supplements, suspensions, refusals ...)."""

from __future__ import annotations

import pytest

from central_hub.projection.registry import run_all
from central_hub.store import supervision as sql
from central_hub.supervision import service
from edge_node.node import init_node
from edge_node.demo.simulate import simulate
from edge_node.cases.supervision import case_warnings, current_rules
from edge_node.sync.client import SyncClient
from protocol.calendar import SHANGHAI
from protocol.envelope import parse_ts
from protocol.supervision import CROSS_CASE_RULE_IDS, RuleSet

from _field import URL, Hub


def _sync_all(client, node) -> None:
    for _ in range(50):
        client.sync_once()
        if node.store.unacked_count() == 0:
            return
    raise AssertionError("the node did not finish pushing")


@pytest.mark.parametrize("seed", [3, 11])
def test_node_and_hub_find_the_same(tmp_path, seed):
    hub = Hub(tmp_path / "hub")
    node, _ = init_node(tmp_path / "node", "XZ-001", "青山镇便民服务中心",
                        admin_password="lantern-ridge-7294")
    try:
        client = SyncClient(node, http=hub.client, max_batch_events=400)
        client.enroll(URL, hub.token(node.code))
        client.sync_once()
        # a published, non-default rule set reaches the node and governs both sides
        doc = RuleSet().to_document()
        doc["version"] = 2
        doc["thresholds"]["warning_days"] = 2
        doc["rules"] = {"T-05": {"enabled": True, "level": "yellow"}}
        service.publish_rules(hub.store, hub.ctx.identity, hub.config, doc, "test")
        client.sync_once()
        assert current_rules(node).version == 2
        simulate(node, cases=60, days=30, seed=seed)
        _sync_all(client, node)
        run_all(hub.store)

        record = hub.store.node(node.code)
        as_of = parse_ts(record.caught_up_at).astimezone(SHANGHAI)
        ctx = service.Context(hub.store, as_of)
        compared = with_findings = 0
        rule_ids = set()
        for case_no in node.store.case_numbers():
            mine = [{k: v for k, v in f.items() if k != "level_zh"}
                    for f in case_warnings(node, case_no, now=as_of)]
            judged = service.judge_case(ctx, case_no)
            assert judged is not None, case_no
            theirs = [f.to_dict() for f in judged.findings]
            key = lambda f: (f["rule_id"], f["level"])  # noqa: E731
            assert sorted(mine, key=key) == sorted(theirs, key=key), case_no
            # what the hub keeps open is exactly what it finds (cross-case rules aside)
            open_keys = {(a["rule_id"], a["level"]) for a in sql.case_alerts(hub.store, case_no)
                         if a["state"] in sql.OPEN_STATES
                         and a["rule_id"] not in CROSS_CASE_RULE_IDS}
            assert open_keys == {key(f) for f in theirs
                                 if f["rule_id"] not in CROSS_CASE_RULE_IDS}, case_no
            compared += 1
            with_findings += bool(theirs)
            rule_ids |= {f["rule_id"] for f in theirs}
        assert compared == 60 and with_findings >= 5, (compared, with_findings, rule_ids)
    finally:
        node.close()
        hub.ctx.close()


# --------------------------------------------------------------------------- the node's page


def test_node_shows_its_warnings_offline(edge_node, edge_staff, settable_clock):
    """No hub at all: an accepted case past its committed limit shows a yellow card on the
    node's /supervision page and in the one-case partial; others see nothing extra."""
    from datetime import timedelta

    from test_edge_ui_screens import client_for, make_case, sign_in

    late = make_case(edge_node, edge_staff, "accepted")
    settable_clock.advance(days=60)
    client = client_for(edge_node)
    sign_in(client, "clerk")
    page = client.get("/supervision")
    assert page.status_code == 200 and "本地监察预警" in page.text
    assert late in page.text and "黄牌" in page.text
    partial = client.get("/supervision?level=red", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text
    one = client.get(f"/supervision/cases/{late}")
    assert one.status_code == 200 and "T-02" in one.text
    assert client.get("/supervision/cases/NOPE-1").status_code == 404
    anonymous = client_for(edge_node)
    assert anonymous.get("/supervision").status_code in (303, 401)
    from edge_node.cases.supervision import case_warnings
    assert any(w["rule_id"] == "T-02" for w in case_warnings(edge_node, late))
    assert not [w for w in case_warnings(edge_node, late,
                                         now=edge_node.now() - timedelta(days=59))
                if w["level"] in ("yellow", "red")]
