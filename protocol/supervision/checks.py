"""The checks that do not depend on the date (content, integrity, flow legality,
completeness, fees, reasons, voiding): module-level functions, each registered in
:data:`STATIC_CHECKS` with the ids of the rules it raises.

Every check takes ``(out, facts, item, rules, flow, context)``: the
:class:`~.findings.Collector` it adds findings to, the case's :class:`~.facts.CaseFacts`,
the catalogue item (any value; a malformed one reads as empty), the
:class:`~.rules.RuleSet`, the case's :class:`~.support.CaseFlow` and the
:class:`~.findings.EvalContext`. A check only adds findings; it returns nothing.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping

from ..lifecycle import ACTION_ROLES, EVENT_ACTIONS, MAX_EXTENSIONS
from .facts import CaseFacts, EventRef, StepRecord
from .findings import Check, Collector, EvalContext
from .rules import RuleSet
from .support import (MAX_LIST, ROLE_ZH, CaseFlow, approved, case_label, item_map, iso,
                      no_reason, role_of, step_name, who, yuan)

__all__ = ["STATIC_CHECKS", "check_completeness", "check_content", "check_extensions",
           "check_fees", "check_integrity", "check_no_review", "check_order",
           "check_outside", "check_reasons", "check_roles", "check_separation",
           "check_suspensions", "check_voided"]

_REVIEW_ROLES = frozenset({"reviewer", "approver", "head"})
_APPROVE_ROLES = frozenset({"approver", "head"})
_PROCEDURES = frozenset({"hearing", "tendering", "auction", "inspection", "testing",
                         "quarantine", "appraisal", "expert_review", "public_notice", "other"})
_HANDLING_TYPES = ("case.step_completed", "case.decided", "case.completed", "case.delivered",
                   "case.extended", "case.suspended", "case.resumed", "fee.charged",
                   "fee.waived", "fee.refunded")
_STATE_ZH = {"received": "已接件", "supplement_requested": "待补正", "refused": "不予受理",
             "accepted": "办理中", "suspended": "特别程序", "decided": "已决定",
             "completed": "已办结", "delivered": "已送达", "withdrawn": "已撤件",
             "voided": "已作废"}
_EVENT_ZH = {
    "case.received": "接件", "case.accepted": "受理", "case.refused": "不予受理",
    "case.supplement_requested": "补正告知", "case.resubmitted": "补正材料",
    "case.step_completed": "办理", "case.decided": "作出决定", "case.extended": "延期",
    "case.suspended": "启动特别程序", "case.resumed": "结束特别程序", "case.completed": "办结",
    "case.delivered": "送达", "case.withdrawn": "撤件", "case.voided": "作废",
    "fee.charged": "收费", "fee.waived": "减免费用", "fee.refunded": "退费",
}


def _event_zh(type_: str) -> str:
    return _EVENT_ZH.get(type_, type_)


def _ref_of(facts: CaseFacts, issue: Mapping) -> EventRef | None:
    """The event an issue names by seq and node."""
    return next((e for e in facts.events if e.seq == issue["seq"]
                 and e.node == issue["node"]), None)


def _more(issues: list) -> str:
    return f"等 {len(issues)} 处" if len(issues) > 1 else ""


# --------------------------------------------------------------------------- content, integrity


def check_content(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                  flow: CaseFlow, context: EvalContext) -> None:
    """X-01: what :func:`~.facts.case_facts` could not read in the case's events."""
    if not facts.problems:
        return
    first = facts.problems[0]
    ref = EventRef(first["seq"], first["node"], first["type"] or "?", None, None)
    out.add("X-01", f"{case_label(facts, item)}的事件内容异常：{first['zh']}"
                    f"{_more(facts.problems)}", ref=ref,
            details={"problems": list(facts.problems[:MAX_LIST]),
                     "count": len(facts.problems)})


