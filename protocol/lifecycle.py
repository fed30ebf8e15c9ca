"""The case (办件) lifecycle as a pure projection over events, shared by node and hub.

``apply(state, event) -> state`` folds one event into a case's state (a JSON-able dict);
folding a case's events in ``seq`` order from ``None`` gives its projection, on the node
and on the hub alike. ``apply`` never refuses: an event that breaks a rule still changes
the state as far as it can, because the hub stores every authentic event and turns rule
breaks into supervision findings. The rules are checked separately:

* :func:`check_transition` raises :class:`TransitionError` (with a Chinese reason for
  staff) when an action is not allowed in the case's state or for the actor's role; the
  node calls it before it writes anything, the hub calls it to find irregularities;
* :func:`allowed_actions` lists what may be done next (for screens and the simulator).

States (see docs/edge-node.md for the table)::

    received ─┬─► accepted ─► (steps…) ─► decided ─► completed ─► delivered
              ├─► refused                    ▲
              └─► supplement_requested ─(resubmitted)─► received
    accepted ⇄ suspended (special procedure, clock paused)
    received/supplement_requested/accepted/suspended ─► withdrawn
    any open state ─► voided

The deadline inputs are in the state, all derived from events: the acceptance date (the
Shanghai date of the ``case.accepted`` event), the committed limit in half working days,
the extension, and the special-procedure pauses. :func:`case_deadline` computes the due
date with a calendar; events that change it also carry the node's result (``deadline``).
"""

from __future__ import annotations

from datetime import date, datetime
from collections.abc import Mapping
from typing import Any

from .calendar import Calendar, Deadline, Pause, due_date_half_days, shanghai_date
from .errors import ProtocolError

__all__ = [
    "ACTIONS", "ACTION_EVENTS", "ACTION_FROM", "flow_plan", "next_flow_step", "CLOSED_STATES", "CLOCK_STATES", "OPEN_STATES", "STATES",
    "STATE_LABELS", "TransitionError", "allowed_actions", "apply", "case_deadline",
    "case_pauses", "check_transition", "event_date", "project",
]

STATES = ("received", "supplement_requested", "refused", "accepted", "suspended", "decided",
          "completed", "delivered", "withdrawn", "voided",
          # cross-level handling (protocol/routing.py, docs/cross-level.md)
          "forwarded", "returned", "handed_back")
STATE_LABELS = {
    "received": "已接件", "supplement_requested": "待补正", "refused": "不予受理",
    "accepted": "办理中", "suspended": "特别程序", "decided": "已决定", "completed": "已办结",
    "delivered": "已送达", "withdrawn": "已撤件", "voided": "已作废",
    "forwarded": "已上报", "returned": "已回传结果", "handed_back": "已交回",
}
OPEN_STATES = frozenset({"received", "supplement_requested", "accepted", "suspended",
                         "decided", "forwarded"})
CLOSED_STATES = frozenset(STATES) - OPEN_STATES
CLOCK_STATES = frozenset({"accepted", "suspended", "decided", "forwarded"})
"""States in which the case's processing deadline runs (or is paused)."""

# action -> event type
ACTION_EVENTS = {
    "receive": "case.received", "accept": "case.accepted", "refuse": "case.refused",
    "request_supplement": "case.supplement_requested", "resubmit": "case.resubmitted",
    "complete_step": "case.step_completed", "decide": "case.decided",
    "extend": "case.extended", "suspend": "case.suspended", "resume": "case.resumed",
    "complete": "case.completed", "deliver": "case.delivered", "withdraw": "case.withdrawn",
    "void": "case.voided", "charge_fee": "fee.charged", "waive_fee": "fee.waived",
    "refund_fee": "fee.refunded", "recompute_deadline": "deadline.recomputed",
    # cross-level handling: the sender forwards, the receiver takes, the decision returns
    "forward": "case.forwarded", "take": "case.taken", "return_result": "case.result_returned",
    "receive_result": "case.result_received", "hand_back": "application.handed_back",
}
EVENT_ACTIONS = {v: k for k, v in ACTION_EVENTS.items()}
ACTIONS = tuple(ACTION_EVENTS)

