"""Calendar screens: the calendar in force, a year's summary, entering and publishing a
year's State Council notice, and a due-date calculator that shows how it was computed."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.calendar import MAX_YEAR, MIN_YEAR, due_date
from web.errors import ValidationErrors
from web.flash import flash
from web.inputs import to_int
from web.security import client_ip

from ..accounts.service import can
from .service import check_notice, current_calendar, publish_notice, summarise_year
from ..errors import HubError
from ..web_common import FORM_LIMIT, account_of, hub_of, page, read_form, redirect, show, text_field


def _calculator(request: Request, calendar) -> tuple[dict, object, ValidationErrors]:
    q = request.query_params
    values = {"start": (q.get("start") or "")[:10], "days": (q.get("days") or "")[:4]}
    errors = ValidationErrors()
    if not values["start"] and not values["days"]:
        return values, None, errors
    try:
        start = date.fromisoformat(values["start"])
    except ValueError:
        errors.add("start", "起算日：请填写 YYYY-MM-DD 格式的日期")
        start = None
    if start is not None and not MIN_YEAR <= start.year <= MAX_YEAR - 2:
        errors.add("start", f"起算日：年份须在 {MIN_YEAR} 至 {MAX_YEAR - 2} 之间")
    days = to_int(values["days"], hi=365, max_digits=3)
    if days is None:
        errors.add("days", "工作日数：请填写 0 至 365 的整数")
    if errors:
        return values, None, errors
    return values, due_date(calendar, start, days), errors


@page("calendar.view")
async def calendar_page(request: Request) -> Response:
    hub = hub_of(request)
    calendar = current_calendar(hub.store)
    values, deadline, errors = _calculator(request, calendar)
    notices = [calendar.notice(y) for y in reversed(calendar.known_years)]
    return show(request, "pages/calendar.html",
                {"calendar": calendar, "notices": notices, "calc": values,
                 "deadline": deadline, "errors": errors,
                 "may_manage": can(account_of(request), "calendar.manage"),
                 "entry": {"year": str(max(calendar.known_years) + 1)
                           if calendar.known_years else ""},
                 "entry_errors": ValidationErrors(), "preview": None},
                status_code=422 if errors else 200)


@page("calendar.view")
async def year_page(request: Request) -> Response:
    hub = hub_of(request)
    year = to_int(request.path_params["year"], lo=MIN_YEAR, hi=MAX_YEAR, max_digits=4)
    if year is None:
        return show(request, "pages/message.html",
                    {"title": "年份无效", "message": f"年份须在 {MIN_YEAR} 至 {MAX_YEAR} 之间"},
                    status_code=404)
    calendar = current_calendar(hub.store)
    return show(request, "pages/calendar_year.html",
                {"year": year, "summary": summarise_year(calendar, year),
                 "notice": calendar.notice(year), "calendar": calendar})


def _entry(form) -> dict:
    return {"year": text_field(form, "year", 10), "source": text_field(form, "source", 300),
            "holidays": text_field(form, "holidays", 20_000),
            "workdays": text_field(form, "workdays", 20_000)}


def _entry_page(request: Request, entry: dict, errors: ValidationErrors, preview,
                status_code: int) -> Response:
    hub = hub_of(request)
    calendar = current_calendar(hub.store)
    return show(request, "pages/calendar.html",
                {"calendar": calendar,
                 "notices": [calendar.notice(y) for y in reversed(calendar.known_years)],
                 "calc": {"start": "", "days": ""}, "deadline": None,
                 "errors": ValidationErrors(), "may_manage": True, "entry": entry,
                 "entry_errors": errors, "preview": preview}, status_code=status_code)


@page("calendar.manage")
async def calendar_check(request: Request) -> Response:
    hub = hub_of(request)
    entry = _entry(await read_form(request))
    try:
        notice, proposed, summary = check_notice(hub.store, entry["year"], entry["source"],
                                                 entry["holidays"], entry["workdays"])
    except HubError as exc:
        return _entry_page(request, entry, ValidationErrors({exc.extra["field"]: exc.message}),
                           None, 422)
    return _entry_page(request, entry, ValidationErrors(),
                       {"summary": summary, "notice": notice,
                        "replaces": current_calendar(hub.store).notice(notice.year)}, 200)


@page("calendar.manage")
async def calendar_publish(request: Request) -> Response:
    hub = hub_of(request)
    entry = _entry(await read_form(request))
    try:
        notice, _, _ = check_notice(hub.store, entry["year"], entry["source"],
                                    entry["holidays"], entry["workdays"])
        result = publish_notice(hub.store, hub.identity, hub.config, notice,
                                account_of(request).username, ip=client_ip(request))
    except HubError as exc:
        field = exc.extra.get("field", ValidationErrors.FORM)
        return _entry_page(request, entry, ValidationErrors({field: exc.message}), None, 422)
    flash(request, f"已发布工作日历第 {result.version} 版（{notice.year} 年），"
                   f"{result.changes_recorded} 个在办办件的办理期限随之调整并已记录", "success")
    return redirect(f"/calendar/{notice.year}")


def calendar_routes() -> list[Route]:
    return [
        Route("/calendar", calendar_page, methods=["GET"]),
        Route("/calendar/check", calendar_check, methods=["POST"], max_body_size=FORM_LIMIT),
        Route("/calendar/publish", calendar_publish, methods=["POST"],
              max_body_size=FORM_LIMIT),
        Route("/calendar/{year}", year_page, methods=["GET"]),
    ]
