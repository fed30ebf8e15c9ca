"""Electronic supervision rules (protocol/supervision): one scenario that triggers each rule
and a near miss that does not, deadlines around holidays and unknown years, fairness to
off-line nodes, incremental evaluation, the rule set document, and robustness."""

from __future__ import annotations

import copy
import json
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.lifecycle import flow_plan
from protocol.calendar import Calendar, YearNotice
from protocol.envelope import GENESIS, sign_event
from protocol.keys import PrivateKey
from protocol.supervision import (CASE_RULE_IDS, RULES, TIME_RULE_IDS, EvalContext, Finding,
                                  OverdueRecord, RuleSet, SupervisionError, case_facts,
                                  deadline_for, evaluate_case, evaluate_repeats, evaluate_time,
                                  next_change_date, overdue_record, risk_point_for,
                                  superseded)

SH = timezone(timedelta(hours=8))
CAL = Calendar.seeded()
RULESET = RuleSet()
_CATALOGUE = json.loads((Path(__file__).parent.parent / "protocol" / "samples"
                         / "catalogue.json").read_text("utf-8"))
ITEMS = {it["code"]: it for it in _CATALOGUE["items"]}


def item_with(code: str = "MZ-JF-0001", **changes) -> dict:
    """A catalogue item (a copy) with some fields changed."""
    item = copy.deepcopy(ITEMS[code])
    item.update(changes)
    return item


ITEM = item_with()                                  # 10 days, free, accept/approve separate
SPRING = item_with(committed_half_days=10)         # 5 working days
FEE_ITEM = item_with("GA-GG-0001")                  # 20.00 yuan
OPEN_ITEM = item_with("MZ-JF-0002")                 # separate_accept_approve False


# --------------------------------------------------------------------------- helpers


class Case:
    """Builds a case's plain envelope dicts: {"seq","ts","type","case","body","node"}."""

    def __init__(self, item: dict = ITEM, case: str = "C-0001", node: str = "TS01",
                 first_seq: int = 1) -> None:
        self.item, self.case, self.node = item, case, node
        self.events: list[dict] = []
        self.seq = first_seq - 1

    def add(self, type_: str, day: str, body: dict, *, hour: int = 10) -> Case:
        self.seq += 1
        self.events.append({"seq": self.seq, "ts": f"{day}T{hour:02d}:00:00.000+08:00",
                            "type": type_, "case": self.case, "body": body,
                            "node": self.node})
        return self

    def materials(self, missing: tuple[str, ...] = ()) -> list[dict]:
        return [{"id": m["id"], "name": m["name"], "required": m["required"],
                 "present": m["id"] not in missing} for m in self.item["materials"]]

    def receive(self, day: str, *, by: str = "u-clerk", missing: tuple[str, ...] = ()) -> Case:
        it = self.item
        return self.add("case.received", day, {
            "actor": {"id": by, "role": "clerk"}, "channel": "window",
            "item": {"code": it["code"], "name": it["name"], "type_code": it["type_code"]},
            "catalogue_version": 1,
            "applicant": {"kind": "person", "name": "张三", "id_type": "resident_id",
                          "id_no": "510829199001011234"},
            "materials": self.materials(missing),
            "fee_standard_fen": it["fee"]["amount_fen"] if it["fee"]["charged"] else 0,
            "committed_half_days": it["committed_half_days"],
            "statutory_half_days": it["statutory_half_days"],
            "flow": [{"id": s["id"], "name": s["name"], "role": s["role"]} for s in it["flow"]],
            "separate_accept_approve": it["separate_accept_approve"], "query_code": "AB12CD"})

    def accept(self, day: str, *, by: str = "u-clerk", role: str = "clerk",
               missing: tuple[str, ...] = ()) -> Case:
        return self.add("case.accepted", day, {
            "actor": {"id": by, "role": role}, "materials": self.materials(missing),
            "deadline": {"limit_half_days": self.item["committed_half_days"], "due": None,
                         "confirmed": True, "calendar_version": 1}})

    def step(self, step: str, day: str, *, by: str | None = None, role: str | None = None,
             outcome: str = "pass") -> Case:
        flow_role = next(s["role"] for s in self.item["flow"] if s["id"] == step)
        return self.add("case.step_completed", day, {
            "actor": {"id": by or f"u-{flow_role}", "role": role or flow_role},
            "step": step, "outcome": outcome, "opinion": "同意"})

    def decide(self, day: str, *, by: str = "u-clerk2", outcome: str = "approve",
               reason: str = "符合条件", step: str | None = None) -> Case:
        decision = self.item["flow"][flow_plan(self.item["flow"])[0]]
        return self.add("case.decided", day, {
            "actor": {"id": by, "role": decision["role"]}, "step": step or decision["id"],
            "outcome": outcome, "reason": reason})

    def complete(self, day: str, *, by: str = "u-clerk2") -> Case:
        return self.add("case.completed", day, {"actor": {"id": by, "role": "clerk"}})

    def through(self, days: list[str]) -> Case:
        """The steps before the decision one per given day, then on the next day the
        decision, the steps after an approval and the completion (the lifecycle's plan)."""
        flow = self.item["flow"]
        decision, final = flow_plan(flow)
        before = [s["id"] for s in flow[1:decision]]
        for step, day in zip(before, days):
            self.step(step, day)
        rest = days[len(before):]
        if rest:
            self.decide(rest[0])
            for step in flow[decision + 1:final]:
                self.step(step["id"], rest[0])
            self.complete(rest[0])
        return self

    def extend(self, day: str, *, days: int = 5, approver_role: str = "head",
               approver: str = "u-head") -> Case:
        return self.add("case.extended", day, {
            "actor": {"id": "u-handler", "role": "handler"},
            "approver": {"id": approver, "role": approver_role}, "days": days,
            "reason": "需补充调查核实", "deadline": {"limit_half_days": 0, "due": None,
                                              "confirmed": True, "calendar_version": 1}})

    def charge(self, day: str, amount: int, *, standard: int | None = None,
               approver_role: str = "head") -> Case:
        std = standard if standard is not None else (
            self.item["fee"]["amount_fen"] if self.item["fee"]["charged"] else 0)
        return self.add("fee.charged", day, {
            "actor": {"id": "u-clerk", "role": "clerk"},
            "approver": {"id": "u-head", "role": approver_role}, "amount_fen": amount,
            "standard_fen": std})