# Which states allow each action (public: supervision judges events against the same table).
ACTION_FROM: dict[str, set] = {
    "receive": {None},
    "accept": {"received"}, "refuse": {"received"}, "request_supplement": {"received"},
    "resubmit": {"supplement_requested"},
    "complete_step": {"accepted", "decided"}, "decide": {"accepted"},
    "extend": {"accepted"}, "suspend": {"accepted"}, "resume": {"suspended"},
    "complete": {"decided"}, "deliver": {"completed"},
    "withdraw": {"received", "supplement_requested", "accepted", "suspended"},
    "void": set(OPEN_STATES),
    "charge_fee": {"accepted", "suspended", "decided", "completed"},
    "waive_fee": {"accepted", "suspended", "decided", "completed"},
    "refund_fee": set(STATES),
    "recompute_deadline": set(CLOCK_STATES),
    "forward": {"accepted"},
    "take": {None, "forwarded"},   # None on the receiving node, "forwarded" at the hub
    "return_result": {"accepted", "decided"},
    "receive_result": {"forwarded", "returned"},
    "hand_back": set(STATES),
}

# Which roles may act (None: the role of the flow step concerned).
ACTION_ROLES: dict[str, frozenset[str] | None] = {
    "receive": frozenset({"clerk"}), "accept": frozenset({"clerk"}),
    "refuse": frozenset({"clerk"}), "request_supplement": frozenset({"clerk"}),
    "resubmit": frozenset({"clerk"}),
    "complete_step": None, "decide": None,
    "extend": frozenset({"handler", "reviewer", "approver", "head"}),
    "suspend": frozenset({"handler", "approver", "head"}),
    "resume": frozenset({"handler", "approver", "head"}),
    "complete": None,
    "deliver": frozenset({"clerk"}), "withdraw": frozenset({"clerk"}),
    "void": frozenset({"head"}),
    "charge_fee": frozenset({"clerk"}), "waive_fee": frozenset({"clerk", "head"}),
    "refund_fee": frozenset({"clerk", "head"}),
    "recompute_deadline": frozenset(),  # the node itself, no actor
    "forward": frozenset({"clerk", "handler", "reviewer", "approver", "head"}),
    "take": frozenset({"clerk", "handler", "reviewer", "approver", "head"}),
    "return_result": frozenset({"clerk", "handler", "reviewer", "approver", "head"}),
    "receive_result": frozenset({"clerk", "handler", "reviewer", "approver", "head"}),
    "hand_back": frozenset(),           # written by the node when the hub reports a double take
}
ROLE_LABELS = {"clerk": "窗口受理", "handler": "承办", "reviewer": "审核", "approver": "批准",
               "head": "中心负责人", "supervisor": "监察", "admin": "系统管理员"}
CROSS_LEVEL_ACTIONS = frozenset({"forward", "take", "return_result", "receive_result",
                                 "hand_back"})
"""Driven by the inbox (edge_node/inbox.py), not offered by :func:`allowed_actions`."""
NEEDS_HEAD_APPROVAL = frozenset({"extend", "void", "waive_fee", "refund_fee"})
MAX_EXTENSIONS = 1


class TransitionError(ProtocolError):
    """An action that the case's state, the flow or the actor's role does not allow.

    ``str(err)`` is English; ``err.zh`` is the reason for staff; ``err.action`` the action.
    """

    code = "transition_not_allowed"

    def __init__(self, message: str, *, zh: str, action: str, field: str | None = None):
        super().__init__(message, field=field)
        self.zh = zh
        self.action = action


# --------------------------------------------------------------------------- helpers


def event_date(ts: str) -> date:
    """The Shanghai calendar date of an event timestamp."""
    return shanghai_date(datetime.fromisoformat(ts))


