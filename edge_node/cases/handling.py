"""Case handling (办件) as domain functions: the web app, the CLI and the simulator call these.

Every function takes the :class:`~edge_node.node.Node` and the ``actor`` (``{"id",
"role"}``: the signed-in user and the role they act in), checks the action against the
case's state with ``protocol.lifecycle.check_transition``, then writes the event and the
projection it changes in ONE SQLite transaction. A refused action raises before anything
is written. All functions return the case's new state (the projection dict).

No function here touches the network.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable, Mapping

from protocol import lifecycle
from protocol.calendar import shanghai_date
from protocol.catalogue import fee_fen
from protocol.envelope import format_ts

from ..accounts import users
from ..errors import NotFound, TransitionError, ValidationError
from . import catalogue as node_catalogue
from . import numbering
from .applicants import validate_applicant

OUTCOMES = ("accept", "refuse", "supplement")
PROCEDURES = ("hearing", "tendering", "auction", "inspection", "testing", "quarantine",
              "appraisal", "expert_review", "public_notice", "other")
DELIVERY_METHODS = ("window", "mail", "electronic")
MAX_EXTENSION_DAYS = 15   # art. 42: 10 working days; joint/centralised handling 15
DEFAULT_EXTENSION_DAYS = 10


# --------------------------------------------------------------------------- helpers


def _actor(actor: Mapping) -> dict:
    return {"id": actor["id"], "role": actor["role"]}


def _reason(text, field: str = "reason", label: str = "理由", max_len: int = 500) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(field, "required", f"请填写{label}")
    text = text.strip()
    if len(text) > max_len:
        raise ValidationError(field, "max_length", f"{label}不能超过 {max_len} 个字")
    return text


def _raise_transition(exc: lifecycle.TransitionError):
    raise TransitionError(str(exc), zh=exc.zh, action=exc.action) from None


def _check(state, action: str, actor: Mapping, body: Mapping) -> None:
    try:
        lifecycle.check_transition(state, action, actor, body)
    except lifecycle.TransitionError as exc:
        _raise_transition(exc)


def _load(node, case_no: str) -> dict:
    state = node.store.case(case_no)
    if state is None:
        raise NotFound(f"no case {case_no}", zh=f"办件 {case_no} 不存在")
    return state


def _write(node, state: dict | None, action: str, case_no: str, body: dict,
           moment: datetime) -> dict:
    """Append the action's event and save the projection (caller holds the transaction)."""
    event = node.store.append_event(lifecycle.ACTION_EVENTS[action], case_no, body, at=moment)
    new = lifecycle.apply(state, event.env)
    node.store.save_case(new)
    return new


def _deadline_after(node, state: dict, type_: str, body: dict, moment: datetime) -> dict:
    """The deadline the case will have once the event (without its deadline) is applied."""
    provisional = lifecycle.apply(state, {"type": type_, "case": state["case"],
                                          "ts": format_ts(moment), "seq": 0,
                                          "body": {**body, "deadline": None}})
    deadline = lifecycle.case_deadline(provisional, node.store.calendar())
    return lifecycle.deadline_summary(deadline)


def _act(node, actor: Mapping, case_no: str, action: str,
         build: Callable[[dict, datetime], dict], *,
         approver: Mapping | None = None) -> dict:
    """Load, check, write: the shape of every action on an existing case."""
    users.require_role(node, actor, None)
    if approver is not None:
        users.require_role(node, approver, None)
    moment = node.now()
    with node.store.transaction():
        state = _load(node, case_no)
        body = build(state, moment)
        _check(state, action, actor, body)
        return _write(node, state, action, case_no, body, moment)


def materials_checklist(item: Mapping, present: Mapping[str, bool] | Iterable[str]) -> list[dict]:
    """The item's materials, each marked present or missing.

    ``present``: ``{material_id: bool}`` or an iterable of the ids that are present.
    Unknown ids are refused.
    """
    known = {m["id"] for m in item["materials"]}
    if isinstance(present, Mapping):
        given = {k for k, v in present.items() if v}
        named = set(present)
    else:
        given = set(present)
        named = given
    unknown = sorted(named - known)
    if unknown:
        raise ValidationError("materials", "unknown",
                              f"材料“{unknown[0]}”不在该事项的材料清单中")
    return [{"id": m["id"], "name": m["name"], "required": m["required"],
             "present": m["id"] in given} for m in item["materials"]]


