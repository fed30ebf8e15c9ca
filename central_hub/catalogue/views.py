"""Catalogue screens: published items, version history and comparison, drafts and their
review, import and export (JSON, XLSX)."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.catalogue import CASE_KINDS, CHANNELS, LEVELS, ROLES, SERVES, STEP_LEVELS, TYPE_CODES
from web.errors import ValidationErrors
from web.flash import flash
from web.inputs import parse_int, to_int
from web.security import client_ip

from . import service as wf
from ..accounts.service import can, may_edit_department
from .forms import field_error, form_to_item, item_to_form
from .io import MAX_IMPORT_BYTES, export_json, export_xlsx, import_json, import_xlsx
from ..orgs.service import OrgTree
from ..web_common import FORM_LIMIT, account_of, audit, hub_of, page, read_form, redirect, show, text_field


def _codes() -> dict:
    return {"types": dict(TYPE_CODES), "levels": dict(LEVELS), "kinds": dict(CASE_KINDS),
            "serves": dict(SERVES), "channels": dict(CHANNELS), "roles": dict(ROLES),
            "step_levels": dict(STEP_LEVELS), "natures": ["法定机关", "授权组织", "受委托组织"]}


def _not_found(request: Request, what: str) -> Response:
    return show(request, "pages/message.html", {"title": "未找到", "message": what},
                status_code=404)


@page("catalogue.view")
async def catalogue_page(request: Request) -> Response:
    hub = hub_of(request)
    account = account_of(request)
    tree = OrgTree.load(hub.store)
    department = request.query_params.get("department") or None
    items = hub.store.catalogue_items(department=department)
    open_drafts = {d.code: d for d in hub.store.drafts(states=wf.OPEN_STATES)}
    return show(request, "pages/catalogue.html",
                {"items": items, "tree": tree, "department": department or "",
                 "departments": [(u.code, u.name) for u in tree.units.values()
                                 if u.item_prefix],
                 "open_drafts": open_drafts, "may_draft": can(account, "catalogue.draft"),
                 "may_import": can(account, "catalogue.import"),
                 "document": wf.published_document(hub.store), "codes": _codes()})


@page("catalogue.view")
async def item_page(request: Request) -> Response:
    hub = hub_of(request)
    code = request.path_params["code"]
    record = hub.store.catalogue_item(code)
    if record is None:
        return _not_found(request, f"没有事项 {code}")
    versions = hub.store.item_versions(code)
    by_number = {v.item_version: v for v in versions}
    q = request.query_params
    a = by_number.get(parse_int(q.get("a"), "a", "比较版本", max_digits=9))
    b = by_number.get(parse_int(q.get("b"), "b", "比较版本", max_digits=9))
    if a is None and b is None and len(versions) > 1:
        a, b = versions[-2], versions[-1]
    diff = wf.diff_items(a.content, b.content) if a and b else None
    account = account_of(request)
    return show(request, "pages/item.html",
                {"item": record, "versions": versions, "a": a, "b": b, "diff": diff,
                 "tree": OrgTree.load(hub.store), "codes": _codes(),
                 "open_drafts": hub.store.drafts(states=wf.OPEN_STATES, code=code),
                 "may_edit": can(account, "catalogue.draft")
                 and may_edit_department(hub.store, account, record.department)})


# --------------------------------------------------------------------------- drafts


@page("catalogue.view")
async def drafts_page(request: Request) -> Response:
    hub = hub_of(request)
    account = account_of(request)
    state = request.query_params.get("state") or None
    states = [state] if state in wf.STATE_LABELS else None
    drafts = hub.store.drafts(states=states, limit=300)
    queues = [(s, label) for s, (cap, label, _) in wf.STAGES.items() if can(account, cap)]
    return show(request, "pages/drafts.html",
                {"drafts": drafts, "labels": wf.STATE_LABELS, "state": state or "",
                 "queues": queues, "tree": OrgTree.load(hub.store),
                 "actions": wf.ACTION_LABELS})


def _draft_form(request: Request, *, draft=None, code: str = "", values: dict,
                errors: ValidationErrors, status_code: int = 200) -> Response:
    return show(request, "pages/draft_form.html",
                {"draft": draft, "code": code, "values": values, "errors": errors,
                 "codes": _codes()}, status_code=status_code)


@page("catalogue.draft")
async def draft_new(request: Request) -> Response:
    hub = hub_of(request)
    code = (request.query_params.get("code") or "").strip()[:24]
    record = hub.store.catalogue_item(code) if code else None
    values = item_to_form(record.content if record else None)
    if code and record is None:
        values["code"] = code
    return _draft_form(request, code=code, values=values, errors=ValidationErrors())


def _item_from(form) -> tuple[dict, ValidationErrors, dict]:
    values = {k: text_field(form, k) for k in form.keys() if k != "csrf_token"}
    item, errors = form_to_item(values)
    return item, errors, values


@page("catalogue.draft")
async def draft_create(request: Request) -> Response:
    hub = hub_of(request)
    form = await read_form(request)
    item, errors, values = _item_from(form)
    code = values.get("code", "").strip()
    if errors:
        return _draft_form(request, code=code, values=values, errors=errors, status_code=422)
    try:
        draft = wf.start_draft(hub.store, account_of(request), hub.config.now_ts(), code=code,
                               content=item, note=text_field(form, "note", 2000),
                               ip=client_ip(request))
    except wf.CatalogueWorkflowError as exc:
        field, message = field_error(exc.field, exc.message)
        return _draft_form(request, code=code, values=values,
                           errors=ValidationErrors({field: message}), status_code=exc.status)
    flash(request, f"已保存事项 {code} 的草稿，请核对后提交审查", "success")
    return redirect(f"/catalogue/drafts/{draft.id}")


def _draft_id(request: Request) -> int | None:
    text = request.path_params["draft_id"]
    return to_int(text, max_digits=11)


def _draft_page(request: Request, draft_id: int | None, *, errors: ValidationErrors | None = None,
                values: dict | None = None, status_code: int = 200) -> Response:
    hub = hub_of(request)
    draft = hub.store.draft(draft_id) if draft_id is not None else None
    if draft is None:
        return _not_found(request, "草稿不存在")
    account = account_of(request)
    current = hub.store.catalogue_item(draft.code)
    stage = wf.STAGES.get(draft.state)
    editable = draft.state in wf.EDITABLE_STATES and can(account, "catalogue.draft") \
        and may_edit_department(hub.store, account, draft.department)
    return show(request, "pages/draft.html",
                {"draft": draft, "labels": wf.STATE_LABELS, "actions": wf.ACTION_LABELS,
                 "reviews": hub.store.reviews(draft.id), "current": current,
                 "diff": wf.diff_items(current.content if current else None, draft.content),
                 "stage": stage, "may_review": stage is not None and can(account, stage[0]),
                 "editable": editable, "tree": OrgTree.load(hub.store),
                 "values": values or item_to_form(draft.content),
                 "errors": errors or ValidationErrors(), "codes": _codes()},
                status_code=status_code)


@page("catalogue.view")
async def draft_page(request: Request) -> Response:
    return _draft_page(request, _draft_id(request))


async def _draft_action(request: Request, action) -> Response:
    hub = hub_of(request)
    draft_id = _draft_id(request)
    form = await read_form(request)
    if draft_id is None or hub.store.draft(draft_id) is None:
        return _not_found(request, "草稿不存在")
    try:
        message = action(hub, form, draft_id)
    except wf.CatalogueWorkflowError as exc:
        field, text = field_error(exc.field, exc.message)
        values = None
        if field not in ("opinion", "decision", ValidationErrors.FORM):
            values = {k: text_field(form, k) for k in form.keys()}
        return _draft_page(request, draft_id, errors=ValidationErrors({field: text}),
                           values=values, status_code=exc.status)
    flash(request, message, "success")
    return redirect(f"/catalogue/drafts/{draft_id}")


@page("catalogue.draft")
async def draft_save(request: Request) -> Response:
    def save(hub, form, draft_id):
        draft = hub.store.draft(draft_id)
        content = None
        if draft.action == "upsert":
            content, errors, _ = _item_from(form)
            if errors:
                field, message = next(iter(errors.items()))
                raise wf.CatalogueWorkflowError(message, field=field)
        wf.save_draft(hub.store, account_of(request), hub.config.now_ts(), draft_id,
                      content=content, note=text_field(form, "note", 2000),
                      ip=client_ip(request))
        return "草稿已保存"
    return await _draft_action(request, save)


@page("catalogue.draft")
async def draft_submit(request: Request) -> Response:
    def submit(hub, form, draft_id):
        wf.submit_draft(hub.store, account_of(request), hub.config.now_ts(), draft_id,
                        ip=client_ip(request))
        return "已提交法制审查"
    return await _draft_action(request, submit)


@page("catalogue.draft")
async def draft_abandon(request: Request) -> Response:
    def abandon(hub, form, draft_id):
        wf.abandon_draft(hub.store, account_of(request), hub.config.now_ts(), draft_id,
                         ip=client_ip(request))
        return "草稿已放弃"
    return await _draft_action(request, abandon)


@page("catalogue.view")
async def draft_review(request: Request) -> Response:
    def review(hub, form, draft_id):
        draft = wf.review_draft(hub.store, hub.identity, hub.config, account_of(request),
                                draft_id, text_field(form, "decision", 20),
                                text_field(form, "opinion", 5000), ip=client_ip(request))
        if draft.state == "published":
            return f"已审批并发布：目录第 {draft.catalogue_version} 版，节点下次同步时生效"
        return "已退回起草人" if draft.state == "returned" else \
            f"审查通过，转入“{wf.STATE_LABELS[draft.state]}”"
    return await _draft_action(request, review)


@page("catalogue.draft")
async def item_withdraw(request: Request) -> Response:
    hub = hub_of(request)
    code = request.path_params["code"]
    form = await read_form(request)
    try:
        draft = wf.start_draft(hub.store, account_of(request), hub.config.now_ts(), code=code,
                               content=None, action="withdraw",
                               note=text_field(form, "note", 2000), ip=client_ip(request))
    except wf.CatalogueWorkflowError as exc:
        flash(request, exc.message, "error")
        return redirect(f"/catalogue/items/{code}")
    flash(request, f"已起草取消事项 {code}，请提交审查", "success")
    return redirect(f"/catalogue/drafts/{draft.id}")


# --------------------------------------------------------------------------- import, export


@page("catalogue.view")
async def export_catalogue(request: Request) -> Response:
    hub = hub_of(request)
    fmt = "json" if request.url.path.endswith(".json") else "xlsx"
    document = wf.published_document(hub.store) or {"version": 0, "published_at": "",
                                                    "items": []}
    audit(request, "catalogue.exported", f"v{document['version']}", {"format": fmt})
    name = f"catalogue-v{document['version']}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "json":
        return Response(export_json(document), media_type="application/json", headers=headers)
    return Response(export_xlsx(document), headers=headers, media_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))


@page("catalogue.import")
async def import_page(request: Request) -> Response:
    return show(request, "pages/import.html", {"errors": [], "created": None})


@page("catalogue.import")
async def import_catalogue(request: Request) -> Response:
    form = await read_form(request)
    try:
        return await _import(request, form)
    finally:
        await form.close()


async def _import(request: Request, form) -> Response:
    hub = hub_of(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return show(request, "pages/import.html",
                    {"errors": ["文件：请选择要导入的 JSON 或 XLSX 文件"], "created": None},
                    status_code=422)
    data = await upload.read(MAX_IMPORT_BYTES + 1)
    name = upload.filename.lower()
    if name.endswith(".json"):
        result = import_json(data)
    elif name.endswith(".xlsx"):
        result = import_xlsx(data)
    else:
        result = None
    if result is None or result.errors:
        errors = result.errors if result else ["文件：只能导入 .json 或 .xlsx 文件"]
        return show(request, "pages/import.html", {"errors": errors[:200], "created": None},
                    status_code=422)
    account = account_of(request)
    now = hub.config.now_ts()
    created, problems = [], []
    with hub.store.transaction():
        for item in result.items:
            current = hub.store.catalogue_item(item["code"])
            if current is not None and not current.withdrawn and current.content == item:
                continue
            if hub.store.drafts(states=wf.OPEN_STATES, code=item["code"]):
                problems.append(f"事项 {item['code']}：已有未完成的草稿，本次未导入")
                continue
            draft = wf.start_draft(hub.store, account, now, code=item["code"], content=item,
                                   note=f"由文件 {upload.filename[:100]} 导入",
                                   ip=client_ip(request))
            created.append(draft)
        audit(request, "catalogue.imported", upload.filename[:100],
              {"items": len(result.items), "drafts": [d.id for d in created]})
    return show(request, "pages/import.html", {"errors": problems, "created": created})


def catalogue_routes() -> list[Route]:
    limit = {"max_body_size": FORM_LIMIT}
    return [
        Route("/catalogue", catalogue_page, methods=["GET"]),
        Route("/catalogue/export.json", export_catalogue, methods=["GET"]),
        Route("/catalogue/export.xlsx", export_catalogue, methods=["GET"]),
        Route("/catalogue/import", import_page, methods=["GET"]),
        Route("/catalogue/import", import_catalogue, methods=["POST"],
              max_body_size=MAX_IMPORT_BYTES + 64 * 1024),
        Route("/catalogue/items/{code}", item_page, methods=["GET"]),
        Route("/catalogue/items/{code}/withdraw", item_withdraw, methods=["POST"], **limit),
        Route("/catalogue/drafts", drafts_page, methods=["GET"]),
        Route("/catalogue/drafts", draft_create, methods=["POST"], **limit),
        Route("/catalogue/drafts/new", draft_new, methods=["GET"]),
        Route("/catalogue/drafts/{draft_id}", draft_page, methods=["GET"]),
        Route("/catalogue/drafts/{draft_id}", draft_save, methods=["POST"], **limit),
        Route("/catalogue/drafts/{draft_id}/submit", draft_submit, methods=["POST"], **limit),
        Route("/catalogue/drafts/{draft_id}/review", draft_review, methods=["POST"], **limit),
        Route("/catalogue/drafts/{draft_id}/abandon", draft_abandon, methods=["POST"], **limit),
    ]
