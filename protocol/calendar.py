"""The working-day calendar and deadline arithmetic, shared by nodes and hub.

Pure: no I/O and no clock reads. Every function that needs "today" takes it as an argument.
The rules, the half-day choice and how a year is added are in docs/calendar.md.

A :class:`Calendar` is an immutable, versioned table of :class:`YearNotice` entries, one per
year the State Council has published holidays for (seeded from ``calendar_data``, later
years entered by an administrator and published by the hub as a signed document). A day is
a working day when it is an adjusted working day (调休上班), or a Monday-Friday that is not
a listed holiday. Years without a notice fall back to weekends alone; deadlines that touch
them are marked unconfirmed.

Deadlines follow Administrative Licensing Law art. 82: the day a period starts is not
counted; the period ends on the Nth working day after it. Paused days (补正, 特别程序,
suspension) are not counted.

Errors: every validation failure is a :class:`CalendarError` (a ``ValueError`` and a
``ProtocolError`` with code ``calendar_invalid``), whose message names the field and the
rule, with a Chinese message for staff in ``zh``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from . import calendar_data
from .canonical import canonical_bytes
from .errors import ProtocolError

__all__ = [
    "ADJUSTED_WORKDAY", "DOCUMENT_FORMAT", "HOLIDAY", "MAX_YEAR", "MIN_YEAR", "PAUSED",
    "SHANGHAI", "WEEKEND", "Calendar", "CalendarError", "Deadline", "Pause", "YearNotice",
    "add_working_days", "due_date", "due_date_half_days", "remaining_working_days",
    "shanghai_date", "working_days_between",
]

MIN_YEAR = 2000
MAX_YEAR = 2100
DOCUMENT_FORMAT = "working-day-calendar/1"
MAX_SOURCE_CHARS = 200

# Reasons recorded on a Deadline.
WEEKEND = "weekend"
HOLIDAY = "holiday"
PAUSED = "paused"
ADJUSTED_WORKDAY = "adjusted_workday"

# China has used a single UTC+8 offset without daylight saving since 1991, so a fixed offset
# is exact for every date this project handles and needs no tz database (zoneinfo/tzdata).
SHANGHAI = timezone(timedelta(hours=8))

_WEEKDAY_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_REASON_ZH = {HOLIDAY: "法定节假日", PAUSED: "暂停计时", WEEKEND: "周末"}
_ISO_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class CalendarError(ProtocolError, ValueError):
    """A calendar, notice or deadline argument breaks a rule.

    ``str(err)`` is English and names the field and the rule; ``err.zh`` says the same in
    Chinese for staff; ``err.field`` is the path of the offending field.
    """

    code = "calendar_invalid"

    def __init__(self, message: str, *, zh: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.zh = zh

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["zh"] = self.zh
        return out


# --------------------------------------------------------------------------- notices


def _parse_day(value: Any, path: str, *, strict: bool) -> date:
    """A date from a ``date`` or a ``YYYY-MM-DD`` string (``strict``: strings only)."""
    if isinstance(value, str):
        if not _ISO_DATE_RE.match(value):
            raise CalendarError(f"{path}: {value!r} is not a date written YYYY-MM-DD",
                                zh=f"{path}：{value!r} 不是 YYYY-MM-DD 格式的日期", field=path)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise CalendarError(f"{path}: {value} is not a calendar date",
                                zh=f"{path}：{value} 不是有效日期", field=path) from None
    if not strict and isinstance(value, date) and not isinstance(value, datetime):
        return value
    expected = "a YYYY-MM-DD string" if strict else "a date or a YYYY-MM-DD string"
    raise CalendarError(f"{path}: expected {expected}, got {type(value).__name__}",
                        zh=f"{path}：应为日期（YYYY-MM-DD），实际为 {type(value).__name__}",
                        field=path)


def _check_year(year: Any, path: str) -> int:
    if type(year) is not int or not MIN_YEAR <= year <= MAX_YEAR:
        raise CalendarError(f"{path}: year must be an integer from {MIN_YEAR} to {MAX_YEAR}, "
                            f"got {year!r}",
                            zh=f"{path}：年份须为 {MIN_YEAR} 至 {MAX_YEAR} 之间的整数，"
                               f"实际为 {year!r}", field=path)
    return year


def _check_source(source: Any, path: str) -> str:
    if not isinstance(source, str):
        raise CalendarError(f"{path}: source must be text, got {type(source).__name__}",
                            zh=f"{path}：依据（通知文号）须为文字", field=path)
    text = unicodedata.normalize("NFC", source.strip())
    if not text or len(text) > MAX_SOURCE_CHARS or not text.isprintable():
        raise CalendarError(f"{path}: source must be 1-{MAX_SOURCE_CHARS} printable characters "
                            "naming the notice, e.g. 国办发明电〔2025〕7号",
                            zh=f"{path}：请填写通知文号（1 至 {MAX_SOURCE_CHARS} 个字符），"
                               "如 国办发明电〔2025〕7号", field=path)
    return text


def _check_days(year: int, holidays: Iterable[date], workdays: Iterable[date],
                path: str) -> None:
    """The rules a year's entry must satisfy (dates already parsed)."""
    holidays, workdays = sorted(holidays), sorted(workdays)
    if not holidays:
        raise CalendarError(f"{path}.holidays: a notice lists at least one holiday",
                            zh=f"{year} 年安排至少应有一个法定节假日", field=f"{path}.holidays")
    for name, days, label in (("holidays", holidays, "节假日"), ("workdays", workdays, "调休工作日")):
        for day in days:
            if day.year != year:
                raise CalendarError(
                    f"{path}.{name}: {day.isoformat()} is not in {year}; every date of a "
                    "year's entry must lie in that year (enter a date of another year "
                    "under that year)",
                    zh=f"{year} 年的{label} {day.isoformat()} 不在 {year} 年内，"
                       f"请录入到 {day.year} 年", field=f"{path}.{name}")
    for day in workdays:
        if day.weekday() < 5:
            raise CalendarError(
                f"{path}.workdays: {day.isoformat()} is a {day.strftime('%A')}; an adjusted "
                "working day must be a Saturday or Sunday",
                zh=f"调休工作日 {day.isoformat()} 是{_WEEKDAY_ZH[day.weekday()]}，"
                   "调休上班日只能是周六或周日", field=f"{path}.workdays")
    both = sorted(set(holidays) & set(workdays))
    if both:
        raise CalendarError(
            f"{path}: {both[0].isoformat()} is listed both as a holiday and as an adjusted "
            "working day",
            zh=f"{both[0].isoformat()} 同时被录为节假日和调休工作日", field=path)