def _missing(checklist: list[dict]) -> list[dict]:
    return [m for m in checklist if m["required"] and not m["present"]]


def _outcome(node, state: dict, actor: dict, checklist: list[dict], outcome: str,
             reason: str | None, note: str | None, moment: datetime) -> dict:
    """Write the clerk's decision on a received case: accept, refuse or supplement."""
    case_no = state["case"]
    if outcome == "accept":
        missing = _missing(checklist)
        if missing:
            names = "、".join(m["name"] for m in missing)
            raise ValidationError("materials", "required_missing",
                                  f"必备材料不齐（缺：{names}），不能受理；请出具一次性补正告知")
        body = {"actor": actor, "materials": checklist}
        body["deadline"] = _deadline_after(node, state, "case.accepted", body, moment)
        action = "accept"
    elif outcome == "refuse":
        body = {"actor": actor, "reason": _reason(reason, label="不予受理理由")}
        action = "refuse"
    elif outcome == "supplement":
        missing = _missing(checklist)
        if not missing:
            raise ValidationError("materials", "nothing_missing",
                                  "必备材料已齐全，无需补正，请直接受理")
        body = {"actor": actor, "materials": checklist, "missing": [m["id"] for m in missing]}
        if note:
            body["note"] = _reason(note, "note", "补正说明")
        action = "request_supplement"
    else:
        raise ValidationError("outcome", "choice", "受理结果须为受理、不予受理或补正告知")
    _check(state, action, actor, body)
    return _write(node, state, action, case_no, body, moment)


# --------------------------------------------------------------------------- intake


def intake(node, actor: Mapping, *, item_code: str, applicant: Mapping,
           materials: Mapping[str, bool] | Iterable[str], outcome: str,
           reason: str | None = None, note: str | None = None,
           channel: str = "window") -> dict:
    """Receive an application (接件) and record the clerk's outcome in one transaction.

    ``outcome``: ``accept`` (all required materials present; the processing clock starts),
    ``refuse`` (with ``reason``) or ``supplement`` (one notice listing every missing
    required material; the clock does not run until a resubmission is accepted).
    Returns the new case (its ``case`` number and ``query_code`` among the fields).
    """
    actor = _actor(actor)
    users.require_role(node, actor, None)
    item = node_catalogue.item(node, item_code)
    checked_applicant = validate_applicant(dict(applicant))
    checklist = materials_checklist(item, materials)
    if channel not in ("window", "online", "mail"):
        raise ValidationError("channel", "choice", "办理渠道不正确")
    if outcome not in OUTCOMES:
        raise ValidationError("outcome", "choice", "受理结果须为受理、不予受理或补正告知")
    catalogue = node_catalogue.current_catalogue(node)
    body = {
        "actor": actor, "channel": channel,
        "item": {"code": item["code"], "name": item["name"], "type_code": item["type_code"]},
        "catalogue_version": catalogue.version,
        "applicant": checked_applicant, "materials": checklist,
        "fee_standard_fen": fee_fen(item),
        "committed_half_days": item["committed_half_days"],
        "statutory_half_days": item["statutory_half_days"],
        "flow": [{"id": s["id"], "name": s["name"], "role": s["role"]} for s in item["flow"]],
        "separate_accept_approve": item["separate_accept_approve"],
        "query_code": numbering.new_query_code(),
    }
    _check(None, "receive", actor, body)
    moment = node.now()
    with node.store.transaction():
        case_no = numbering.next_case_number(node.store, node.code, shanghai_date(moment))
        state = _write(node, None, "receive", case_no, body, moment)
        return _outcome(node, state, actor, checklist, outcome, reason, note, moment)


