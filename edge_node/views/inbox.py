"""The inbox (收件箱): cases forwarded here, results returned, on-line applications, with
their age; forwarding (上报) and returning results (结果回传). Domain: edge_node/cases/inbox.py.

| route | what |
|---|---|
| ``GET /inbox`` | waiting entries with their age; cases ready to forward or to return |
| ``GET /inbox/entries/{id}`` | one entry (an application: the pre-examination form) |
| ``POST /inbox/entries/{id}/take`` | take a forwarded case or a result; an application with its outcome |
| ``POST /inbox/forward/{case_no}`` | forward a case to the county node (opinion, receiver) |
| ``POST /inbox/return/{case_no}`` | return the decision to the origin node |
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import lifecycle, routing as rules
from web.errors import ValidationErrors

from ..cases import inbox
from ..cases.catalogue import current_catalogue
from ..errors import NodeError, NotFound
from .common import STAFF_ROLES, WORK_ROLES, Ui, page, read_form, redirect, require_user

ROLE_ORDER = ("clerk", "handler", "reviewer", "approver", "head")


def _role(user: dict, prefer: str | None = None) -> str | None:
    if prefer and prefer in user["roles"]:
        return prefer
    return next((r for r in ROLE_ORDER if r in user["roles"]), None)


def _candidates(ui: Ui) -> tuple[list[dict], list[dict]]:
    """Accepted cases whose next steps are county-level (to forward), and cases taken
    from another node whose county steps are done (to return)."""
    node = ui.node
    try:
        catalogue = current_catalogue(node)
    except NodeError:
        return [], []
    forward, back = [], []
    for state in node.store.cases_in_states(("accepted", "decided"), limit=500):
        item = catalogue.by_code(state["item"]["code"])
        if item is None:
            continue
        county = rules.county_run(item, state["flow"], state["next_step"])
        if state.get("origin"):
            if not county:
                back.append({"case": state["case"], "item": state["item"]["name"],
                             "origin": state["origin"]["node"],
                             "decision": state.get("decision")})
        elif county and state["state"] == "accepted":
            forward.append({"case": state["case"], "item": state["item"]["name"],
                            "steps": county,
                            "to": inbox.receiver_for(node, item["code"]) or ""})
    return forward, back


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    def listing(request: Request, user: dict, *, message: str | None = None,
                status: int = 200) -> Response:
        forward, back = _candidates(ui)
        context = {"entries": inbox.inbox_entries(node),
                   "recent": inbox.inbox_entries(node, ("taken", "done", "gone", "invalid"))[-20:],
                   "forward": forward, "back": back, "message": message,
                   "can_work": bool(set(user["roles"]) & set(WORK_ROLES))}
        return page(ui, request, "inbox/list.html", context, status_code=status)

    async def show_inbox(request: Request) -> Response:
        user = require_user(ui, request, STAFF_ROLES)
        return listing(request, user)

    async def show_entry(request: Request) -> Response:
        require_user(ui, request, STAFF_ROLES)
        entry = next((e for e in inbox.inbox_entries(node, None)
                      if e["id"] == request.path_params["entry_id"]), None)
        if entry is None:
            raise NotFound("no such entry", zh="收件箱中没有该条目")
        return page(ui, request, "inbox/entry.html",
                    {"entry": entry, "data": entry["data"], "errors": ValidationErrors()})

    async def take(request: Request) -> Response:
        user = require_user(ui, request, WORK_ROLES)
        form = await read_form(request)
        entry_id = request.path_params["entry_id"][:120]
        kind = next((e["kind"] for e in inbox.inbox_entries(node, None) if e["id"] == entry_id),
                    None)
        try:
            if kind == "forwarded":
                state = inbox.take_forwarded(node, {"id": user["id"], "role": _role(user)},
                                             entry_id)
            elif kind == "result":
                state = inbox.receive_result(node, {"id": user["id"],
                                                    "role": _role(user, "clerk")}, entry_id)
            elif kind == "application":
                outcome = form.get("outcome") if isinstance(form.get("outcome"), str) else ""
                materials = [m for m in form.getlist("materials") if isinstance(m, str)]
                state = inbox.take_application(
                    node, {"id": user["id"], "role": _role(user, "clerk")}, entry_id,
                    outcome=outcome, materials=materials,
                    reason=form.get("reason") if isinstance(form.get("reason"), str) else None,
                    note=form.get("note") if isinstance(form.get("note"), str) and
                    form.get("note").strip() else None)
            else:
                raise NotFound("no such entry", zh="收件箱中没有可接收的该条目")
        except NodeError as exc:
            if isinstance(exc, NotFound):
                raise
            return listing(request, user, message=exc.zh, status=422)
        return redirect(request, f"/cases/{state['case']}")

    async def forward(request: Request) -> Response:
        user = require_user(ui, request, WORK_ROLES)
        form = await read_form(request)
        case_no = request.path_params["case_no"][:80]
        opinion = form.get("opinion") if isinstance(form.get("opinion"), str) else ""
        to = form.get("to") if isinstance(form.get("to"), str) else None
        try:
            inbox.forward_case(node, {"id": user["id"], "role": _role(user)}, case_no,
                               opinion=opinion, to=(to or "").strip()[:32] or None)
        except NodeError as exc:
            if isinstance(exc, NotFound):
                raise
            return listing(request, user, message=exc.zh, status=422)
        return redirect(request, f"/cases/{case_no}")

    async def give_back(request: Request) -> Response:
        user = require_user(ui, request, WORK_ROLES)
        form = await read_form(request)
        case_no = request.path_params["case_no"][:80]
        opinion = form.get("opinion") if isinstance(form.get("opinion"), str) else None
        try:
            inbox.return_result(node, {"id": user["id"], "role": _role(user)}, case_no,
                                opinion=opinion)
        except NodeError as exc:
            if isinstance(exc, NotFound):
                raise
            return listing(request, user, message=exc.zh, status=422)
        return redirect(request, f"/cases/{case_no}")

    return [Route("/inbox", show_inbox, methods=["GET"]),
            Route("/inbox/entries/{entry_id}", show_entry, methods=["GET"]),
            Route("/inbox/entries/{entry_id}/take", take, methods=["POST"]),
            Route("/inbox/forward/{case_no}", forward, methods=["POST"]),
            Route("/inbox/return/{case_no}", give_back, methods=["POST"])]


STATE_LABELS = lifecycle.STATE_LABELS
