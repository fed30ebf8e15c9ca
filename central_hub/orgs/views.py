"""County screens for org units (with who answers for risk-graded supervision alerts in
each) and which org unit each node belongs to."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.errors import ValidationErrors
from web.flash import flash

from ..store import supervision as supervision_sql
from ..web_common import FORM_LIMIT, audit, hub_of, page, read_form, redirect, show, text_field
from .service import KIND_LABELS, OrgError, OrgTree, add_unit


@page("orgs.manage")
async def orgs_page(request: Request) -> Response:
    return _orgs(request, {}, ValidationErrors())


DUTY_LABELS = {"department_head": "主要负责人（A 级风险）", "deputy_in_charge": "分管负责人（B 级）",
               "section_chief": "股（科）室负责人（C 级）"}


def _orgs(request: Request, values: dict, errors: ValidationErrors,
          status_code: int = 200, duty_values: dict | None = None,
          duty_errors: ValidationErrors | None = None) -> Response:
    store = hub_of(request).store
    tree = OrgTree.load(store)
    return show(request, "pages/orgs.html",
                {"units": tree.flat(), "kinds": list(KIND_LABELS.items()),
                 "parents": [(u.code, u.name) for _, u in tree.flat()
                             if u.kind in ("county", "township")],
                 "roster": supervision_sql.duty_roster(store),
                 "duties": list(DUTY_LABELS.items()),
                 "unit_choices": [(u.code, "　" * d + u.name) for d, u in tree.flat()],
                 "account_choices": [(a.username, f"{a.display_name or a.username}（{a.username}）")
                                     for a in store.accounts() if a.active],
                 "values": values, "errors": errors, "duty_values": duty_values or {},
                 "duty_errors": duty_errors or ValidationErrors()}, status_code=status_code)


@page("orgs.manage")
async def orgs_duty(request: Request) -> Response:
    """Name who answers for risk-graded supervision alerts in a unit (empty: clear)."""
    hub = hub_of(request)
    form = await read_form(request)
    values = {k: text_field(form, k, 100) for k in ("org_unit", "duty", "username")}
    errors = ValidationErrors()
    tree = OrgTree.load(hub.store)
    if values["org_unit"] not in tree.units:
        errors.add("org_unit", "单位：请从列表中选择")
    if values["duty"] not in DUTY_LABELS:
        errors.add("duty", "职责：请从列表中选择")
    account = hub.store.account(values["username"]) if values["username"] else None
    if values["username"] and (account is None or not account.active):
        errors.add("username", "负责人：请选择一个在用的账户（留空表示取消指定）")
    if errors:
        return _orgs(request, {}, ValidationErrors(), 422, values, errors)
    with hub.store.transaction():
        before = supervision_sql.duty_roster(hub.store).get(values["org_unit"], {}).get(
            values["duty"])
        supervision_sql.set_duty(hub.store, values["org_unit"], values["duty"],
                                 values["username"] or None, hub.config.now_ts())
        audit(request, "org_unit.duty_set", values["org_unit"],
              before={"duty": values["duty"], "username": before},
              after={"duty": values["duty"], "username": values["username"] or None})
    flash(request, f"已更新 {tree.units[values['org_unit']].name} 的"
                   f"{DUTY_LABELS[values['duty']].split('（')[0]}", "success")
    return redirect("/admin/orgs")


@page("orgs.manage")
async def orgs_add(request: Request) -> Response:
    hub = hub_of(request)
    form = await read_form(request)
    values = {k: text_field(form, k, 200) for k in ("code", "name", "kind", "parent",
                                                    "item_prefix")}
    try:
        with hub.store.transaction():
            unit = add_unit(hub.store, hub.config.now_ts(), code=values["code"],
                            name=values["name"], kind=values["kind"],
                            parent=values["parent"] or None,
                            item_prefix=values["item_prefix"] or None)
            audit(request, "org_unit.created", unit.code, after={
                "code": unit.code, "name": unit.name, "kind": unit.kind, "parent": unit.parent,
                "item_prefix": unit.item_prefix})
    except OrgError as exc:
        return _orgs(request, values, ValidationErrors({exc.field: exc.message}), 422)
    flash(request, f"已添加 {unit.name}（{unit.code}）", "success")
    return redirect("/admin/orgs")


# --------------------------------------------------------------------------- nodes


@page("nodes.manage")
async def nodes_page(request: Request) -> Response:
    hub = hub_of(request)
    tree = OrgTree.load(hub.store)
    return show(request, "pages/nodes.html",
                {"nodes": hub.store.nodes(), "orgs": hub.store.node_org_units(), "tree": tree,
                 "units": [(u.code, "　" * d + u.name) for d, u in tree.flat()]})


@page("nodes.manage")
async def node_assign(request: Request) -> Response:
    hub = hub_of(request)
    code = request.path_params["code"]
    form = await read_form(request)
    unit = text_field(form, "org_unit", 40) or None
    if hub.store.node(code) is None:
        flash(request, f"节点 {code} 不存在", "error")
        return redirect("/admin/nodes")
    if unit is not None and hub.store.org_unit(unit) is None:
        flash(request, f"所属单位：{unit} 不存在", "error")
        return redirect("/admin/nodes")
    before = hub.store.node_org_units().get(code)
    with hub.store.transaction():
        hub.store.set_node_org_unit(code, unit)
        audit(request, "node.org_unit_set", code, before={"org_unit": before},
              after={"org_unit": unit})
    flash(request, f"节点 {code} 已归属到 {OrgTree.load(hub.store).label(unit)}", "success")
    return redirect("/admin/nodes")


def org_routes() -> list[Route]:
    limit = {"max_body_size": FORM_LIMIT}
    return [
        Route("/admin/orgs", orgs_page, methods=["GET"]),
        Route("/admin/orgs", orgs_add, methods=["POST"], **limit),
        Route("/admin/orgs/duties", orgs_duty, methods=["POST"], **limit),
        Route("/admin/nodes", nodes_page, methods=["GET"]),
        Route("/admin/nodes/{code}", node_assign, methods=["POST"], **limit),
    ]