@dataclass(frozen=True)
class YearNotice:
    """One year's holiday arrangement, from the State Council General Office's notice.

    ``holidays``: the days off the notice lists (weekend days inside a holiday block may be
    listed, they change nothing). ``workdays``: the adjusted working days, Saturdays and
    Sundays that are working days. ``source``: the notice number, e.g. 国办发明电〔2025〕7号.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str

    def __post_init__(self) -> None:
        path = f"years[{self.year}]"
        _check_year(self.year, "year")
        for name in ("holidays", "workdays"):
            days = getattr(self, name)
            if not isinstance(days, frozenset):
                days = frozenset(days)
                object.__setattr__(self, name, days)
            for day in days:
                if not isinstance(day, date) or isinstance(day, datetime):
                    raise CalendarError(f"{path}.{name}: {day!r} is not a date",
                                        zh=f"{self.year} 年安排中 {day!r} 不是日期",
                                        field=f"{path}.{name}")
        object.__setattr__(self, "source", _check_source(self.source, f"{path}.source"))
        _check_days(self.year, self.holidays, self.workdays, path)

    @classmethod
    def from_entry(cls, year: int, holidays: Iterable[date | str],
                   workdays: Iterable[date | str], source: str) -> YearNotice:
        """Build a notice from an administrator's entry (dates or ``YYYY-MM-DD`` strings).

        Duplicates are ignored; every rule of :meth:`Calendar.from_document` applies.
        """
        _check_year(year, "year")
        parsed = {name: frozenset(_parse_day(v, f"{name}[{i}]", strict=False)
                                  for i, v in enumerate(values))
                  for name, values in (("holidays", holidays), ("workdays", workdays))}
        return cls(year, parsed["holidays"], parsed["workdays"], source)

    def to_entry(self) -> dict:
        """The notice as a plain dict: dates as sorted ``YYYY-MM-DD`` strings."""
        return {"year": self.year, "source": self.source,
                "holidays": sorted(d.isoformat() for d in self.holidays),
                "workdays": sorted(d.isoformat() for d in self.workdays)}


# --------------------------------------------------------------------------- calendar

# Ordinals covered by the working-day index (all years a notice may be entered for).
_INDEX_FIRST = date(MIN_YEAR, 1, 1).toordinal()
_INDEX_LAST = date(MAX_YEAR, 12, 31).toordinal()


def _weekdays_upto(ordinal: int) -> int:
    """Number of Monday-Friday days with ordinal in [1, ordinal] (ordinal 1 is a Monday)."""
    weeks, rest = divmod(ordinal, 7)
    return 5 * weeks + min(rest, 5)


def _kth_weekday(k: int) -> int:
    """Ordinal of the k-th Monday-Friday day counted from ordinal 1 (k >= 1)."""
    weeks, rest = divmod(k - 1, 5)
    return 7 * weeks + rest + 1


_WEEKDAYS_BEFORE_INDEX = _weekdays_upto(_INDEX_FIRST - 1)
_WEEKDAYS_UPTO_INDEX_END = _weekdays_upto(_INDEX_LAST)


class Calendar:
    """An immutable, versioned working-day calendar: ``year -> YearNotice``.

    ``is_working_day`` is O(1); counting and adding working days are O(log n) through a
    sorted index of working-day ordinals for 2000-2100, built on first use.
    """

    __slots__ = ("_version", "_notices", "_holidays", "_workdays", "_index", "_fingerprint")

    def __init__(self, version: int, notices: Mapping[int, YearNotice]) -> None:
        if type(version) is not int or version < 1:
            raise CalendarError(f"version: must be a positive integer, got {version!r}",
                                zh=f"日历版本号须为正整数，实际为 {version!r}", field="version")
        checked: dict[int, YearNotice] = {}
        for year in sorted(notices):
            notice = notices[year]
            if not isinstance(notice, YearNotice) or notice.year != year:
                raise CalendarError(f"years[{year}]: expected the YearNotice for {year}",
                                    zh=f"{year} 年的安排与年份不符", field=f"years[{year}]")
            checked[year] = notice
        setattr_ = object.__setattr__
        setattr_(self, "_version", version)
        setattr_(self, "_notices", checked)
        setattr_(self, "_holidays",
                 frozenset(d.toordinal() for n in checked.values() for d in n.holidays))
        setattr_(self, "_workdays",
                 frozenset(d.toordinal() for n in checked.values() for d in n.workdays))
        setattr_(self, "_index", None)
        setattr_(self, "_fingerprint", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Calendar is immutable; use with_notice() for a new version")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Calendar is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Calendar):
            return NotImplemented
        return self._version == other._version and self._notices == other._notices

    def __hash__(self) -> int:
        return hash((self._version, tuple(self._notices.values())))

    def __repr__(self) -> str:
        years = self.known_years
        span = f"{years[0]}-{years[-1]}" if years else "none"
        return f"<Calendar version={self._version} years={span} ({len(years)})>"

    # -- construction

    @classmethod
    def seeded(cls) -> Calendar:
        """Version 1, from the generated ``calendar_data`` (chinese-calendar 2004-2026)."""
        notices = {}
        for year in calendar_data.KNOWN_YEARS:
            notices[year] = YearNotice(
                year,
                frozenset(date.fromisoformat(f"{year}-{md}")
                          for md in calendar_data.HOLIDAYS[year].split()),
                frozenset(date.fromisoformat(f"{year}-{md}")
                          for md in calendar_data.WORKDAYS[year].split()),
                calendar_data.SOURCES[year])
        return cls(1, notices)

    def with_notice(self, notice: YearNotice) -> Calendar:
        """A new calendar, one version up, with ``notice`` added or replacing its year."""
        return Calendar(self._version + 1, {**self._notices, notice.year: notice})

    # -- queries

    @property
    def version(self) -> int:
        return self._version

    @property
    def notices(self) -> Mapping[int, YearNotice]:
        return dict(self._notices)

    @property
    def known_years(self) -> tuple[int, ...]:
        return tuple(self._notices)

    def knows_year(self, year: int) -> bool:
        return year in self._notices

    def notice(self, year: int) -> YearNotice | None:
        return self._notices.get(year)

    def is_working_day(self, day: date) -> bool:
        """True for a working day. Years without a notice: Monday-Friday. Never raises."""
        ordinal = day.toordinal()
        if ordinal in self._workdays:
            return True
        if ordinal in self._holidays:
            return False
        return (ordinal - 1) % 7 < 5

    def day_kind(self, day: date) -> str:
        """``"workday"``, ``"adjusted_workday"``, ``"holiday"`` or ``"weekend"``."""
        ordinal = day.toordinal()
        if ordinal in self._workdays:
            return ADJUSTED_WORKDAY
        if ordinal in self._holidays:
            return HOLIDAY
        return "workday" if (ordinal - 1) % 7 < 5 else WEEKEND

    def changed_dates(self, other: Calendar) -> tuple[date, ...]:
        """Dates whose working-day status differs between ``self`` and ``other``.

        A deadline needs recomputing only if one of them lies after its start day.
        """
        candidates = (self._holidays | self._workdays | other._holidays | other._workdays)
        return tuple(date.fromordinal(o) for o in sorted(candidates)
                     if self.is_working_day(date.fromordinal(o))
                     != other.is_working_day(date.fromordinal(o)))

    # -- documents

    def to_document(self) -> dict:
        """A plain dict of strings and integers, for the hub to publish as signed config."""
        return {"format": DOCUMENT_FORMAT, "version": self._version,
                "years": [n.to_entry() for n in self._notices.values()]}

    @classmethod
    def from_document(cls, doc: Any) -> Calendar:
        """Rebuild a calendar from :meth:`to_document` output, checking every rule.

        Stricter than :meth:`YearNotice.from_entry`: dates must be ``YYYY-MM-DD`` strings,
        no duplicates, no unknown keys. Order of years and dates does not matter.
        """
        _expect_keys(doc, "$", ("format", "version", "years"))
        if doc["format"] != DOCUMENT_FORMAT:
            raise CalendarError(f"format: expected {DOCUMENT_FORMAT!r}, got {doc['format']!r}",
                                zh="这不是工作日历文件（format 不符）", field="format")
        years = doc["years"]
        if not isinstance(years, list):
            raise CalendarError("years: must be a list", zh="years 须为列表", field="years")
        notices: dict[int, YearNotice] = {}
        for i, entry in enumerate(years):
            path = f"years[{i}]"
            _expect_keys(entry, path, ("year", "source", "holidays", "workdays"))
            year = _check_year(entry["year"], f"{path}.year")
            if year in notices:
                raise CalendarError(f"{path}.year: {year} appears twice",
                                    zh=f"{year} 年重复出现", field=f"{path}.year")
            days: dict[str, frozenset[date]] = {}
            for name in ("holidays", "workdays"):
                values = entry[name]
                if not isinstance(values, list):
                    raise CalendarError(f"{path}.{name}: must be a list",
                                        zh=f"{path}.{name} 须为列表", field=f"{path}.{name}")
                parsed = [_parse_day(v, f"{path}.{name}[{j}]", strict=True)
                          for j, v in enumerate(values)]
                days[name] = frozenset(parsed)
                if len(days[name]) != len(parsed):
                    raise CalendarError(f"{path}.{name}: a date appears twice",
                                        zh=f"{year} 年安排中有重复日期", field=f"{path}.{name}")
            source = _check_source(entry["source"], f"{path}.source")
            _check_days(year, days["holidays"], days["workdays"], path)
            notices[year] = YearNotice(year, days["holidays"], days["workdays"], source)
        return cls(doc["version"], notices)

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the canonical bytes of :meth:`to_document`; cached."""
        if self._fingerprint is None:
            digest = hashlib.sha256(canonical_bytes(self.to_document())).hexdigest()
            object.__setattr__(self, "_fingerprint", digest)
        return self._fingerprint

    # -- counting (used by the module functions below)

    def _working_index(self) -> Sequence[int]:
        if self._index is None:
            index = [o for o in range(_INDEX_FIRST, _INDEX_LAST + 1)
                     if o in self._workdays or (o not in self._holidays and (o - 1) % 7 < 5)]
            object.__setattr__(self, "_index", index)
        return self._index

    def _working_upto(self, ordinal: int) -> int:
        """Working days with ordinal in [1, ordinal] (a prefix count, consistent throughout)."""
        if ordinal < _INDEX_FIRST:
            return _weekdays_upto(ordinal)
        index = self._working_index()
        if ordinal <= _INDEX_LAST:
            return _WEEKDAYS_BEFORE_INDEX + bisect_right(index, ordinal)
        return (_WEEKDAYS_BEFORE_INDEX + len(index)
                + _weekdays_upto(ordinal) - _WEEKDAYS_UPTO_INDEX_END)

    def _kth_working(self, k: int) -> int:
        """Ordinal of the k-th working day counted from ordinal 1 (inverse of the prefix)."""
        if k <= _WEEKDAYS_BEFORE_INDEX:
            return _kth_weekday(k)
        index = self._working_index()
        k -= _WEEKDAYS_BEFORE_INDEX
        if k <= len(index):
            return index[k - 1]
        return _kth_weekday(k - len(index) + _WEEKDAYS_UPTO_INDEX_END)


