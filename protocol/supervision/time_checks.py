"""The time-based checks (A-01, T-01/T-02/T-03, T-05, T-06): module-level functions,
each registered in a check table with the ids of the rules it raises.

:data:`INTAKE_CHECKS` run first and take ``(out, facts, item, rules, flow, calendar,
today)``. Then the engine computes the processing clock (guarded under
:data:`CLOCK_RULE_IDS`); if the case has a due date, :data:`DEADLINE_CHECKS` run in table
order and take ``(out, facts, item, rules, flow, calendar, timing)``. ``out`` is the
:class:`~.findings.Collector`, ``flow`` a :class:`~.support.CaseFlow`, ``timing`` a
:class:`~.deadlines.Timing`. A check only adds findings; it returns nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..calendar import Calendar, working_days_between
from .deadlines import (SIDE_ZH, Timing, handling, intake_checks, judge_case_sides,
                        share_days)
from .facts import CaseFacts
from .findings import Check, Collector
from .rules import RuleSet
from .support import MAX_LIST, CaseFlow, case_label, iso, role_of, step_name, who

__all__ = ["CLOCK_RULE_IDS", "DEADLINE_CHECKS", "INTAKE_CHECKS", "check_acceptance",
           "check_side_share", "check_step_share", "check_timeliness"]

CLOCK_RULE_IDS = ("T-01", "T-02", "T-03", "T-05")
"""The rules a failure computing the processing clock is reported against (X-01)."""

_DECISION_ZH = {"case.accepted": "受理", "case.refused": "不予受理",
                "case.supplement_requested": "补正告知"}


def check_acceptance(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                     flow: CaseFlow, calendar: Calendar, today: date) -> None:
    """A-01: the first receipt (or resubmission) answered later than the acceptance
    period, or still unanswered after it."""
    label = case_label(facts, item)
    for check in intake_checks(facts, rules, calendar, today):
        if not check["late"]:
            continue
        intake, due = check["intake"], check["due"]
        receipt = intake.receipt
        what = "收到申请材料" if receipt.type == "case.received" else "收到补正材料"
        if intake.decision is None:
            msg = (f"{label} {iso(receipt.day)} {what}，应于 {iso(due)} 前作出受理、"
                   f"不予受理或补正告知决定，至 {iso(today)} 仍未作出")
        else:
            dec = intake.decision
            kind = _DECISION_ZH.get(dec.type, dec.type)
            msg = (f"{label} {iso(receipt.day)} {what}，应于 {iso(due)} 前作出决定，"
                   f"实际于 {iso(dec.day)} 作出{kind}决定")
        msg += f"（超过 {rules.acceptance_days} 个工作日）"
        out.add("A-01", msg, ref=intake.decision or receipt,
                step=flow.steps[0]["id"] if flow.steps else None,
                responsible=who(receipt) if intake.decision is None else who(intake.decision),
                details={"received": iso(receipt.day), "due": iso(due),
                         "decided": iso(intake.decision.day) if intake.decision else None,
                         "pending": check["pending"], "judged_on": iso(today)},
                time_based=True)
        return


def check_timeliness(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                     flow: CaseFlow, calendar: Calendar, timing: Timing) -> None:
    """T-02 overdue (T-03 when overdue by more than the red share), or T-01 when an open
    case's due date is at most ``warning_days`` working days away."""
    label, steps, clock, due = case_label(facts, item), flow.steps, timing.clock, timing.due
    intervals, current = handling(facts, steps, clock, calendar, timing.effective)
    if timing.effective > due:
        overdue = max(0, working_days_between(calendar, due, timing.effective, clock.pauses))
        late = next((i for i in intervals if i["to"] > due), None)
        step = late["step"] if late else None
        resp = None
        if late is not None:
            resp = late["actor"] or {"id": None, "role": role_of(steps, step)}
        details = {**timing.details, "judged_on": iso(timing.effective),
                   "closed_on": iso(timing.closed), "overdue_working_days": overdue,
                   "overdue_calendar_days": (timing.effective - due).days}
        when = (f"于 {iso(timing.closed)} 办结" if timing.is_closed
                else f"至 {iso(timing.today)} 仍未办结")
        msg = (f"{label}承诺时限 {timing.limit_zh}，截止 {iso(due)}{timing.note}，{when}，"
               f"超期 {overdue} 个工作日")
        if step:
            msg += f"（超期时处于{step_name(steps, step)}环节）"
        out.add("T-02", msg, ref=None, step=step, responsible=resp, details=details,
                time_based=True)
        if overdue >= 1 and overdue * 200 > rules.red_overdue_share_pct * clock.limit_half_days:
            out.add("T-03", msg + f"，超过时限的 {rules.red_overdue_share_pct}%",
                    step=step, responsible=resp,
                    details={**details, "red_overdue_share_pct": rules.red_overdue_share_pct},
                    time_based=True)
    elif not timing.is_closed:
        remaining = working_days_between(calendar, timing.today, due, clock.pauses)
        if remaining <= rules.warning_days:
            step = current["step"] if current else None
            resp = {"id": None, "role": role_of(steps, step)} if step else None
            msg = (f"{label}承诺时限 {timing.limit_zh}，将于 {iso(due)} 到期{timing.note}，"
                   f"剩余 {remaining} 个工作日，尚未办结")
            if step:
                msg += f"（当前环节{step_name(steps, step)}）"
            out.add("T-01", msg, step=step, responsible=resp,
                    details={**timing.details, "judged_on": iso(timing.today),
                             "remaining_working_days": remaining,
                             "warning_days": rules.warning_days}, time_based=True)