def ids(findings: list[Finding]) -> set[str]:
    return {f.rule_id for f in findings}


def by_rule(findings: list[Finding], rule_id: str) -> Finding:
    found = [f for f in findings if f.rule_id == rule_id]
    assert len(found) == 1, (rule_id, [f.rule_id for f in findings])
    return found[0]


def evaluate(case: Case, as_of: str | date, *, item: dict | None = None,
             rules: RuleSet = RULESET, calendar: Calendar = CAL,
             context: EvalContext | None = None) -> list[Finding]:
    as_of = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    found = evaluate_case(case.events, case.item if item is None else item, rules, calendar,
                          as_of, context)
    for f in found:
        json.dumps(f.to_dict(), ensure_ascii=False)  # JSON-able, always
        assert f.level in ("info", "warning", "yellow", "red")
        assert "internal_error" not in f.details, f.message_zh
        assert f.message_zh and f.basis
    return found


def clean_case(item: dict = ITEM) -> Case:
    """A case handled by the book: accepted 2026-03-02, done well within its limit."""
    return Case(item).receive("2026-03-02").accept("2026-03-02").through(
        ["2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"])


def test_a_case_handled_by_the_book_has_no_findings():
    assert evaluate(clean_case(), "2026-06-01") == []
    assert evaluate(clean_case(OPEN_ITEM), "2026-06-01") == []


def test_every_rule_has_id_version_basis_level_and_chinese_description():
    assert len(RULES) >= 20
    for rule_id, rule in RULES.items():
        assert rule.id == rule_id and rule.version >= 1
        assert rule.level in ("info", "warning", "yellow", "red")
        assert rule.basis and rule.name_zh and rule.description_zh
        assert any("\u4e00" <= c <= "\u9fff" for c in rule.description_zh)
        assert RULESET.describe_zh(rule_id)  # thresholds fill in
    assert TIME_RULE_IDS < CASE_RULE_IDS and "T-04" not in CASE_RULE_IDS


# --------------------------------------------------------------------------- timeliness


def spring_case() -> Case:
    """Accepted Thu 2026-02-12, 5 working days: due Thu 2026-02-26 (Spring Festival)."""
    return Case(SPRING).receive("2026-02-12").accept("2026-02-12").step("S2", "2026-02-13")


def test_spring_festival_deadline():
    facts = case_facts(spring_case().events)
    deadline = deadline_for(facts, SPRING, RULESET, CAL)
    assert deadline.due == date(2026, 2, 26) and deadline.confirmed


def test_T01_warning_one_working_day_before_the_deadline():
    found = evaluate(spring_case(), "2026-02-25")
    warning = by_rule(found, "T-01")
    assert warning.level == "warning" and warning.details["due"] == "2026-02-26"
    assert warning.details["remaining_working_days"] == 1
    assert "2026-02-26" in warning.message_zh and "“乡镇审核”（S3）" in warning.message_zh
    # near miss: two working days left
    assert "T-01" not in ids(evaluate(spring_case(), "2026-02-24"))
    # configurable: warn three working days ahead
    assert "T-01" in ids(evaluate(spring_case(), "2026-02-24", rules=RuleSet(warning_days=3)))


def test_T02_yellow_when_overdue_and_not_on_the_due_day():
    found = evaluate(spring_case(), "2026-02-27")
    yellow = by_rule(found, "T-02")
    assert yellow.level == "yellow" and yellow.details["overdue_working_days"] == 1
    assert "T-01" not in ids(found)
    assert "截止 2026-02-26" in yellow.message_zh and "超期 1 个工作日" in yellow.message_zh
    # the step running late is named, with its role as responsible
    assert yellow.step == "S3" and yellow.responsible == {"id": None, "role": "reviewer"}
    # near miss: on the due day itself
    assert "T-02" not in ids(evaluate(spring_case(), "2026-02-26"))
    # completed on the due day: never overdue
    done = spring_case().step("S3", "2026-02-24").step("S4", "2026-02-25") \
        .decide("2026-02-26").complete("2026-02-26")
    assert not ids(evaluate(done, "2026-03-20")) & {"T-01", "T-02", "T-03"}
    # completed a day late: overdue for good
    late = spring_case().step("S3", "2026-02-24").step("S4", "2026-02-25") \
        .decide("2026-02-27").complete("2026-02-27")
    yellow = by_rule(evaluate(late, "2026-03-20"), "T-02")
    assert yellow.details["closed_on"] == "2026-02-27" and "于 2026-02-27 办结" in yellow.message_zh


def test_T03_red_when_overdue_by_more_than_the_share():
    # 50 % of 5 days: red from the 3rd working day overdue. Sat 02-28 is a working day.
    red = by_rule(evaluate(spring_case(), "2026-03-02"), "T-03")
    assert red.level == "red" and red.details["overdue_working_days"] == 3
    near = evaluate(spring_case(), "2026-02-28")
    assert "T-03" not in ids(near) and by_rule(near, "T-02").details["overdue_working_days"] == 2
    assert "T-03" in ids(evaluate(spring_case(), "2026-02-27",
                                  rules=RuleSet(red_overdue_share_pct=10)))


