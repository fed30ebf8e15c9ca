"""Case screens: the projected cases an account may see, and one case with its steps,
fees and deadline changes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.lifecycle import STATE_LABELS
from web.pagination import Pagination

from ..accounts.service import case_scope
from ..web_common import account_of, hub_of, page, show


@page("cases.view")
async def cases_page(request: Request) -> Response:
    hub = hub_of(request)
    scope = case_scope(hub.store, account_of(request))
    state = request.query_params.get("state") or None
    state = state if state in STATE_LABELS else None
    text = (request.query_params.get("q") or "").strip()[:64] or None
    total, _ = hub.store.cases(nodes=scope.nodes, department=scope.department, state=state,
                               text=text, limit=0)
    pager = Pagination.from_query(request.query_params.get("page"), total, 50)
    _, rows = hub.store.cases(nodes=scope.nodes, department=scope.department, state=state,
                              text=text, offset=pager.offset, limit=pager.limit)
    params = {k: v for k, v in (("state", state), ("q", text)) if v}
    return show(request, "pages/cases.html",
                {"rows": rows, "pager": pager, "scope": scope, "labels": STATE_LABELS,
                 "state": state or "", "q": text or "", "params": params},
                partial="partials/_cases_table.html")


@page("cases.view")
async def case_page(request: Request) -> Response:
    hub = hub_of(request)
    case_no = request.path_params["case_no"][:64]
    scope = case_scope(hub.store, account_of(request))
    row = hub.store.case(case_no)
    visible = row is not None and (scope.nodes is None or row["node"] in scope.nodes)
    if visible and scope.department is not None:
        item = hub.store.catalogue_item(row["item_code"] or "")
        visible = item is not None and item.department == scope.department
    if not visible:
        return show(request, "pages/message.html",
                    {"title": "办件不存在", "message": f"没有您可查看的办件 {case_no}"},
                    status_code=404)
    return show(request, "pages/case.html",
                {"case": row, "labels": STATE_LABELS, "steps": hub.store.case_steps(case_no),
                 "fees": hub.store.case_fees(case_no),
                 "changes": hub.store.deadline_changes(case_no)})


def case_routes() -> list[Route]:
    return [Route("/cases", cases_page, methods=["GET"]),
            Route("/cases/{case_no}", case_page, methods=["GET"])]
