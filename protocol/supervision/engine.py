"""The electronic supervision engine: findings from a case's facts (pure, never raising).

Entry points (see docs/supervision.md):

* :func:`evaluate_case` — every per-case rule over a case's events;
* :func:`case_facts` (in :mod:`.facts`) + :func:`evaluate_time` — the time-based rules
  alone over cached facts, for a periodic tick; :func:`next_change_date` tells the tick
  when a case next needs looking at;
* :func:`evaluate_repeats` — the cross-case rule (the same unit or person overdue
  repeatedly), over :class:`OverdueRecord` rows the app keeps (:func:`overdue_record`);
* :func:`superseded` — which stored findings a new evaluation no longer confirms.

The rules are checked by module-level functions registered in check tables, each with
the ids of the rules it raises (:data:`CHECKS`). A case is judged in a fixed order: the
date-independent checks of :data:`.checks.STATIC_CHECKS` in table order (content,
integrity, outside the platform, flow legality, completeness, fees, reasons, voiding);
then the time checks: :data:`.time_checks.INTAKE_CHECKS` (acceptance), the processing
clock, and, when the case has a due date, :data:`.time_checks.DEADLINE_CHECKS` in table
order. Findings are sorted by rule and level at the end; of two findings with the same
key the first one added is kept.

Fairness to off-line nodes: time is judged only up to ``as_of``, which the caller passes
(at the hub: the node's last sync time). What the hub cannot know yet, it does not judge.

Robustness: the hub runs this over events from possibly broken nodes. Odd content is a
finding (X-01) or ignored; each check runs under a guard, so even a bug in one check
yields an X-01 finding naming its rules rather than an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..calendar import Calendar, Deadline, add_working_days, shanghai_date
from .checks import STATIC_CHECKS
from .deadlines import (Timing, case_clock, handling, intake_checks, judge_case_sides,
                        share_days, warning_start)
from .facts import CaseFacts, case_facts
from .findings import LEVEL_GRADE, ROUTES, Collector, EvalContext, Finding
from .rules import CASE_RULE_IDS, LEVELS, RULES, RuleSet, SupervisionError
from .support import MAX_LIST, CaseFlow, flow_of
from .time_checks import CLOCK_RULE_IDS, DEADLINE_CHECKS, INTAKE_CHECKS

__all__ = [
    "CHECKS", "OverdueRecord", "RULES_EVALUATED_ELSEWHERE", "deadline_for", "evaluate_case",
    "evaluate_repeats", "evaluate_time", "next_change_date", "overdue_record", "superseded",
]

CHECKS = STATIC_CHECKS + INTAKE_CHECKS + DEADLINE_CHECKS
"""Every registered check, in the order a case is judged."""
RULES_EVALUATED_ELSEWHERE = frozenset({"T-04"})
"""Rules no check raises: T-04 (repeated overdue) spans cases, see :func:`evaluate_repeats`."""


@dataclass(frozen=True)
class OverdueRecord:
    """One overdue case for the repeat rule: the first day it was overdue, its unit (the
    node or department) and the person responsible for the step that ran late."""

    case: str
    overdue_on: date
    unit: str | None = None
    person: str | None = None

    def to_dict(self) -> dict:
        return {"case": self.case, "overdue_on": self.overdue_on.isoformat(),
                "unit": self.unit, "person": self.person}



# --------------------------------------------------------------------------- small helpers


def _as_date(as_of: Any) -> date:
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise SupervisionError("as_of: a naive datetime has no time zone",
                                   zh="as_of 缺少时区信息", field="as_of")
        return shanghai_date(as_of)
    if isinstance(as_of, date):
        return as_of
    raise SupervisionError(f"as_of: expected a date or an aware datetime, got "
                           f"{type(as_of).__name__}", zh="as_of 须为日期或带时区的时间",
                           field="as_of")


def _check_api(rules: Any, calendar: Any) -> None:
    if not isinstance(rules, RuleSet):
        raise SupervisionError(f"rules: expected a RuleSet, got {type(rules).__name__}",
                               zh="rules 须为监察规则集（RuleSet）", field="rules")
    if not isinstance(calendar, Calendar):
        raise SupervisionError(f"calendar: expected a Calendar, got "
                               f"{type(calendar).__name__}", zh="calendar 须为工作日历",
                               field="calendar")


# --------------------------------------------------------------------------- judging one case


def _judge_static(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                  flow: CaseFlow) -> None:
    for check in STATIC_CHECKS:
        out.guard(check.rule_ids, check.run, out, facts, item, rules, flow, out.context)


def _judge_time(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet, flow: CaseFlow,
                calendar: Calendar, today: date) -> None:
    for check in INTAKE_CHECKS:
        out.guard(check.rule_ids, check.run, out, facts, item, rules, flow, calendar, today)
    clock = out.guard(CLOCK_RULE_IDS, case_clock, facts, item, rules, calendar, today)
    if clock is None or clock.deadline.due is None:
        return
    timing = Timing.of(clock, facts, today)
    for check in DEADLINE_CHECKS:
        out.guard(check.rule_ids, check.run, out, facts, item, rules, flow, calendar, timing)


_ORDER = {rid: i for i, rid in enumerate(RULES)}


def _sorted(findings: list[Finding]) -> list[Finding]:
    unique: dict[tuple, Finding] = {}
    for f in findings:
        unique.setdefault(f.key, f)
    return sorted(unique.values(), key=lambda f: (_ORDER[f.rule_id], LEVELS.index(f.level)))


# --------------------------------------------------------------------------- entry points


def evaluate_case(events: Sequence[Any], item: Any, rules: RuleSet, calendar: Calendar,
                  as_of: date | datetime, context: EvalContext | None = None,
                  *, facts: CaseFacts | None = None) -> list[Finding]:
    """Every per-case finding for a case's events (any order, any content; never raises
    for what the events say).

    ``item``: the catalogue item in force at acceptance (None if unknown); ``rules``: the
    rule set in force at acceptance; ``calendar``: the newest calendar; ``as_of``: judge
    time up to this date (at the hub: the node's last sync). ``facts`` may be passed if
    already derived from the same events.
    """
    _check_api(rules, calendar)
    today = _as_date(as_of)
    if facts is None:
        facts = case_facts(events)
    out = Collector(facts, item, rules, context)
    flow = CaseFlow.of(facts, item)
    _judge_static(out, facts, item, rules, flow)
    _judge_time(out, facts, item, rules, flow, calendar, today)
    return _sorted(out.findings)


def evaluate_time(facts: CaseFacts, item: Any, rules: RuleSet, calendar: Calendar,
                  as_of: date | datetime, context: EvalContext | None = None) -> list[Finding]:
    """The time-based findings (A-01, T-01, T-02, T-03, T-05, T-06) of a case at ``as_of``.

    ``as_of`` is the last day the caller can vouch for (at the hub: the node's last sync);
    an open case is judged as of that day and no later.
    """
    _check_api(rules, calendar)
    today = _as_date(as_of)
    out = Collector(facts, item, rules, context)
    _judge_time(out, facts, item, rules, CaseFlow.of(facts, item), calendar, today)
    return _sorted(out.findings)


def deadline_for(facts: CaseFacts, item: Any, rules: RuleSet,
                 calendar: Calendar) -> Deadline | None:
    """The processing deadline supervision judges against (None: not accepted, or the
    limit is unknown). Only the first approved extension counts (art. 42)."""
    _check_api(rules, calendar)
    try:
        clock = case_clock(facts, item, rules, calendar)
    except Exception:  # noqa: BLE001
        return None
    return None if clock is None else clock.deadline


def next_change_date(facts: CaseFacts, item: Any, rules: RuleSet, calendar: Calendar,
                     after: date | datetime | None = None) -> date | None:
    """The earliest date (after ``after``, if given) on which :func:`evaluate_time` could
    give different findings for these facts; None if no date can change them (the case
    is closed, paused without end, or not accepted and not awaiting an intake decision).

    A tick stores this date per case and looks only at cases whose date has come. New
    events change the facts, so the app recomputes it whenever a case's events change.
    """
    _check_api(rules, calendar)
    floor = None if after is None else _as_date(after)
    try:
        dates = _change_dates(facts, item, rules, calendar, floor)
    except Exception:  # noqa: BLE001 - unknown: look again tomorrow
        return None if floor is None else floor + timedelta(days=1)
    dates = [d for d in dates if d is not None and (floor is None or d > floor)]
    return min(dates) if dates else None


def _change_dates(facts: CaseFacts, item: Any, rules: RuleSet, cal: Calendar,
                  floor: date | None) -> list[date | None]:
    out: list[date | None] = []
    today = floor or date.min
    closed = facts.closed_on
    for check in intake_checks(facts, rules, cal, max(today, date(2000, 1, 1))):
        if check["intake"].decision is None and closed is None:
            out.append(check["due"] + timedelta(days=1))
    clock = case_clock(facts, item, rules, cal, floor)
    if clock is None or clock.deadline.due is None or closed is not None:
        return out
    due = clock.deadline.due
    # T-01 starts on the first day with at most warning_days counted days left
    out.append(warning_start(cal, due, rules.warning_days, clock.pauses, clock.start))
    out.append(due + timedelta(days=1))  # T-01 ends, T-02 starts
    need = max(1, rules.red_overdue_share_pct * clock.limit_half_days // 200 + 1)
    out.append(add_working_days(cal, due, need, clock.pauses))  # T-03
    # T-05: the day the current step goes over its share
    flow = flow_of(facts, item)
    effective = max(today, clock.start)
    intervals, current = handling(facts, flow, clock, cal, effective)
    if current is not None:
        share = next((s.get("share_pct") for s in flow if s["id"] == current["step"]), None)
        if share is not None:
            before = sum(i["working_days"] for i in intervals
                         if i["step"] == current["step"] and i["done"])
            total_need = share_days(share, clock.limit_half_days) + 1
            left = max(1, total_need - before)
            out.append(add_working_days(cal, current["from"], left, clock.pauses))
    # T-06: a forwarded case's side may go over its share any working day: look daily
    if judge_case_sides(facts, item, cal, effective, clock.limit_half_days):
        out.append(effective + timedelta(days=1))
    return out



def overdue_record(facts: CaseFacts, item: Any, rules: RuleSet, calendar: Calendar,
                   as_of: date | datetime,
                   context: EvalContext | None = None) -> OverdueRecord | None:
    """The case's :class:`OverdueRecord` if it is overdue at ``as_of`` (for the repeat
    rule); None otherwise. ``unit`` is ``context.unit`` or the case's node."""
    for f in evaluate_time(facts, item, rules, calendar, as_of, context):
        if f.rule_id == "T-02" and facts.case:
            due = date.fromisoformat(f.details["due"])
            person = (f.responsible or {}).get("id")
            unit = (context.unit if context and context.unit else None) or facts.node
            return OverdueRecord(facts.case, due + timedelta(days=1), unit, person)
    return None


def evaluate_repeats(overdue_records: Iterable[Any], rules: RuleSet,
                     as_of: date | datetime) -> list[Finding]:
    """T-04: a case is a repeat when its unit or person had at least ``repeat_count``
    overdue cases (itself included) whose first overdue day lies in the
    ``repeat_period_days`` calendar days ending on its own. Records after ``as_of`` are
    not yet known and ignored. Malformed records are skipped."""
    if not isinstance(rules, RuleSet):
        raise SupervisionError("rules: expected a RuleSet", zh="rules 须为监察规则集",
                               field="rules")
    today = _as_date(as_of)
    if not rules.enabled("T-04"):
        return []
    records: list[OverdueRecord] = []
    try:
        iterator = list(overdue_records)
    except Exception:  # noqa: BLE001
        iterator = []
    for r in iterator:
        if isinstance(r, OverdueRecord) and isinstance(r.case, str) \
                and isinstance(r.overdue_on, date) and r.overdue_on <= today:
            records.append(r)
    groups: dict[tuple[str, str], list[OverdueRecord]] = {}
    for r in records:
        if isinstance(r.unit, str) and r.unit:
            groups.setdefault(("unit", r.unit), []).append(r)
        if isinstance(r.person, str) and r.person:
            groups.setdefault(("person", r.person), []).append(r)
    hits: dict[str, dict] = {}
    period = timedelta(days=rules.repeat_period_days)
    for (kind, subject), rows in sorted(groups.items()):
        rows.sort(key=lambda r: (r.overdue_on, r.case))
        for i, r in enumerate(rows):
            window = [x for x in rows[:i + 1] if x.overdue_on > r.overdue_on - period]
            if len(window) >= rules.repeat_count:
                entry = hits.setdefault(r.case, {"record": r, "subjects": []})
                entry["subjects"].append({"kind": kind, "subject": subject,
                                          "count": len(window),
                                          "cases": [x.case for x in window][-MAX_LIST:]})
    rule = RULES["T-04"]
    level = rules.level_of("T-04")
    out = []
    for case, entry in sorted(hits.items()):
        r = entry["record"]
        subj = entry["subjects"][0]
        who = "单位" if subj["kind"] == "unit" else "人员"
        msg = (f"办件 {case} 于 {r.overdue_on.isoformat()} 超期；{who} {subj['subject']} 在 "
               f"{rules.repeat_period_days} 日内已有 {subj['count']} 件办件超期"
               f"（{'、'.join(subj['cases'][-5:])}），属重复超期")
        out.append(Finding(
            rule_id="T-04", rule_version=rule.version, ruleset_version=rules.version,
            level=level, alert_type=rule.alert_type, case=case, seq=None, node=None,
            step=None, responsible={"id": r.person, "role": None, "unit": r.unit},
            message_zh=msg, basis=rule.basis,
            details={"overdue_on": r.overdue_on.isoformat(), "subjects": entry["subjects"],
                     "repeat_count": rules.repeat_count,
                     "repeat_period_days": rules.repeat_period_days,
                     "route": {"grade": LEVEL_GRADE[level],
                               "to": list(ROUTES[LEVEL_GRADE[level]][0]),
                               "to_zh": ROUTES[LEVEL_GRADE[level]][1], "source": "level"}}))
    return out


def _key_of(finding: Any) -> tuple | None:
    if isinstance(finding, Finding):
        return finding.key
    if isinstance(finding, Mapping):
        return (finding.get("case"), finding.get("rule_id"), finding.get("level"))
    if isinstance(finding, tuple) and len(finding) == 3:
        return finding
    return None


def superseded(old_findings: Iterable[Any], new_findings: Iterable[Any], *,
               rule_ids: Iterable[str] | None = None) -> list[tuple]:
    """Keys of old findings that the new evaluation no longer confirms: resolved (a
    warning on a case since completed in time), escalated (a warning on a case now
    overdue) or disproved (judged before events that arrived later).

    The app marks them superseded and keeps them (nothing is deleted). Only old findings
    of ``rule_ids`` are considered: by default the rules :func:`evaluate_case` produces;
    pass :data:`TIME_RULE_IDS` after :func:`evaluate_time`, ``{"T-04"}`` after
    :func:`evaluate_repeats`. Old and new findings may be :class:`Finding` objects, their
    ``to_dict()`` forms or keys.
    """
    scope = CASE_RULE_IDS if rule_ids is None else frozenset(rule_ids)
    new_keys = {k for k in map(_key_of, new_findings) if k is not None}
    out = []
    for key in map(_key_of, old_findings):
        if key is not None and key[1] in scope and key not in new_keys and key not in out:
            out.append(key)
    return sorted(out, key=lambda k: (str(k[0]), str(k[1]), str(k[2])))
