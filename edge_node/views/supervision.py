"""Local supervision warnings (本地监察预警): ``GET /supervision`` lists the warnings of
every open case, computed on the node with the county's rules, so staff see them while
off-line; ``GET /supervision/cases/{case_no}`` one case's findings (a partial a case page can
include with htmx: ``hx-get="/supervision/cases/{no}" hx-trigger="load"``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.supervision import LEVEL_LABELS

from ..cases.supervision import case_warnings, current_rules, local_warnings
from .common import STAFF_ROLES, Ui, page, require_user


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    async def warnings_page(request: Request) -> Response:
        require_user(ui, request, STAFF_ROLES)
        level = request.query_params.get("level")
        level = level if level in ("red", "yellow", "warning") else "warning"
        rows = local_warnings(node, min_level=level)
        return page(ui, request, "supervision/list.html",
                    {"rows": rows, "level": level, "levels": LEVEL_LABELS,
                     "rules_version": current_rules(node).version},
                    partial="supervision/_warnings.html")

    async def case_page(request: Request) -> Response:
        require_user(ui, request, STAFF_ROLES)
        case_no = request.path_params["case_no"][:64]
        if node.store.case(case_no) is None:
            return page(ui, request, "supervision/_case_warnings.html",
                        {"rows": [], "case_no": case_no, "missing": True}, status_code=404)
        return page(ui, request, "supervision/_case_warnings.html",
                    {"rows": case_warnings(node, case_no), "case_no": case_no})

    return [Route("/supervision", warnings_page, methods=["GET"]),
            Route("/supervision/cases/{case_no}", case_page, methods=["GET"])]