def flow_plan(flow: list[Mapping]) -> tuple[int, int]:
    """``(decision, final)``: indices of the decision step and of the completion step.

    ``flow[0]`` is the clerk's acceptance (受理). The last step is the completion (办结,
    usually the clerk's delivery at the window). The decision (批准/决定) is the last step
    between them whose role is approver or head; failing that, the step just before the
    completion. Steps between acceptance and decision come before it (承办, 审核 ...); steps
    between decision and completion follow an approval (制证, 公示 ...). A one-step flow is
    decided and completed at the window; a two-step flow is decided and completed at its
    second step.
    """
    n = len(flow)
    if n <= 2:
        return n - 1, n - 1
    final = n - 1
    deciders = [i for i in range(1, final) if flow[i]["role"] in ("approver", "head")]
    return (deciders[-1] if deciders else final - 1), final


def next_flow_step(state: Mapping) -> dict | None:
    """The step due next in an accepted or decided case; None otherwise."""
    if state is None or state.get("state") not in ("accepted", "decided"):
        return None
    flow, i = state["flow"], state["next_step"]
    return flow[min(i, len(flow) - 1)]


def decision_step(state: Mapping) -> dict:
    return state["flow"][flow_plan(state["flow"])[0]]


def final_step(state: Mapping) -> dict:
    return state["flow"][flow_plan(state["flow"])[1]]


# --------------------------------------------------------------------------- rules


def allowed_actions(state: Mapping | None, item: Mapping | None = None) -> tuple[str, ...]:
    """Actions the case's state allows now (roles not considered), in lifecycle order.

    ``item`` (a catalogue item) matters only for a new case (``state`` None): ``receive``.
    """
    current = None if state is None else state["state"]
    out = []
    for action in ACTIONS:
        if current not in ACTION_FROM[action] or action == "recompute_deadline" \
                or action in CROSS_LEVEL_ACTIONS:
            continue
        if action == "receive" and item is None:
            continue
        if state is not None and _state_refusal(state, action) is not None:
            continue
        out.append(action)
    return tuple(out)


def _state_refusal(state: Mapping, action: str) -> tuple[str, str] | None:
    """Why ``action`` is impossible in ``state`` beyond the state table: (en, zh) or None."""
    if action in ("complete_step", "decide", "complete"):
        flow, i = state["flow"], state["next_step"]
        decision, final = flow_plan(flow)
        if action == "complete_step":
            limit = decision if state["state"] == "accepted" else final
            if i >= limit:
                nxt = flow[decision] if state["state"] == "accepted" else flow[final]
                what = "作出决定" if state["state"] == "accepted" else "办结"
                return ("no step is due before the "
                        + ("decision" if state["state"] == "accepted" else "completion"),
                        f"前置环节已全部完成，请由“{nxt['name']}”环节{what}")
        if action == "decide" and i < decision:
            return (f"step {flow[i]['id']} must be completed before the decision",
                    f"尚未完成“{flow[i]['name']}”环节，不能作出决定")
        if action == "complete" and i < final:
            return (f"step {flow[i]['id']} must be completed before completion",
                    f"尚未完成“{flow[i]['name']}”环节，不能办结")
    if action == "extend" and state.get("extensions", 0) >= MAX_EXTENSIONS:
        return "the case was already extended once", "该办件已延期一次，不能再次延期"
    fee = state.get("fee", {})
    if action in ("charge_fee", "waive_fee") and fee.get("status", "none") != "none":
        return ("the fee was already charged or waived",
                "该办件已收费或已减免，不能重复操作")
    if action == "waive_fee" and state.get("fee_standard_fen", 0) == 0:
        return "the item is free: nothing to waive", "该事项不收费，无需减免"
    if action == "charge_fee" and state.get("fee_standard_fen", 0) == 0:
        return "the item is free: no fee may be charged", "该事项不收费，不得收取费用"
    if action == "refund_fee" and fee.get("charged_fen", 0) - fee.get("refunded_fen", 0) <= 0:
        return "no fee was charged that could be refunded", "该办件没有可退还的已收费用"
    return None


