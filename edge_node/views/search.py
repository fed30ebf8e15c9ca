"""Search (办件查询) by case number, applicant name or ID number; ID numbers are masked
in the list (``5101**********1234``). Live filtering with htmx; a plain GET form without."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.errors import ValidationErrors
from web.pagination import Pagination

from ..store import queries
from .common import STAFF_ROLES, Ui, page, queue_window, require_user
from .queue import case_row

MAX_QUERY = 40
PER_PAGE = 20
KIND_LABELS = {"id": "证件号码", "id_prefix": "证件号码开头", "counter": "办件编号末位",
               "case": "办件编号", "name": "申请人姓名或名称"}


def routes(ui: Ui) -> list[Route]:
    store = ui.node.store

    async def search(request: Request) -> Response:
        require_user(ui, request, STAFF_ROLES)
        q = " ".join(request.query_params.get("q", "").split())
        errors = ValidationErrors()
        rows, pager, kind, status = [], None, None, 200
        if len(q) > MAX_QUERY:
            errors.add("q", f"查询内容不能超过 {MAX_QUERY} 个字")
            status = 422
        elif q:
            window = queue_window(ui)
            raw = request.query_params.get("page")
            found, total, kind = queries.search_cases(store, q, limit=PER_PAGE, offset=0)
            pager = Pagination.from_query(raw, total, PER_PAGE)
            if pager.offset:
                found, total, kind = queries.search_cases(store, q, limit=PER_PAGE,
                                                          offset=pager.offset)
            rows = [case_row(ui, s, window) for s in found]
        context = {"q": q[:MAX_QUERY * 2], "rows": rows, "pager": pager, "errors": errors,
                   "kind": KIND_LABELS.get(kind)}
        return page(ui, request, "pages/search.html", context,
                    partial="partials/_search_results.html", status_code=status)

    return [Route("/search", search, methods=["GET"])]
