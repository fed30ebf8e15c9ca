"""The self-service terminal (自助终端) at the centre: no login.

* ``/kiosk``: the service guide (办事指南), browsed and searched (htmx live filter);
* ``/kiosk/items/{code}``: one item with its conditions, materials, limits, fee and basis,
  place, hours and phone numbers;
* ``/kiosk/status``: a case's progress by number + query code. Rate-limited per terminal
  (``Ui.lookup_limiter``) and per case number (failed look-ups throttled like failed
  sign-ins); shows nothing personal beyond the masked name. The code is posted (CSRF-
  checked), so it never appears in a URL or the browser history of a shared terminal.
* ``POST /kiosk/rate``: 好差评 of the stage just reached (:mod:`edge_node.cases.evaluations`),
  for ten minutes after a successful look-up of that case in the same terminal session
  (the session, not the page, holds which case was proven).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import lifecycle
from protocol.catalogue import TYPE_CODES, fee_fen
from web import security
from web.errors import ValidationErrors
from web.inputs import same_secret

from ..cases import catalogue as node_catalogue
from ..cases import evaluations
from ..errors import NotFound, ValidationError
from .common import Ui, page, read_form, text

MAX_QUERY = 40
RATE_WINDOW_SECONDS = 600     # a look-up lets the terminal's user rate for ten minutes


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    def guide_rows(q: str) -> list[dict]:
        return [{"code": it["code"], "name": it["name"], "body": it["body"]["name"],
                 "type": TYPE_CODES.get(it["type_code"], ""), "fee_fen": fee_fen(it),
                 "committed_days": it["committed_half_days"] / 2}
                for it in node_catalogue.current_catalogue(node).search(q)]

    async def guide(request: Request) -> Response:
        q = " ".join(request.query_params.get("q", "").split())[:MAX_QUERY]
        return page(ui, request, "pages/kiosk.html", {"q": q, "items": guide_rows(q),
                                                       "kiosk": True},
                    partial="partials/_kiosk_items.html")

    async def guide_item(request: Request) -> Response:
        code = request.path_params["code"][:40]
        item = node_catalogue.current_catalogue(node).by_code(code)
        if item is None:
            raise NotFound(f"no item {code}", zh="没有找到该办事事项")
        return page(ui, request, "pages/kiosk_item.html",
                    {"item": item, "fee_fen": fee_fen(item), "kiosk": True,
                     "type": TYPE_CODES.get(item["type_code"], "")})

    def status_page(request, values, errors, result=None, status_code=200,
                    headers=None) -> Response:
        response = page(ui, request, "pages/kiosk_status.html",
                        {"values": values, "errors": errors, "result": result, "kiosk": True},
                        partial="partials/_kiosk_status.html", status_code=status_code)
        response.headers.update(headers or {})
        return response

    async def status_form(request: Request) -> Response:
        case_no = request.query_params.get("case", "")[:40]
        return status_page(request, {"case": case_no}, ValidationErrors())

    async def status_lookup(request: Request) -> Response:
        form = await read_form(request)
        errors = ValidationErrors()
        case_no = text(form, "case", errors, label="办件编号", max_len=40, required=True)
        code = text(form, "code", errors, label="查询码", max_len=12, required=True).upper()
        values = {"case": case_no}
        if errors:
            return status_page(request, values, errors, status_code=422)
        wait = ui.lookup_limiter.acquire(security.client_ip(request))
        key = ("lookup", case_no.upper())
        wait = max(wait, ui.lookup_throttle.check(key))
        if wait > 0:
            errors.add_form(f"查询过于频繁，请 {int(wait) + 1} 秒后再试")
            return status_page(request, values, errors, status_code=429,
                               headers=security.retry_after_header(wait))
        state = node.store.case(case_no.upper())
        if state is None or not same_secret(code, state.get("query_code") or ""):
            ui.lookup_throttle.failure(key)
            errors.add("code", "办件编号或查询码不正确，请核对受理通知书上的信息")
            return status_page(request, values, errors, status_code=422)
        ui.lookup_throttle.success(key)
        request.session["kiosk_case"] = [state["case"], time.time() + RATE_WINDOW_SECONDS]
        return status_page(request, values, errors, status_result(state))

    def status_result(state: dict) -> dict:
        deadline = state.get("deadline") or {}
        missing = [m["name"] for m in state["materials"] if m["id"] in state.get("missing", [])]
        return {"case": state["case"], "item": state["item"]["name"],
                "applicant": state["applicant"]["name"],
                "state_label": lifecycle.STATE_LABELS[state["state"]],
                "state": state["state"], "received_at": state["received_at"],
                "accepted_at": state["accepted_at"], "completed_at": state["completed_at"],
                "due": deadline.get("due") if state["state"] in lifecycle.CLOCK_STATES
                else None, "missing": missing if state["state"] == "supplement_requested"
                else [],
                "stages": [(s, evaluations.STAGES[s])
                           for s in evaluations.open_stages(node, state["case"])],
                "levels": list(evaluations.LEVELS.items())}

    async def rate(request: Request) -> Response:
        form = await read_form(request)
        errors = ValidationErrors()
        proven = request.session.get("kiosk_case")
        if not (isinstance(proven, list) and len(proven) == 2
                and isinstance(proven[1], (int, float)) and proven[1] > time.time()):
            request.session.pop("kiosk_case", None)
            errors.add_form("请先用办件编号和查询码查询办件，再进行评价（查询后 10 分钟内有效）")
            return status_page(request, {"case": ""}, errors, status_code=422)
        case_no = str(proven[0])
        state = node.store.case(case_no)
        if state is None:
            raise NotFound(f"no case {case_no}", zh="没有找到该办件")
        values = {"case": case_no, "stage": form.get("stage", "")[:20],
                  "level": form.get("level", "")[:2],
                  "text": form.get("text", "")[:evaluations.MAX_TEXT + 100]}
        try:
            evaluations.give(node, case_no, values["stage"], values["level"], values["text"],
                             channel="terminal")
        except ValidationError as exc:
            errors.add(exc.field, exc.zh)
            return status_page(request, values, errors, status_result(state), status_code=422)
        request.session.pop("kiosk_case", None)     # a shared terminal: the next person
        return page(ui, request, "pages/kiosk_rated.html",
                    {"kiosk": True, "stage": evaluations.STAGES[values["stage"]],
                     "level": evaluations.LEVELS[int(values["level"])]},
                    partial="partials/_kiosk_rated.html")

    return [
        Route("/kiosk", guide, methods=["GET"]),
        Route("/kiosk/items/{code}", guide_item, methods=["GET"]),
        Route("/kiosk/status", status_form, methods=["GET"]),
        Route("/kiosk/status", status_lookup, methods=["POST"]),
        Route("/kiosk/rate", rate, methods=["POST"]),
    ]
