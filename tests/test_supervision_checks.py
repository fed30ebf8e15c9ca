"""Each supervision check function alone, on small hand-made facts: one case that raises
its finding and one that does not; and the check tables name exactly the rule table's
ids (rules evaluated elsewhere listed explicitly)."""

from __future__ import annotations

from datetime import date

import pytest

from protocol.supervision import RULES, EvalContext, RuleSet, case_facts
from protocol.supervision.checks import (STATIC_CHECKS, check_completeness, check_content,
                                         check_extensions, check_fees, check_integrity,
                                         check_no_review, check_order, check_outside,
                                         check_reasons, check_roles, check_separation,
                                         check_suspensions, check_voided)
from protocol.supervision.deadlines import Timing, case_clock
from protocol.supervision.engine import CHECKS, RULES_EVALUATED_ELSEWHERE
from protocol.supervision.findings import Check, Collector
from protocol.supervision.support import CaseFlow
from protocol.supervision.time_checks import (DEADLINE_CHECKS, INTAKE_CHECKS,
                                              check_acceptance, check_side_share,
                                              check_step_share, check_timeliness)

from test_crosslevel_supervision import ITEM as FORWARDED_ITEM, forwarded_case
from test_supervision_rules import (CAL, FEE_ITEM, ITEM, OPEN_ITEM, RULESET, SPRING, Case,
                                    base_case, clean_case, fee_case, spring_case, suspended,
                                    voided, waived)


def _setup(events, item, rules, context):
    facts = case_facts(events)
    return facts, Collector(facts, item, rules, context), CaseFlow.of(facts, item)


def static(check, case: Case, *, item=None, rules: RuleSet = RULESET,
           context: EvalContext | None = None) -> list[str]:
    """The rule ids one date-independent check raises for a case, alone."""
    item = case.item if item is None else item
    facts, out, flow = _setup(case.events, item, rules, context)
    check(out, facts, item, rules, flow, out.context)
    return [f.rule_id for f in out.findings]


def intake(check, case: Case, today: str) -> list[str]:
    facts, out, flow = _setup(case.events, case.item, RULESET, None)
    check(out, facts, case.item, RULESET, flow, CAL, date.fromisoformat(today))
    return [f.rule_id for f in out.findings]


def deadline(check, events: list[dict], item: dict, today: str) -> list[str]:
    day = date.fromisoformat(today)
    facts, out, flow = _setup(events, item, RULESET, None)
    timing = Timing.of(case_clock(facts, item, RULESET, CAL, day), facts, day)
    check(out, facts, item, RULESET, flow, CAL, timing)
    return [f.rule_id for f in out.findings]


# --------------------------------------------------------------------------- the tables


def test_the_check_tables_name_exactly_the_rule_table():
    registered = [rule_id for check in CHECKS for rule_id in check.rule_ids]
    assert len(registered) == len(set(registered)), "a rule registered twice"
    assert set(registered) | RULES_EVALUATED_ELSEWHERE == set(RULES)
    assert not set(registered) & RULES_EVALUATED_ELSEWHERE
    assert RULES_EVALUATED_ELSEWHERE == {"T-04"}          # evaluate_repeats, across cases
    for check in CHECKS:
        assert [r.id for r in check.rules] == list(check.rule_ids)
        assert check.run.__module__ in ("protocol.supervision.checks",
                                        "protocol.supervision.time_checks")


def test_the_checks_run_in_the_documented_order():
    assert CHECKS == STATIC_CHECKS + INTAKE_CHECKS + DEADLINE_CHECKS
    assert [c.rule_ids for c in CHECKS] == [
        ("X-01",), ("I-01",), ("O-01",), ("F-01",), ("F-02",), ("F-03",), ("F-04",),
        ("F-05", "F-06"), ("F-07",), ("C-01",), ("P-01", "P-02", "P-03"), ("R-01",),
        ("V-01", "V-02"), ("A-01",), ("T-01", "T-02", "T-03"), ("T-05",), ("T-06",)]


def test_a_check_entry_refuses_an_unknown_rule_id():
    with pytest.raises(ValueError, match="Z-99"):
        Check(("F-01", "Z-99"), check_order)
    with pytest.raises(ValueError):
        Check((), check_order)


def test_guard_names_the_rules_of_a_failing_check_and_returns_its_value():
    facts, out, _ = _setup(base_case().events, ITEM, RULESET, None)

    def broken() -> None:
        raise KeyError("x")

    assert out.guard(("F-05", "F-06"), broken) is None
    [finding] = out.findings
    assert finding.rule_id == "X-01"
    assert finding.details["rules"] == "F-05,F-06"
    assert "规则 F-05,F-06 无法判定（KeyError）" in finding.message_zh
    assert out.guard(("T-01",), lambda a, b: a + b, 2, 3) == 5
    assert len(out.findings) == 1


# --------------------------------------------------------------------------- static checks


def test_check_content():
    odd = base_case()
    odd.events[0]["body"]["committed_half_days"] = "ten"
    assert static(check_content, odd) == ["X-01"]
    assert static(check_content, base_case()) == []