def test_T04_repeated_overdue_of_a_unit_or_person():
    records = [OverdueRecord("C-1", date(2026, 3, 2), "TS01", "u-a"),
               OverdueRecord("C-2", date(2026, 4, 1), "TS01", "u-b"),
               OverdueRecord("C-3", date(2026, 5, 20), "TS01", "u-c"),
               OverdueRecord("C-9", date(2026, 5, 20), "TS02", "u-a")]
    found = evaluate_repeats(records, RULESET, date(2026, 5, 20))
    assert [f.case for f in found] == ["C-3"]
    red = found[0]
    assert red.rule_id == "T-04" and red.level == "red" and red.key == ("C-3", "T-04", "red")
    assert red.details["subjects"][0]["cases"] == ["C-1", "C-2", "C-3"]
    assert "TS01" in red.message_zh
    # near misses: the first record falls out of a 60-day period; C-3 not yet known
    assert evaluate_repeats(records, RuleSet(repeat_period_days=60), date(2026, 5, 20)) == []
    assert evaluate_repeats(records, RULESET, date(2026, 5, 19)) == []
    # the same person across units
    person = [OverdueRecord(f"C-{i}", date(2026, 3, i), f"TS0{i}", "u-x") for i in (1, 2, 3)]
    assert [f.case for f in evaluate_repeats(person, RULESET, date(2026, 3, 3))] == ["C-3"]
    # junk records are skipped
    assert evaluate_repeats([None, "x", OverdueRecord("C", "2026", None, None)], RULESET,
                            date(2026, 3, 3)) == []


def test_overdue_record_feeds_the_repeat_rule():
    facts = case_facts(spring_case().events)
    assert overdue_record(facts, SPRING, RULESET, CAL, date(2026, 2, 26)) is None
    record = overdue_record(facts, SPRING, RULESET, CAL, date(2026, 2, 27))
    assert record == OverdueRecord("C-0001", date(2026, 2, 27), "TS01", None)


def test_T05_a_step_over_its_share_while_the_case_is_in_time():
    # S2 (承办, 30 % of 5 days = 1.5, so 2 working days) took 13, 14 (Sat, worked), 24
    slow = Case(SPRING).receive("2026-02-12").accept("2026-02-12").step("S2", "2026-02-24")
    found = evaluate(slow, "2026-02-24")
    over = by_rule(found, "T-05")
    assert over.step == "S2" and over.details["steps"][0]["working_days"] == 3
    assert over.details["steps"][0]["allowed_working_days"] == 2
    assert "T-02" not in ids(found)
    assert over.responsible == {"id": "u-handler", "role": "handler"}
    # near miss: two working days
    ok = Case(SPRING).receive("2026-02-12").accept("2026-02-12").step("S2", "2026-02-14")
    assert "T-05" not in ids(evaluate(ok, "2026-02-14"))
    # the running step goes over while open
    running = Case(SPRING).receive("2026-02-12").accept("2026-02-12")
    assert "T-05" not in ids(evaluate(running, "2026-02-14"))
    assert by_rule(evaluate(running, "2026-02-24"), "T-05").details["steps"][0]["done"] is False


def test_risk_point_routes_the_alert():
    assert risk_point_for(ITEM, "S4")["grade"] == "A"
    assert risk_point_for(ITEM, "S2") is None
    assert risk_point_for(None, "S4") is None and risk_point_for({"risk_points": 3}, "S4") is None
    # S4 (批准) done by someone in the handler role: routed by its grade-A risk point
    case = Case().receive("2026-03-02").accept("2026-03-02").step("S2", "2026-03-03") \
        .step("S3", "2026-03-04").step("S4", "2026-03-05", role="handler")
    wrong = by_rule(evaluate(case, "2026-03-05"), "F-03")
    assert wrong.step == "S4"
    assert wrong.details["route"]["grade"] == "A"
    assert wrong.details["route"]["to"] == ["department_head"]
    assert wrong.details["route"]["source"] == "risk_point"
    assert wrong.details["route"]["risk_point"]["code"] == risk_point_for(ITEM, "S4")["code"]


# --------------------------------------------------------------------------- holidays, years


def test_national_day_2026_deadline():
    case = Case(SPRING).receive("2026-09-30").accept("2026-09-30")
    facts = case_facts(case.events)
    # 10-01..07 holidays; 10-08 Thu, 10-09 Fri, 10-10 Sat (worked), 10-12 Mon, 10-13 Tue
    assert deadline_for(facts, SPRING, RULESET, CAL).due == date(2026, 10, 13)
    assert "T-02" not in ids(evaluate(case, "2026-10-13"))
    assert "T-01" in ids(evaluate(case, "2026-10-12"))
    assert "T-01" not in ids(evaluate(case, "2026-10-09"))
    assert "T-02" in ids(evaluate(case, "2026-10-14"))


def test_deadline_in_an_unknown_year_is_unconfirmed():
    case = Case(SPRING).receive("2026-12-28").accept("2026-12-28")
    # 2027 is not in the calendar: 01-01 counts as a Friday working day -> due Mon 01-04
    yellow = by_rule(evaluate(case, "2027-01-05"), "T-02")
    assert yellow.details["due"] == "2027-01-04"
    assert yellow.details["deadline_confirmed"] is False
    assert yellow.details["unknown_years"] == [2027]
    assert "2027" in yellow.message_zh and "待确认" in yellow.message_zh
    # once the 2027 notice is entered, New Year's Day is a holiday: due 01-05, not overdue
    cal2027 = CAL.with_notice(YearNotice.from_entry(2027, ["2027-01-01"], [],
                                                    "国办发明电〔2026〕1号"))
    new = evaluate(case, "2027-01-05", calendar=cal2027)
    assert "T-02" not in ids(new) and by_rule(new, "T-01").details["deadline_confirmed"]
    assert ("C-0001", "T-02", "yellow") in superseded(evaluate(case, "2027-01-05"), new)


# --------------------------------------------------------------------------- acceptance


