"""Staff screens behind the portal: bad evaluations to follow up (差评整改), consultations and
complaints (诉求件), and the portal's settings.

Routes: ``GET /evaluations``, ``GET/POST /evaluations/{eval_id}``,
``GET/POST /evaluations/settings``, ``GET /interactions``, ``GET/POST /interactions/{no}``.
A user sees the evaluations of the cases in their scope (``accounts.case_scope``) and the
consultations and complaints addressed to their unit's subtree (county users: all).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.inputs import parse_int, to_int
from web.pagination import Pagination

from ..accounts.service import can, case_scope
from ..orgs.service import OrgTree
from ..store import face as sql
from ..web_common import account_of, audit, hub_of, page, read_form, redirect, show, text_field
from . import service


def _visible_eval(request: Request, row: dict | None) -> bool:
    if row is None:
        return False
    hub = hub_of(request)
    scope = case_scope(hub.store, account_of(request))
    if scope.nodes is not None and row["node"] not in scope.nodes:
        return False
    if scope.department is not None:
        item = hub.store.catalogue_item(row["item_code"] or "")
        return item is not None and item.department == scope.department
    return True


def _units_of(request: Request) -> tuple[str, ...] | None:
    """The units whose consultations and complaints the account sees (None: all)."""
    hub = hub_of(request)
    account = account_of(request)
    if not account.org_unit:
        return None
    tree = OrgTree.load(hub.store)
    unit = tree.units.get(account.org_unit)
    if unit is None or unit.kind == "county":
        return None
    return tuple(sorted(tree.subtree(unit.code)))


@page("evaluations.view")
async def evaluations_page(request: Request) -> Response:
    hub = hub_of(request)
    scope = case_scope(hub.store, account_of(request))
    which = request.query_params.get("show") or "open"
    which = which if which in ("open", "bad", "all") else "open"
    args = dict(nodes=scope.nodes, department=scope.department, bad_only=which == "bad",
                open_only=which == "open")
    total, _ = sql.evaluations(hub.store, limit=0, **args)
    pager = Pagination.from_query(request.query_params.get("page"), total, 50)
    _, rows = sql.evaluations(hub.store, offset=pager.offset, limit=pager.limit, **args)
    return show(request, "portal/staff_evaluations.html",
                {"rows": rows, "pager": pager, "show": which, "levels": service.LEVELS,
                 "stages": service.STAGES, "scope": scope,
                 "units": {u.code: u.name for u in hub.store.org_units()},
                 "can_settings": can(account_of(request), "face.settings")})


@page("evaluations.view")
async def evaluation_page(request: Request) -> Response:
    hub = hub_of(request)
    eval_id = parse_int(request.path_params["eval_id"], "eval_id", "评价编号",
                        max_digits=12, required=True)
    form = await read_form(request) if request.method == "POST" else None   # CSRF first
    row = sql.evaluation(hub.store, eval_id)
    if not _visible_eval(request, row):
        return show(request, "pages/message.html",
                    {"title": "评价不存在", "message": "没有您可查看的这条评价"}, status_code=404)
    error = None
    if form is not None:
        if not can(account_of(request), "evaluations.answer"):
            return show(request, "pages/message.html",
                        {"title": "无权操作", "message": "您的角色无权答复差评"}, status_code=403)
        try:
            service.answer_evaluation(hub.store, eval_id, text_field(form, "answer", 2000),
                                      by=account_of(request).username,
                                      now_ts=hub.config.now_ts())
        except service.PortalError as exc:
            error = exc.message
        else:
            audit(request, "evaluation.answered", str(eval_id), {"case": row["case_no"]})
            return redirect(f"/evaluations/{eval_id}")
    return show(request, "portal/staff_evaluation.html",
                {"e": row, "levels": service.LEVELS, "stages": service.STAGES, "error": error,
                 "units": {u.code: u.name for u in hub.store.org_units()},
                 "can_answer": can(account_of(request), "evaluations.answer")},
                status_code=422 if error else 200)


@page("face.settings")
async def settings_page(request: Request) -> Response:
    hub = hub_of(request)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await read_form(request)
        values = {}
        for key, (label, _, lo, hi) in service.SETTINGS.items():
            raw = text_field(form, key, 10).strip()
            if to_int(raw, lo=lo, hi=hi) is None:
                errors[key] = f"{label}：请填写 {lo} 至 {hi} 之间的整数"
            else:
                values[key] = raw
        if not errors:
            before = sql.settings(hub.store)
            for key, value in values.items():
                sql.set_setting(hub.store, key, value, hub.config.now_ts(),
                                account_of(request).username)
            audit(request, "face.settings_changed", None, None, before=before, after=values)
            return redirect("/evaluations/settings")
    current = {k: service.setting(hub.store, k) for k in service.SETTINGS}
    return show(request, "portal/staff_settings.html",
                {"settings": service.SETTINGS, "current": current, "errors": errors},
                status_code=422 if errors else 200)


@page("interactions.view")
async def interactions_page(request: Request) -> Response:
    hub = hub_of(request)
    state = request.query_params.get("state") or None
    state = state if state in service.INTERACTION_STATES else None
    units = _units_of(request)
    total, _ = sql.interactions(hub.store, units=units, state=state, limit=0)
    pager = Pagination.from_query(request.query_params.get("page"), total, 50)
    _, rows = sql.interactions(hub.store, units=units, state=state, offset=pager.offset,
                               limit=pager.limit)
    return show(request, "portal/staff_interactions.html",
                {"rows": rows, "pager": pager, "state": state or "",
                 "states": service.INTERACTION_STATES, "kinds": service.INTERACTION_KINDS})


@page("interactions.view")
async def interaction_page(request: Request) -> Response:
    hub = hub_of(request)
    form = await read_form(request) if request.method == "POST" else None   # CSRF first
    no = service.normalise_no(request.path_params["no"]) or ""
    row = sql.interaction(hub.store, no) if no else None
    units = _units_of(request)
    if row is None or (units is not None and row["unit"] not in units):
        return show(request, "pages/message.html",
                    {"title": "诉求不存在", "message": "没有您可查看的这件咨询或投诉"},
                    status_code=404)
    error = None
    if form is not None:
        if not can(account_of(request), "interactions.answer"):
            return show(request, "pages/message.html",
                        {"title": "无权操作", "message": "您的角色无权办理诉求"}, status_code=403)
        account = account_of(request)
        owner = None
        if account.org_unit:
            unit = hub.store.org_unit(account.org_unit)
            owner = f"{unit.name if unit else account.org_unit} {account.display_name or account.username}"
        try:
            service.act_on_interaction(hub.store, no, action=text_field(form, "action", 20),
                                       note=text_field(form, "note", 2000), by=account.username,
                                       now_ts=hub.config.now_ts(), owner=owner)
        except service.PortalError as exc:
            error = exc.message
        else:
            audit(request, "interaction.acted", no, {"action": text_field(form, "action", 20)})
            return redirect(f"/interactions/{no}")
    return show(request, "portal/staff_interaction.html",
                {"row": row, "actions": sql.interaction_actions(hub.store, no),
                 "states": service.INTERACTION_STATES, "kinds": service.INTERACTION_KINDS,
                 "error": error, "can_answer": can(account_of(request), "interactions.answer")},
                status_code=422 if error else 200)


def routes() -> list[Route]:
    return [Route("/evaluations", evaluations_page, methods=["GET"]),
            Route("/evaluations/settings", settings_page, methods=["GET", "POST"]),
            Route("/evaluations/{eval_id}", evaluation_page, methods=["GET", "POST"]),
            Route("/interactions", interactions_page, methods=["GET"]),
            Route("/interactions/{no}", interaction_page, methods=["GET", "POST"])]
