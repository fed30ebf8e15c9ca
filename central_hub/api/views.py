"""/api/v1 routes (token auth, scopes, rate limits, cursor-paginated feeds) and the
administrator's token screen (/admin/api-tokens).

Cursors are the feed's own order: ``cases`` the log position of the last change of each
case (a case changed again moves to the end of the feed), ``events`` the log position,
``evaluations`` a revision number bumped by every change (answer, follow-up rating). A
consumer stores ``next_cursor`` and asks again; ``has_more`` says whether to ask at once.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from protocol.lifecycle import STATE_LABELS
from web.inputs import parse_int, to_int
from web.security import RateLimiter, client_ip, retry_after_header

from ..store import face as sql
from ..web_common import account_of, audit, hub_of, page, read_form, redirect, show, text_field
from . import tokens
from .masking import masked_envelope
from .openapi import MAX_LIMIT, openapi_document

CHANNEL_CODES = {"window": "1", "online": "2", "mail": "4"}
EVAL_CHANNEL_CODES = {"pc": "1", "mobile": "2", "qr": "3", "terminal": "4", "phone": "5",
                      "sms": "6"}
RESULT_CODES = {"approve": "1", "reject": "2"}
LEVELS = {1: "非常满意", 2: "满意", 3: "基本满意", 4: "不满意", 5: "非常不满意"}


def _error(status: int, code: str, message: str, field: str | None = None,
           headers: dict | None = None) -> JSONResponse:
    body = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)


class ParamError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _cursor(request: Request) -> int:
    raw = request.query_params.get("cursor", "0")
    value = to_int(raw, max_digits=18)
    if value is None:
        raise ParamError("cursor", "cursor 须为上一页返回的 next_cursor（0 至 18 位数字）")
    return value


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    value = to_int(raw, lo=1, hi=MAX_LIMIT, max_digits=4)
    if value is None:
        raise ParamError("limit", f"limit 须为 1 至 {MAX_LIMIT} 的整数")
    return value


def case_json(row: dict, department: str | None = None) -> dict:
    return {
        "case_no": row["case_no"], "node": row["node"], "item_code": row["item_code"],
        "item_name": row["item_name"], "item_type": row["item_type"], "department": department,
        "channel": CHANNEL_CODES.get(row["channel"] or "", "9") if row["channel"] else None,
        "applicant_name": row["applicant_masked"], "state": row["state"],
        "state_name": STATE_LABELS.get(row["state"], row["state"]),
        "received_at": row["received_at"], "accepted_date": row["accepted_date"],
        "due_date": row["due_date"], "completed_at": row["completed_at"],
        "delivered_at": row["delivered_at"],
        "result": RESULT_CODES.get(row["decision"] or "") if row["decision"] else None,
        "fee_fen": (row["fee_charged_fen"] or 0) - (row["fee_refunded_fen"] or 0),
    }


def evaluation_json(e: dict) -> dict:
    return {"id": e["id"], "case_no": e["case_no"], "stage": e["stage"] or "complete",
            "channel": EVAL_CHANNEL_CODES.get(e["channel"] or "", "1"), "level": e["level"],
            "level_name": LEVELS.get(e["level"], ""), "text": e["text"],
            "rated_at": e["rated_at"], "node": e["node"], "item_code": e["item_code"],
            "unit": e["unit"], "follow_up_due": e["follow_up_due"], "answer": e["answer"],
            "answered_at": e["answered_at"], "follow_up_level": e["follow_up_level"]}


def routes(limiter: RateLimiter | None = None) -> list[Route]:
    limiter = limiter or RateLimiter(rate=20, burst=100)        # per token
    document = openapi_document()

    def authorise(request: Request, scope: str) -> Response | None:
        """None if the bearer token has ``scope`` (the token is then kept on the request
        for the feed: ``request.scope["api.token"]``), else the error answer."""
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        found = tokens.lookup(hub_of(request).store, token.strip()) \
            if kind.lower() == "bearer" else None
        if found is None:   # 256-bit tokens: guessing is hopeless, no lock-out needed
            return _error(401, "token_invalid", "请在 Authorization 头中提供有效的 Bearer 令牌",
                          headers={"WWW-Authenticate": 'Bearer realm="api"'})
        wait = limiter.acquire(found["id"])
        if wait:
            return _error(429, "rate_limited", f"请求过于频繁，请 {int(wait) + 1} 秒后再试",
                          headers=retry_after_header(wait))
        if scope not in found["scopes"]:
            return _error(403, "scope_missing", f"该令牌没有 {scope} 权限")
        request.scope["api.token"] = found
        return None

    def feed(scope: str, fetch):
        async def endpoint(request: Request) -> Response:
            denied = authorise(request, scope)
            if denied is not None:
                return denied
            try:
                cursor, limit = _cursor(request), _limit(request)
            except ParamError as exc:
                return _error(400, "invalid_parameter", exc.message, exc.field)
            token = request.scope["api.token"]
            personal = tokens.PERSONAL_SCOPE in token["scopes"]
            items, last = fetch(hub_of(request).store, cursor, limit + 1, personal)
            more = len(items) > limit
            items = items[:limit]
            next_cursor = last(items[-1]) if items else cursor
            revealed = sum(1 for i in items if i[2]) if personal else 0
            if revealed:
                hub = hub_of(request)
                hub.store.audit(hub.config.now_ts(), f"api-token:{token['id']}",
                                "personal_data.read", request.url.path,
                                {"token": token["id"], "token_name": token["name"],
                                 "scope": tokens.PERSONAL_SCOPE, "items": len(items),
                                 "with_personal_data": revealed, "cursor": str(cursor),
                                 "next_cursor": str(next_cursor)},
                                ip=client_ip(request))
            return JSONResponse({"items": [i[1] for i in items],
                                 "next_cursor": str(next_cursor), "has_more": more})
        return endpoint

    # each fetch gives (cursor position, item, whether the item reveals personal data)

    def fetch_cases(store, cursor, n, personal):
        rows = sql.case_feed(store, cursor, n)
        return [(pos, case_json(row, row.get("department")), False) for pos, row in rows], \
            (lambda i: i[0])

    def fetch_events(store, cursor, n, personal):
        out = []
        for position, node, seq, type_, case_no, ts, canonical, signature, received_at in \
                sql.event_feed(store, cursor, n):
            try:
                envelope = json.loads(bytes(canonical))
            except ValueError:
                envelope = {}
            item = {"position": position, "node": node, "seq": seq, "type": type_,
                    "case_no": case_no, "ts": ts, "received_at": received_at}
            masked = masked_envelope(envelope)
            if personal:
                item.update(masked=False, envelope=envelope,
                            canonical=bytes(canonical).decode("utf-8", "replace"),
                            signature=bytes(signature).hex())
            else:
                item.update(masked=True, envelope=masked)
            out.append((position, item, personal and masked != envelope))
        return out, (lambda i: i[0])

    def fetch_evaluations(store, cursor, n, personal):
        return [(e["rev"], evaluation_json(e), False)
                for e in sql.evaluation_feed(store, cursor, n)], (lambda i: i[0])

    async def get_case(request: Request) -> Response:
        denied = authorise(request, "cases:read")
        if denied is not None:
            return denied
        case_no = request.path_params["case_no"]
        if len(case_no) > 64:
            return _error(400, "invalid_parameter", "case_no 最长 64 个字符", "case_no")
        row = sql.case_row(hub_of(request).store, case_no)
        if row is None:
            return _error(404, "case_unknown", f"没有办件 {case_no[:64]}")
        item = hub_of(request).store.catalogue_item(row["item_code"] or "")
        return JSONResponse(case_json(row, item.department if item else None))

    async def items(request: Request) -> Response:
        denied = authorise(request, "items:read")
        if denied is not None:
            return denied
        out = []
        for r in hub_of(request).store.catalogue_items():
            c = r.content or {}
            out.append({"code": r.code, "impl_code": c.get("impl_code"), "name": r.name,
                        "type_code": c.get("type_code"), "department": r.department,
                        "statutory_days": (c.get("statutory_half_days") or 0) / 2,
                        "committed_days": (c.get("committed_half_days") or 0) / 2,
                        "item_version": r.item_version})
        return JSONResponse({"items": out})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    return [Route("/api/v1/openapi.json", openapi, methods=["GET"]),
            Route("/api/v1/cases", feed("cases:read", fetch_cases), methods=["GET"]),
            Route("/api/v1/cases/{case_no:path}", get_case, methods=["GET"]),
            Route("/api/v1/events", feed("events:read", fetch_events), methods=["GET"]),
            Route("/api/v1/evaluations", feed("evaluations:read", fetch_evaluations),
                  methods=["GET"]),
            Route("/api/v1/items", items, methods=["GET"])]


# --------------------------------------------------------------------------- admin screen


@page("api_tokens.manage")
async def tokens_page(request: Request) -> Response:
    hub = hub_of(request)
    issued = error = None
    if request.method == "POST":
        form = await read_form(request)
        scopes = [s for s in form.getlist("scopes") if isinstance(s, str)]
        try:
            token_id, issued = tokens.issue_token(hub.store, name=text_field(form, "name", 200),
                                                  scopes=scopes, at=hub.config.now_ts(),
                                                  by=account_of(request).username)
        except tokens.TokenError as exc:
            error = exc.message
        else:
            audit(request, "api_token.issued", str(token_id), {"scopes": sorted(set(scopes))})
    return show(request, "api/tokens.html",
                {"rows": sql.api_tokens(hub.store), "scopes": tokens.SCOPES, "issued": issued,
                 "error": error}, status_code=422 if error else 200)


@page("api_tokens.manage")
async def revoke_page(request: Request) -> Response:
    hub = hub_of(request)
    await read_form(request)
    token_id = parse_int(request.path_params["token_id"], "token_id", "令牌编号",
                         max_digits=12, required=True)
    if sql.revoke_api_token(hub.store, token_id, hub.config.now_ts()):
        audit(request, "api_token.revoked", str(token_id))
    return redirect("/admin/api-tokens")


def admin_routes() -> list[Route]:
    return [Route("/admin/api-tokens", tokens_page, methods=["GET", "POST"]),
            Route("/admin/api-tokens/{token_id}/revoke", revoke_page, methods=["POST"])]