def test_A01_acceptance_later_than_five_working_days():
    late = Case(SPRING).receive("2026-02-12").accept("2026-02-27")
    finding = by_rule(evaluate(late, "2026-02-27"), "A-01")
    assert finding.details["due"] == "2026-02-26" and finding.step == "S1"
    assert "2026-02-27" in finding.message_zh
    # art. 32: deemed accepted on receipt, so the processing limit counts from 02-12
    assert by_rule(evaluate(late, "2026-02-27"), "T-02").details["start_basis"] == "deemed_art32"
    near = Case(SPRING).receive("2026-02-12").accept("2026-02-26")
    assert "A-01" not in ids(evaluate(near, "2026-02-27"))
    # still undecided: judged up to as_of
    pending = Case(SPRING).receive("2026-02-12")
    assert "A-01" not in ids(evaluate(pending, "2026-02-26"))
    assert by_rule(evaluate(pending, "2026-02-27"), "A-01").details["pending"] is True
    # a supplement notice in time answers the receipt; the resubmission starts a new period
    supp = Case(SPRING).receive("2026-02-12").add(
        "case.supplement_requested", "2026-02-13",
        {"actor": {"id": "u-clerk", "role": "clerk"}, "materials": [], "missing": ["M2"]})
    assert "A-01" not in ids(evaluate(supp, "2026-03-20"))


# --------------------------------------------------------------------------- flow legality


def base_case(item: dict = ITEM) -> Case:
    return Case(item).receive("2026-03-02").accept("2026-03-02")


def test_F01_step_skipped_or_out_of_order():
    skipped = base_case().step("S2", "2026-03-03").step("S4", "2026-03-04")
    f = by_rule(evaluate(skipped, "2026-03-04"), "F-01")
    assert f.details["issues"][0]["kind"] == "skipped"
    assert f.details["issues"][0]["skipped"] == ["S3"] and "“乡镇审核”" in f.message_zh
    assert f.seq == 4
    # a step before acceptance
    early = Case().receive("2026-03-02").step("S2", "2026-03-02").accept("2026-03-03")
    assert "F-01" in ids(evaluate(early, "2026-03-03"))
    # a step after the decision
    after = clean_case().step("S2", "2026-03-09")
    assert "F-01" in ids(evaluate(after, "2026-03-09"))
    # near miss: returned and redone in order
    returned = base_case().step("S2", "2026-03-03").step("S3", "2026-03-04", outcome="return") \
        .step("S2", "2026-03-05").step("S3", "2026-03-06").step("S4", "2026-03-06") \
        .decide("2026-03-09").complete("2026-03-09")
    assert evaluate(returned, "2026-03-20") == []


def test_F02_decision_without_review():
    case = base_case().step("S2", "2026-03-03").decide("2026-03-04").complete("2026-03-04")
    f = by_rule(evaluate(case, "2026-03-04"), "F-02")
    assert f.level == "red" and f.details["missing_steps"] == ["S3"]   # S4 decides
    assert "F-01" not in ids(evaluate(case, "2026-03-04"))
    assert f.details["route"]["source"] == "level"  # S3 has no risk point
    # near miss: every step done
    assert "F-02" not in ids(evaluate(clean_case(), "2026-03-20"))


def test_F03_action_by_someone_without_the_role():
    wrong = base_case().step("S2", "2026-03-03").step("S3", "2026-03-04", role="handler")
    f = by_rule(evaluate(wrong, "2026-03-04"), "F-03")
    assert f.responsible == {"id": "u-reviewer", "role": "handler"}
    assert "审核" in f.message_zh
    assert "F-03" not in ids(evaluate(base_case().step("S2", "2026-03-03"), "2026-03-04"))
    # acceptance by a handler
    assert "F-03" in ids(evaluate(Case().receive("2026-03-02")
                                  .accept("2026-03-02", role="handler"), "2026-03-02"))
    # a role the user does not hold (when the caller knows the users)
    ok = base_case().step("S2", "2026-03-03")
    ctx = EvalContext(user_roles={"u-handler": {"clerk"}})
    assert "F-03" in ids(evaluate(ok, "2026-03-03", context=ctx))
    ctx = EvalContext(user_roles={"u-handler": {"handler"}})
    assert "F-03" not in ids(evaluate(ok, "2026-03-03", context=ctx))


def test_F04_same_person_accepting_and_approving():
    def case(item):
        return Case(item).receive("2026-03-02").accept("2026-03-02", by="u-li") \
            .step("S2", "2026-03-03").step("S3", "2026-03-04").step("S4", "2026-03-05") \
            .decide("2026-03-06", by="u-li").complete("2026-03-06")
    f = by_rule(evaluate(case(ITEM), "2026-03-06"), "F-04")
    assert f.details["person"] == "u-li" and "u-li" in f.message_zh
    # near misses: the item allows it; a different person decides
    assert "F-04" not in ids(evaluate(case(OPEN_ITEM), "2026-03-06"))
    assert "F-04" not in ids(evaluate(clean_case(), "2026-03-20"))
    # approving through the 批准 step counts too
    via_step = Case().receive("2026-03-02").accept("2026-03-02", by="u-li") \
        .step("S2", "2026-03-03").step("S3", "2026-03-04").step("S4", "2026-03-05", by="u-li",
                                                                role="approver")
    assert "F-04" in ids(evaluate(via_step, "2026-03-05"))


def test_F05_extension_without_approval():
    bad = base_case().step("S2", "2026-03-03").extend("2026-03-04", approver_role="handler")
    f = by_rule(evaluate(bad, "2026-03-04"), "F-05")
    assert "不具备批准权限" in f.message_zh
    ok = base_case().step("S2", "2026-03-03").extend("2026-03-04")
    assert "F-05" not in ids(evaluate(ok, "2026-03-04"))
    # the approved extension moves the deadline; the unapproved one does not
    assert deadline_for(case_facts(ok.events), ITEM, RULESET, CAL).due == date(2026, 3, 23)
    assert deadline_for(case_facts(bad.events), ITEM, RULESET, CAL).due == date(2026, 3, 16)
    # self-approval, when the rule set forbids it
    selfish = base_case().extend("2026-03-04", approver="u-handler", approver_role="head")
    assert "F-05" not in ids(evaluate(selfish, "2026-03-04"))
    assert "F-05" in ids(evaluate(selfish, "2026-03-04",
                                  rules=RuleSet(self_approval_allowed=False)))


