"""Disclosure screens of the hub. ``routes()`` returns them; mount with
``*disclosure_routes()`` in :func:`central_hub.app.create_app`.

Public (no sign-in), under ``/gk`` (公开):

| route | what |
|---|---|
| ``GET /gk`` | browse and search published documents (body, topic, genre, grouping, dates, full text); htmx gets the results alone |
| ``GET /gk/doc/{doc_id}`` | one document: catalogue metadata, text (escaped), attachments or "附件待传输", corrections, rating form |
| ``POST /gk/doc/{doc_id}/rate`` | useful or not, with a comment |
| ``GET /gk/doc/{doc_id}/attachments/{sha}`` | an attachment, as a download |
| ``GET/POST /gk/apply`` | the request form (依申请公开) |
| ``GET /gk/status`` | request status by tracking number |

Staff (signed in; writing needs admin, centre_staff or dept_reviewer), under ``/disclosure``:
dashboard with statistics, late documents, alerts and catalogue gaps; requests (list, window
registration, one request with its actions); the catalogue; appeals and report texts; the
annual report (page, ``/print``, ``.xlsx``, ``.json``); an attachment upload for files the
transport has not brought yet.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from protocol import disclosure as rules
from protocol.calendar import shanghai_date
from protocol.supervision.disclosure_rules import DISCLOSURE_RULES, evaluate_catalogue
from web.errors import ValidationErrors, error_response
from web.inputs import parse_int, to_int
from web.pagination import Pagination
from web.security import RateLimiter, client_ip, retry_after_header

from ..accounts import CAPABILITIES, case_scope
from ..calendar_admin import CalendarCache
from ..catalogue_forms import parse_yuan
from ..store import disclosure as sql
from ..web_common import account_of, audit, current_account, hub_of, page, read_form, redirect, \
    show
from . import attachments as files
from . import requests as reqs
from .report import SECTIONS, build_report, default_year, report_xlsx, statistics
from .supervision import disclosure_alerts

WRITE_ROLES = CAPABILITIES["disclosure.manage"]
MAX_UPLOAD = rules.MAX_ATTACHMENT_BYTES + 64 * 1024


def _tables() -> dict:
    return {"topics": rules.TOPICS, "genres": rules.GENRES, "groupings": rules.GROUPINGS,
            "methods": rules.METHODS, "scopes": rules.SCOPES, "channels": rules.CHANNELS,
            "applicant_types": rules.APPLICANT_TYPES, "reply_types": rules.REPLY_TYPES,
            "reply_reasons": rules.REPLY_REASONS, "request_states": rules.REQUEST_STATES,
            "request_actions": rules.REQUEST_ACTIONS, "periods": rules.PERIODS,
            "appeal_kinds": rules.APPEAL_KINDS, "appeal_outcomes": rules.APPEAL_OUTCOMES,
            "delivery": reqs.DELIVERY}


def _q(request: Request, name: str, max_len: int = 64) -> str:
    value = request.query_params.get(name) or ""
    return value.strip()[:max_len]


def _date_param(request: Request, name: str) -> str | None:
    value = _q(request, name, 10)
    try:
        return dt.date.fromisoformat(value).isoformat() if value else None
    except ValueError:
        return None


def _year_param(request: Request, today: dt.date) -> int:
    return parse_int(_q(request, "year", 16), "year", "年度", lo=2000, hi=2100, max_digits=4,
                     default=default_year(today))


def _bodies(hub) -> dict[str, str]:
    out = {}
    for unit in hub.store.org_units():
        if unit.kind in ("county", "department", "township"):
            out[unit.code] = unit.name
    for code, name in sql.bodies(hub.store):
        out.setdefault(code, name)
    return out


def _units_in_scope(request: Request) -> tuple[str, ...] | None:
    """The bodies whose requests (依申请公开, with the applicant's name and phone) the
    signed-in account may see: its org unit's subtree (None: the whole county)."""
    return case_scope(hub_of(request).store, account_of(request)).units


def _visible_request(request: Request, number: str) -> dict | None:
    """The request ``number`` if it exists and is within the account's scope, else None
    (a request of another body answers 404, as if it did not exist)."""
    row = sql.request(hub_of(request).store, number)
    units = _units_in_scope(request)
    if row is None or (units is not None and row["body_code"] not in units):
        return None
    return row


def routes() -> list[Route]:
    calendars = CalendarCache()
    lookup_limiter = RateLimiter(rate=0.1, burst=10)
    submit_limiter = RateLimiter(rate=0.02, burst=5)
    rating_limiter = RateLimiter(rate=0.05, burst=10)

    def calendar(hub):
        return calendars.get(hub.store)

    def today(hub) -> dt.date:
        return shanghai_date(hub.config.now())

    def staff(request: Request, *, write: bool = False) -> Response | None:
        account = current_account(request)
        templates = request.app.state.templates
        if account is None:
            if request.method == "GET":
                return redirect("/login")
            return error_response(templates, request, 401, message="请先登录")
        if write and account.role not in WRITE_ROLES:
            return error_response(templates, request, 403, message="您的角色无权办理政府信息公开事务")
        return None

    def too_many(request: Request, limiter: RateLimiter) -> Response | None:
        wait = limiter.acquire(client_ip(request))
        if wait:
            return error_response(request.app.state.templates, request, 429,
                                  message=f"操作过于频繁，请 {int(wait) + 1} 秒后再试",
                                  headers=retry_after_header(wait))
        return None

    # ------------------------------------------------------------------ public

    async def public_list(request: Request) -> Response:
        hub = hub_of(request)
        filters = {"q": _q(request, "q", 100), "body": _q(request, "body", 32),
                   "topic": _q(request, "topic", 4), "genre": _q(request, "genre", 4),
                   "grouping": _q(request, "grouping", 4),
                   "from": _date_param(request, "from") or "", "to": _date_param(request, "to") or ""}
        args = dict(text=filters["q"] or None, body=filters["body"] or None,
                    topic=filters["topic"] if filters["topic"] in rules.TOPICS else None,
                    genre=filters["genre"] if filters["genre"] in rules.GENRES else None,
                    grouping=filters["grouping"] if filters["grouping"] in rules.GROUPINGS else None,
                    date_from=filters["from"] or None, date_to=filters["to"] or None)
        total, _ = sql.search_documents(hub.store, **args, limit=0)
        pager = Pagination.from_query(request.query_params.get("page"), total, 20)
        _, rows = sql.search_documents(hub.store, **args, offset=pager.offset, limit=pager.limit)
        params = {k: v for k, v in filters.items() if v}
        return show(request, "disclosure/public_list.html",
                    {"rows": rows, "pager": pager, "filters": filters, "params": params,
                     "bodies": _bodies(hub), **_tables()},
                    partial="disclosure/_public_results.html")

    async def public_doc(request: Request) -> Response:
        hub = hub_of(request)
        doc = sql.document(hub.store, request.path_params["doc_id"][:100])
        if doc is None or doc["state"] not in ("published", "withdrawn"):
            return error_response(request.app.state.templates, request, 404,
                                  message="该公开信息不存在")
        published = doc["data"].get("published") or {}
        meta = published.get("meta") or {}
        arrived = sql.complete_blobs(hub.store, (a["sha256"] for a in meta.get("attachments", [])))
        corrections = [h for h in doc["data"]["history"] if h["type"] == "disclosure.corrected"]
        return show(request, "disclosure/public_doc.html",
                    {"doc": doc, "meta": meta, "published": published, "arrived": arrived,
                     "corrections": corrections,
                     "ratings": sql.rating_summary(hub.store, doc["doc_id"]),
                     "rated": request.query_params.get("rated") == "1", **_tables()})

    async def rate_doc(request: Request) -> Response:
        hub = hub_of(request)
        doc_id = request.path_params["doc_id"][:100]
        doc = sql.document(hub.store, doc_id)
        form = await read_form(request)
        if doc is None or doc["state"] != "published":
            return error_response(request.app.state.templates, request, 404, message="该公开信息不存在")
        limited = too_many(request, rating_limiter)
        if limited:
            return limited
        useful = form.get("useful")
        if useful not in ("1", "0"):
            return error_response(request.app.state.templates, request, 422,
                                  message="请选择“有用”或“没用”")
        comment = form.get("comment") if isinstance(form.get("comment"), str) else ""
        try:
            comment = rules._clean(comment, "comment", "意见", max_len=500, required=False,
                                   multiline=True)
        except rules.DisclosureError as exc:
            return error_response(request.app.state.templates, request, 422, message=exc.zh)
        sql.add_rating(hub.store, doc_id, useful == "1", comment, hub.config.now_ts())
        return redirect(f"/gk/doc/{quote(doc_id)}?rated=1#rating")

    async def download(request: Request) -> Response:
        hub = hub_of(request)
        doc = sql.document(hub.store, request.path_params["doc_id"][:100])
        sha = request.path_params["sha"][:64]
        meta = ((doc or {}).get("data", {}).get("published") or {}).get("meta") or {}
        ref = next((a for a in meta.get("attachments", []) if a.get("sha256") == sha), None)
        if doc is None or doc["state"] != "published" or ref is None:
            return error_response(request.app.state.templates, request, 404, message="附件不存在")
        path = files.available(hub.store, hub.config.data_dir, sha)
        if path is None:
            return error_response(request.app.state.templates, request, 404,
                                  message="附件待传输：该附件尚未从乡镇节点传到县级平台")
        name = rules.safe_filename(ref.get("name"), ref["mime"])
        headers = {"Content-Disposition": "attachment; filename=\"attachment"
                   f"{rules.ATTACHMENT_TYPES[ref['mime']]}\"; filename*=UTF-8''{quote(name)}",
                   "Content-Security-Policy": "default-src 'none'; sandbox",
                   "X-Content-Type-Options": "nosniff"}
        return FileResponse(path, media_type=ref["mime"], headers=headers)

    async def apply_form(request: Request) -> Response:
        hub = hub_of(request)
        values: dict = {"applicant_type": "person", "delivery": "email"}
        errors = ValidationErrors()
        status = 200
        if request.method == "POST":
            form = await read_form(request)
            limited = too_many(request, submit_limiter)
            if limited:
                return limited
            values = {k: v for k, v in form.items() if isinstance(v, str)}
            try:
                application = reqs.validate_application(values, _bodies(hub))
                row = reqs.submit_request(hub.store, calendar(hub), hub.config.now(),
                                          application, channel="online", actor="portal")
            except rules.DisclosureError as exc:
                errors.add(exc.field or "form", exc.zh)
                status = 422
            else:
                return show(request, "disclosure/public_applied.html",
                            {"row": row, "view": reqs.status_view(row, calendar(hub))})
        return show(request, "disclosure/public_apply.html",
                    {"values": values, "errors": errors, "bodies": _bodies(hub), **_tables()},
                    status_code=status)

    async def status_page(request: Request) -> Response:
        hub = hub_of(request)
        raw = _q(request, "no", 40)
        view = None
        message = None
        if raw:
            limited = too_many(request, lookup_limiter)
            if limited:
                return limited
            number = reqs.normalise_request_no(raw)
            row = sql.request(hub.store, number) if number else None
            if row is None:
                message = "没有找到该受理编号的申请，请核对后重新输入"
            else:
                view = reqs.status_view(row, calendar(hub))
        return show(request, "disclosure/public_status.html",
                    {"no": raw, "view": view, "message": message},
                    status_code=404 if message else 200)

    # ------------------------------------------------------------------ staff

    @page("disclosure.view")
    async def dashboard(request: Request) -> Response:
        hub = hub_of(request)
        year = _year_param(request, today(hub))
        reqs.supervise_open_requests(hub.store, calendar(hub), hub.config.now())
        entries = sql.catalogue_entries(hub.store)
        gaps = evaluate_catalogue(entries, sql.documents_for_report(hub.store, None), year,
                                  today(hub))
        _, open_requests = sql.requests(hub.store, open_only=True, limit=50,
                                        bodies=_units_in_scope(request))
        return show(request, "disclosure/dashboard.html",
                    {"year": year, "stats": statistics(hub.store, year), "gaps": gaps,
                     "late": sql.late_documents(hub.store, 50), "open_requests": open_requests,
                     "alerts": disclosure_alerts(hub.store, 100), "rules": DISCLOSURE_RULES,
                     "bodies": _bodies(hub), "ratings": sql.ratings(hub.store, limit=20),
                     **_tables()})

    @page("disclosure.view")
    async def request_list(request: Request) -> Response:
        hub = hub_of(request)
        reqs.supervise_open_requests(hub.store, calendar(hub), hub.config.now())
        state = _q(request, "state", 32)
        state = state if state in rules.REQUEST_STATES else None
        body = _q(request, "body", 32) or None
        units = _units_in_scope(request)
        total, _ = sql.requests(hub.store, body_code=body, state=state, bodies=units, limit=0)
        pager = Pagination.from_query(request.query_params.get("page"), total, 50)
        _, rows = sql.requests(hub.store, body_code=body, state=state, bodies=units,
                               offset=pager.offset, limit=pager.limit)
        return show(request, "disclosure/requests.html",
                    {"rows": rows, "pager": pager, "state": state or "", "body": body or "",
                     "params": {k: v for k, v in (("state", state), ("body", body)) if v},
                     "bodies": _bodies(hub), **_tables()})

    @page("disclosure.manage")
    async def request_new(request: Request) -> Response:
        hub = hub_of(request)
        values: dict = {"applicant_type": "person", "channel": "in_person",
                        "submitted_on": today(hub).isoformat()}
        errors = ValidationErrors()
        status = 200
        if request.method == "POST":
            form = await read_form(request)
            values = {k: v for k, v in form.items() if isinstance(v, str)}
            try:
                application = reqs.validate_application(values, _bodies(hub))
                channel = values.get("channel")
                if channel not in rules.CHANNELS:
                    raise rules.DisclosureError("channel", "请选择申请方式")
                submitted = rules.parse_date(values.get("submitted_on"), "submitted_on", "提交日期")
                signed = (rules.parse_date(values.get("signed_for_on"), "signed_for_on", "签收日期")
                          if values.get("signed_for_on") else None)
                row = reqs.submit_request(hub.store, calendar(hub), hub.config.now(),
                                          application, channel=channel,
                                          actor=current_account(request).username,
                                          submitted_on=submitted, signed_for_on=signed)
            except rules.DisclosureError as exc:
                errors.add(exc.field or "form", exc.zh)
                status = 422
            else:
                return redirect(f"/disclosure/requests/{row['request_no']}")
        return show(request, "disclosure/request_new.html",
                    {"values": values, "errors": errors, "bodies": _bodies(hub), **_tables()},
                    status_code=status)

    def _request_page(request: Request, row: dict, errors: ValidationErrors | None = None,
                      status: int = 200, values: dict | None = None) -> Response:
        hub = hub_of(request)
        cal = calendar(hub)
        deadline = rules.request_deadline(cal, row["data"])
        return show(request, "disclosure/request.html",
                    {"row": row, "deadline": deadline,
                     "actions": sql.request_actions(hub.store, row["request_no"]),
                     "errors": errors or ValidationErrors(), "values": values or {},
                     "today": today(hub).isoformat(), **_tables()}, status_code=status)

    @page("disclosure.view")
    async def request_page(request: Request) -> Response:
        row = _visible_request(request, request.path_params["no"][:40])
        if row is None:
            return error_response(request.app.state.templates, request, 404, message="申请不存在")
        audit(request, "personal_data.viewed", row["request_no"],
              {"what": "disclosure_request", "fields": ["applicant_name", "contact"],
               "items": 1})
        return _request_page(request, row)

    @page("disclosure.manage")
    async def request_act(request: Request) -> Response:
        hub = hub_of(request)
        number = request.path_params["no"][:40]
        form = await read_form(request)
        row = _visible_request(request, number)
        if row is None:
            return error_response(request.app.state.templates, request, 404, message="申请不存在")
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        action = dict(values)
        action.pop("csrf_token", None)
        fee = values.get("fee_yuan", "").strip()
        fen = parse_yuan(fee)           # "inf", "1e400", "１": a field error, not a 500
        action["fee_fen"] = -1 if fen is None else fen
        action.pop("fee_yuan", None)
        try:
            reqs.act(hub.store, calendar(hub), hub.config.now(), number, action,
                     actor=current_account(request).username)
        except rules.DisclosureError as exc:
            errors = ValidationErrors()
            errors.add_form(exc.zh)
            return _request_page(request, row, errors, 422, values)
        return redirect(f"/disclosure/requests/{number}")

    @page("disclosure.view")
    async def catalogue_page(request: Request) -> Response:
        if (denied := staff(request, write=request.method == "POST")) is not None:
            return denied
        hub = hub_of(request)
        errors = ValidationErrors()
        values: dict = {"period": "monthly"}
        status = 200
        if request.method == "POST":
            form = await read_form(request)
            values = {k: v for k, v in form.items() if isinstance(v, str)}
            try:
                body = values.get("body_code", "")
                if body not in _bodies(hub):
                    raise rules.DisclosureError("body_code", "请选择公开主体")
                code = rules._clean(values.get("code"), "code", "条目编码", max_len=32)
                if not all(c.isascii() and (c.isalnum() or c in "_.-") for c in code):
                    raise rules.DisclosureError("code", "条目编码须为字母、数字或 _ . -")
                entry = {"body_code": body, "code": code,
                         "name": rules._clean(values.get("name"), "name", "条目名称", max_len=100),
                         "topic": values.get("topic") if values.get("topic") in rules.TOPICS else None,
                         "genre": values.get("genre") if values.get("genre") in rules.GENRES else None,
                         "period": rules._code(values.get("period"), rules.PERIODS, "period",
                                               "更新周期")}
                sql.add_catalogue_entry(hub.store, entry, hub.config.now_ts(),
                                        current_account(request).username)
            except rules.DisclosureError as exc:
                errors.add(exc.field or "form", exc.zh)
                status = 422
            else:
                return redirect("/disclosure/catalogue")
        year = _year_param(request, today(hub))
        entries = sql.catalogue_entries(hub.store)
        gaps = evaluate_catalogue(entries, sql.documents_for_report(hub.store, None), year,
                                  today(hub))
        return show(request, "disclosure/catalogue.html",
                    {"entries": entries, "gaps": gaps, "year": year, "errors": errors,
                     "values": values, "bodies": _bodies(hub), **_tables()}, status_code=status)

    @page("disclosure.view")
    async def appeals_page(request: Request) -> Response:
        if (denied := staff(request, write=request.method == "POST")) is not None:
            return denied
        hub = hub_of(request)
        errors = ValidationErrors()
        status = 200
        year = _year_param(request, today(hub))
        body = _q(request, "body", 32)
        if request.method == "POST":
            form = await read_form(request)
            values = {k: v for k, v in form.items() if isinstance(v, str)}
            body = values.get("body_code", "")
            year = to_int(values.get("year", "").strip(), lo=2000, hi=2100, max_digits=4) or 0
            try:
                if body not in _bodies(hub):
                    raise rules.DisclosureError("body_code", "请选择公开主体")
                if not year:
                    raise rules.DisclosureError("year", "请填写年份")
                who = current_account(request).username
                if values.get("what") == "texts":
                    for section in SECTIONS:
                        text = rules._clean(values.get(section), section, SECTIONS[section],
                                            max_len=8000, required=False, multiline=True)
                        sql.set_report_text(hub.store, body, year, section, text, who,
                                            hub.config.now_ts())
                else:
                    kind = rules._code(values.get("kind"), rules.APPEAL_KINDS, "kind", "类别")
                    outcome = rules._code(values.get("outcome"), rules.APPEAL_OUTCOMES,
                                          "outcome", "结果")
                    note = rules._clean(values.get("note"), "note", "案由或说明", max_len=500,
                                        required=False)
                    sql.add_appeal(hub.store, body, year, kind, outcome, note, who,
                                   hub.config.now_ts())
            except rules.DisclosureError as exc:
                errors.add(exc.field or "form", exc.zh)
                status = 422
            else:
                return redirect(f"/disclosure/appeals?body={quote(body)}&year={year}")
        return show(request, "disclosure/appeals.html",
                    {"year": year, "body": body, "errors": errors, "sections": SECTIONS,
                     "appeals": sql.appeals(hub.store, body or None, year),
                     "texts": sql.report_texts(hub.store, body, year) if body else {},
                     "bodies": _bodies(hub), **_tables()}, status_code=status)

    def _report_args(request: Request) -> tuple[int, str]:
        hub = hub_of(request)
        return _year_param(request, today(hub)), _q(request, "body", 32)

    @page("disclosure.view")
    async def report_page(request: Request) -> Response:
        hub = hub_of(request)
        year, body = _report_args(request)
        report = build_report(hub.store, year, body) if body else None
        printable = request.url.path.endswith("/print")
        return show(request, "disclosure/report_print.html" if printable
                    else "disclosure/report.html",
                    {"report": report, "year": year, "body": body, "bodies": _bodies(hub),
                     "sections": SECTIONS, **_tables()})

    @page("disclosure.view")
    async def report_json(request: Request) -> Response:
        year, body = _report_args(request)
        if not body:
            return JSONResponse({"error": {"detail": "请指定公开主体（body）"}}, status_code=400)
        return JSONResponse(build_report(hub_of(request).store, year, body))

    @page("disclosure.view")
    async def report_file(request: Request) -> Response:
        year, body = _report_args(request)
        if not body:
            return error_response(request.app.state.templates, request, 400,
                                  message="请指定公开主体")
        data = report_xlsx(build_report(hub_of(request).store, year, body))
        name = f"政府信息公开工作年度报告-{body}-{year}.xlsx"
        return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                        "spreadsheetml.sheet",
                        headers={"Content-Disposition": "attachment; filename=\"report.xlsx\"; "
                                 f"filename*=UTF-8''{quote(name)}"})

    @page("disclosure.manage")
    async def upload_attachment(request: Request) -> Response:
        """Staff hand in a file the transport has not brought (matched by its hash)."""
        hub = hub_of(request)
        form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_UPLOAD)
        from web.security import check_csrf
        check_csrf(request, form)
        upload = form.get("file")
        back = form.get("back") if isinstance(form.get("back"), str) else "/disclosure"
        back = back if back.startswith("/") and not back.startswith("//") else "/disclosure"
        if not isinstance(upload, UploadFile):
            return error_response(request.app.state.templates, request, 422, message="请选择文件")
        data = await upload.read(MAX_UPLOAD)
        await form.close()
        try:
            files.receive_attachment(hub.store, hub.config.data_dir, data, hub.config.now_ts())
        except files.AttachmentRejected as exc:
            return error_response(request.app.state.templates, request, 422, message=exc.zh)
        return redirect(back)

    return [
        Route("/gk", public_list, methods=["GET"]),
        Route("/gk/doc/{doc_id}", public_doc, methods=["GET"]),
        Route("/gk/doc/{doc_id}/rate", rate_doc, methods=["POST"]),
        Route("/gk/doc/{doc_id}/attachments/{sha}", download, methods=["GET"]),
        Route("/gk/apply", apply_form, methods=["GET", "POST"]),
        Route("/gk/status", status_page, methods=["GET"]),
        Route("/disclosure", dashboard, methods=["GET"]),
        Route("/disclosure/requests", request_list, methods=["GET"]),
        Route("/disclosure/requests/new", request_new, methods=["GET", "POST"]),
        Route("/disclosure/requests/{no}", request_page, methods=["GET"]),
        Route("/disclosure/requests/{no}/act", request_act, methods=["POST"]),
        Route("/disclosure/catalogue", catalogue_page, methods=["GET", "POST"]),
        Route("/disclosure/appeals", appeals_page, methods=["GET", "POST"]),
        Route("/disclosure/report", report_page, methods=["GET"]),
        Route("/disclosure/report/print", report_page, methods=["GET"]),
        Route("/disclosure/report.json", report_json, methods=["GET"]),
        Route("/disclosure/report.xlsx", report_file, methods=["GET"]),
        Route("/disclosure/attachments", upload_attachment, methods=["POST"],
              max_body_size=MAX_UPLOAD),
    ]


def dumps(value) -> str:  # for templates that embed JSON data blocks
    return json.dumps(value, ensure_ascii=False)
