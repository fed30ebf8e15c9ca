"""Deadlines the time checks judge against: acceptance periods, the processing clock
(limit, approved extension, special-procedure pauses), time spent per step and per side
of a forwarded case. Pure; the calendar and "today" are passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from collections.abc import Mapping, Sequence
from typing import Any

from ..calendar import (Calendar, Deadline, Pause, due_date, due_date_half_days,
                        working_days_between)
from ..envelope import format_ts
from ..lifecycle import MAX_EXTENSIONS
from ..routing import judge_sides
from .facts import MAX_HALF_DAYS_JUDGED, CaseFacts, advance
from .rules import RuleSet
from .support import approved, half_zh, iso, item_map, who

__all__ = ["SIDE_ZH", "Clock", "Timing", "case_clock", "handling", "intake_checks",
           "judge_case_sides", "share_days", "warning_start"]

SIDE_ZH = {"township": "乡镇（初审）", "county": "县级（审批）"}


@dataclass(frozen=True)
class Clock:
    """A case's processing clock: where it starts and why, the limit and its parts, the
    special-procedure pauses and the resulting deadline."""

    start: date
    start_basis: str  # "accepted" | "deemed_art32"
    base_half_days: int
    extension_days: int
    limit_half_days: int
    pauses: tuple[Pause, ...]
    deadline: Deadline


def intake_checks(facts: CaseFacts, rules: RuleSet, cal: Calendar, today: date) -> list[dict]:
    """For each receipt, its acceptance due date and whether it was answered late."""
    closed = facts.closed_on
    effective = today if closed is None or closed > today else closed
    out = []
    for intake in facts.intakes:
        received = intake.receipt.day
        if received is None:
            continue
        due = due_date(cal, received, rules.acceptance_days).due
        decision = intake.decision
        if decision is not None and decision.day is not None:
            late, pending = decision.day > due, False
        elif decision is None:
            late, pending = effective > due, closed is None
        else:
            continue
        out.append({"intake": intake, "due": due, "late": late, "pending": pending})
    return out


def case_clock(facts: CaseFacts, item: Any, rules: RuleSet, cal: Calendar,
               today: date | None = None) -> Clock | None:
    """The processing clock (None: not accepted, or the limit is unknown or absurd).
    Only the first approved extension counts (art. 42)."""
    if facts.accepted is None or facts.accepted.day is None:
        return None
    base = facts.committed_half_days
    if base is None:
        raw = item_map(item).get("committed_half_days")
        base = raw if type(raw) is int else None
    if base is None or not 0 <= base <= MAX_HALF_DAYS_JUDGED:
        return None
    start, basis = facts.accepted.day, "accepted"
    if rules.deemed_acceptance:
        for check in intake_checks(facts, rules, cal, today or facts.accepted.day):
            if check["intake"].decision is facts.accepted and check["late"]:
                start, basis = check["intake"].receipt.day, "deemed_art32"
    ext = 0
    counted = 0
    for e in facts.extensions:
        ok, _ = approved(e.approver_id, e.approver_role, e.ref.actor_id, rules)
        if ok and e.days is not None and 1 <= e.days <= MAX_HALF_DAYS_JUDGED // 2 \
                and counted < MAX_EXTENSIONS:
            ext += e.days
            counted += 1
    limit = base + 2 * ext
    if limit > MAX_HALF_DAYS_JUDGED:
        return None
    pauses = []
    for s in facts.suspensions:
        if s.start is None:
            continue
        first = s.start + timedelta(days=1)
        if s.resume is None:
            pauses.append(Pause(first, None, "special_procedure"))
        elif s.end is not None and s.end >= first:
            pauses.append(Pause(first, s.end, "special_procedure"))
    deadline = due_date_half_days(cal, start, limit, pauses)
    return Clock(start, basis, base, ext, limit, tuple(pauses), deadline)


def _deadline_note(deadline: Deadline) -> str:
    if deadline.confirmed:
        return ""
    years = "、".join(str(y) for y in deadline.unknown_years)
    return f"（截止日期涉及 {years} 年，该年节假日安排尚未录入，按周末推算，待确认）"


def _deadline_details(clock: Clock) -> dict:
    d = clock.deadline
    return {"start": iso(clock.start), "start_basis": clock.start_basis,
            "committed_half_days": clock.base_half_days,
            "extension_days": clock.extension_days, "limit_half_days": clock.limit_half_days,
            "due": iso(d.due), "deadline_confirmed": d.confirmed,
            "unknown_years": list(d.unknown_years), "calendar_version": d.calendar_version,
            "pauses": [[iso(p.start), iso(p.end)] for p in clock.pauses],
            "explain_zh": d.explain_zh()}


@dataclass(frozen=True)
class Timing:
    """A case's clock as judged on ``today``, with a due date: ``effective`` is the day
    time is counted to (the closing day if the case closed by ``today``); ``note``,
    ``details`` and ``limit_zh`` are the deadline's wording shared by the time findings."""

    clock: Clock
    today: date
    closed: date | None
    is_closed: bool
    effective: date
    note: str
    details: dict
    limit_zh: str

    @property
    def due(self) -> date:
        return self.clock.deadline.due

    @classmethod
    def of(cls, clock: Clock, facts: CaseFacts, today: date) -> Timing:
        closed = facts.closed_on
        is_closed = closed is not None and closed <= today
        return cls(clock, today, closed, is_closed, closed if is_closed else today,
                   _deadline_note(clock.deadline), _deadline_details(clock),
                   half_zh(clock.limit_half_days))