def test_F06_second_extension():
    twice = base_case().extend("2026-03-04").extend("2026-03-05")
    f = by_rule(evaluate(twice, "2026-03-05"), "F-06")
    assert f.seq == 4
    assert deadline_for(case_facts(twice.events), ITEM, RULESET, CAL).due == date(2026, 3, 23)
    assert "F-06" not in ids(evaluate(base_case().extend("2026-03-04"), "2026-03-05"))


def suspended(reason: str, procedure: str = "expert_review") -> Case:
    return base_case().step("S2", "2026-03-03").add("case.suspended", "2026-03-04", {
        "actor": {"id": "u-handler", "role": "handler"}, "reason": reason,
        "procedure": procedure, "deadline": {"limit_half_days": 20, "due": None,
                                             "confirmed": True, "calendar_version": 1}})


def test_F07_special_procedure_without_reason():
    assert "F-07" in ids(evaluate(suspended("无"), "2026-03-04"))
    assert "F-07" in ids(evaluate(suspended(" "), "2026-03-04"))
    assert "F-07" in ids(evaluate(suspended("组织专家评审", procedure="nap"), "2026-03-04"))
    assert "F-07" not in ids(evaluate(suspended("组织专家评审，需时十日"), "2026-03-04"))


def test_special_procedure_pauses_the_clock():
    # suspended Wed 03-04, resumed Wed 03-11: 03-05..03-11 paused (5 working days)
    case = suspended("组织专家评审，需时五日").add("case.resumed", "2026-03-11", {
        "actor": {"id": "u-handler", "role": "handler"}, "reason": "评审结束",
        "deadline": {"limit_half_days": 20, "due": None, "confirmed": True,
                     "calendar_version": 1}})
    assert deadline_for(case_facts(case.events), ITEM, RULESET, CAL).due == date(2026, 3, 23)
    # while paused the case cannot fall overdue, and no date changes it
    open_pause = suspended("组织专家评审，需时五日")
    facts = case_facts(open_pause.events)
    assert deadline_for(facts, ITEM, RULESET, CAL).due is None
    assert not ids(evaluate(open_pause, "2026-06-01")) & {"T-01", "T-02", "T-03"}
    assert next_change_date(facts, ITEM, RULESET, CAL, after=date(2026, 6, 1)) is None


# --------------------------------------------------------------------------- completeness, fees


def test_C01_accepted_with_required_materials_missing():
    case = Case(FEE_ITEM).receive("2026-03-02").accept("2026-03-02", missing=("M1",))
    f = by_rule(evaluate(case, "2026-03-02"), "C-01")
    assert f.details["missing"] == ["M1"] and "“居民户口簿”" in f.message_zh
    assert f.step == "S1" and f.responsible == {"id": "u-clerk", "role": "clerk"}
    near = Case(FEE_ITEM).receive("2026-03-02").accept("2026-03-02", missing=("M2",))
    assert FEE_ITEM["materials"][1]["required"] is False  # M2 is optional
    assert "C-01" not in ids(evaluate(near, "2026-03-02"))


def fee_case() -> Case:
    return Case(FEE_ITEM).receive("2026-03-02").accept("2026-03-02")


def test_P01_fee_differs_from_the_standard():
    over = fee_case().charge("2026-03-02", 3000)
    f = by_rule(evaluate(over, "2026-03-02"), "P-01")
    assert f.details["charged_fen"] == 3000 and f.details["standard_fen"] == 2000
    assert "30.00 元" in f.message_zh and "20.00 元" in f.message_zh
    assert "P-01" not in ids(evaluate(fee_case().charge("2026-03-02", 2000), "2026-03-02"))
    # a reduced fee with the head's approval is fine, without it is not
    assert "P-01" not in ids(evaluate(fee_case().charge("2026-03-02", 1000), "2026-03-02"))
    assert "P-01" in ids(evaluate(fee_case().charge("2026-03-02", 1000, approver_role="clerk"),
                                  "2026-03-02"))
    # the event's standard is not the catalogue's
    assert "P-01" in ids(evaluate(fee_case().charge("2026-03-02", 1500, standard=1500),
                                  "2026-03-02"))


def test_P02_fee_on_a_free_item():
    f = by_rule(evaluate(base_case().charge("2026-03-02", 500, standard=0), "2026-03-02"),
                "P-02")
    assert f.level == "red" and "5.00 元" in f.message_zh
    assert "P-02" not in ids(evaluate(base_case(), "2026-03-02"))


def waived(approver_role: str, reason: str = "低保对象初次申领免收") -> Case:
    return fee_case().add("fee.waived", "2026-03-02", {
        "actor": {"id": "u-clerk", "role": "clerk"},
        "approver": {"id": "u-x", "role": approver_role}, "amount_fen": 2000,
        "standard_fen": 2000, "reason": reason})


def test_P03_waiver_or_refund_without_approval():
    assert "P-03" in ids(evaluate(waived("clerk"), "2026-03-02"))
    assert "P-03" in ids(evaluate(waived("head", reason="无"), "2026-03-02"))
    assert "P-03" not in ids(evaluate(waived("head"), "2026-03-02"))
    refund = fee_case().charge("2026-03-02", 2000).add("fee.refunded", "2026-03-03", {
        "actor": {"id": "u-clerk", "role": "clerk"}, "approver": {"id": "u-c", "role": "clerk"},
        "amount_fen": 2000, "reason": "重复收费"})
    assert "P-03" in ids(evaluate(refund, "2026-03-03"))


# --------------------------------------------------------------------------- reasons, voided


