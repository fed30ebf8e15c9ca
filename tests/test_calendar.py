"""The working-day calendar (protocol/calendar.py) and its generated seed data."""

from __future__ import annotations

import ast
import json
import random
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import calendar_data
from protocol.calendar import (
    ADJUSTED_WORKDAY,
    HOLIDAY,
    PAUSED,
    WEEKEND,
    Calendar,
    CalendarError,
    Pause,
    YearNotice,
    add_working_days,
    due_date,
    due_date_half_days,
    remaining_working_days,
    shanghai_date,
    working_days_between,
)
from protocol.errors import ProtocolError

ROOT = Path(__file__).resolve().parent.parent
SEEDED = Calendar.seeded()

# A made-up 2027 notice for the tests (1 January 2027 is a Friday). Not the real notice.
NOTICE_2027 = YearNotice.from_entry(
    2027, ["2027-01-01", "2027-01-02", "2027-01-03"], [], "测试用 2027 年安排")


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(first: str, last: str) -> list[date]:
    a, b = d(first), d(last)
    return [a + timedelta(n) for n in range((b - a).days + 1)]


# --------------------------------------------------------------------------- seed data


def test_seed_matches_chinese_calendar_for_every_day() -> None:
    assert calendar_data.KNOWN_YEARS == tuple(range(2004, 2027))
    assert SEEDED.known_years == calendar_data.KNOWN_YEARS
    day = date(2004, 1, 1)
    while day.year <= 2026:
        assert SEEDED.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(1)


def test_seed_lists_the_packages_dates_exactly() -> None:
    for year in calendar_data.KNOWN_YEARS:
        notice = SEEDED.notice(year)
        assert notice.holidays == {x for x in chinese_calendar.holidays if x.year == year}
        assert notice.workdays == {x for x in chinese_calendar.workdays if x.year == year}
    assert SEEDED.notice(2026).source == "国办发明电〔2025〕7号"
    assert SEEDED.version == 1


