"""Supervision judges each side of a forwarded case on its own share (rule T-06).

MZ-QR-0001 (最低生活保障对象认定) has 20 working days; its county steps (S4, S5) carry 30 %
of them: the county may hold the case 6 working days, the township 14. Time in transit
counts against neither side.
"""

from datetime import date

from protocol.supervision import RULES, evaluate_case
from protocol.supervision.rules import TIME_RULE_IDS

from test_supervision_rules import CAL, RULESET, Case, item_with

ITEM = item_with("MZ-QR-0001")


def forwarded_case(returned_on: str, *, taken_on: str = "2026-03-05") -> list[dict]:
    case = Case(ITEM, case="TS01-20260302-000001").receive("2026-03-02").accept("2026-03-02")
    case.step("S2", "2026-03-03").step("S3", "2026-03-04")
    case.add("case.forwarded", "2026-03-04", {"to": "CY01"}, hour=16)
    county = Case(ITEM, case=case.case, node="CY01")
    county.add("case.taken", taken_on, {"origin": {"node": "TS01"}})
    county.add("case.result_returned", returned_on, {"to": "TS01"})
    back = Case(ITEM, case=case.case, first_seq=case.seq + 1)
    back.add("case.result_received", returned_on, {"from": "CY01"}, hour=17)
    return case.events + county.events + back.events


def t06(events, as_of):
    return [f for f in evaluate_case(events, ITEM, RULESET, CAL, date.fromisoformat(as_of))
            if f.rule_id == "T-06"]


def test_the_county_over_its_share_is_flagged_on_its_own():
    [finding] = t06(forwarded_case("2026-03-20"), "2026-03-20")
    assert finding.level == "warning" and finding.alert_type == "timeliness"
    [side] = finding.details["sides"]
    assert side == {"side": "county", "held_days": 11, "allowed_days": 6, "over": True}
    assert "县级" in finding.message_zh and "6 个工作日" in finding.message_zh


def test_near_miss_and_a_case_that_never_left_the_township():
    assert t06(forwarded_case("2026-03-11"), "2026-03-11") == []       # 4 days of 6
    local = Case(ITEM).receive("2026-03-02").accept("2026-03-02").step("S2", "2026-03-20")
    assert t06(local.events, "2026-03-20") == []


def test_time_in_transit_counts_against_neither_side():
    # taken a week after forwarding: the county still held it only 4 working days
    assert t06(forwarded_case("2026-03-17", taken_on="2026-03-11"), "2026-03-17") == []


def test_the_rule_is_registered_as_a_time_rule():
    assert "T-06" in RULES and "T-06" in TIME_RULE_IDS
