"""Intake (接件/受理): choose the item by search, tick its materials checklist, enter the
applicant, then accept, ask for a supplement (one notice listing everything missing) or
refuse. Inline validation posts one field to ``/intake/check`` (htmx, on change); the full
form is validated again on the server when submitted, with each message beside its field.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.catalogue import fee_fen
from web.errors import ValidationErrors
from web.flash import flash

from ..accounts import users
from ..cases import applicants
from ..cases import catalogue as node_catalogue
from ..cases import handling as cases
from ..errors import NotFound, ValidationError
from .common import Ui, all_texts, page, read_form, redirect, require_user, text

OUTCOME_LABELS = {"accept": "受理", "supplement": "出具补正告知书", "refuse": "不予受理"}
FIELD_MAP = {"applicant": "name", "applicant.name": "name", "applicant.kind": "kind",
             "applicant.id_type": "id_type", "applicant.id_no": "id_no",
             "applicant.phone": "phone", "materials": "materials", "outcome": "outcome",
             "reason": "reason", "note": "note", "channel": "outcome"}
LIMITS = {"item": 40, "kind": 20, "name": 100, "id_type": 30, "id_no": 40, "phone": 20,
          "reason": 500, "note": 500, "q": 100}
CHECKABLE = ("name", "id_no", "phone")


def add_domain_error(errors: ValidationErrors, exc: ValidationError, field_map: dict) -> None:
    errors.add(field_map.get(exc.field, exc.field.split(".")[-1]), exc.zh)


def item_summary(item: dict) -> dict:
    return {"code": item["code"], "name": item["name"], "body": item["body"]["name"],
            "fee_fen": fee_fen(item), "fee_basis": item["fee"]["basis"],
            "committed_days": item["committed_half_days"] / 2,
            "statutory_days": item["statutory_half_days"] / 2,
            "materials": item["materials"], "flow": item["flow"],
            "conditions": item.get("conditions", "")}


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    def search_items(q: str) -> list[dict]:
        catalogue = node_catalogue.current_catalogue(node)
        return [item_summary(it) for it in catalogue.search(q[:LIMITS["q"]])][:50]

    def intake_page(request: Request, values: dict, errors: ValidationErrors,
                    status_code: int = 200) -> Response:
        code = values.get("item") or ""
        item = None
        if code:
            found = node_catalogue.current_catalogue(node).by_code(code)
            if found is None:
                errors.add("item", f"事项目录中没有编码为“{code[:40]}”的事项，请重新选择")
            else:
                item = item_summary(found)
        q = values.get("q", "")
        context = {"values": values, "errors": errors, "item": item, "q": q,
                   "results": search_items(q) if item is None else [],
                   "id_types": list(applicants.ID_TYPES.items()),
                   "kinds": list(applicants.KINDS.items()), "outcomes": OUTCOME_LABELS}
        return page(ui, request, "pages/intake.html", context, status_code=status_code)

    async def intake_form(request: Request) -> Response:
        require_user(ui, request, ("clerk",))
        q = request.query_params.get("q", "")[:LIMITS["q"]]
        values = {"item": request.query_params.get("item", "")[:LIMITS["item"]], "q": q,
                  "materials": []}
        return intake_page(request, values, ValidationErrors())

    async def item_results(request: Request) -> Response:
        require_user(ui, request, ("clerk",))
        q = request.query_params.get("q", "")[:LIMITS["q"]]
        return page(ui, request, "partials/_item_results.html",
                    {"results": search_items(q), "q": q})

    async def intake_submit(request: Request) -> Response:
        user = require_user(ui, request, ("clerk",))
        form = await read_form(request)
        errors = ValidationErrors()
        values = {name: text(form, name, errors, label=label, max_len=LIMITS[name])
                  for name, label in (("item", "事项"), ("kind", "申请人类型"),
                                      ("name", "申请人姓名或名称"), ("id_type", "证件类型"),
                                      ("id_no", "证件号码"), ("phone", "联系电话"),
                                      ("reason", "不予受理理由"), ("note", "补正说明"))}
        values["materials"] = all_texts(form, "materials", errors, label="材料")
        values["outcome"] = text(form, "outcome", errors, label="受理结果", max_len=20) \
            or "accept"
        if not values["item"]:
            errors.add("item", "请先选择办理事项")
        if errors:
            return intake_page(request, values, errors, 422)
        actor = users.actor_for(user, "clerk")
        applicant = {"kind": values["kind"] or "person", "name": values["name"],
                     "id_type": values["id_type"] or None, "id_no": values["id_no"],
                     "phone": values["phone"] or None}
        try:
            state = cases.intake(node, actor, item_code=values["item"], applicant=applicant,
                                 materials=values["materials"], outcome=values["outcome"],
                                 reason=values["reason"] or None, note=values["note"] or None)
        except NotFound:            # an unknown item code: intake_page says so by the field
            return intake_page(request, values, errors, 422)
        except ValidationError as exc:
            add_domain_error(errors, exc, FIELD_MAP)
            return intake_page(request, values, errors, 422)
        done = {"accepted": "已受理", "supplement_requested": "已出具补正告知",
                "refused": "已作出不予受理决定"}.get(state["state"], "已接件")
        flash(request, f"{done}，办件编号 {state['case']}，查询码 {state['query_code']}",
              "success")
        return redirect(request, f"/cases/{state['case']}")

    async def check_field(request: Request) -> Response:
        """Inline validation of one applicant field (htmx): the message, or nothing."""
        require_user(ui, request, ("clerk",))
        form = await read_form(request)
        errors = ValidationErrors()
        field = text(form, "field", errors, label="字段", max_len=20)
        if field not in CHECKABLE:
            errors.add("field", "无法校验该字段")
            return page(ui, request, "partials/_field_check.html",
                        {"field": "field", "errors": errors})
        value = text(form, field, errors, label="该项", max_len=LIMITS[field])
        if not errors:
            raw = {"kind": text(form, "kind")[:20] or "person",
                   "id_type": text(form, "id_type")[:30] or None,
                   "name": "待校验", "id_no": "X" * 8}
            if field == "name":
                raw["name"] = value
            elif field == "id_no":
                raw["id_no"] = value
            else:
                raw["phone"] = value
            try:
                if field == "id_no" and raw["id_type"] not in (None, *applicants.ID_TYPES):
                    raw["id_type"] = None
                if field != "id_no":
                    raw["id_type"], raw["id_no"] = "other", "CHECK0000"
                applicants.validate_applicant(raw)
            except ValidationError as exc:
                if FIELD_MAP.get(exc.field) == field:
                    errors.add(field, exc.zh)
        # 200 either way: a check is not a submission (htmx swaps it without an error)
        return page(ui, request, "partials/_field_check.html",
                    {"field": field, "errors": errors})

    return [
        Route("/intake", intake_form, methods=["GET"]),
        Route("/intake", intake_submit, methods=["POST"]),
        Route("/intake/items", item_results, methods=["GET"]),
        Route("/intake/check", check_field, methods=["POST"]),
    ]
