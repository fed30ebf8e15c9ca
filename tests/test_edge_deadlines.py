"""Working days on the node: the calendar table, explanations, unknown years, changes."""

from __future__ import annotations

from datetime import date

from protocol.calendar import Calendar, YearNotice, due_date

from edge_node.cases import deadlines
from edge_node.cases import handling as cases

APPLICANT = {"kind": "person", "name": "李四", "id_no": "11010519491231002X"}


def test_spring_festival_example(edge_node):
    cal = edge_node.store.calendar()
    assert cal.version == 1 and cal.knows_year(2026)
    assert due_date(cal, date(2026, 2, 12), 5).due == date(2026, 2, 26)


def test_calendar_table_round_trips(edge_node):
    assert edge_node.store.calendar() == Calendar.seeded()


def test_accepted_case_explains_its_deadline(edge_node, edge_staff):
    state = cases.intake(edge_node, edge_staff["clerk"], item_code="MZ-JF-0005",
                         applicant=APPLICANT, materials=["M1", "M2", "M3", "M4", "M5"],
                         outcome="accept")
    assert state["deadline"] == {"limit_half_days": 10, "due": "2026-02-26",
                                 "confirmed": True, "calendar_version": 1}
    explained = deadlines.explain(edge_node, state["case"])
    assert explained["start"] == "2026-02-12" and explained["due"] == "2026-02-26"
    assert ("2026-02-16", "holiday") in [tuple(s) for s in explained["skipped"]]
    assert "2026-02-14" in explained["adjusted_workdays"]
    assert explained["lines"][0].startswith("起算日 2026-02-12")


def test_unknown_year_is_unconfirmed_then_recomputed(edge_node, edge_staff, settable_clock):
    settable_clock.set(2026, 12, 28, 10, 0)
    state = cases.intake(edge_node, edge_staff["clerk"], item_code="MZ-JF-0005",
                         applicant=APPLICANT, materials=["M1", "M2", "M3", "M4", "M5"],
                         outcome="accept")
    # 5 working days from Mon 2026-12-28 reach 2027, which the calendar does not know:
    # weekends only, marked unconfirmed; never a crash.
    assert state["deadline"]["due"] == "2027-01-04"
    assert state["deadline"]["confirmed"] is False
    assert "待确认" in deadlines.explain(edge_node, state["case"])["lines"][-1]
    closed = cases.intake(edge_node, edge_staff["clerk"], item_code="MZ-JF-0005",
                          applicant=APPLICANT, materials=["M1"], outcome="refuse",
                          reason="不符合")
    # The 2027 notice arrives (New Year's Day a holiday): recompute and record it.
    notice = YearNotice.from_entry(2027, ["2027-01-01"], [], "国办发明电〔2026〕9号")
    change = deadlines.add_year_notice(edge_node, notice, source="hub")
    assert change.recomputed == (state["case"],)
    after = edge_node.store.case(state["case"])
    assert after["deadline"]["confirmed"] is True and after["deadline"]["due"] == "2027-01-05"
    assert after["deadline"]["calendar_version"] == 2
    assert after["deadline_changes"] == 1
    last = edge_node.store.case_events(state["case"])[-1]
    assert last.type == "deadline.recomputed"
    assert last.body["previous"] == {"due": "2027-01-04", "confirmed": False}
    assert edge_node.store.case(closed["case"])["deadline_changes"] == 0


def test_calendar_change_moves_open_deadlines(edge_node, edge_staff):
    state = cases.intake(edge_node, edge_staff["clerk"], item_code="MZ-JF-0005",
                         applicant=APPLICANT, materials=["M1", "M2", "M3", "M4", "M5"],
                         outcome="accept")
    assert state["deadline"]["due"] == "2026-02-26"
    old = edge_node.store.calendar().notice(2026)
    changed = YearNotice(2026, old.holidays | {date(2026, 2, 25)}, old.workdays, old.source)
    change = deadlines.add_year_notice(edge_node, changed)
    assert change.recomputed == (state["case"],)
    assert edge_node.store.case(state["case"])["deadline"]["due"] == "2026-02-27"
    # applying an older calendar is refused
    import pytest

    from edge_node.errors import ValidationError
    with pytest.raises(ValidationError):
        deadlines.apply_calendar(edge_node, Calendar.seeded(), source="old")