def check_transition(state: Mapping | None, action: str, actor: Mapping | None,
                     body: Mapping | None = None) -> None:
    """Raise :class:`TransitionError` unless ``actor`` may take ``action`` on ``state``.

    ``actor`` is ``{"id", "role"}``. ``body`` is the event body about to be written; it is
    used for the step concerned, the approver and the fee amounts.
    """
    if action not in ACTION_EVENTS:
        raise TransitionError(f"unknown action {action!r}", zh=f"未知操作 {action}",
                              action=action)
    body = body or {}
    current = None if state is None else state["state"]
    if current not in ACTION_FROM[action]:
        label = "新办件" if current is None else STATE_LABELS.get(current, current)
        raise TransitionError(
            f"{action} is not allowed in state {current}",
            zh=f"办件当前状态为“{label}”，不能进行此操作（{_ACTION_LABELS[action]}）",
            action=action, field="state")
    if state is not None:
        refusal = _state_refusal(state, action)
        if refusal is not None:
            raise TransitionError(refusal[0], zh=refusal[1], action=action)
    roles = ACTION_ROLES[action]
    role = (actor or {}).get("role")
    if roles is None:
        if action == "complete_step":
            step = next_flow_step(state)
            if body.get("step") not in (None, step["id"]):
                raise TransitionError(
                    f"the next step is {step['id']}, not {body.get('step')}",
                    zh=f"当前应办理“{step['name']}”环节，不能办理其他环节", action=action,
                    field="step")
            roles = frozenset({step["role"]})
        elif action == "decide":
            roles = frozenset({decision_step(state)["role"]})
        else:
            roles = frozenset({final_step(state)["role"], "clerk"})
    if role not in roles and roles:   # an empty set: the node itself acts, no actor
        allowed = "、".join(ROLE_LABELS.get(r, r) for r in sorted(roles))
        raise TransitionError(
            f"role {role} may not {action} (allowed: {', '.join(sorted(roles))})",
            zh=f"“{ROLE_LABELS.get(role, role)}”岗位无权{_ACTION_LABELS[action]}"
               f"（应由{allowed}岗位办理）", action=action, field="role")
    if action == "decide" and state.get("separate_accept_approve") \
            and actor.get("id") == state.get("accepted_by"):
        raise TransitionError(
            "the item requires that the person who accepted the case does not decide it",
            zh="该事项要求受理与审批分离：受理人不能作出审批决定", action=action,
            field="actor")
    if action in NEEDS_HEAD_APPROVAL:
        approver = body.get("approver") or {}
        if approver.get("role") != "head":
            raise TransitionError(f"{action} needs the centre head's approval",
                                  zh=f"{_ACTION_LABELS[action]}须经中心负责人批准",
                                  action=action, field="approver")
    if action == "charge_fee":
        amount, standard = body.get("amount_fen", 0), state.get("fee_standard_fen", 0)
        if not 0 < amount <= standard:
            raise TransitionError(
                f"fee {amount} fen must be more than 0 and at most the standard {standard}",
                zh=f"收费金额须大于 0 且不超过收费标准（{standard / 100:.2f} 元）",
                action=action, field="amount_fen")
        if amount != standard and (body.get("approver") or {}).get("role") != "head":
            raise TransitionError("a fee below the standard needs the head's approval",
                                  zh="低于收费标准收费须经中心负责人批准", action=action,
                                  field="approver")
    if action == "refund_fee":
        fee = state.get("fee", {})
        left = fee.get("charged_fen", 0) - fee.get("refunded_fen", 0)
        amount = body.get("amount_fen", 0)
        if not 0 < amount <= left:
            raise TransitionError(
                f"refund {amount} fen must be more than 0 and at most {left} fen charged",
                zh=f"退费金额须大于 0 且不超过已收金额（{left / 100:.2f} 元）", action=action,
                field="amount_fen")