def handling(facts: CaseFacts, flow: Sequence[Mapping], clock: Clock, cal: Calendar,
             effective: date) -> tuple[list[dict], dict | None]:
    """Time spent per step up to ``effective``: done intervals, and the open one."""
    ids = [s["id"] for s in flow]
    intervals: list[dict] = []
    prev = clock.start
    ptr = 1
    decided = False
    for rec in facts.steps:
        day = rec.ref.day
        if day is None or day > effective:
            continue
        used = max(0, working_days_between(cal, prev, day, clock.pauses)) if day >= prev else 0
        intervals.append({"step": rec.step, "from": prev, "to": day, "working_days": used,
                          "actor": who(rec.ref), "seq": rec.ref.seq, "done": True})
        prev = max(prev, day)
        ptr = advance(ptr, flow, rec.step, rec.outcome, rec.kind)
        decided = decided or rec.kind == "decision"
    current = None
    closed = facts.closed_on
    if not decided and ids and (closed is None or closed > effective) and len(ids) > 1:
        step = ids[min(ptr, len(ids) - 1)]
        used = max(0, working_days_between(cal, prev, effective, clock.pauses)) \
            if effective >= prev else 0
        current = {"step": step, "from": prev, "to": effective, "working_days": used,
                   "actor": None, "seq": None, "done": False}
        intervals.append(current)
    return intervals, current


def share_days(share_pct: int, limit_half_days: int) -> int:
    """Whole working days a step may take: its share of the limit, a part day rounded up
    (dates have no time of day, like the calendar's half days; never flags early)."""
    return (share_pct * limit_half_days + 199) // 200


def judge_case_sides(facts: CaseFacts, item: Any, cal: Calendar, effective: date,
                     limit_half_days: int) -> list[dict]:
    """Each side of a forwarded case on its own share (protocol.routing.judge_sides);
    nothing for a case that never left its township."""
    catalogue_item = item_map(item)
    if not isinstance(catalogue_item.get("flow"), list) \
            or not any(e.type == "case.forwarded" for e in facts.events):
        return []
    envelopes = [{"type": e.type, "ts": format_ts(e.ts)} for e in facts.events
                 if e.ts is not None and e.day is not None and e.day <= effective]
    return [s for s in judge_sides(envelopes, catalogue_item, cal, effective, limit_half_days)
            if s["side"] in SIDE_ZH]


def warning_start(cal: Calendar, due: date, warning_days: int, pauses: Sequence[Pause],
                  start: date) -> date:
    """The first day d with working_days_between(d, due) <= warning_days."""
    day = due
    while day > start:
        prev = day - timedelta(days=1)
        if working_days_between(cal, prev, due, pauses) > warning_days:
            return day
        day = prev
    return start