def _expect_keys(value: Any, path: str, keys: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        raise CalendarError(f"{path}: must be an object", zh=f"{path} 格式不正确", field=path)
    missing = [k for k in keys if k not in value]
    extra = sorted(str(k) for k in value if k not in keys)
    if missing or extra:
        what = "; ".join(filter(None, (missing and f"missing {', '.join(missing)}",
                                       extra and f"unknown {', '.join(extra)}")))
        raise CalendarError(f"{path}: {what} (expected exactly {', '.join(keys)})",
                            zh=f"{path} 字段不符：{what}", field=path)


# --------------------------------------------------------------------------- pauses


@dataclass(frozen=True)
class Pause:
    """Days not counted: ``start`` to ``end`` inclusive; ``end=None`` while still paused.

    ``kind`` is free text for the caller (e.g. "supplement" 补正, "special_procedure"
    特别程序, "suspension" 中止); the arithmetic treats all kinds alike.
    """

    start: date
    end: date | None = None
    kind: str = "pause"

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise CalendarError(
                f"pause: end {self.end.isoformat()} is before start {self.start.isoformat()}",
                zh=f"暂停计时的结束日 {self.end.isoformat()} 早于开始日 "
                   f"{self.start.isoformat()}", field="pauses")


def _merged_pauses(pauses: Iterable[Pause]) -> list[tuple[int, int | None]]:
    """Pauses as sorted, disjoint ordinal ranges ``(first, last)``; ``last=None`` is open."""
    ranges = sorted(((p.start.toordinal(), None if p.end is None else p.end.toordinal())
                     for p in pauses), key=lambda r: r[0])
    merged: list[tuple[int, int | None]] = []
    for first, last in ranges:
        if merged:
            prev_first, prev_last = merged[-1]
            if prev_last is None:
                break
            if first <= prev_last + 1:
                merged[-1] = (prev_first, None if last is None else max(prev_last, last))
                continue
        merged.append((first, last))
    return merged


# --------------------------------------------------------------------------- arithmetic


def _check_count(value: Any, name: str) -> int:
    if type(value) is not int or value < 0:
        raise CalendarError(f"{name}: must be a non-negative integer, got {value!r}",
                            zh=f"时限须为非负整数，实际为 {value!r}", field=name)
    return value


def add_working_days(cal: Calendar, start: date, working_days: int,
                     pauses: Iterable[Pause] = ()) -> date | None:
    """The ``working_days``-th working day after ``start`` (``start`` itself is not counted),
    skipping paused days. ``start`` for 0. ``None`` if an open pause is reached first.

    The fast path (O(log n) per pause) behind :func:`due_date`; no explanation is kept.
    """
    need = _check_count(working_days, "working_days")
    if need == 0:
        return start
    pos = start.toordinal()
    for first, last in _merged_pauses(pauses):
        if last is not None and last <= pos:
            continue
        first = max(first, pos + 1)
        available = cal._working_upto(first - 1) - cal._working_upto(pos)
        if available >= need:
            break
        need -= available
        if last is None:
            return None
        pos = last
    return date.fromordinal(cal._kth_working(cal._working_upto(pos) + need))


def working_days_between(cal: Calendar, start: date, end: date,
                         pauses: Iterable[Pause] = ()) -> int:
    """Working days after ``start`` up to and including ``end``, paused days excluded.

    If ``end`` is before ``start`` the result is ``-working_days_between(end, start)``.
    """
    if end < start:
        return -working_days_between(cal, end, start, pauses)
    lo, hi = start.toordinal(), end.toordinal()
    count = cal._working_upto(hi) - cal._working_upto(lo)
    for first, last in _merged_pauses(pauses):
        a = max(first - 1, lo)
        b = hi if last is None else min(last, hi)
        if b > a:
            count -= cal._working_upto(b) - cal._working_upto(a)
    return count


def remaining_working_days(cal: Calendar, today: date, due: date) -> int:
    """Working days left from ``today`` to ``due``: 0 on the due day, negative when overdue
    (-1 on the first working day after ``due``)."""
    return working_days_between(cal, today, due)


@dataclass(frozen=True)
class Deadline:
    """A computed deadline with what went into it.

    ``due`` is None when an open pause was reached before the period ran out; then
    ``paused_since`` is the first paused day and ``remaining_half_days`` what is left to
    count once the pause ends. ``confirmed`` is False when a day examined lies in a year
    the calendar has no notice for (``unknown_years``): those days were judged on weekends
    alone. ``skipped`` lists ``(date, reason)`` for every day not counted, reason one of
    ``"weekend"``, ``"holiday"``, ``"paused"``; ``adjusted_workdays`` the Saturdays and
    Sundays that were counted as working days.
    """

    start: date
    limit_half_days: int
    due: date | None
    confirmed: bool
    unknown_years: tuple[int, ...]
    skipped: tuple[tuple[date, str], ...]
    adjusted_workdays: tuple[date, ...]
    calendar_version: int
    paused_since: date | None = None
    remaining_half_days: int = 0
    counted_days: int = 0

    @property
    def paused(self) -> bool:
        return self.due is None

    @property
    def limit_working_days(self) -> int:
        """The limit in whole working days, an odd half rounded up (see docs/calendar.md)."""
        return (self.limit_half_days + 1) // 2

    def explain_zh(self) -> list[str]:
        """A short explanation in Chinese for staff, one line per item."""
        lines = [f"起算日 {self.start.isoformat()}（当日不计）"]
        events: list[tuple[date, str]] = []
        weekend_days = 0
        for first, last, reasons in _ranges(self.skipped):
            if reasons == {WEEKEND}:
                weekend_days += (last - first).days + 1
                continue
            label = "、".join(_REASON_ZH[r] for r in (HOLIDAY, PAUSED, WEEKEND) if r in reasons)
            span = (first.isoformat() if first == last
                    else f"{first.isoformat()} 至 {last.isoformat()}")
            events.append((first, f"跳过 {span}（{label}）"))
        for day in self.adjusted_workdays:
            events.append((day, f"{day.isoformat()}（{_WEEKDAY_ZH[day.weekday()]}）"
                                "为调休工作日，计入"))
        lines.extend(text for _, text in sorted(events))
        if weekend_days:
            lines.append(f"其间周末 {weekend_days} 天不计")
        limit = _half_days_zh(self.limit_half_days)
        if self.limit_half_days % 2:
            limit += f"，按 {self.limit_working_days} 个工作日计（半日向上取整）"
        if self.due is None:
            lines.append(f"自 {self.paused_since.isoformat()} 起暂停计时，尚未恢复；"
                         f"已计 {self.counted_days} 个工作日，恢复后还需 "
                         f"{_half_days_zh(self.remaining_half_days)}（时限 {limit}）")
        elif self.limit_half_days == 0:
            lines.append(f"截止 {self.due.isoformat()}（即办，当日办结）")
        else:
            lines.append(f"截止 {self.due.isoformat()}，共 {limit}")
        if self.unknown_years:
            years = "、".join(str(y) for y in self.unknown_years)
            lines.append(f"{years} 年节假日安排尚未录入，按周末推算，待确认")
        return lines


def _half_days_zh(half_days: int) -> str:
    whole, half = divmod(half_days, 2)
    return f"{whole}{'.5' if half else ''} 个工作日"


def _ranges(skipped: Sequence[tuple[date, str]]) -> list[tuple[date, date, set[str]]]:
    """Consecutive skipped days collapsed into ``(first, last, reasons)``.

    A range holds one main reason, holiday or paused; weekend days join the range they
    touch, so a holiday block followed by a pause gives two lines.
    """
    out: list[tuple[date, date, set[str]]] = []
    for day, reason in skipped:
        if out and (day - out[-1][1]).days == 1:
            first, _, reasons = out[-1]
            main = reasons - {WEEKEND}
            if reason == WEEKEND or not main or reason in main:
                out[-1] = (first, day, reasons | {reason})
                continue
        out.append((day, day, {reason}))
    return out


def due_date_half_days(cal: Calendar, start: date, half_days: int,
                       pauses: Iterable[Pause] = ()) -> Deadline:
    """The deadline for a limit of ``half_days`` half working days after ``start``.

    An odd number of halves is rounded up to the next whole working day (1 half-day: due
    the next working day), so the deadline is a date and no case is shown overdue early.
    """
    _check_count(half_days, "half_days")
    need = (half_days + 1) // 2
    merged = _merged_pauses(pauses)
    skipped: list[tuple[date, str]] = []
    adjusted: list[date] = []
    counted = 0
    due: date | None = start if need == 0 else None
    paused_since: date | None = None
    ordinal = start.toordinal()
    pause_i = 0
    while counted < need:
        ordinal += 1
        while pause_i < len(merged) and merged[pause_i][1] is not None \
                and merged[pause_i][1] < ordinal:
            pause_i += 1
        in_pause = pause_i < len(merged) and merged[pause_i][0] <= ordinal
        day = date.fromordinal(ordinal)
        if in_pause:
            if merged[pause_i][1] is None:
                paused_since = day
                break
            skipped.append((day, PAUSED))
            continue
        if ordinal in cal._workdays:
            adjusted.append(day)
        elif ordinal in cal._holidays:
            skipped.append((day, HOLIDAY))
            continue
        elif (ordinal - 1) % 7 >= 5:
            skipped.append((day, WEEKEND))
            continue
        counted += 1
        if counted == need:
            due = day
    # Days judged: (start, last]; an open pause's days are not judged by the calendar.
    last = ordinal - 1 if paused_since is not None else ordinal
    first_year = date.fromordinal(start.toordinal() + 1).year
    unknown = tuple(y for y in range(first_year, date.fromordinal(last).year + 1)
                    if not cal.knows_year(y)) if last > start.toordinal() else ()
    return Deadline(
        start=start, limit_half_days=half_days, due=due, confirmed=not unknown,
        unknown_years=unknown, skipped=tuple(skipped), adjusted_workdays=tuple(adjusted),
        calendar_version=cal.version, paused_since=paused_since,
        remaining_half_days=0 if due is not None else max(half_days - 2 * counted, 0),
        counted_days=counted)


def due_date(cal: Calendar, start: date, working_days: int,
             pauses: Iterable[Pause] = ()) -> Deadline:
    """The deadline ``working_days`` working days after ``start`` (art. 82: the start day is
    not counted; the due day is the Nth working day after it)."""
    _check_count(working_days, "working_days")
    return due_date_half_days(cal, start, 2 * working_days, pauses)


# --------------------------------------------------------------------------- time zone


def shanghai_date(moment: int | float | datetime) -> date:
    """The calendar date in China (UTC+8) of a POSIX timestamp or an aware datetime.

    A naive datetime is refused: its zone is unknown.
    """
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise CalendarError("moment: a naive datetime has no time zone; pass an aware "
                                "datetime or a UTC timestamp",
                                zh="时间缺少时区信息", field="moment")
        return moment.astimezone(SHANGHAI).date()
    if isinstance(moment, bool) or not isinstance(moment, (int, float)):
        raise CalendarError(f"moment: expected a timestamp or an aware datetime, got "
                            f"{type(moment).__name__}", zh="时间格式不正确", field="moment")
    return datetime.fromtimestamp(moment, SHANGHAI).date()