def test_R01_refusal_or_rejection_without_reason():
    def refused(reason):
        return Case().receive("2026-03-02").add("case.refused", "2026-03-02", {
            "actor": {"id": "u-clerk", "role": "clerk"}, "reason": reason})
    assert "R-01" in ids(evaluate(refused("无"), "2026-03-02"))
    assert "R-01" in ids(evaluate(refused(""), "2026-03-02"))
    assert "R-01" not in ids(evaluate(refused("申请人不属于本县户籍，不符合受理条件"), "2026-03-02"))
    rejected = base_case().step("S2", "2026-03-03").step("S3", "2026-03-04") \
        .decide("2026-03-06", outcome="reject", reason="-")
    assert by_rule(evaluate(rejected, "2026-03-06"), "R-01").details["kind"] == "rejected"
    ok = base_case().step("S2", "2026-03-03").step("S3", "2026-03-04") \
        .decide("2026-03-06", outcome="reject", reason="家庭人均收入高于保障标准")
    assert "R-01" not in ids(evaluate(ok, "2026-03-06"))


def voided(approver_role: str, reason: str = "录入错误，重复立案") -> Case:
    return base_case().add("case.voided", "2026-03-03", {
        "actor": {"id": "u-wang", "role": "head"},
        "approver": {"id": "u-head", "role": approver_role}, "reason": reason})


def test_V01_every_voided_case_and_V02_without_approval():
    found = evaluate(voided("head"), "2026-03-03")
    assert ids(found) == {"V-01"} and by_rule(found, "V-01").level == "info"
    assert "录入错误" in by_rule(found, "V-01").message_zh
    assert ids(evaluate(voided("handler"), "2026-03-03")) == {"V-01", "V-02"}
    assert "V-02" in ids(evaluate(voided("head", reason="无"), "2026-03-03"))
    assert "V-01" not in ids(evaluate(base_case(), "2026-03-03"))
    # a voided case is not judged overdue afterwards
    assert not ids(evaluate(voided("head"), "2026-06-01")) & {"T-01", "T-02", "T-03"}


def test_O01_case_handled_outside_the_platform():
    outside = Case()
    outside.step("S2", "2026-03-03").decide("2026-03-04").complete("2026-03-04")
    f = by_rule(evaluate(outside, "2026-03-04"), "O-01")
    assert "无接件记录" in f.message_zh
    no_accept = Case().receive("2026-03-02").step("S2", "2026-03-03")
    assert "无受理记录" in by_rule(evaluate(no_accept, "2026-03-03"), "O-01").message_zh
    assert "O-01" not in ids(evaluate(base_case().step("S2", "2026-03-03"), "2026-03-03"))
    # received and refused: never accepted, but nothing handled either
    refused = Case().receive("2026-03-02").add("case.refused", "2026-03-02", {
        "actor": {"id": "u-clerk", "role": "clerk"}, "reason": "不属于本中心受理范围"})
    assert "O-01" not in ids(evaluate(refused, "2026-03-02"))


# --------------------------------------------------------------------------- integrity, content


def test_I01_events_recorded_while_the_clock_was_skewed():
    late = spring_case()
    found = evaluate(late, "2026-02-27", context=EvalContext(skewed_seqs=frozenset({3})))
    f = by_rule(found, "I-01")
    assert f.details["seqs"] == [3] and f.level == "info"
    assert by_rule(found, "T-02").details["times_uncertain"] is True
    # (node, seq) pairs and time intervals
    pair = EvalContext(skewed_seqs=frozenset({("TS01", 2)}))
    assert "I-01" in ids(evaluate(late, "2026-02-27", context=pair))
    interval = EvalContext(skew_intervals=((datetime(2026, 2, 13, tzinfo=SH),
                                            datetime(2026, 2, 14, tzinfo=SH)),))
    assert "I-01" in ids(evaluate(late, "2026-02-27", context=interval))
    # near miss: skew elsewhere in the node's log
    other = evaluate(late, "2026-02-27", context=EvalContext(skewed_seqs=frozenset({99})))
    assert "I-01" not in ids(other) and "times_uncertain" not in by_rule(other, "T-02").details


def test_X01_odd_content_is_a_finding_not_an_exception():
    case = base_case()
    case.events[0]["body"]["committed_half_days"] = "ten"
    case.add("case.teleported", "2026-03-03", {"x": 1})
    f = by_rule(evaluate(case, "2026-03-03"), "X-01")
    assert f.details["count"] == 2
    kinds = [p["problem"] for p in f.details["problems"]]
    assert any("committed_half_days" in k for k in kinds) and any("unknown" in k for k in kinds)
    # the item's limit is used when the case's own is unreadable
    assert deadline_for(case_facts(case.events), ITEM, RULESET, CAL).due == date(2026, 3, 16)
    assert "X-01" not in ids(evaluate(base_case(), "2026-03-03"))
    # a bad timestamp and a duplicate seq with other content
    bad = base_case()
    bad.events[1]["ts"] = "yesterday"
    bad.events.append(dict(bad.events[0], body={}))
    assert by_rule(evaluate(bad, "2026-03-03"), "X-01").details["count"] >= 2
    # an exact duplicate is read once and is no problem
    dup = base_case()
    dup.events.append(copy.deepcopy(dup.events[1]))
    assert evaluate(dup, "2026-03-03") == evaluate(base_case(), "2026-03-03")


# --------------------------------------------------------------------------- fairness