_ACTION_LABELS = {
    "receive": "接件", "accept": "受理", "refuse": "不予受理", "request_supplement": "补正告知",
    "resubmit": "补正材料", "complete_step": "办理环节", "decide": "审批决定",
    "extend": "延期", "suspend": "启动特别程序", "resume": "结束特别程序", "complete": "办结",
    "deliver": "送达", "withdraw": "撤件", "void": "作废", "charge_fee": "收费",
    "waive_fee": "减免费用", "refund_fee": "退费", "recompute_deadline": "重算期限",
    "forward": "上报转办", "take": "接收转办件", "return_result": "结果回传",
    "receive_result": "接收办理结果", "hand_back": "交回",
}


# --------------------------------------------------------------------------- projection


def _new_state(env: Mapping) -> dict:
    body = env["body"]
    return {
        "case": env["case"], "state": "received",
        "item": dict(body["item"]), "catalogue_version": body["catalogue_version"],
        "applicant": dict(body["applicant"]), "channel": body["channel"],
        "materials": [dict(m) for m in body["materials"]], "missing": [],
        "fee_standard_fen": body["fee_standard_fen"],
        "committed_half_days": body["committed_half_days"],
        "statutory_half_days": body["statutory_half_days"],
        "flow": [dict(s) for s in body["flow"]],
        "separate_accept_approve": body["separate_accept_approve"],
        "query_code": body["query_code"],
        "received_at": env["ts"], "received_by": body["actor"]["id"],
        "accepted_at": None, "accepted_by": None, "accepted_date": None,
        "supplements": 0, "next_step": 0, "steps": [],
        "decision": None, "decision_reason": None, "decided_by": None,
        "extensions": 0, "extension_days": 0, "pauses": [],
        "deadline": None, "deadline_changes": 0,
        "fee": {"status": "none", "charged_fen": 0, "refunded_fen": 0},
        "closed_at": None, "closed_reason": None, "completed_at": None,
        "delivered_at": None, "events": 0, "last_seq": 0, "updated_at": env["ts"],
    }


def _taken_state(env: Mapping) -> dict:
    """The state a receiving node starts from: the snapshot in its ``case.taken`` event."""
    snap = env["body"]["snapshot"]
    state = _new_state({"case": env["case"], "ts": snap["received_at"], "body": {
        **{k: snap[k] for k in ("item", "catalogue_version", "applicant", "channel",
                                "materials", "fee_standard_fen", "committed_half_days",
                                "statutory_half_days", "flow", "separate_accept_approve",
                                "query_code")},
        "actor": {"id": None}}})
    state.update({"state": "accepted", "accepted_date": snap["accepted_date"],
                  "deadline": None if snap["deadline"] is None else dict(snap["deadline"]),
                  "next_step": snap["next_step"], "extension_days": snap["extension_days"]})
    return state