def check_integrity(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                    flow: CaseFlow, context: EvalContext) -> None:
    """I-01: events recorded while the node's clock was skewed."""
    skewed = [e for e in facts.events if context.is_skewed(e)]
    if skewed:
        seqs = [e.seq for e in skewed]
        out.add("I-01", f"{case_label(facts, item)}有 {len(skewed)} 条事件（序号 "
                        f"{'、'.join(str(s) for s in seqs[:10])}）记录于节点时钟偏差期间，"
                        "时效判定需人工核实", ref=skewed[0],
                details={"seqs": seqs[:MAX_LIST],
                         "nodes": sorted({e.node or "" for e in skewed})})


def check_outside(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                  flow: CaseFlow, context: EvalContext) -> None:
    """O-01: handling recorded for a case never received or never accepted."""
    handling = [e for e in facts.events if e.type in _HANDLING_TYPES]
    if not handling:
        return
    if facts.received is not None and facts.accepted is not None:
        return
    first = handling[0]
    why = "无接件记录" if facts.received is None else "无受理记录"
    out.add("O-01", f"{case_label(facts, item)}{why}，却出现{_event_zh(first.type)}记录"
                    f"（{iso(first.day) or '日期不明'}），疑似在平台外办理",
            ref=first, responsible=who(first),
            details={"received": facts.received is not None,
                     "accepted": facts.accepted is not None,
                     "events": [{"seq": e.seq, "type": e.type}
                                for e in handling[:MAX_LIST]]})


# --------------------------------------------------------------------------- flow legality


def _issue(rec: StepRecord, kind: str, zh: str, **extra: Any) -> dict:
    return {"seq": rec.ref.seq, "node": rec.ref.node, "type": rec.ref.type, "kind": kind,
            "step": rec.step, **extra, "zh": zh}


def _decision_issues(rec: StepRecord, flow: CaseFlow) -> list[dict]:
    """What is wrong with a decision: taken at the wrong step, or after skipping every
    review step before the decision step."""
    steps, ids, at = flow.steps, flow.ids, flow.decision_at
    issues = []
    if ids.index(rec.step) != at:
        issues.append(_issue(rec, "wrong_decision_step",
                             f"在{step_name(steps, rec.step)}环节作出决定，"
                             f"应在{step_name(steps, ids[at])}环节"))
    missing = [s for s in steps[rec.position:at]] if rec.position >= 1 else []
    if missing and not any(s.get("role") in _REVIEW_ROLES for s in missing):
        issues.append(_issue(rec, "skipped", "作出决定前跳过"
                             + "、".join(step_name(steps, s["id"]) for s in missing),
                             skipped=[s["id"] for s in missing]))
    return issues


def _step_issues(rec: StepRecord, flow: CaseFlow) -> list[dict]:
    """What is wrong with a completed step: not in the flow, the acceptance or completion
    step submitted as handling, a step skipped, or a step done out of order."""
    steps, ids = flow.steps, flow.ids
    if rec.step not in ids:
        return [_issue(rec, "unknown_step", f"办理了流程中没有的环节“{rec.step}”")]
    if rec.kind == "decision":
        return _decision_issues(rec, flow)
    idx = ids.index(rec.step)
    exp = ids.index(rec.expected) if rec.expected in ids else rec.position
    if idx == 0 or (idx == len(ids) - 1 and len(ids) > 1):
        return [_issue(rec, "wrong_kind", f"{step_name(steps, rec.step)}不能作为办理环节提交")]
    if idx > exp:
        skipped = ids[exp:idx]
        return [_issue(rec, "skipped", f"办理{step_name(steps, rec.step)}前跳过"
                       + "、".join(step_name(steps, s) for s in skipped), skipped=skipped)]
    if idx < exp:
        return [_issue(rec, "out_of_order", f"{step_name(steps, rec.step)}未经退回重复或倒序办理")]
    return []