def test_generated_file_is_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "refresh-calendar"),
                             "--check"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_calendar_modules_import_only_the_standard_library_and_protocol() -> None:
    data = ast.parse((ROOT / "protocol" / "calendar_data.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(data) if isinstance(n, (ast.Import, ast.ImportFrom))]
    tree = ast.parse((ROOT / "protocol" / "calendar.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in sys.stdlib_module_names, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert node.module.split(".")[0] in sys.stdlib_module_names | {"__future__"}


# --------------------------------------------------------------------------- calendar


def test_unknown_years_fall_back_to_weekdays_and_never_raise() -> None:
    assert not SEEDED.knows_year(2027)
    assert SEEDED.is_working_day(d("2027-01-01"))  # a Friday; no notice yet
    assert not SEEDED.is_working_day(d("2027-01-02"))
    for day in (date(1, 1, 1), date(9999, 12, 31), date(1999, 12, 31), date(2101, 1, 1)):
        assert SEEDED.is_working_day(day) == (day.weekday() < 5)


def test_day_kind() -> None:
    assert SEEDED.day_kind(d("2026-02-14")) == ADJUSTED_WORKDAY
    assert SEEDED.day_kind(d("2026-02-16")) == HOLIDAY
    assert SEEDED.day_kind(d("2026-03-07")) == WEEKEND
    assert SEEDED.day_kind(d("2026-03-09")) == "workday"


def test_calendar_is_immutable_and_hashable() -> None:
    with pytest.raises(AttributeError):
        SEEDED._version = 2  # type: ignore[misc]
    with pytest.raises(Exception):
        SEEDED.notice(2026).year = 2030  # type: ignore[misc]
    assert hash(SEEDED) == hash(Calendar.seeded())
    assert SEEDED == Calendar.seeded()


# --------------------------------------------------------------------------- deadlines


def test_worked_example_spring_festival_2026() -> None:
    deadline = due_date(SEEDED, d("2026-02-12"), 5)
    assert deadline.due == d("2026-02-26")
    assert deadline.confirmed and deadline.unknown_years == ()
    assert deadline.adjusted_workdays == (d("2026-02-14"),)
    assert deadline.skipped == tuple((x, HOLIDAY) for x in days("2026-02-15", "2026-02-23"))
    assert deadline.calendar_version == 1
    assert deadline.explain_zh() == [
        "起算日 2026-02-12（当日不计）",
        "2026-02-14（星期六）为调休工作日，计入",
        "跳过 2026-02-15 至 2026-02-23（法定节假日）",
        "截止 2026-02-26，共 5 个工作日",
    ]
    assert add_working_days(SEEDED, d("2026-02-12"), 5) == d("2026-02-26")


def _count_with_package(start: date, n: int) -> date:
    day, counted = start, 0
    while counted < n:
        day += timedelta(1)
        counted += chinese_calendar.is_workday(day)
    return day


def test_national_day_2026() -> None:
    notice = SEEDED.notice(2026)
    assert set(days("2026-10-01", "2026-10-07")) <= notice.holidays
    assert {d("2026-09-20"), d("2026-10-10")} <= notice.workdays
    # Accepted the day before the holiday: the third working day is the adjusted Saturday.
    deadline = due_date(SEEDED, d("2026-09-30"), 3)
    assert deadline.due == d("2026-10-10") == _count_with_package(d("2026-09-30"), 3)
    assert deadline.due.weekday() == 5
    assert deadline.adjusted_workdays == (d("2026-10-10"),)
    assert "跳过 2026-10-01 至 2026-10-07（法定节假日）" in deadline.explain_zh()
    # Mid-autumn (09-25..27) and the adjusted Sunday 09-20 in one period.
    deadline = due_date(SEEDED, d("2026-09-18"), 10)
    assert deadline.due == _count_with_package(d("2026-09-18"), 10) == d("2026-10-09")
    lines = deadline.explain_zh()
    assert "2026-09-20（星期日）为调休工作日，计入" in lines
    assert "跳过 2026-09-25 至 2026-09-27（法定节假日）" in lines
    assert "跳过 2026-10-01 至 2026-10-07（法定节假日）" in lines
    assert "其间周末 1 天不计" in lines  # Saturday 09-19
    assert lines[-1] == "截止 2026-10-09，共 10 个工作日"


def test_year_end_into_an_unknown_year_then_the_notice_is_entered() -> None:
    deadline = due_date(SEEDED, d("2026-12-24"), 10)
    assert deadline.due == d("2027-01-07")  # weekends alone: 2027-01-01 counted
    assert not deadline.confirmed and deadline.unknown_years == (2027,)
    assert deadline.explain_zh()[-1] == "2027 年节假日安排尚未录入，按周末推算，待确认"

    updated = SEEDED.with_notice(NOTICE_2027)
    assert updated.version == 2 and updated.knows_year(2027)
    assert SEEDED.changed_dates(updated) == (d("2027-01-01"),)
    deadline = due_date(updated, d("2026-12-24"), 10)
    assert deadline.due == d("2027-01-08")
    assert deadline.confirmed and deadline.calendar_version == 2
    assert "跳过 2027-01-01 至 2027-01-03（法定节假日、周末）" not in deadline.explain_zh()
    assert "跳过 2027-01-01 至 2027-01-03（法定节假日）" in deadline.explain_zh()


def test_a_deadline_inside_a_known_year_is_confirmed_even_if_later_years_are_not() -> None:
    assert due_date(SEEDED, d("2026-12-01"), 5).confirmed
    assert due_date(SEEDED, d("2026-12-31"), 0).confirmed


def test_half_days() -> None:
    start = d("2026-02-12")
    assert due_date_half_days(SEEDED, start, 0).due == start
    assert due_date_half_days(SEEDED, start, 1).due == d("2026-02-13")
    assert due_date_half_days(SEEDED, start, 2).due == d("2026-02-13")
    assert due_date_half_days(SEEDED, start, 3).due == d("2026-02-14")
    assert due_date_half_days(SEEDED, start, 10).due == due_date(SEEDED, start, 5).due
    half = due_date_half_days(SEEDED, d("2026-02-13"), 1)
    assert half.due == d("2026-02-14") and half.limit_working_days == 1
    assert half.explain_zh()[-1] == "截止 2026-02-14，共 0.5 个工作日，按 1 个工作日计（半日向上取整）"
    assert due_date(SEEDED, start, 0).explain_zh()[-1] == "截止 2026-02-12（即办，当日办结）"


def test_a_closed_pause_is_not_counted() -> None:
    start = d("2026-02-12")
    pause = Pause(d("2026-02-24"), d("2026-02-25"), "supplement")
    deadline = due_date(SEEDED, start, 5, [pause])
    assert deadline.due == d("2026-02-28")  # an adjusted Saturday
    assert (d("2026-02-24"), PAUSED) in deadline.skipped
    assert "跳过 2026-02-24 至 2026-02-25（暂停计时）" in deadline.explain_zh()
    assert add_working_days(SEEDED, start, 5, [pause]) == d("2026-02-28")
    assert working_days_between(SEEDED, start, d("2026-02-28"), [pause]) == 5
    # A pause over a holiday block joins it in the explanation.
    deadline = due_date(SEEDED, start, 5, [Pause(d("2026-02-20"), d("2026-02-24"))])
    assert deadline.due == d("2026-02-27")
    assert deadline.explain_zh()[2:4] == ["跳过 2026-02-15 至 2026-02-19（法定节假日）",
                                          "跳过 2026-02-20 至 2026-02-24（暂停计时）"]
    # Pauses before the start or after the due day change nothing.
    for pause in (Pause(d("2026-02-01"), d("2026-02-12")), Pause(d("2026-02-27"))):
        assert due_date(SEEDED, start, 5, [pause]).due == d("2026-02-26")


def test_an_open_pause_leaves_the_deadline_open() -> None:
    start = d("2026-02-12")
    deadline = due_date(SEEDED, start, 5, [Pause(d("2026-02-24"))])
    assert deadline.due is None and deadline.paused
    assert deadline.paused_since == d("2026-02-24")
    assert deadline.counted_days == 2 and deadline.remaining_half_days == 6
    assert deadline.explain_zh()[-1] == ("自 2026-02-24 起暂停计时，尚未恢复；已计 2 个工作日，"
                                         "恢复后还需 3 个工作日（时限 5 个工作日）")
    assert add_working_days(SEEDED, start, 5, [Pause(d("2026-02-24"))]) is None
    # Once the pause is closed, the remaining days follow on.
    closed = due_date(SEEDED, start, 5, [Pause(d("2026-02-24"), d("2026-03-02"))])
    assert closed.due == d("2026-03-05")
    assert working_days_between(SEEDED, start, d("2026-03-10"), [Pause(d("2026-02-24"))]) == 2


def test_overlapping_pauses_are_merged() -> None:
    pauses = [Pause(d("2026-03-02"), d("2026-03-04")), Pause(d("2026-03-03"), d("2026-03-05")),
              Pause(d("2026-03-06"), d("2026-03-06"))]
    start = d("2026-03-01")
    assert working_days_between(SEEDED, start, d("2026-03-13"), pauses) == 5
    assert due_date(SEEDED, start, 5, pauses).due == d("2026-03-13")
    assert add_working_days(SEEDED, start, 5, pauses) == d("2026-03-13")


def test_bad_arguments() -> None:
    with pytest.raises(CalendarError):
        due_date(SEEDED, d("2026-02-12"), -1)
    with pytest.raises(CalendarError):
        due_date(SEEDED, d("2026-02-12"), 1.5)  # type: ignore[arg-type]
    with pytest.raises(CalendarError) as err:
        Pause(d("2026-02-12"), d("2026-02-11"))
    assert "早于" in err.value.zh


def test_working_days_between_and_remaining() -> None:
    start, due = d("2026-02-12"), d("2026-02-26")
    assert working_days_between(SEEDED, start, due) == 5
    assert working_days_between(SEEDED, due, start) == -5
    assert working_days_between(SEEDED, start, start) == 0
    assert working_days_between(SEEDED, start, d("2026-02-23")) == 2
    assert remaining_working_days(SEEDED, due, due) == 0
    assert remaining_working_days(SEEDED, d("2026-02-24"), due) == 2
    assert remaining_working_days(SEEDED, d("2026-02-27"), due) == -1
    assert remaining_working_days(SEEDED, d("2026-03-01"), due) == -2  # 02-28 is a working day


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("year, holidays, workdays, field, words", [
    (2027, ["2027-01-01", "2026-12-31"], [], "years[2027].holidays", "不在 2027 年内"),
    (2027, ["2027-01-01"], ["2027-01-04"], "years[2027].workdays", "只能是周六或周日"),
    (2027, ["2027-01-01", "2027-01-02"], ["2027-01-02"], "years[2027]", "同时"),
    (2027, [], [], "years[2027].holidays", "至少"),
    (2027, ["20270101"], [], "holidays[0]", "YYYY-MM-DD"),
    (2027, ["2027-02-30"], [], "holidays[0]", "不是有效日期"),
    (2027, [datetime(2027, 1, 1)], [], "holidays[0]", "应为日期"),
    (1999, ["1999-01-01"], [], "year", "2000 至 2100"),
    (True, ["2027-01-01"], [], "year", "年份"),
])
def test_notice_entry_errors(year, holidays, workdays, field, words) -> None:
    with pytest.raises(CalendarError) as err:
        YearNotice.from_entry(year, holidays, workdays, "国办发明电〔2026〕1号")
    assert err.value.field == field
    assert words in err.value.zh
    assert isinstance(err.value, ValueError) and isinstance(err.value, ProtocolError)
    assert err.value.to_dict()["code"] == "calendar_invalid"


def test_notice_entry_english_messages_name_the_rule() -> None:
    with pytest.raises(CalendarError, match=r"workdays: 2027-01-04 is a Monday; an adjusted "
                                            r"working day must be a Saturday or Sunday"):
        YearNotice.from_entry(2027, ["2027-01-01"], ["2027-01-04"], "x")
    with pytest.raises(CalendarError, match="source"):
        YearNotice.from_entry(2027, ["2027-01-01"], [], "  ")


def test_notice_entry_accepts_dates_and_ignores_duplicates() -> None:
    notice = YearNotice.from_entry(2027, [date(2027, 1, 1), "2027-01-01"], ["2027-01-09"], "x")
    assert notice.holidays == {date(2027, 1, 1)} and notice.workdays == {date(2027, 1, 9)}


def _doc() -> dict:
    return SEEDED.with_notice(NOTICE_2027).to_document()


def _break(mutate) -> CalendarError:
    doc = json.loads(json.dumps(_doc()))
    mutate(doc)
    with pytest.raises(CalendarError) as err:
        Calendar.from_document(doc)
    return err.value


def test_document_errors_name_the_field() -> None:
    last = -1
    assert _break(lambda doc: doc.update(format="other")).field == "format"
    assert _break(lambda doc: doc.update(extra=1)).field == "$"
    assert _break(lambda doc: doc.pop("version")).field == "$"
    assert _break(lambda doc: doc.update(version=0)).field == "version"
    assert _break(lambda doc: doc.update(version="2")).field == "version"
    assert _break(lambda doc: doc.update(years={})).field == "years"
    assert _break(lambda doc: doc["years"].append(doc["years"][0])).field == "years[24].year"
    assert _break(lambda doc: doc["years"][last].update(year=2101)).field == "years[23].year"
    assert _break(lambda doc: doc["years"][last]["holidays"].append("2027-01-01")).field \
        == "years[23].holidays"
    assert _break(lambda doc: doc["years"][last]["holidays"].append(20270105)).field \
        == "years[23].holidays[3]"
    err = _break(lambda doc: doc["years"][last]["holidays"].append("2028-01-01"))
    assert err.field == "years[23].holidays" and "2028-01-01 is not in 2027" in str(err)
    err = _break(lambda doc: doc["years"][last]["workdays"].append("2027-01-05"))
    assert err.field == "years[23].workdays" and "Saturday or Sunday" in str(err)
    err = _break(lambda doc: doc["years"][last]["workdays"].append("2027-01-02"))
    assert "both as a holiday and as an adjusted working day" in str(err)
    assert _break(lambda doc: doc["years"][last].update(source="")).field == "years[23].source"
    assert _break(lambda doc: doc["years"][last].pop("source")).field == "years[23]"


# --------------------------------------------------------------------------- documents


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return type(value) in (int, str)


def test_document_round_trip_and_fingerprint() -> None:
    cal = SEEDED.with_notice(NOTICE_2027)
    doc = cal.to_document()
    assert _plain(doc)
    assert doc["format"] == "working-day-calendar/1" and doc["version"] == 2
    assert doc["years"][-1] == {"year": 2027, "source": "测试用 2027 年安排",
                                "holidays": ["2027-01-01", "2027-01-02", "2027-01-03"],
                                "workdays": []}
    again = Calendar.from_document(json.loads(json.dumps(doc, ensure_ascii=False)))
    assert again == cal and again.fingerprint() == cal.fingerprint()
    assert len(cal.fingerprint()) == 64 and cal.fingerprint() != SEEDED.fingerprint()


def test_document_order_does_not_matter() -> None:
    doc = json.loads(json.dumps(_doc()))
    rng = random.Random(7)
    rng.shuffle(doc["years"])
    for entry in doc["years"]:
        rng.shuffle(entry["holidays"])
    shuffled = Calendar.from_document(doc)
    assert shuffled.fingerprint() == SEEDED.with_notice(NOTICE_2027).fingerprint()


def test_fingerprint_changes_when_a_day_changes() -> None:
    notice = SEEDED.notice(2026)
    fewer = YearNotice(2026, notice.holidays - {d("2026-10-07")}, notice.workdays, notice.source)
    changed = Calendar(1, {**SEEDED.notices, 2026: fewer})
    assert changed.fingerprint() != SEEDED.fingerprint()
    assert SEEDED.changed_dates(changed) == (d("2026-10-07"),)
    assert Calendar(1, SEEDED.notices).fingerprint() == SEEDED.fingerprint()


# --------------------------------------------------------------------------- time zone


def test_shanghai_date() -> None:
    midnight_utc8 = int(datetime(2026, 2, 11, 16, 0, tzinfo=timezone.utc).timestamp())
    assert shanghai_date(midnight_utc8) == d("2026-02-12")
    assert shanghai_date(midnight_utc8 - 1) == d("2026-02-11")
    assert shanghai_date(midnight_utc8 - 0.5) == d("2026-02-11")
    assert shanghai_date(datetime(2026, 2, 11, 23, 30, tzinfo=timezone.utc)) == d("2026-02-12")
    with pytest.raises(CalendarError):
        shanghai_date(datetime(2026, 2, 11, 23, 30))
    with pytest.raises(CalendarError):
        shanghai_date(True)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties

STARTS = st.dates(min_value=date(2003, 6, 1), max_value=date(2027, 6, 30))
WIDE_STARTS = st.dates(min_value=date(1990, 1, 1), max_value=date(2110, 12, 31))


@settings(max_examples=400, deadline=None)
@given(start=STARTS, limit=st.integers(0, 60))
def test_due_date_properties(start: date, limit: int) -> None:
    deadline = due_date(SEEDED, start, limit)
    due = deadline.due
    assert working_days_between(SEEDED, start, due) == limit
    assert add_working_days(SEEDED, start, limit) == due
    if limit > 0:
        assert due > start
        assert SEEDED.is_working_day(due)
        assert working_days_between(SEEDED, start, due - timedelta(1)) == limit - 1
    else:
        assert due == start
    judged = range((start + timedelta(1)).year, due.year + 1) if due > start else ()
    assert deadline.confirmed == all(SEEDED.knows_year(y) for y in judged)


@settings(max_examples=300, deadline=None)
@given(start=WIDE_STARTS, limit=st.integers(0, 60),
       pauses=st.lists(st.tuples(st.integers(-10, 90), st.integers(0, 20), st.booleans()),
                       max_size=3))
def test_fast_path_matches_the_day_by_day_loop(start, limit, pauses) -> None:
    cal = SEEDED.with_notice(NOTICE_2027)
    spans = [Pause(start + timedelta(a), None if open_ else start + timedelta(a + n))
             for a, n, open_ in pauses]
    deadline = due_date(cal, start, limit, spans)
    assert add_working_days(cal, start, limit, spans) == deadline.due
    if deadline.due is not None:
        assert working_days_between(cal, start, deadline.due, spans) == limit
    else:
        assert 2 * deadline.counted_days + deadline.remaining_half_days == 2 * limit
        assert working_days_between(cal, start, deadline.paused_since, spans) \
            == deadline.counted_days
    end = start + timedelta(limit * 2)
    naive = sum(1 for n in range(1, limit * 2 + 1)
                if cal.is_working_day(start + timedelta(n))
                and not any(p.start <= start + timedelta(n) and
                            (p.end is None or start + timedelta(n) <= p.end) for p in spans))
    assert working_days_between(cal, start, end, spans) == naive
    assert working_days_between(cal, end, start, spans) == -naive