def test_check_integrity():
    assert static(check_integrity, spring_case(),
                  context=EvalContext(skewed_seqs=frozenset({3}))) == ["I-01"]
    assert static(check_integrity, spring_case(),
                  context=EvalContext(skewed_seqs=frozenset({99}))) == []


def test_check_outside():
    assert static(check_outside, Case().receive("2026-03-02").step("S2", "2026-03-03")) \
        == ["O-01"]
    assert static(check_outside, base_case().step("S2", "2026-03-03")) == []


def test_check_order():
    skipped = base_case().step("S2", "2026-03-03").step("S4", "2026-03-04")
    assert static(check_order, skipped) == ["F-01"]
    assert static(check_order, clean_case()) == []


def test_check_no_review():
    early = base_case().step("S2", "2026-03-03").decide("2026-03-04")
    assert static(check_no_review, early) == ["F-02"]
    assert static(check_no_review, clean_case()) == []


def test_check_roles():
    wrong = base_case().step("S2", "2026-03-03").step("S3", "2026-03-04", role="handler")
    assert static(check_roles, wrong) == ["F-03"]
    assert static(check_roles, base_case().step("S2", "2026-03-03")) == []


def test_check_separation():
    def case(item):
        return Case(item).receive("2026-03-02").accept("2026-03-02", by="u-li") \
            .step("S2", "2026-03-03").step("S3", "2026-03-04").step("S4", "2026-03-05") \
            .decide("2026-03-06", by="u-li")
    assert static(check_separation, case(ITEM)) == ["F-04"]
    assert static(check_separation, case(OPEN_ITEM)) == []


def test_check_extensions():
    unapproved = base_case().extend("2026-03-04", approver_role="handler")
    assert static(check_extensions, unapproved) == ["F-05"]
    assert static(check_extensions, base_case().extend("2026-03-04").extend("2026-03-05")) \
        == ["F-06"]
    assert static(check_extensions, base_case().extend("2026-03-04")) == []


def test_check_suspensions():
    assert static(check_suspensions, suspended("无")) == ["F-07"]
    assert static(check_suspensions, suspended("组织专家评审，需时十日")) == []


def test_check_completeness():
    missing = Case(FEE_ITEM).receive("2026-03-02").accept("2026-03-02", missing=("M1",))
    assert static(check_completeness, missing) == ["C-01"]
    optional = Case(FEE_ITEM).receive("2026-03-02").accept("2026-03-02", missing=("M2",))
    assert static(check_completeness, optional) == []


def test_check_fees():
    assert static(check_fees, fee_case().charge("2026-03-02", 3000)) == ["P-01"]
    assert static(check_fees, base_case().charge("2026-03-02", 500, standard=0)) == ["P-02"]
    assert static(check_fees, waived("clerk")) == ["P-03"]
    assert static(check_fees, fee_case().charge("2026-03-02", 2000)) == []
    assert static(check_fees, waived("head")) == []


def test_check_reasons():
    def refused(reason):
        return Case().receive("2026-03-02").add("case.refused", "2026-03-02", {
            "actor": {"id": "u-clerk", "role": "clerk"}, "reason": reason})
    assert static(check_reasons, refused("无")) == ["R-01"]
    assert static(check_reasons, refused("申请人不属于本县户籍，不符合受理条件")) == []


def test_check_voided():
    assert static(check_voided, voided("handler")) == ["V-01", "V-02"]
    assert static(check_voided, voided("head")) == ["V-01"]
    assert static(check_voided, base_case()) == []


# --------------------------------------------------------------------------- time checks


def test_check_acceptance():
    late = Case(SPRING).receive("2026-02-12").accept("2026-02-27")
    assert intake(check_acceptance, late, "2026-02-27") == ["A-01"]
    in_time = Case(SPRING).receive("2026-02-12").accept("2026-02-26")
    assert intake(check_acceptance, in_time, "2026-02-27") == []


def test_check_timeliness():
    events = spring_case().events                    # due Thu 2026-02-26
    assert deadline(check_timeliness, events, SPRING, "2026-02-25") == ["T-01"]
    assert deadline(check_timeliness, events, SPRING, "2026-02-27") == ["T-02"]
    assert deadline(check_timeliness, events, SPRING, "2026-03-02") == ["T-02", "T-03"]
    assert deadline(check_timeliness, events, SPRING, "2026-02-24") == []


def test_check_step_share():
    slow = Case(SPRING).receive("2026-02-12").accept("2026-02-12").step("S2", "2026-02-24")
    assert deadline(check_step_share, slow.events, SPRING, "2026-02-24") == ["T-05"]
    ok = Case(SPRING).receive("2026-02-12").accept("2026-02-12").step("S2", "2026-02-14")
    assert deadline(check_step_share, ok.events, SPRING, "2026-02-14") == []


def test_check_side_share():
    assert deadline(check_side_share, forwarded_case("2026-03-20"), FORWARDED_ITEM,
                    "2026-03-20") == ["T-06"]
    assert deadline(check_side_share, forwarded_case("2026-03-11"), FORWARDED_ITEM,
                    "2026-03-11") == []
