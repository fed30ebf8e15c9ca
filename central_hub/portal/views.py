"""Public portal (公众门户), no login: 办事指南, case status by number and query code,
好差评, consultations and complaints. The disclosure pages (/gk) are linked from here; on-line
applications (网上办事, /portal/apply…) belong to another module.

Routes: ``GET /portal``, ``GET /portal/guide``, ``GET /portal/guide/{code}``,
``GET/POST /portal/status``, ``GET /portal/case/{case_no}``,
``POST /portal/case/{case_no}/evaluate``, ``POST /portal/case/{case_no}/follow-up/{eval_id}``,
``GET/POST /portal/ask``, ``GET /portal/ask/status``.

A verified look-up is remembered in the session (at most 5 cases, for 30 minutes), so the
query code is typed once and never appears in a URL. Look-ups and submissions are rate
limited per client address (``web.security.RateLimiter``); a wrong number and a wrong code
get the same answer.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.catalogue import match_rank
from web.errors import error_response
from web.inputs import parse_int
from web.security import RateLimiter, check_csrf, client_ip, retry_after_header

from ..calendar.service import CalendarCache
from ..store import face as sql
from ..web_common import hub_of, redirect, show
from . import service

SESSION_KEY = "portal_cases"
REMEMBER_SECONDS = 30 * 60
MAX_REMEMBERED = 5


def _remembered(request: Request) -> dict[str, float]:
    raw = request.session.get(SESSION_KEY) if "session" in request.scope else None
    if not isinstance(raw, dict):
        return {}
    now = time.time()
    return {k: v for k, v in raw.items()
            if isinstance(k, str) and isinstance(v, (int, float)) and now - v < REMEMBER_SECONDS}


def _remember(request: Request, case_no: str) -> None:
    cases = _remembered(request)
    cases[case_no] = time.time()
    newest = sorted(cases.items(), key=lambda kv: kv[1])[-MAX_REMEMBERED:]
    request.session[SESSION_KEY] = dict(newest)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=30)
    try:
        check_csrf(request, form)
        return {k: v[:5000] for k, v in form.items() if isinstance(v, str)}
    finally:
        await form.close()


def _units(hub) -> dict[str, str]:
    return {u.code: u.name for u in hub.store.org_units()
            if u.kind in ("county", "department", "township")}


def routes() -> list[Route]:
    calendars = CalendarCache()
    lookup_limiter = RateLimiter(rate=0.2, burst=10)
    submit_limiter = RateLimiter(rate=0.02, burst=5)

    def too_many(request: Request, limiter: RateLimiter) -> Response | None:
        wait = limiter.acquire(client_ip(request))
        if wait:
            return error_response(request.app.state.templates, request, 429,
                                  message=f"操作过于频繁，请 {int(wait) + 1} 秒后再试",
                                  headers=retry_after_header(wait), home_url="/portal")
        return None

    async def home(request: Request) -> Response:
        return show(request, "portal/home.html", {})

    async def guide(request: Request) -> Response:
        hub = hub_of(request)
        q = (request.query_params.get("q") or "").strip()[:50]
        dept = (request.query_params.get("dept") or "").strip()[:40]
        units = {u.code: u.name for u in hub.store.org_units()}
        ranked = []
        for position, record in enumerate(hub.store.catalogue_items()):
            content = record.content or {}
            if dept and record.department != dept:
                continue
            rank = match_rank(q, record.name, (record.code, content.get("conditions") or ""))
            if rank is None:
                continue
            ranked.append((rank, position, {
                "code": record.code, "name": record.name,
                "department": units.get(record.department or "", ""),
                "committed_days": (content.get("committed_half_days") or 0) / 2,
                "fee": (content.get("fee") or {}).get("charged")}))
        items = [item for _, _, item in sorted(ranked, key=lambda r: r[:2])]
        departments = sorted({(r.department, units.get(r.department or "", ""))
                              for r in hub.store.catalogue_items() if r.department})
        return show(request, "portal/guide.html",
                    {"items": items, "q": q, "dept": dept, "departments": departments})

    async def guide_item(request: Request) -> Response:
        hub = hub_of(request)
        code = request.path_params["code"][:64]
        record = hub.store.catalogue_item(code)
        if record is None or record.content is None:
            return show(request, "pages/message.html",
                        {"title": "事项不存在", "message": f"没有已公布的事项 {code}"},
                        status_code=404)
        units = {u.code: u.name for u in hub.store.org_units()}
        return show(request, "portal/guide_item.html",
                    {"item": record.content, "record": record,
                     "department": units.get(record.department or "", "")})

    async def status(request: Request) -> Response:
        hub = hub_of(request)
        values = {"case_no": "", "query_code": ""}
        message = None
        status_code = 200
        if request.method == "POST":
            limited = too_many(request, lookup_limiter)
            if limited:
                return limited
            form = await _form(request)
            values = {"case_no": form.get("case_no", "").strip()[:64], "query_code": ""}
            if not values["case_no"] or not form.get("query_code", "").strip():
                message, status_code = "请填写办件编号和查询码", 422
            else:
                row = service.verify_case(hub.store, values["case_no"],
                                          form.get("query_code", ""))
                if row is None:
                    message, status_code = "办件编号或查询码不正确，请核对受理通知书后重新输入", 404
                else:
                    _remember(request, row["case_no"])
                    return redirect(f"/portal/case/{row['case_no']}")
        return show(request, "portal/status.html",
                    {"values": values, "message": message}, status_code=status_code)

    def verified_case(request: Request) -> dict | None:
        hub = hub_of(request)
        case_no = request.path_params["case_no"][:64]
        if case_no not in _remembered(request):
            return None
        return hub.store.case(case_no)

    def case_context(hub, row: dict, errors: dict | None = None) -> dict:
        evaluations = sql.case_evaluations(hub.store, row["case_no"])
        stages = service.open_stages(row, {e["stage"] for e in evaluations})
        return {"case": service.public_view(row), "evaluations": evaluations,
                "stages": stages, "stage_labels": service.STAGES, "levels": service.LEVELS,
                "errors": errors or {}}

    async def case_page(request: Request) -> Response:
        row = verified_case(request)
        if row is None:
            return redirect("/portal/status")
        return show(request, "portal/case.html", case_context(hub_of(request), row))

    async def evaluate(request: Request) -> Response:
        hub = hub_of(request)
        form = await _form(request)
        row = verified_case(request)
        if row is None:
            return redirect("/portal/status")
        limited = too_many(request, submit_limiter)
        if limited:
            return limited
        try:
            service.evaluate(hub.store, calendars.get(hub.store), row,
                             stage=form.get("stage", ""), level=form.get("level", ""),
                             text=form.get("text", ""), channel=form.get("channel", "pc"),
                             rater=row["applicant_masked"] or "", now_ts=hub.config.now_ts(),
                             today=hub.config.now().date())
        except service.PortalError as exc:
            return show(request, "portal/case.html",
                        case_context(hub, row, {exc.field: exc.message}), status_code=422)
        return redirect(f"/portal/case/{row['case_no']}#evaluations")

    async def follow_up(request: Request) -> Response:
        hub = hub_of(request)
        form = await _form(request)
        row = verified_case(request)
        if row is None:
            return redirect("/portal/status")
        eval_id = parse_int(request.path_params["eval_id"], "eval_id", "评价编号",
                            max_digits=12, required=True)
        try:
            service.rate_follow_up(hub.store, row, eval_id, form.get("level", ""),
                                   hub.config.now_ts())
        except service.PortalError as exc:
            return show(request, "portal/case.html",
                        case_context(hub, row, {f"follow_up": exc.message}), status_code=422)
        return redirect(f"/portal/case/{row['case_no']}#evaluations")

    async def ask(request: Request) -> Response:
        hub = hub_of(request)
        units = _units(hub)
        values: dict[str, str] = {}
        errors: dict[str, str] = {}
        if request.method == "POST":
            values = await _form(request)
            limited = too_many(request, submit_limiter)
            if limited:
                return limited
            try:
                row = service.submit_interaction(
                    hub.store, calendars.get(hub.store), form=values,
                    today=hub.config.now().date(), now_ts=hub.config.now_ts(), units=units)
            except service.PortalError as exc:
                errors[exc.field] = exc.message
            else:
                return show(request, "portal/ask_done.html",
                            {"row": row, "kinds": service.INTERACTION_KINDS})
        return show(request, "portal/ask.html",
                    {"values": values, "errors": errors, "units": units,
                     "kinds": service.INTERACTION_KINDS}, status_code=422 if errors else 200)

    async def ask_status(request: Request) -> Response:
        hub = hub_of(request)
        raw = (request.query_params.get("no") or "").strip()[:40]
        row = message = None
        if raw:
            limited = too_many(request, lookup_limiter)
            if limited:
                return limited
            no = service.normalise_no(raw)
            row = sql.interaction(hub.store, no) if no else None
            if row is None:
                message = "没有找到该编号的咨询或投诉，请核对后重新输入"
        return show(request, "portal/ask_status.html",
                    {"no": raw, "row": row, "message": message,
                     "kinds": service.INTERACTION_KINDS, "states": service.INTERACTION_STATES},
                    status_code=404 if message else 200)

    return [Route("/portal", home, methods=["GET"]),
            Route("/portal/guide", guide, methods=["GET"]),
            Route("/portal/guide/{code}", guide_item, methods=["GET"]),
            Route("/portal/status", status, methods=["GET", "POST"]),
            Route("/portal/case/{case_no}", case_page, methods=["GET"]),
            Route("/portal/case/{case_no}/evaluate", evaluate, methods=["POST"]),
            Route("/portal/case/{case_no}/follow-up/{eval_id}", follow_up, methods=["POST"]),
            Route("/portal/ask", ask, methods=["GET", "POST"]),
            Route("/portal/ask/status", ask_status, methods=["GET"])]