def check_step_share(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                     flow: CaseFlow, calendar: Calendar, timing: Timing) -> None:
    """T-05: a step took more working days than its share of the limit allows."""
    steps, limit = flow.steps, timing.clock.limit_half_days
    intervals, _ = handling(facts, steps, timing.clock, calendar, timing.effective)
    shares = {s["id"]: s.get("share_pct") for s in steps[1:]}
    used: dict[str, int] = {}
    for i in intervals:
        if i["step"] in shares:
            used[i["step"]] = used.get(i["step"], 0) + i["working_days"]
    over = []
    for step_id, days in used.items():
        share = shares[step_id]
        if share is None:
            continue
        allowed = share_days(share, limit)
        if days > allowed:
            done = [i for i in intervals if i["step"] == step_id]
            over.append({"step": step_id, "name": step_name(steps, step_id),
                         "share_pct": share, "working_days": days,
                         "allowed_working_days": allowed,
                         "done": all(i["done"] for i in done),
                         "actor": next((i["actor"] for i in reversed(done) if i["actor"]),
                                       None)})
    if not over:
        return
    first = over[0]
    parts = "；".join(f"{o['name']}用时 {o['working_days']} 个工作日，"
                     f"占比 {o['share_pct']}% 应不超过 {o['allowed_working_days']} 个工作日"
                     for o in over[:5])
    msg = f"{case_label(facts, item)}环节超时：{parts}（办结时限 {timing.limit_zh}）"
    out.add("T-05", msg, step=first["step"],
            responsible=first["actor"] or {"id": None, "role": role_of(steps, first["step"])},
            details={**timing.details, "judged_on": iso(timing.effective),
                     "steps": over[:MAX_LIST]},
            time_based=True)


def check_side_share(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                     flow: CaseFlow, calendar: Calendar, timing: Timing) -> None:
    """T-06: a side of a forwarded case (township, county) held it longer than its
    steps' share of the limit."""
    sides = judge_case_sides(facts, item, calendar, timing.effective,
                             timing.clock.limit_half_days)
    over = [s for s in sides if s["over"]]
    if not over:
        return
    parts = "；".join(f"{SIDE_ZH[s['side']]}持有 {s['held_days']} 个工作日，"
                     f"按占比应不超过 {s['allowed_days']} 个工作日" for s in over)
    out.add("T-06", f"{case_label(facts, item)}分级办理超时：{parts}"
                    f"（办结时限 {timing.limit_zh}）",
            details={**timing.details, "judged_on": iso(timing.effective), "sides": over},
            time_based=True)


INTAKE_CHECKS = (
    Check(("A-01",), check_acceptance),
)
"""Time checks that need no processing clock, run first."""

DEADLINE_CHECKS = (
    Check(("T-01", "T-02", "T-03"), check_timeliness),
    Check(("T-05",), check_step_share),
    Check(("T-06",), check_side_share),
)
"""Time checks against the processing deadline, in the order they run."""