def resubmit(node, actor: Mapping, case_no: str, *,
             materials: Mapping[str, bool] | Iterable[str], outcome: str,
             reason: str | None = None, note: str | None = None) -> dict:
    """The applicant brings the missing materials (补正): record them and the outcome."""
    actor = _actor(actor)
    users.require_role(node, actor, None)
    moment = node.now()
    with node.store.transaction():
        state = _load(node, case_no)
        _check(state, "resubmit", actor, {})
        item = {"materials": [{"id": m["id"], "name": m["name"], "required": m["required"]}
                              for m in state["materials"]]}
        checklist = materials_checklist(item, materials)
        state = _write(node, state, "resubmit", case_no,
                       {"actor": actor, "materials": checklist}, moment)
        return _outcome(node, state, actor, checklist, outcome, reason, note, moment)


# --------------------------------------------------------------------------- handling


def complete_step(node, actor: Mapping, case_no: str, *, opinion: str,
                  outcome: str = "pass", step: str | None = None) -> dict:
    """Complete the case's next flow step (承办, 审核, 制证 …) with an opinion.

    ``outcome="return"`` sends the case back to the previous step.
    """
    actor = _actor(actor)
    if outcome not in ("pass", "return"):
        raise ValidationError("outcome", "choice", "环节结果须为通过或退回")
    opinion = _reason(opinion, "opinion", "办理意见", 1000)

    def build(state, moment):
        nxt = lifecycle.next_flow_step(state)
        return {"actor": actor, "step": step or (nxt["id"] if nxt else "none"),
                "outcome": outcome, "opinion": opinion}
    return _act(node, actor, case_no, "complete_step", build)


def decide(node, actor: Mapping, case_no: str, *, outcome: str, reason: str) -> dict:
    """The decision (批准 approve / 不予批准 reject), with its reason, at the decision step."""
    actor = _actor(actor)
    if outcome not in ("approve", "reject"):
        raise ValidationError("outcome", "choice", "审批结果须为批准或不予批准")
    reason = _reason(reason, label="审批意见" if outcome == "approve" else "不予批准理由",
                     max_len=1000)

    def build(state, moment):
        return {"actor": actor, "step": lifecycle.decision_step(state)["id"],
                "outcome": outcome, "reason": reason}
    return _act(node, actor, case_no, "decide", build)


def extend(node, actor: Mapping, case_no: str, *, approver: Mapping, reason: str,
           days: int = DEFAULT_EXTENSION_DAYS) -> dict:
    """Extend the time limit once, with the centre head's approval (art. 42)."""
    actor, approver = _actor(actor), _actor(approver)
    if type(days) is not int or not 1 <= days <= MAX_EXTENSION_DAYS:
        raise ValidationError("days", "range", f"延期天数须为 1 至 {MAX_EXTENSION_DAYS} 个工作日")
    reason = _reason(reason, label="延期理由")

    def build(state, moment):
        body = {"actor": actor, "approver": approver, "days": days, "reason": reason}
        body["deadline"] = _deadline_after(node, state, "case.extended", body, moment)
        return body
    return _act(node, actor, case_no, "extend", build, approver=approver)


def suspend(node, actor: Mapping, case_no: str, *, procedure: str, reason: str) -> dict:
    """Start a special procedure (特别程序: hearing, expert review, …); the clock pauses
    (art. 45)."""
    actor = _actor(actor)
    if procedure not in PROCEDURES:
        raise ValidationError("procedure", "choice", "特别程序类型不正确")
    reason = _reason(reason, label="特别程序事由")

    def build(state, moment):
        body = {"actor": actor, "reason": reason, "procedure": procedure}
        body["deadline"] = _deadline_after(node, state, "case.suspended", body, moment)
        return body
    return _act(node, actor, case_no, "suspend", build)


def resume(node, actor: Mapping, case_no: str, *, reason: str) -> dict:
    """End the special procedure; the clock runs again."""
    actor = _actor(actor)
    reason = _reason(reason, label="特别程序结果")

    def build(state, moment):
        body = {"actor": actor, "reason": reason}
        body["deadline"] = _deadline_after(node, state, "case.resumed", body, moment)
        return body
    return _act(node, actor, case_no, "resume", build)


