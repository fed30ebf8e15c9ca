"""Calendar management: the hub's newest working-day calendar, entering a year's notice,
publishing it to nodes, and recomputing open cases' deadlines (docs/hub.md, "Calendar").

The calendar in force is the newest published ``config.calendar`` document (``central-hub
init`` publishes the seeded version 1). An administrator enters a year's State Council
notice; :func:`check_notice` parses and checks it and summarises the year (every day of
the year accounted for as a working day, weekend, holiday or adjusted working day);
:func:`publish_notice` publishes the next calendar version and, in the same transaction,
recomputes the deadline of every case whose counting window covers a changed day,
recording each change on the case (``case_deadline_changes``).
"""

from __future__ import annotations

import calendar as std_calendar
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from protocol import lifecycle
from protocol.calendar import (
    ADJUSTED_WORKDAY,
    HOLIDAY,
    WEEKEND,
    Calendar,
    CalendarError,
    YearNotice,
)
from protocol.config_docs import CONFIG_CALENDAR
from web.inputs import to_int

from ..config import HubConfig
from ..errors import HubError
from ..identity import HubIdentity
from ..store import HubStore
from ..sync.publication import publish_config

_DATE_TOKEN = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
_RANGE_RE = re.compile(r"^\s*([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})\s*(?:(?:至|到|~|～|/|—|--)\s*"
                       r"([0-9]{4}-[0-9]{1,2}-[0-9]{1,2}))?\s*$")
MAX_ENTRY_CHARS = 20_000


class CalendarCache:
    """The newest published calendar, parsed once per version (one per projector run)."""

    def __init__(self) -> None:
        self._version: int | None = None
        self._calendar: Calendar | None = None

    def get(self, store: HubStore) -> Calendar:
        record = store.config(CONFIG_CALENDAR)
        if record is None:
            if self._calendar is None or self._version != 0:
                self._calendar, self._version = Calendar.seeded(), 0
            return self._calendar
        if record.version != self._version or self._calendar is None:
            body = json.loads(record.canonical)["body"]
            self._calendar = Calendar.from_document(body["content"])
            self._version = record.version
        return self._calendar


def current_calendar(store: HubStore) -> Calendar:
    return CalendarCache().get(store)


# --------------------------------------------------------------------------- entering a year


def parse_dates(text: str, field_name: str, label: str) -> list[date]:
    """Dates from an administrator's text: one date or range per line or comma,
    ``2027-01-01`` or ``2027-02-10 至 2027-02-17``."""
    if len(text) > MAX_ENTRY_CHARS:
        raise HubError(f"{label}：内容过长（最多 {MAX_ENTRY_CHARS} 个字符）",
                       code="calendar_invalid", extra={"field": field_name})
    out: list[date] = []
    for n, raw in enumerate(re.split(r"[\n,，；;、]+", text), start=1):
        if not raw.strip():
            continue
        match = _RANGE_RE.match(raw)
        if not match:
            raise HubError(f"{label}：第 {n} 项“{raw.strip()[:40]}”不是日期（YYYY-MM-DD）或日期范围"
                           "（YYYY-MM-DD 至 YYYY-MM-DD）", code="calendar_invalid",
                           extra={"field": field_name})
        try:
            first = date.fromisoformat(_pad(match.group(1)))
            last = date.fromisoformat(_pad(match.group(2))) if match.group(2) else first
        except ValueError:
            raise HubError(f"{label}：第 {n} 项“{raw.strip()[:40]}”不是存在的日期",
                           code="calendar_invalid", extra={"field": field_name}) from None
        if last < first or (last - first).days > 366:
            raise HubError(f"{label}：第 {n} 项的结束日早于开始日或跨度超过一年",
                           code="calendar_invalid", extra={"field": field_name})
        out.extend(first + timedelta(days=i) for i in range((last - first).days + 1))
    return out


def _pad(text: str) -> str:
    y, m, d = text.split("-")
    return f"{y}-{int(m):02d}-{int(d):02d}"


@dataclass(frozen=True)
class YearSummary:
    """Every day of a year accounted for: the check an administrator sees before publishing."""

    year: int
    days: int
    working_days: int
    weekend_days: int
    holidays_on_weekdays: int
    holidays_on_weekends: int
    adjusted_workdays: int
    months: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def summarise_year(calendar: Calendar, year: int) -> YearSummary:
    first = date(year, 1, 1)
    n_days = 366 if std_calendar.isleap(year) else 365
    counts = {"workday": 0, ADJUSTED_WORKDAY: 0, HOLIDAY: 0, WEEKEND: 0}
    holiday_weekend = 0
    months: list[dict] = []
    for m in range(1, 13):
        months.append({"month": m, "working": 0, "off": 0, "holidays": [], "workdays": []})
    for i in range(n_days):
        day = first + timedelta(days=i)
        kind = calendar.day_kind(day)
        counts[kind] += 1
        month = months[day.month - 1]
        if calendar.is_working_day(day):
            month["working"] += 1
        else:
            month["off"] += 1
        if kind == HOLIDAY:
            month["holidays"].append(day.day)
            if day.weekday() >= 5:
                holiday_weekend += 1
        if kind == ADJUSTED_WORKDAY:
            month["workdays"].append(day.day)
    working = counts["workday"] + counts[ADJUSTED_WORKDAY]
    assert working + counts[HOLIDAY] + counts[WEEKEND] == n_days   # every day accounted for
    warnings = []
    notice = calendar.notice(year)
    if notice is None:
        warnings.append(f"{year} 年尚无节假日安排，按周末推算")
    else:
        weekday_holidays = counts[HOLIDAY] - holiday_weekend
        if not 11 <= weekday_holidays <= 25:
            warnings.append(f"工作日中的节假日共 {weekday_holidays} 天，与往年（约 13 至 20 天）"
                            "相差较大，请核对通知原文")
        if not 240 <= working <= 256:
            warnings.append(f"全年工作日 {working} 天，与往年（约 245 至 252 天）相差较大，"
                            "请核对通知原文")
    return YearSummary(year=year, days=n_days, working_days=working,
                       weekend_days=counts[WEEKEND],
                       holidays_on_weekdays=counts[HOLIDAY] - holiday_weekend,
                       holidays_on_weekends=holiday_weekend,
                       adjusted_workdays=counts[ADJUSTED_WORKDAY], months=months,
                       warnings=warnings)