def test_offline_node_that_finishes_in_time_gets_no_yellow():
    """Due Thu 02-26. The node last syncs on Wed 02-25, is off-line 02-26, 02-27 and
    Sat 02-28 (three working days), completes the case on 02-26 and syncs on 03-02."""
    before = Case(SPRING).receive("2026-02-12").accept("2026-02-12") \
        .step("S2", "2026-02-14").step("S3", "2026-02-24").step("S4", "2026-02-25")
    last_sync = datetime(2026, 2, 25, 17, 0, tzinfo=SH)
    # hub ticks on 02-27 and 02-28 judge the node's cases as of its last sync only
    at_hub = evaluate_case(before.events, SPRING, RULESET, CAL, last_sync)
    assert ids(at_hub) == {"T-01"}
    assert "T-02" not in ids(evaluate_case(before.events, SPRING, RULESET, CAL, last_sync))
    # judging by the hub's own date would have been unfair
    unfair = evaluate(before, "2026-02-27")
    assert "T-02" in ids(unfair)
    # the completion arrives: no yellow, and the earlier alerts are superseded
    after = copy.deepcopy(before)
    after.decide("2026-02-26").complete("2026-02-26")
    now = evaluate_case(after.events, SPRING, RULESET, CAL, datetime(2026, 3, 2, 9, tzinfo=SH))
    assert not ids(now) & {"T-01", "T-02", "T-03"}
    assert superseded(at_hub, now) == [("C-0001", "T-01", "warning")]
    assert ("C-0001", "T-02", "yellow") in superseded(unfair, now)
    # stored forms work too, and the scope protects other evaluators' findings
    stored = [f.to_dict() for f in at_hub] + [("C-0001", "T-04", "red")]
    assert superseded(stored, now) == [("C-0001", "T-01", "warning")]
    assert superseded(at_hub, now, rule_ids={"T-02"}) == []


def test_judging_never_reaches_past_as_of():
    case = spring_case()
    for day in range(12, 27):
        assert "T-02" not in ids(evaluate(case, date(2026, 2, day)))


# --------------------------------------------------------------------------- incremental


def test_evaluate_time_matches_evaluate_case_for_time_rules():
    for case, as_of in ((spring_case(), "2026-03-02"), (clean_case(), "2026-03-20"),
                        (Case(SPRING).receive("2026-02-12"), "2026-03-02")):
        facts = case_facts(case.events)
        full = [f for f in evaluate(case, as_of) if f.rule_id in TIME_RULE_IDS]
        assert evaluate_time(facts, case.item, RULESET, CAL, date.fromisoformat(as_of)) == full


@pytest.mark.parametrize("build", [
    lambda: spring_case(),
    lambda: Case(SPRING).receive("2026-02-12"),
    lambda: Case(SPRING).receive("2026-09-25").accept("2026-09-30"),
    lambda: base_case().step("S2", "2026-03-03").extend("2026-03-04"),
    lambda: Case(SPRING).receive("2026-12-21").accept("2026-12-28").step("S2", "2026-12-29"),
])
def test_next_change_date_is_never_late(build):
    """Whenever the time findings change on day d, next_change_date(after=d-1) <= d."""
    case = build()
    facts = case_facts(case.events)
    day = facts.received.day
    previous = evaluate_time(facts, case.item, RULESET, CAL, day)
    changes = 0
    for _ in range(60):
        nxt = next_change_date(facts, case.item, RULESET, CAL, after=day)
        day += timedelta(days=1)
        current = evaluate_time(facts, case.item, RULESET, CAL, day)
        if {f.key for f in current} != {f.key for f in previous}:
            changes += 1
            assert nxt is not None and nxt <= day, (day, nxt)
        previous = current
    assert changes >= 1


def test_next_change_date_values():
    facts = case_facts(spring_case().events)
    # S3 (20 % of 5 days: 1 working day) started 02-13: over on the 2nd working day, 02-24
    assert next_change_date(facts, SPRING, RULESET, CAL, after=date(2026, 2, 13)) \
        == date(2026, 2, 24)
    assert next_change_date(facts, SPRING, RULESET, CAL, after=date(2026, 2, 24)) \
        == date(2026, 2, 25)  # T-01
    assert next_change_date(facts, SPRING, RULESET, CAL, after=date(2026, 2, 25)) \
        == date(2026, 2, 27)  # T-02
    assert next_change_date(facts, SPRING, RULESET, CAL, after=date(2026, 2, 27)) \
        == date(2026, 3, 2)   # T-03
    assert next_change_date(facts, SPRING, RULESET, CAL, after=date(2026, 3, 2)) is None
    closed = case_facts(clean_case().events)
    assert next_change_date(closed, ITEM, RULESET, CAL, after=date(2026, 3, 6)) is None


def test_events_in_any_order_and_signed_events_give_the_same_findings():
    case = base_case().step("S2", "2026-03-03").step("S4", "2026-03-04")
    expected = evaluate(case, "2026-03-30")
    shuffled = list(case.events)
    random.Random(7).shuffle(shuffled)
    assert evaluate_case(shuffled, ITEM, RULESET, CAL, date(2026, 3, 30)) == expected
    key = PrivateKey.from_seed(bytes(32))
    prev, signed = GENESIS, []
    for env in case.events:
        event = sign_event(key, node=env["node"], seq=env["seq"], prev=prev, ts=env["ts"],
                           type=env["type"], case=env["case"], body=env["body"])
        prev = event.link_hex
        signed.append(event)
    assert evaluate_case(signed, ITEM, RULESET, CAL, date(2026, 3, 30)) == expected


def test_a_case_spread_over_two_nodes_is_read_in_time_order():
    township = Case(node="TS01").receive("2026-03-02").accept("2026-03-02") \
        .step("S2", "2026-03-03").step("S3", "2026-03-04")
    county = Case(node="CTY01", first_seq=500).step("S4", "2026-03-05") \
        .decide("2026-03-06").complete("2026-03-06")
    assert evaluate_case(county.events + township.events, ITEM, RULESET, CAL,
                         date(2026, 3, 20)) == []


# --------------------------------------------------------------------------- rule set