def check_order(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                flow: CaseFlow, context: EvalContext) -> None:
    """F-01: events not allowed in the case's state, steps skipped, repeated, out of
    order or not in the flow, a decision at the wrong step."""
    issues = []
    for p in facts.order_problems:
        issues.append({**p, "zh": f"{_event_zh(p['type'])}发生在“"
                                  f"{_STATE_ZH.get(p['state'], '未接件')}”状态"})
    for rec in facts.steps:
        if rec.expected is None or not flow.ids:
            continue
        issues.extend(_step_issues(rec, flow))
    if issues:
        issues.sort(key=lambda i: (i.get("seq") is None, i.get("seq") or 0))
        first = issues[0]
        ref = _ref_of(facts, first)
        out.add("F-01", f"{case_label(facts, item)}流程不合规：{first['zh']}{_more(issues)}",
                ref=ref, step=first.get("step") if first.get("step") in flow.ids else None,
                responsible=who(ref), details={"issues": issues[:MAX_LIST]})


def check_no_review(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                    flow: CaseFlow, context: EvalContext) -> None:
    """F-02: a decision taken while a review or approval step before it is not done."""
    rec = facts.decision
    if rec is None or not flow.ids or rec.position < 1:
        return
    missing = [s for s in flow.steps[rec.position:flow.decision_at]
               if s.get("role") in _REVIEW_ROLES]
    if not missing:
        return
    names = "、".join(step_name(flow.steps, s["id"]) for s in missing)
    out.add("F-02", f"{case_label(facts, item)}于 {iso(rec.ref.day)} 作出"
                    f"{'准予' if rec.outcome == 'approve' else '不予'}许可决定，"
                    f"但{names}环节尚未完成", ref=rec.ref, step=missing[0]["id"],
            responsible=who(rec.ref),
            details={"missing_steps": [s["id"] for s in missing],
                     "decision_step": rec.step, "outcome": rec.outcome})


def _role_issue(e: EventRef, step_id: str | None, allowed: frozenset, steps: list[dict],
                user_roles: Mapping | None) -> dict | None:
    """Whether an event's actor acted in a role the action does not allow, or claimed a
    role the user does not hold (when the caller knows the users)."""
    role_zh = ROLE_ZH.get(e.actor_role, e.actor_role)
    if e.actor_role not in allowed:
        want = "、".join(ROLE_ZH.get(r, r) for r in sorted(allowed))
        return {"seq": e.seq, "node": e.node, "type": e.type, "step": step_id,
                "actor": who(e), "kind": "wrong_role", "allowed": sorted(allowed),
                "zh": f"{e.actor_id or '某人员'}以“{role_zh}”岗位{_event_zh(e.type)}"
                      + (f"{step_name(steps, step_id)}" if step_id else "")
                      + f"，应由{want}岗位办理"}
    if user_roles is not None and e.actor_id in user_roles:
        try:
            held = frozenset(user_roles[e.actor_id])
        except TypeError:
            return None
        if e.actor_role not in held:
            return {"seq": e.seq, "node": e.node, "type": e.type, "step": step_id,
                    "actor": who(e), "kind": "role_not_held",
                    "zh": f"{e.actor_id} 未被授予“{role_zh}”岗位，却以该岗位{_event_zh(e.type)}"}
    return None


def check_roles(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                flow: CaseFlow, context: EvalContext) -> None:
    """F-03: an action by someone in a role that may not take it (the lifecycle's action
    roles, or the flow step's role), or in a role the user does not hold."""
    issues = []
    user_roles = context.user_roles if isinstance(context.user_roles, Mapping) else None
    steps_by_seq = {(r.ref.node, r.ref.seq): r for r in facts.steps}
    for e in facts.events:
        action = EVENT_ACTIONS.get(e.type)
        if action is None or e.actor_role is None:
            continue
        allowed = ACTION_ROLES.get(action)
        step_id = None
        if allowed is None:
            rec = steps_by_seq.get((e.node, e.seq))
            step_id = rec.step if rec else None
            if action == "decide" and flow.ids:
                step_id = flow.ids[flow.decision_at]
            role = role_of(flow.steps, step_id)
            if role is None:
                continue
            allowed = frozenset({role})
        if not allowed:
            continue
        issue = _role_issue(e, step_id, allowed, flow.steps, user_roles)
        if issue is not None:
            issues.append(issue)
    if issues:
        first = issues[0]
        out.add("F-03", f"{case_label(facts, item)}越权办理：{first['zh']}{_more(issues)}",
                ref=_ref_of(facts, first), step=first["step"], responsible=first["actor"],
                details={"issues": issues[:MAX_LIST]})