def complete(node, actor: Mapping, case_no: str, *, result: str | None = None) -> dict:
    """Completion (办结) after the decision and the steps that follow it."""
    actor = _actor(actor)

    def build(state, moment):
        body = {"actor": actor}
        if result:
            body["result"] = _reason(result, "result", "办理结果", 200)
        return body
    return _act(node, actor, case_no, "complete", build)


def deliver(node, actor: Mapping, case_no: str, *, method: str = "window",
            recipient: str) -> dict:
    """Delivery (送达) of the result to the applicant."""
    actor = _actor(actor)
    if method not in DELIVERY_METHODS:
        raise ValidationError("method", "choice", "送达方式须为窗口领取、邮寄或电子送达")
    recipient = _reason(recipient, "recipient", "签收人", 100)
    return _act(node, actor, case_no, "deliver",
                lambda state, moment: {"actor": actor, "method": method,
                                       "recipient": recipient})


def withdraw(node, actor: Mapping, case_no: str, *, reason: str) -> dict:
    """Withdrawal (撤件) at the applicant's request, recorded by the clerk."""
    actor = _actor(actor)
    reason = _reason(reason, label="撤件理由")
    return _act(node, actor, case_no, "withdraw",
                lambda state, moment: {"actor": actor, "reason": reason})


def void(node, actor: Mapping, case_no: str, *, reason: str) -> dict:
    """Voiding (作废) by the centre head, with a reason."""
    actor = _actor(actor)
    reason = _reason(reason, label="作废理由")
    return _act(node, actor, case_no, "void",
                lambda state, moment: {"actor": actor, "approver": actor, "reason": reason})


# --------------------------------------------------------------------------- fees


def charge_fee(node, actor: Mapping, case_no: str, *, amount_fen: int | None = None,
               approver: Mapping | None = None, receipt_no: str | None = None) -> dict:
    """Charge the fee (fen). At the catalogue standard the clerk approves it; below the
    standard the centre head must approve. Free items cannot be charged."""
    actor = _actor(actor)
    approver = _actor(approver) if approver is not None else None

    def build(state, moment):
        amount = state["fee_standard_fen"] if amount_fen is None else amount_fen
        if type(amount) is not int:
            raise ValidationError("amount_fen", "integer", "收费金额须以分为单位的整数")
        body = {"actor": actor, "approver": approver or actor, "amount_fen": amount,
                "standard_fen": state["fee_standard_fen"]}
        if receipt_no:
            body["receipt_no"] = _reason(receipt_no, "receipt_no", "票据号", 40)
        return body
    return _act(node, actor, case_no, "charge_fee", build, approver=approver)


def waive_fee(node, actor: Mapping, case_no: str, *, approver: Mapping, reason: str) -> dict:
    """Waive the fee (减免) with the centre head's approval."""
    actor, approver = _actor(actor), _actor(approver)
    reason = _reason(reason, label="减免理由")
    return _act(node, actor, case_no, "waive_fee",
                lambda state, moment: {"actor": actor, "approver": approver,
                                       "amount_fen": state["fee_standard_fen"],
                                       "standard_fen": state["fee_standard_fen"],
                                       "reason": reason},
                approver=approver)


def refund_fee(node, actor: Mapping, case_no: str, *, approver: Mapping, reason: str,
               amount_fen: int | None = None) -> dict:
    """Refund (退费) all or part of the fee charged, with the centre head's approval."""
    actor, approver = _actor(actor), _actor(approver)
    reason = _reason(reason, label="退费理由")

    def build(state, moment):
        fee = state["fee"]
        amount = fee["charged_fen"] - fee["refunded_fen"] if amount_fen is None else amount_fen
        if type(amount) is not int:
            raise ValidationError("amount_fen", "integer", "退费金额须以分为单位的整数")
        return {"actor": actor, "approver": approver, "amount_fen": amount, "reason": reason}
    return _act(node, actor, case_no, "refund_fee", build, approver=approver)


# --------------------------------------------------------------------------- queries


def get_case(node, case_no: str) -> dict:
    return _load(node, case_no)


def allowed_actions(node, case_no: str) -> tuple[str, ...]:
    return lifecycle.allowed_actions(_load(node, case_no))
