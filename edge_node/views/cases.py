"""Case detail (办件详情) and the actions on a case.

The page shows the case, its remaining time with the explanation of its due date, the
timeline of its events and the actions allowed now *for the user's roles* (a supervisor
sees none). Each action is a small form posted to ``/cases/{no}/act/{action}``; with htmx
the case section is swapped in place, without it the browser is redirected back (303).
Actions needing the centre head's approval (extend, void, waive, refund) are offered to
the head, who acts and approves at once.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import lifecycle
from web.errors import ValidationErrors
from web.flash import flash
from web.inputs import to_int
from web.templating import is_htmx

from ..cases import deadlines, evaluations
from ..cases import handling as cases
from ..errors import NotFound, PermissionDenied, TransitionError, ValidationError
from .common import ROLE_ORDER, WORK_ROLES, Ui, all_texts, choice, \
    deadline_marks, page, queue_window, read_form, redirect, require_case_reader, \
    require_user, text

_YUAN_RE = re.compile(r"[0-9]{1,7}(\.[0-9]{1,2})?")
PROCEDURE_LABELS = {"hearing": "听证", "tendering": "招标", "auction": "拍卖",
                    "inspection": "检验", "testing": "检测", "quarantine": "检疫",
                    "appraisal": "鉴定", "expert_review": "专家评审", "public_notice": "公示",
                    "other": "其他"}
DELIVERY_LABELS = {"window": "窗口领取", "mail": "邮寄送达", "electronic": "电子送达"}
ACTION_LABELS = {
    "resubmit": "补正材料", "complete_step": "完成环节", "decide": "审批决定",
    "extend": "延期（中心负责人批准）", "suspend": "启动特别程序", "resume": "结束特别程序",
    "complete": "办结", "deliver": "送达", "withdraw": "撤件（申请人申请）",
    "void": "作废（中心负责人）", "charge_fee": "收费", "waive_fee": "减免费用（中心负责人）",
    "refund_fee": "退费（中心负责人）",
}
EVENT_LABELS = {
    "case.received": "接件", "case.accepted": "受理", "case.refused": "不予受理",
    "case.supplement_requested": "补正告知", "case.resubmitted": "补正材料",
    "case.step_completed": "环节办理", "case.decided": "审批决定", "case.extended": "延期",
    "case.suspended": "特别程序开始", "case.resumed": "特别程序结束", "case.completed": "办结",
    "case.delivered": "送达", "case.withdrawn": "撤件", "case.voided": "作废",
    "fee.charged": "收费", "fee.waived": "减免费用", "fee.refunded": "退费",
    "deadline.recomputed": "期限重算（工作日历变更）",
    "case.forwarded": "上报（转县级办理）", "case.taken": "接收上报办件",
    "case.result_returned": "结果回传", "case.result_received": "收到回传结果",
    "application.taken": "接收网上申请", "application.handed_back": "交回网上申请（已被他处受理）",
}
FIELD_LIMITS = {"opinion": 1000, "reason": 1000, "note": 500, "result": 200, "recipient": 100,
                "receipt_no": 40, "days": 3, "amount": 12, "procedure": 30, "method": 20,
                "outcome": 20}
FIELD_MAP = {"materials": "materials", "reason": "reason", "note": "note", "opinion": "opinion",
             "outcome": "outcome", "days": "days", "procedure": "procedure",
             "method": "method", "recipient": "recipient", "result": "result",
             "receipt_no": "receipt_no", "amount_fen": "amount"}


def allowed_roles(state: dict, action: str) -> frozenset[str]:
    """The roles that may take ``action`` on the case now (lifecycle's rule book)."""
    roles = lifecycle.ACTION_ROLES.get(action)
    if roles is not None:
        return roles
    if action == "complete_step":
        step = lifecycle.next_flow_step(state)
        return frozenset({step["role"]}) if step else frozenset()
    if action == "decide":
        return frozenset({lifecycle.decision_step(state)["role"]})
    if action == "complete":
        return frozenset({lifecycle.final_step(state)["role"], "clerk"})
    return frozenset()


def acting_role(state: dict, action: str, user_roles) -> str | None:
    """The role in which the user would take ``action`` (None: none of theirs may)."""
    allowed = allowed_roles(state, action)
    if action in lifecycle.NEEDS_HEAD_APPROVAL:
        return "head" if "head" in user_roles and "head" in allowed else None
    for role in ROLE_ORDER:
        if role in user_roles and role in allowed and role in WORK_ROLES:
            return role
    return None


def actions_for(state: dict, user: dict) -> list[dict]:
    out = []
    for action in lifecycle.allowed_actions(state):
        if action not in ACTION_LABELS:
            continue
        role = acting_role(state, action, user["roles"])
        if role is None:
            continue
        label = ACTION_LABELS[action]
        if action == "complete_step":
            label = f"办理“{lifecycle.next_flow_step(state)['name']}”环节"
        elif action == "decide":
            label = f"审批决定（{lifecycle.decision_step(state)['name']}）"
        out.append({"action": action, "label": label, "role": role})
    return out


def timeline(node, case_no: str, names: dict) -> list[dict]:
    out = []
    for event in node.store.case_events(case_no):
        env = event.env
        body = env["body"]
        actor = body.get("actor") or {}
        details = []
        if env["type"] in ("case.supplement_requested",):
            missing = {m["id"]: m["name"] for m in body["materials"]}
            details.append("缺少：" + "、".join(missing.get(i, i) for i in body["missing"]))
            if body.get("note"):
                details.append("说明：" + body["note"])
        if env["type"] == "case.step_completed":
            details.append(("退回上一环节" if body["outcome"] == "return" else "通过")
                           + "：" + body["opinion"])
        if env["type"] == "case.decided":
            details.append(("批准" if body["outcome"] == "approve" else "不予批准")
                           + "：" + body["reason"])
        if env["type"] == "case.suspended":
            details.append(PROCEDURE_LABELS.get(body["procedure"], body["procedure"])
                           + "：" + body["reason"])
        if env["type"] == "case.extended":
            details.append(f"延长 {body['days']} 个工作日：{body['reason']}")
        if env["type"] == "case.delivered":
            details.append(f"{DELIVERY_LABELS.get(body['method'], body['method'])}，"
                           f"签收人 {body['recipient']}")
        if env["type"] in ("fee.charged", "fee.waived", "fee.refunded"):
            details.append(f"金额 {body['amount_fen'] / 100:.2f} 元")
        for key in ("reason", "result"):
            if body.get(key) and env["type"] not in ("case.decided", "case.suspended",
                                                     "case.extended"):
                details.append(body[key])
        deadline = body.get("deadline")
        if isinstance(deadline, dict) and deadline.get("due"):
            details.append(f"办结期限 {deadline['due']}"
                           + ("" if deadline.get("confirmed", True) else "（未确认）"))
        out.append({"seq": env["seq"], "ts": env["ts"],
                    "label": EVENT_LABELS.get(env["type"], env["type"]),
                    "actor": names.get(actor.get("id"), actor.get("id", "系统")),
                    "role": lifecycle.ROLE_LABELS.get(actor.get("role"), ""),
                    "details": details})
    return out


def receipts_for(state: dict) -> list[tuple[str, str]]:
    out = []
    if state.get("accepted_at"):
        out.append(("acceptance", "受理通知书"))
    if state.get("supplements"):
        out.append(("supplement", "补正告知书"))
    if state["state"] == "refused":
        out.append(("refusal", "不予受理决定书"))
    if state.get("completed_at"):
        out.append(("completion", "办结通知"))
    return out


def parse_yuan(value: str) -> int | None:
    """'12.5' -> 1250 fen; None if not a plain amount with at most 2 decimals."""
    if not _YUAN_RE.fullmatch(value):
        return None
    whole, _, frac = value.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    def case_context(request: Request, state: dict, user: dict, *, errors=None,
                     open_action: str | None = None, values=None, notice=None) -> dict:
        names = {u["id"]: u["name"] for u in node.store.users()}
        window = queue_window(ui)
        return {"case": state, "state_label": lifecycle.STATE_LABELS[state["state"]],
                "next_step": lifecycle.next_flow_step(state),
                "marks": deadline_marks(ui, state, window),
                "explain": deadlines.explain(node, state["case"]),
                "events": timeline(node, state["case"], names),
                "ratings": evaluations.ratings(node, state["case"]),
                "actions": actions_for(state, user) if set(user["roles"]) & set(WORK_ROLES)
                else [],
                "receipts": receipts_for(state), "names": names,
                "errors": errors or ValidationErrors(), "open_action": open_action,
                "values": values or {}, "notice": notice,
                "procedures": PROCEDURE_LABELS, "deliveries": DELIVERY_LABELS,
                "role_labels": lifecycle.ROLE_LABELS}

    async def case_detail(request: Request) -> Response:
        user = require_case_reader(ui, request)
        state = cases.get_case(node, request.path_params["case_no"][:80])
        return page(ui, request, "pages/case.html", case_context(request, state, user),
                    partial="partials/_case_main.html")

    def parse(action: str, form, state: dict, errors: ValidationErrors) -> dict:
        def t(name, label, required=False):
            return text(form, name, errors, label=label, max_len=FIELD_LIMITS[name],
                        required=required)
        if action == "resubmit":
            return {"materials": all_texts(form, "materials", errors, label="材料"),
                    "outcome": choice(form, "outcome", ("accept", "supplement", "refuse"),
                                      errors, label="补正后处理结果", default="accept"),
                    "reason": t("reason", "不予受理理由") or None,
                    "note": t("note", "补正说明") or None}
        if action == "complete_step":
            return {"opinion": t("opinion", "办理意见", True),
                    "outcome": choice(form, "outcome", ("pass", "return"), errors,
                                      label="环节结果", default="pass")}
        if action == "decide":
            return {"outcome": choice(form, "outcome", ("approve", "reject"), errors,
                                      label="审批结果"),
                    "reason": t("reason", "审批意见", True)}
        if action == "extend":
            raw = t("days", "延期天数") or str(cases.DEFAULT_EXTENSION_DAYS)
            days = to_int(raw, lo=1, hi=cases.MAX_EXTENSION_DAYS, max_digits=3)
            if days is None:
                errors.add("days", f"延期天数须为 1 至 {cases.MAX_EXTENSION_DAYS} 的整数")
            return {"days": days, "reason": t("reason", "延期理由", True)}
        if action == "suspend":
            return {"procedure": choice(form, "procedure", tuple(PROCEDURE_LABELS), errors,
                                        label="特别程序类型"),
                    "reason": t("reason", "特别程序事由", True)}
        if action == "resume":
            return {"reason": t("reason", "特别程序结果", True)}
        if action == "complete":
            return {"result": t("result", "办理结果") or None}
        if action == "deliver":
            return {"method": choice(form, "method", tuple(DELIVERY_LABELS), errors,
                                     label="送达方式", default="window"),
                    "recipient": t("recipient", "签收人", True)}
        if action in ("withdraw", "void", "waive_fee"):
            return {"reason": t("reason", "理由", True)}
        if action == "charge_fee":
            return {"receipt_no": t("receipt_no", "票据号") or None}
        if action == "refund_fee":
            raw = t("amount", "退费金额")
            amount = None
            if raw:
                amount = parse_yuan(raw)
                if amount is None:
                    errors.add("amount", "退费金额须为以元为单位的数字，最多两位小数")
            return {"reason": t("reason", "退费理由", True), "amount_fen": amount}
        raise AssertionError(action)

    def run(action: str, actor: dict, case_no: str, args: dict) -> dict:
        head = {"approver": actor} if action in lifecycle.NEEDS_HEAD_APPROVAL \
            and action != "void" else {}
        fn = getattr(cases, action)
        return fn(node, actor, case_no, **args, **head)

    async def act(request: Request) -> Response:
        user = require_user(ui, request, WORK_ROLES)
        action = request.path_params["action"]
        if action not in ACTION_LABELS:
            raise NotFound(f"no action {action}", zh="没有这种办件操作")
        form = await read_form(request)
        state = cases.get_case(node, request.path_params["case_no"][:80])
        role = acting_role(state, action, user["roles"])
        if role is None:
            raise PermissionDenied(f"{user['username']} may not {action}",
                                   zh=f"您的岗位无权进行此操作（{ACTION_LABELS[action]}）")
        errors = ValidationErrors()
        args = parse(action, form, state, errors)
        values = {k: v for k, v in form.items() if isinstance(v, str) and len(v) <= 1000}
        values["materials"] = [v for v in form.getlist("materials") if isinstance(v, str)]

        def again(status: int, notice=None) -> Response:
            context = case_context(request, state, user, errors=errors, open_action=action,
                                   values=values, notice=notice)
            return page(ui, request, "pages/case.html", context,
                        partial="partials/_case_main.html", status_code=status)

        if errors:
            return again(422)
        actor = {"id": user["id"], "role": role}
        try:
            new = run(action, actor, state["case"], args)
        except ValidationError as exc:
            errors.add(FIELD_MAP.get(exc.field, "__form__"), exc.zh)
            return again(422)
        except TransitionError as exc:
            errors.add_form(exc.zh)
            return again(409)
        message = f"{ACTION_LABELS[action].split('（')[0]}已完成"
        if is_htmx(request):
            context = case_context(request, new, user, notice=message)
            return page(ui, request, "pages/case.html", context,
                        partial="partials/_case_main.html")
        flash(request, message, "success")
        return redirect(request, f"/cases/{new['case']}")

    return [
        Route("/cases/{case_no}", case_detail, methods=["GET"]),
        Route("/cases/{case_no}/act/{action}", act, methods=["POST"]),
    ]