def check_separation(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                     flow: CaseFlow, context: EvalContext) -> None:
    """F-04: the item separates acceptance and approval, yet the person who accepted the
    case decided it or did an approving step."""
    sep = facts.separate_accept_approve is True \
        or item_map(item).get("separate_accept_approve") is True
    acc = facts.accepted
    if not sep or acc is None or acc.actor_id is None:
        return
    for rec in facts.steps:
        approving = rec.kind == "decision" or role_of(flow.steps, rec.step) in _APPROVE_ROLES
        if approving and rec.ref.actor_id == acc.actor_id:
            what = "作出审批决定" if rec.kind == "decision" else \
                f"办理{step_name(flow.steps, rec.step)}环节"
            out.add("F-04", f"{case_label(facts, item)}要求受理与审批分离，但 {acc.actor_id} 于 "
                            f"{iso(acc.day)} 受理后又于 {iso(rec.ref.day)} {what}",
                    ref=rec.ref, step=rec.step, responsible=who(rec.ref),
                    details={"person": acc.actor_id, "accepted_seq": acc.seq,
                             "approving_seq": rec.ref.seq})
            return


def check_extensions(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                     flow: CaseFlow, context: EvalContext) -> None:
    """F-05: an extension without a valid approval; F-06: more than one extension."""
    label = case_label(facts, item)
    for e in facts.extensions:
        ok, why = approved(e.approver_id, e.approver_role, e.ref.actor_id, rules)
        if not ok:
            out.add("F-05", f"{label}于 {iso(e.ref.day)} 延期 {e.days} 个工作日未经批准"
                            f"（{why}）", ref=e.ref, responsible=who(e.ref),
                    details={"days": e.days, "approver": {"id": e.approver_id,
                                                          "role": e.approver_role},
                             "problem_zh": why})
            break
    if len(facts.extensions) > MAX_EXTENSIONS:
        e = facts.extensions[MAX_EXTENSIONS]
        out.add("F-06", f"{label}第 {MAX_EXTENSIONS + 1} 次延期（{iso(e.ref.day)}，"
                        f"{e.days} 个工作日），法定只能延长一次；该次延期不计入时限",
                ref=e.ref, responsible=who(e.ref),
                details={"count": len(facts.extensions),
                         "seqs": [x.ref.seq for x in facts.extensions]})


def check_suspensions(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                      flow: CaseFlow, context: EvalContext) -> None:
    """F-07: a special procedure started without a known procedure or a reason."""
    for s in facts.suspensions:
        bad_proc = s.procedure not in _PROCEDURES
        if bad_proc or no_reason(s.reason, rules):
            why = "未载明特别程序类别" if bad_proc else "未说明理由"
            out.add("F-07", f"{case_label(facts, item)}于 {iso(s.start)} 启动特别程序"
                            f"（暂停计时）{why}", ref=s.ref, responsible=who(s.ref),
                    details={"procedure": s.procedure, "reason": s.reason})
            return


# --------------------------------------------------------------------------- completeness