def check_notice(store: HubStore, year_text: str, source: str, holidays_text: str,
                 workdays_text: str) -> tuple[YearNotice, Calendar, YearSummary]:
    """Parse and check an administrator's entry; the notice, the calendar it would make,
    and the year's summary. Raises HubError (code ``calendar_invalid``, Chinese message,
    ``extra["field"]`` naming the form field)."""
    year_text = (year_text or "").strip()
    if len(year_text) != 4 or to_int(year_text, max_digits=4) is None:
        raise HubError("年份：请填写四位数字年份，如 2027", code="calendar_invalid",
                       extra={"field": "year"})
    year = int(year_text)
    holidays = parse_dates(holidays_text or "", "holidays", "节假日")
    workdays = parse_dates(workdays_text or "", "workdays", "调休工作日")
    try:
        notice = YearNotice.from_entry(year, holidays, workdays, source or "")
    except CalendarError as exc:
        field_name = "year"
        if exc.field and "source" in exc.field:
            field_name = "source"
        elif exc.field and "workdays" in exc.field:
            field_name = "workdays"
        elif exc.field and "holidays" in exc.field:
            field_name = "holidays"
        elif exc.field and exc.field.startswith("years["):
            field_name = "holidays"
        raise HubError(exc.zh, code="calendar_invalid", extra={"field": field_name}) from None
    current = current_calendar(store)
    proposed = current.with_notice(notice)
    return notice, proposed, summarise_year(proposed, year)


# --------------------------------------------------------------------------- deadlines


def recompute_deadlines(store: HubStore, before: Calendar, after: Calendar, at: str,
                        actor: str | None, batch: int = 1000) -> int:
    """Recompute the deadlines a calendar change may move; record each change on open
    cases. Returns the number of changes recorded. Runs inside the caller's transaction."""
    changed = before.changed_dates(after)
    recorded = 0
    if changed:
        first, last = changed[0].isoformat(), changed[-1].isoformat()
        cursor = ""
        while True:
            rows = store.cases_to_recompute(first, last, cursor, batch)
            if not rows:
                break
            updates, changes = [], []
            for case_no, state, row in rows:
                deadline = lifecycle.case_deadline(state, after)
                if deadline is None:
                    continue
                due = None if deadline.due is None else deadline.due.isoformat()
                if (due, int(deadline.confirmed)) == (row["due_date"], row["due_confirmed"]):
                    continue
                updates.append((deadline.limit_half_days, due, int(deadline.confirmed),
                                after.version, int(deadline.due is None), case_no))
                if state.get("state") in lifecycle.OPEN_STATES:
                    changes.append((case_no, at, "calendar_changed", row["due_date"],
                                    row["due_confirmed"], due, int(deadline.confirmed),
                                    row["calendar_version"], after.version, actor))
            store.set_case_deadlines(updates)
            store.add_deadline_changes(changes)
            recorded += len(changes)
            cursor = rows[-1][0]
    store.stamp_calendar_version(after.version)
    return recorded


@dataclass(frozen=True)
class CalendarPublication:
    version: int
    year: int
    changes_recorded: int


def publish_calendar(store: HubStore, identity: HubIdentity, config: HubConfig,
                     calendar: Calendar, actor: str, *, ip: str | None = None,
                     year: int | None = None) -> CalendarPublication:
    """Publish ``calendar`` (signed, to nodes) and recompute deadlines, atomically."""
    with store.transaction():
        before = current_calendar(store)
        if calendar.version <= before.version:
            calendar = Calendar(before.version + 1, calendar.notices)
        publish_config(store, identity, config, CONFIG_CALENDAR, calendar.to_document(), actor)
        now = config.now_ts()
        recorded = recompute_deadlines(store, before, calendar, now, actor)
        changed_years = sorted({d.year for d in before.changed_dates(calendar)})
        store.audit(now, actor, "calendar.published", f"config.calendar v{calendar.version}",
                    {"years_changed": changed_years, "deadline_changes": recorded}, ip=ip,
                    before={"version": before.version, "years": list(before.known_years)},
                    after={"version": calendar.version, "years": list(calendar.known_years),
                           **({"notice": calendar.notice(year).to_entry()}
                              if year and calendar.notice(year) else {})})
    return CalendarPublication(calendar.version, year or 0, recorded)


def publish_notice(store: HubStore, identity: HubIdentity, config: HubConfig,
                   notice: YearNotice, actor: str, *, ip: str | None = None) -> CalendarPublication:
    calendar = current_calendar(store).with_notice(notice)
    return publish_calendar(store, identity, config, calendar, actor, ip=ip, year=notice.year)