def _clone(value: Any) -> Any:
    """Deep copy of a JSON-like value (dicts, lists, scalars): faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _successor(state: Mapping) -> dict:
    """The copy :func:`apply` folds an event into. :func:`apply` mutates only ``steps``
    (appends) and ``pauses`` (closes the last one) in place and replaces every other member,
    so those two are copied and the rest is shared with ``state``: states are values, and
    nothing may mutate a member of one in place (a deep copy per event was half the cost
    of projecting the hub's log)."""
    new = dict(state)
    if isinstance(new.get("steps"), list):
        new["steps"] = list(new["steps"])
    if isinstance(new.get("pauses"), list):
        new["pauses"] = [list(p) if isinstance(p, list) else p for p in new["pauses"]]
    return new


def _deadline_of(body: Mapping) -> dict | None:
    deadline = body.get("deadline")
    return dict(deadline) if isinstance(deadline, Mapping) else None


def apply(state: Mapping | None, event: Mapping) -> dict:
    """Fold ``event`` (an envelope dict: type, case, ts, seq, body) into ``state``.

    Pure and total: returns a new dict and never raises for a rule break (see
    :func:`check_transition`). Events of types it does not know leave the state unchanged
    except for the counters.
    """
    type_, body, ts = event["type"], event["body"], event["ts"]
    if state is None:
        if type_ == "case.taken":
            new = _taken_state(event)   # a case forwarded from another node
        elif type_ != "case.received":
            return None  # an event of a case never received: nothing to project
        else:
            new = _new_state(event)
    else:
        new = _successor(state)
    actor_id = (body.get("actor") or {}).get("id")
    if type_ == "case.accepted":
        new["state"] = "accepted"
        new["materials"] = [dict(m) for m in body["materials"]]
        new["missing"] = []
        new["accepted_at"], new["accepted_by"] = ts, actor_id
        new["accepted_date"] = event_date(ts).isoformat()
        new["next_step"] = 1
        new["deadline"] = _deadline_of(body)
    elif type_ == "case.refused":
        new["state"] = "refused"
        new["closed_at"], new["closed_reason"] = ts, body["reason"]
    elif type_ == "case.supplement_requested":
        new["state"] = "supplement_requested"
        new["materials"] = [dict(m) for m in body["materials"]]
        new["missing"] = list(body["missing"])
        new["supplements"] += 1
    elif type_ == "case.resubmitted":
        new["state"] = "received"
        new["materials"] = [dict(m) for m in body["materials"]]
        new["missing"] = [m["id"] for m in body["materials"]
                          if m["required"] and not m["present"]]
    elif type_ == "case.step_completed":
        new["steps"].append({"step": body["step"], "by": actor_id,
                             "role": body["actor"]["role"], "outcome": body["outcome"],
                             "at": ts})
        if body["outcome"] == "return":
            floor = 1 if new["state"] == "accepted" else flow_plan(new["flow"])[0] + 1
            new["next_step"] = max(floor, new["next_step"] - 1)
        else:
            new["next_step"] += 1
    elif type_ == "case.decided":
        new["state"] = "decided"
        new["steps"].append({"step": body["step"], "by": actor_id,
                             "role": body["actor"]["role"], "outcome": body["outcome"],
                             "at": ts})
        decision, final = flow_plan(new["flow"])
        # After a rejection the steps that follow an approval (制证, 公示) do not apply.
        new["next_step"] = decision + 1 if body["outcome"] == "approve" else final
        new["next_step"] = min(new["next_step"], final)
        new["decision"], new["decision_reason"] = body["outcome"], body["reason"]
        new["decided_by"] = actor_id
    elif type_ == "case.extended":
        new["extensions"] += 1
        new["extension_days"] += body["days"]
        new["deadline"] = _deadline_of(body)
    elif type_ == "case.suspended":
        new["state"] = "suspended"
        new["pauses"].append([event_date(ts).isoformat(), None, body["procedure"]])
        new["deadline"] = _deadline_of(body)
    elif type_ == "case.resumed":
        new["state"] = "accepted"
        if new["pauses"] and new["pauses"][-1][1] is None:
            new["pauses"][-1][1] = event_date(ts).isoformat()
        new["deadline"] = _deadline_of(body)
    elif type_ == "case.completed":
        new["state"] = "completed"
        new["next_step"] = len(new["flow"])
        new["completed_at"] = new["closed_at"] = ts
    elif type_ == "case.delivered":
        new["state"] = "delivered"
        new["delivered_at"] = ts
    elif type_ in ("case.withdrawn", "case.voided"):
        new["state"] = "withdrawn" if type_ == "case.withdrawn" else "voided"
        new["closed_at"], new["closed_reason"] = ts, body["reason"]
    elif type_ == "fee.charged":
        new["fee"] = {**new["fee"], "status": "charged",
                      "charged_fen": new["fee"]["charged_fen"] + body["amount_fen"]}
    elif type_ == "fee.waived":
        new["fee"] = {**new["fee"], "status": "waived", "waived_fen": body["amount_fen"]}
    elif type_ == "fee.refunded":
        refunded = new["fee"]["refunded_fen"] + body["amount_fen"]
        new["fee"] = {**new["fee"], "refunded_fen": refunded,
                      "status": "refunded" if refunded >= new["fee"]["charged_fen"]
                      else new["fee"]["status"]}
    elif type_ == "deadline.recomputed":
        new["deadline"] = _deadline_of(body)
        new["deadline_changes"] += 1
    elif type_ == "case.forwarded":
        new["state"] = "forwarded"
        new["forwarded_to"], new["forwarded_at"] = body["to"], ts
    elif type_ == "case.taken":
        if state is not None:   # the hub folds both nodes' events into one case
            new["state"] = "accepted"
            new["next_step"] = body["snapshot"]["next_step"]
        new["origin"] = dict(body["origin"])
    elif type_ == "case.result_returned":
        new["state"] = "returned"
        new["returned_to"], new["returned_at"] = body["to"], ts
    elif type_ == "case.result_received":
        decision = body.get("decision")
        new["next_step"] = body["next_step"]
        new["result_origin"] = dict(body["origin"])
        if decision:
            new["state"] = "decided"
            new["decision"], new["decision_reason"] = decision["outcome"], decision["reason"]
            new["decided_by"] = body["origin"]["node"]
        else:
            new["state"] = "accepted"
    elif type_ == "application.handed_back":
        new["state"] = "handed_back"
        new["closed_at"], new["closed_reason"] = ts, body["reason"]
    new["events"] += 1
    new["last_seq"] = event.get("seq", new["last_seq"])
    new["updated_at"] = ts
    return new


def project(events) -> dict[str, dict]:
    """Fold envelopes (in seq order) into ``{case: state}``."""
    cases: dict[str, dict] = {}
    for env in events:
        case = env.get("case")
        if case is None:
            continue
        state = apply(cases.get(case), env)
        if state is not None:
            cases[case] = state
    return cases


# --------------------------------------------------------------------------- deadlines


def case_pauses(state: Mapping) -> list[Pause]:
    """The special-procedure pauses as calendar pauses.

    A procedure started on day S and ended on day R pauses the days S+1 to R (like a time
    limit, the day a pause starts is not counted in it): the clock runs on the day of
    suspension and stands still up to and including the day it resumes. Started and ended
    the same day, it pauses nothing. An open pause runs from S+1 on.
    """
    out = []
    for start, end, *kind in state.get("pauses", []):
        first = date.fromordinal(date.fromisoformat(start).toordinal() + 1)
        if end is None:
            out.append(Pause(first, None, "special_procedure"))
        elif date.fromisoformat(end) >= first:
            out.append(Pause(first, date.fromisoformat(end), "special_procedure"))
    return out


def limit_half_days(state: Mapping) -> int:
    """The committed limit plus the extension, in half working days."""
    return state["committed_half_days"] + 2 * state.get("extension_days", 0)


def case_deadline(state: Mapping, calendar: Calendar,
                  accepted_date: date | None = None) -> Deadline | None:
    """The processing deadline of an accepted case, computed from its state's inputs.

    ``accepted_date`` overrides the state's (used when computing the deadline to put in
    the ``case.accepted`` event itself). None if the case was never accepted.
    """
    start = accepted_date
    if start is None:
        if not state.get("accepted_date"):
            return None
        start = date.fromisoformat(state["accepted_date"])
    return due_date_half_days(calendar, start, limit_half_days(state), case_pauses(state))


def deadline_summary(deadline: Deadline) -> dict:
    """The ``deadline`` object events carry."""
    return {"limit_half_days": deadline.limit_half_days,
            "due": None if deadline.due is None else deadline.due.isoformat(),
            "confirmed": deadline.confirmed, "calendar_version": deadline.calendar_version}


def case_with(state: Mapping, **changes: Any) -> dict:
    """A copy of ``state`` with ``changes`` (to compute a deadline 'as if')."""
    new = _clone(dict(state))
    new.update(changes)
    return new