def check_completeness(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                       flow: CaseFlow, context: EvalContext) -> None:
    """C-01: accepted while a required material (the case's or the item's) was missing."""
    if facts.accepted is None:
        return
    mats = facts.accepted_materials
    if mats is None:
        mats = facts.latest_materials
    item_required = set()
    raw = item_map(item).get("materials")
    names = {}
    if isinstance(raw, list):
        for m in raw:
            if isinstance(m, Mapping) and isinstance(m.get("id"), str):
                names[m["id"]] = m.get("name") if isinstance(m.get("name"), str) else m["id"]
                if m.get("required") is True:
                    item_required.add(m["id"])
    if mats is None and not item_required:
        return
    mats = mats or ()
    names.update({m["id"]: m["name"] for m in mats})
    required = item_required | {m["id"] for m in mats if m["required"]}
    present = {m["id"] for m in mats if m["present"]}
    if mats == () and item_required:
        return  # nothing recorded at all: cannot judge
    missing = sorted(required - present)
    if missing:
        listed = "、".join(f"“{names.get(m, m)}”" for m in missing[:8])
        out.add("C-01", f"{case_label(facts, item)}于 {iso(facts.accepted.day)} 受理时"
                        f"必备材料不全：缺{listed}", ref=facts.accepted,
                step=flow.ids[0] if flow.ids else None, responsible=who(facts.accepted),
                details={"missing": missing, "required": sorted(required)})


# --------------------------------------------------------------------------- fees


def _fee_standard(facts: CaseFacts, item: Any) -> int | None:
    """The fee standard in fen: the catalogue item's, else the one stamped on the case."""
    standard = None
    fee = item_map(item).get("fee")
    if isinstance(fee, Mapping) and isinstance(fee.get("charged"), bool):
        amt = fee.get("amount_fen")
        standard = (amt if type(amt) is int else None) if fee["charged"] else 0
    if standard is None:
        standard = facts.fee_standard_fen
    return standard


def _charge_issues(facts: CaseFacts, rules: RuleSet, standard: int) -> list[tuple]:
    """Charges that differ from a non-zero standard, and a charged item finished with
    neither a charge nor a waiver: ``(fee record or None, why)``."""
    charges = [f for f in facts.fees if f.kind == "charged"]
    issues = []
    for f in charges:
        if standard == 0:
            continue
        if f.standard_fen is not None and f.standard_fen != standard:
            issues.append((f, f"记载的收费标准 {yuan(f.standard_fen)} 与目录标准 "
                              f"{yuan(standard)} 不符"))
        elif f.amount_fen is not None and f.amount_fen > standard:
            issues.append((f, f"实收 {yuan(f.amount_fen)}，超过收费标准 {yuan(standard)}"))
        elif f.amount_fen is not None and f.amount_fen < standard:
            ok, why = approved(f.approver_id, f.approver_role, f.ref.actor_id, rules)
            if not ok:
                issues.append((f, f"实收 {yuan(f.amount_fen)}，低于收费标准 "
                                  f"{yuan(standard)}，减收未经批准（{why}）"))
    finished = facts.completed or facts.delivered
    if standard > 0 and finished is not None and not charges \
            and not any(f.kind == "waived" for f in facts.fees):
        issues.append((None, f"收费事项（标准 {yuan(standard)}）办结时既未收费也未减免"))
    return issues


