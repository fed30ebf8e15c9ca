"""Per-case facts for the dashboards, kept in step with the case projection.

:func:`make_face_handler` returns a handler that runs in the ``content`` projector right
after the case handler, in the same transaction and over the same events, so the facts
never lag behind the ``cases`` rows they are derived from, and ``rebuild`` rebuilds them.
It also projects ``notice.read`` events into ``notice_reads`` and ``evaluation.given``
events (好差评 at a township terminal) into ``evaluations``.

A case is counted in the period (and node and item) in which it was **received** (its
cohort); accepted, refused, completed, on-time and fees are what has happened to that
cohort since. On time: completed on or before its due date (cases without a due date, e.g.
即办件 completed the day they were accepted, count as on time). Working days to complete:
from the acceptance date to the completion date on the hub's calendar, not counting the
day of acceptance (paused days are counted: the figure is the citizen's wait).
"""

from __future__ import annotations

from datetime import date
from typing import Sequence

from protocol.calendar import SHANGHAI, working_days_between
from protocol.canonical import parse_canonical
from protocol.envelope import parse_ts
from protocol.errors import ProtocolError

from ..calendar.service import CalendarCache
from ..portal.service import record_node_evaluation
from ..store import face as sql
from ..store.records import StoredEvent

REFUSED_STATES = ("refused",)
ACCEPTED_STATES = ("accepted", "suspended", "decided", "completed", "delivered")
COMPLETED_STATES = ("completed", "delivered")


def _day(ts: str | None) -> date | None:
    if not ts:
        return None
    try:
        return parse_ts(ts).astimezone(SHANGHAI).date()
    except (ProtocolError, TypeError, ValueError):
        return None


def case_fact(row: dict, position: int, calendar) -> tuple | None:
    received = _day(row["received_at"])
    if received is None:
        return None
    state = row["state"]
    completed = state in COMPLETED_STATES and row["completed_at"] is not None
    completed_day = _day(row["completed_at"]) if completed else None
    on_time = work_days = None
    if completed and completed_day is not None:
        due = row["due_date"]
        on_time = int(due is None or completed_day.isoformat() <= due)
        if row["accepted_date"]:
            try:
                work_days = max(0, working_days_between(
                    calendar, date.fromisoformat(row["accepted_date"]), completed_day))
            except (ValueError, TypeError, KeyError):
                work_days = None
    fees = (row["fee_charged_fen"] or 0) - (row["fee_refunded_fen"] or 0)
    return (row["case_no"], row["node"], received.isoformat(), row["item_code"] or "",
            int(state in ACCEPTED_STATES or row["accepted_date"] is not None),
            int(state in REFUSED_STATES), int(bool(completed)), int(on_time or 0), work_days,
            fees, position)


def make_face_handler(calendars: CalendarCache):
    def project_face(store, events: Sequence[StoredEvent]) -> None:
        positions: dict[str, int] = {}
        reads = []
        rated: list[StoredEvent] = []
        for event in events:
            if event.case_no:
                positions[event.case_no] = event.position
            elif event.type == "evaluation.given":
                rated.append(event)
            elif event.type == "notice.read":
                try:
                    env = parse_canonical(event.canonical)
                    body = env["body"]
                    reads.append((event.node, event.seq, int(body["notice"]),
                                  str(body["actor"]["id"])[:64], env["ts"]))
                except (ProtocolError, KeyError, TypeError, ValueError):
                    continue   # the content check has flagged it
        if reads:
            sql.add_notice_reads(store, reads)
        if rated:
            _project_evaluations(store, rated, calendars.get(store))
        if not positions:
            return
        calendar = calendars.get(store)
        facts = []
        for row in sql.cases_for_facts(store, positions):
            fact = case_fact(row, positions[row["case_no"]], calendar)
            if fact is not None:
                facts.append(fact)
        sql.put_case_facts(store, facts)

    return project_face


def _project_evaluations(store, events: Sequence[StoredEvent], calendar) -> None:
    """好差评 given at a township centre's terminal (never removed by a reset: staff
    answer them at the hub; a rebuild finds each already in by its event)."""
    for event in events:
        try:
            env = parse_canonical(event.canonical)
        except ProtocolError:
            continue      # the content check has flagged it
        if isinstance(env.get("body"), dict):
            record_node_evaluation(store, calendar, node=event.node, seq=event.seq,
                                   body=env["body"], ts=env.get("ts") or "")


def reset_face(store) -> None:
    sql.reset_face_projection(store)
