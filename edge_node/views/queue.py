"""My work queue (我的待办): the cases waiting for one of my roles, soonest due first.

Filters: all, nearing the deadline (due within ``NEAR_WORKING_DAYS`` working days),
overdue, newly overdue, waiting for a supplement. A supervisor sees every role's queue.
"Newly overdue": became overdue (the day after the due date) on or after the last working
day before today, or after the user's previous visit to the queue (whichever is earlier).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import lifecycle
from web.pagination import Pagination

from ..store import queries
from .common import STAFF_ROLES, WORK_ROLES, Ui, deadline_marks, home_for, page, \
    queue_window, redirect, require_user, signed_in_user

PER_PAGE = 30
FILTER_LABELS = {"all": "全部待办", "near": "临近期限", "overdue": "已超期",
                 "newly": "新超期", "supplement": "待补正"}


def case_row(ui: Ui, state: dict, window) -> dict:
    """What a list row shows of a case."""
    nxt = lifecycle.next_flow_step(state)
    return {"case": state["case"], "item": state["item"]["name"],
            "applicant": state["applicant"]["name"], "id_no": state["applicant"]["id_no"],
            "state": state["state"], "state_label": lifecycle.STATE_LABELS[state["state"]],
            "step": nxt["name"] if nxt else None, "received_at": state["received_at"],
            **deadline_marks(ui, state, window)}


def routes(ui: Ui) -> list[Route]:
    store = ui.node.store

    async def work_queue(request: Request) -> Response:
        user = signed_in_user(ui, request)
        if user is not None and not set(user["roles"]) & set(STAFF_ROLES):
            return redirect(request, home_for(user))
        user = require_user(ui, request, STAFF_ROLES)
        kind = request.query_params.get("f", "all")
        if kind not in queries.QUEUE_FILTERS:
            kind = "all"
        previous = queries.record_visit(store, user["id"], ui.today())
        window = queue_window(ui, previous)
        roles = [r for r in user["roles"] if r in WORK_ROLES]
        if "supervisor" in user["roles"]:
            roles = None
        counts = queries.queue_counts(store, roles, window)
        pager = Pagination.from_query(request.query_params.get("page"), counts[kind], PER_PAGE)
        states, _ = queries.work_queue(store, roles, window, kind=kind, limit=pager.limit,
                                       offset=pager.offset)
        context = {"rows": [case_row(ui, s, window) for s in states], "counts": counts,
                   "kind": kind, "filters": FILTER_LABELS, "pager": pager,
                   "window": window, "previous_visit": previous,
                   "all_roles": roles is None}
        return page(ui, request, "pages/queue.html", context,
                    partial="partials/_queue_table.html")

    return [Route("/", work_queue, methods=["GET"])]