def check_fees(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
               flow: CaseFlow, context: EvalContext) -> None:
    """P-02: a fee on a free item; P-01: a fee that differs from the standard; P-03: a
    waiver or refund without a valid approval or a reason."""
    standard = _fee_standard(facts, item)
    if standard is None:
        return
    label = case_label(facts, item)
    charges = [f for f in facts.fees if f.kind == "charged"]
    free_charged = [f for f in charges if (f.amount_fen or 0) > 0] if standard == 0 else []
    if free_charged:
        f = free_charged[0]
        out.add("P-02", f"{label}为不收费事项，却于 {iso(f.ref.day)} 收取费用 "
                        f"{yuan(f.amount_fen)}", ref=f.ref, responsible=who(f.ref),
                details={"charged_fen": f.amount_fen, "standard_fen": 0})
    issues = _charge_issues(facts, rules, standard)
    if issues:
        f, why = issues[0]
        ref = f.ref if f is not None else (facts.completed or facts.delivered)
        out.add("P-01", f"{label}收费与标准不符：{why}", ref=ref, responsible=who(ref),
                details={"standard_fen": standard,
                         "charged_fen": None if f is None else f.amount_fen,
                         "recorded_standard_fen": None if f is None else f.standard_fen,
                         "count": len(issues)})
    for f in facts.fees:
        if f.kind not in ("waived", "refunded"):
            continue
        ok, why = approved(f.approver_id, f.approver_role, f.ref.actor_id, rules)
        if ok and no_reason(f.reason, rules):
            ok, why = False, "未说明理由"
        if not ok:
            what = "减免" if f.kind == "waived" else "退费"
            out.add("P-03", f"{label}于 {iso(f.ref.day)} {what} {yuan(f.amount_fen)}"
                            f"未经批准或无理由（{why}）", ref=f.ref, responsible=who(f.ref),
                    details={"kind": f.kind, "amount_fen": f.amount_fen,
                             "approver": {"id": f.approver_id, "role": f.approver_role},
                             "problem_zh": why})
            return


# --------------------------------------------------------------------------- reasons, voided


def check_reasons(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                  flow: CaseFlow, context: EvalContext) -> None:
    """R-01: a refusal, or else a rejecting decision, without a reason."""
    label = case_label(facts, item)
    if facts.refused is not None and no_reason(facts.refusal_reason, rules):
        out.add("R-01", f"{label}于 {iso(facts.refused.day)} 不予受理，未说明理由",
                ref=facts.refused, step=flow.ids[0] if flow.ids else None,
                responsible=who(facts.refused),
                details={"kind": "refused", "reason": facts.refusal_reason})
        return
    rec = facts.decision
    if rec is not None and rec.outcome == "reject" and no_reason(rec.reason, rules):
        out.add("R-01", f"{label}于 {iso(rec.ref.day)} 作出不予许可决定，未说明理由",
                ref=rec.ref, step=rec.step, responsible=who(rec.ref),
                details={"kind": "rejected", "reason": rec.reason})


def check_voided(out: Collector, facts: CaseFacts, item: Any, rules: RuleSet,
                 flow: CaseFlow, context: EvalContext) -> None:
    """V-01: every voided case; V-02: voided without a valid approval or a reason."""
    v = facts.voided
    if v is None:
        return
    label = case_label(facts, item)
    out.add("V-01", f"{label}于 {iso(v.day)} 作废（理由：{facts.void_reason or '无'}，"
                    f"批准人：{facts.void_approver_id or '无'}）", ref=v,
            responsible=who(v), details={"reason": facts.void_reason,
                                         "approver": {"id": facts.void_approver_id,
                                                      "role": facts.void_approver_role}})
    ok, why = approved(facts.void_approver_id, facts.void_approver_role, v.actor_id, rules)
    if ok and no_reason(facts.void_reason, rules):
        ok, why = False, "未说明理由"
    if not ok:
        out.add("V-02", f"{label}于 {iso(v.day)} 作废未经批准或无理由（{why}）", ref=v,
                responsible=who(v), details={"problem_zh": why})


STATIC_CHECKS = (
    Check(("X-01",), check_content),
    Check(("I-01",), check_integrity),
    Check(("O-01",), check_outside),
    Check(("F-01",), check_order),
    Check(("F-02",), check_no_review),
    Check(("F-03",), check_roles),
    Check(("F-04",), check_separation),
    Check(("F-05", "F-06"), check_extensions),
    Check(("F-07",), check_suspensions),
    Check(("C-01",), check_completeness),
    Check(("P-01", "P-02", "P-03"), check_fees),
    Check(("R-01",), check_reasons),
    Check(("V-01", "V-02"), check_voided),
)
"""The date-independent checks, in the order they run (findings are sorted afterwards,
but when two findings share a key the first one added is kept)."""
