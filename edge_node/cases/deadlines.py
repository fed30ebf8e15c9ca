"""Working days and deadlines on the node.

The node keeps its own calendar table (seeded from the chinese-calendar data in
``protocol.calendar_data``; later replaced by the hub's published calendar). A case's
deadline is computed by ``protocol.lifecycle.case_deadline`` from inputs that are all in
its events: the acceptance date, the committed limit (half working days) plus any
extension, and the special-procedure pauses. A deadline that reaches a year the calendar
has no notice for is computed on weekends alone and marked unconfirmed (never a crash,
never a silent guess). When the calendar changes, every case whose clock runs is
recomputed, and each one whose due date or confirmation changed gets a
``deadline.recomputed`` event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from protocol import lifecycle
from protocol.calendar import Calendar, Deadline, YearNotice, shanghai_date

from ..errors import NotFound, ValidationError

log = logging.getLogger(__name__)


def today(node) -> date:
    return shanghai_date(node.now())


@dataclass(frozen=True)
class CalendarChange:
    version: int
    recomputed: tuple[str, ...]   # case numbers whose deadline changed
    checked: int                  # open cases examined


def apply_calendar(node, calendar: Calendar, *, source: str,
                   actor: dict | None = None) -> CalendarChange:
    """Make ``calendar`` the node's calendar and recompute open deadlines, atomically.

    The newest calendar always applies: an older version than the one in force is refused.
    """
    store = node.store
    current_version = int(store.meta("calendar_version", "0"))
    if current_version and calendar.version < current_version:
        raise ValidationError("calendar.version", "stale",
                              f"工作日历版本 {calendar.version} 早于当前版本 {current_version}，"
                              "不予应用")
    changed: list[str] = []
    checked = 0
    with store.transaction():
        store.save_calendar(calendar)
        store.append_event("calendar.applied", None, {
            "version": calendar.version, "fingerprint": calendar.fingerprint(),
            "years": list(calendar.known_years), "source": source[:100],
            "actor": None if actor is None else {"id": actor["id"], "role": actor["role"]}})
        for state in store.cases_in_states(lifecycle.CLOCK_STATES):
            checked += 1
            deadline = lifecycle.case_deadline(state, calendar)
            summary = lifecycle.deadline_summary(deadline)
            previous = state.get("deadline") or {}
            if (previous.get("due"), previous.get("confirmed")) == \
                    (summary["due"], summary["confirmed"]):
                continue
            event = store.append_event("deadline.recomputed", state["case"], {
                "reason": "calendar_changed", "calendar_version": calendar.version,
                "previous": {"due": previous.get("due"),
                             "confirmed": bool(previous.get("confirmed", True))},
                "deadline": summary})
            store.save_case(lifecycle.apply(state, event.env))
            changed.append(state["case"])
    if changed:
        log.info("calendar %s: %d deadlines recomputed", calendar.version, len(changed))
    return CalendarChange(calendar.version, tuple(changed), checked)


def add_year_notice(node, notice: YearNotice, *, actor: dict | None = None,
                    source: str = "local") -> CalendarChange:
    """Enter one year's holiday notice locally (a new calendar version)."""
    return apply_calendar(node, node.store.calendar().with_notice(notice), source=source,
                          actor=actor)


def case_deadline(node, case_no: str) -> Deadline | None:
    state = node.store.case(case_no)
    if state is None:
        raise NotFound(f"no case {case_no}", zh=f"办件 {case_no} 不存在")
    return lifecycle.case_deadline(state, node.store.calendar())


def explain(node, case_no: str) -> dict:
    """How the case's due date was computed: start, limit, skipped days and why, pauses,
    whether it is confirmed, and a Chinese explanation for staff."""
    state = node.store.case(case_no)
    if state is None:
        raise NotFound(f"no case {case_no}", zh=f"办件 {case_no} 不存在")
    deadline = lifecycle.case_deadline(state, node.store.calendar())
    if deadline is None:
        return {"case": case_no, "deadline": None, "lines": ["尚未受理，未开始计时"]}
    return {
        "case": case_no,
        "start": deadline.start.isoformat(),
        "limit_half_days": deadline.limit_half_days,
        "due": None if deadline.due is None else deadline.due.isoformat(),
        "confirmed": deadline.confirmed,
        "unknown_years": list(deadline.unknown_years),
        "skipped": [(d.isoformat(), why) for d, why in deadline.skipped],
        "adjusted_workdays": [d.isoformat() for d in deadline.adjusted_workdays],
        "pauses": [{"start": p.start.isoformat(),
                    "end": None if p.end is None else p.end.isoformat()}
                   for p in lifecycle.case_pauses(state)],
        "calendar_version": deadline.calendar_version,
        "lines": deadline.explain_zh(),
    }


def is_overdue(state: dict, day: date) -> bool:
    deadline = state.get("deadline") or {}
    return (state["state"] in lifecycle.CLOCK_STATES and deadline.get("due") is not None
            and deadline["due"] < day.isoformat())