def test_ruleset_document_round_trip_and_effect():
    rules = RuleSet(version=7, warning_days=2, red_overdue_share_pct=20, repeat_count=4,
                    repeat_period_days=30, acceptance_days=3, approval_roles="head,approver",
                    disabled=frozenset({"V-01"}), levels={"T-05": "yellow"})
    doc = rules.to_document()
    assert json.loads(json.dumps(doc)) == doc
    for value in doc["thresholds"].values():
        assert type(value) in (int, str, bool)
    assert RuleSet.from_document(doc) == rules
    assert RuleSet.from_document({"format": "supervision-rules/1", "version": 1}) == RuleSet()
    slow = Case(SPRING).receive("2026-02-12").accept("2026-02-12").step("S2", "2026-02-24")
    found = evaluate(slow, "2026-02-24", rules=rules)
    assert by_rule(found, "T-05").level == "yellow"
    assert by_rule(found, "T-05").ruleset_version == 7
    assert "V-01" not in ids(evaluate(voided("head"), "2026-03-03", rules=rules))
    assert "A-01" in ids(evaluate(Case(SPRING).receive("2026-02-12").accept("2026-02-25"),
                                  "2026-02-25", rules=rules))


@pytest.mark.parametrize("change, field", [
    ({"thresholds": {"warning_days": -1}}, "thresholds.warning_days"),
    ({"thresholds": {"warning_days": True}}, "thresholds.warning_days"),
    ({"thresholds": {"deemed_acceptance": 1}}, "thresholds.deemed_acceptance"),
    ({"thresholds": {"approval_roles": "boss"}}, "thresholds.approval_roles"),
    ({"thresholds": {"colour": "red"}}, "thresholds.colour"),
    ({"rules": {"Z-99": {"enabled": False}}}, "rules.Z-99"),
    ({"rules": {"T-01": {"level": "purple"}}}, "rules.T-01.level"),
    ({"rules": {"T-01": {"enabled": "no"}}}, "rules.T-01.enabled"),
    ({"version": 0}, "version"),
    ({"format": "other/1"}, "format"),
    ({"extra": 1}, "$.extra"),
])
def test_ruleset_validation_names_the_field(change, field):
    doc = {"format": "supervision-rules/1", "version": 1, **change}
    with pytest.raises(SupervisionError) as err:
        RuleSet.from_document(doc)
    assert err.value.field == field and err.value.zh and err.value.code == "rules_invalid"


def test_every_rule_and_threshold_is_documented():
    doc = (Path(__file__).parent.parent / "docs" / "supervision.md").read_text("utf-8")
    for rule_id, rule in RULES.items():
        assert f"| {rule_id} | {rule.version} |" in doc, rule_id
        assert rule.basis in doc, rule_id
    for name in RuleSet().thresholds():
        assert f"`{name}`" in doc, name


def test_api_misuse_is_a_clear_error():
    with pytest.raises(SupervisionError):
        evaluate_case([], ITEM, RULESET, CAL, datetime(2026, 3, 1))  # naive
    with pytest.raises(SupervisionError):
        evaluate_case([], ITEM, {"version": 1}, CAL, date(2026, 3, 1))
    with pytest.raises(SupervisionError):
        evaluate_case([], ITEM, RULESET, None, date(2026, 3, 1))


# --------------------------------------------------------------------------- robustness

_TYPES = ["case.received", "case.accepted", "case.refused", "case.supplement_requested",
          "case.resubmitted", "case.step_completed", "case.decided", "case.extended",
          "case.suspended", "case.resumed", "case.completed", "case.delivered",
          "case.withdrawn", "case.voided", "fee.charged", "fee.waived", "fee.refunded",
          "deadline.recomputed", "node.initialised", "case.unknown", "", None, 3]
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**60, 2**60) | st.text(max_size=8)
    | st.sampled_from(["S1", "S2", "S4", "head", "clerk", "approve", "reject", "return",
                       "pass", "expert_review", "2026-02-30"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["actor", "id", "role", "step", "outcome", "reason", "days",
                         "approver", "amount_fen", "standard_fen", "materials", "required",
                         "present", "flow", "procedure", "committed_half_days", "item",
                         "separate_accept_approve", "fee_standard_fen", "x"]),
        inner, max_size=6),
    max_leaves=20)
_ts = st.one_of(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2110, 1, 1),
                 timezones=st.just(SH)).map(lambda d: d.isoformat(timespec="milliseconds")),
    st.text(max_size=30), st.none(), st.integers())
_event = st.one_of(
    st.fixed_dictionaries({"seq": st.one_of(st.integers(-3, 30), st.none(), st.text(max_size=2)),
                           "ts": _ts, "type": st.sampled_from(_TYPES),
                           "case": st.sampled_from(["C-1", "C-2", None, 5]), "body": _json,
                           "node": st.sampled_from(["TS01", "TS02", None])}),
    _json)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_event, max_size=14), item=st.sampled_from([ITEM, FEE_ITEM, None, {},
                                                                    {"flow": 3}]),
       as_of=st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 1, 1)),
       base=st.booleans())
def test_random_events_never_raise(events, item, as_of, base):
    if base:  # a real case with random events mixed in
        events = base_case().events + events
    found = evaluate_case(events, item, RULESET, CAL, as_of,
                          EvalContext(skewed_seqs=frozenset({1, 2}),
                                      user_roles={"u-clerk": ["clerk"]}))
    for f in found:
        json.dumps(f.to_dict(), ensure_ascii=False)
    facts = case_facts(events)
    evaluate_time(facts, item, RULESET, CAL, as_of)
    next_change_date(facts, item, RULESET, CAL, after=as_of)
    next_change_date(facts, item, RULESET, CAL)
    deadline_for(facts, item, RULESET, CAL)
    overdue_record(facts, item, RULESET, CAL, as_of)


def test_non_iterables_and_junk_do_not_raise():
    for junk in ([None], [1, "x", b"y"], [{"body": None}], [{"type": "case.received"}]):
        evaluate_case(junk, None, RULESET, CAL, date(2026, 1, 1))
    f = case_facts(iter([{"seq": 1, "ts": "2026-01-01T00:00:00.000+08:00",
                          "type": "case.accepted", "case": "C", "body": [], "node": "N"}]))
    assert f.accepted is not None and f.problems
