"""A case's derived timeline (:class:`CaseFacts`) from its events, never raising.

:func:`case_facts` reads plain envelope dicts (``{"seq", "ts", "type", "case", "body",
"node"}``) or :class:`~protocol.envelope.SignedEvent` objects, in any order, with any
content. What it cannot read it records as a content problem (rule X-01) and skips; what
it reads it turns into dates (Shanghai dates of the node's timestamps), actors, steps,
decisions, fees, extensions and special-procedure pauses. The facts do not depend on the
calendar, the rule set or "today", so an app can cache them per case and re-run only the
time-based rules on a tick.

Conventions (the same as :mod:`protocol.lifecycle`):

* the processing flow pointer starts at 1 after acceptance (step 0 is the clerk's 受理),
  a step completed with ``pass`` moves it on, ``return`` moves it back one (not below 1),
  and the decision is taken at the last step of the flow;
* a special procedure suspended on day S and resumed on day R pauses S+1 .. R.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..calendar import MAX_YEAR, MIN_YEAR, SHANGHAI
from ..events import EVENT_TYPES, EventBodyError, validate_body
from .. import lifecycle

__all__ = ["CaseFacts", "EventRef", "Extension", "FeeRecord", "Intake", "StepRecord",
           "Suspension", "advance", "case_facts", "normalise_event"]

MAX_HALF_DAYS_JUDGED = 2 * 3650
"""Limits above this (ten years) are not judged: a broken node's value, not a real limit."""

CASE_TYPES_HANDLING = frozenset({
    "case.step_completed", "case.decided", "case.completed", "case.delivered",
    "case.extended", "case.suspended", "case.resumed", "fee.charged", "fee.waived",
    "fee.refunded"})

# The case state in which each event type is allowed: protocol.lifecycle's own table.
_OPEN = frozenset(lifecycle.OPEN_STATES)
_ALLOWED_FROM: dict[str, frozenset] = {
    lifecycle.ACTION_EVENTS[action]: frozenset(states)
    for action, states in lifecycle.ACTION_FROM.items()
    if lifecycle.ACTION_EVENTS[action].startswith("case.")}
_NEXT_STATE = {
    "case.received": "received", "case.accepted": "accepted", "case.refused": "refused",
    "case.supplement_requested": "supplement_requested", "case.resubmitted": "received",
    "case.decided": "decided", "case.suspended": "suspended", "case.resumed": "accepted",
    "case.completed": "completed", "case.delivered": "delivered",
    "case.withdrawn": "withdrawn", "case.voided": "voided",
}


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class EventRef:
    """Where an event sits: node, seq, type, timestamp and its Shanghai date."""

    seq: int | None
    node: str | None
    type: str
    ts: datetime | None
    day: date | None
    actor_id: str | None = None
    actor_role: str | None = None

    def to_dict(self) -> dict:
        return {"seq": self.seq, "node": self.node, "type": self.type,
                "ts": None if self.ts is None else self.ts.isoformat(),
                "date": None if self.day is None else self.day.isoformat(),
                "actor": {"id": self.actor_id, "role": self.actor_role}}


@dataclass(frozen=True)
class Intake:
    """A receipt (``case.received`` / ``case.resubmitted``) and the intake decision that
    answered it (accepted / refused / supplement_requested), if any yet."""

    receipt: EventRef
    decision: EventRef | None


@dataclass(frozen=True)
class StepRecord:
    """A flow step done: ``kind`` is ``"step"`` or ``"decision"``; ``expected`` the step
    the flow pointer pointed at when it was done (None if the case was not in handling)."""

    ref: EventRef
    step: str | None
    outcome: str | None
    kind: str
    expected: str | None
    reason: str | None = None
    position: int = 0
    """The flow pointer before this step (the index of the step due next)."""


@dataclass(frozen=True)
class Extension:
    ref: EventRef
    days: int | None
    approver_id: str | None
    approver_role: str | None
    reason: str | None


@dataclass(frozen=True)
class Suspension:
    """A special procedure: started on ``start`` (event date), ended on ``end`` or open."""

    ref: EventRef
    start: date | None
    end: date | None
    procedure: str | None
    reason: str | None
    resume: EventRef | None = None


@dataclass(frozen=True)
class FeeRecord:
    ref: EventRef
    kind: str  # "charged" | "waived" | "refunded"
    amount_fen: int | None
    standard_fen: int | None
    approver_id: str | None
    approver_role: str | None
    reason: str | None


@dataclass(frozen=True)
class CaseFacts:
    """The derived timeline of one case. Immutable; cache it, re-run the time rules."""

    case: str | None
    node: str | None
    nodes: tuple[str, ...]
    events: tuple[EventRef, ...]
    state: str | None
    item_code: str | None = None
    catalogue_version: int | None = None
    received: EventRef | None = None
    intakes: tuple[Intake, ...] = ()
    accepted: EventRef | None = None
    accepted_materials: tuple[dict, ...] | None = None
    latest_materials: tuple[dict, ...] | None = None
    refused: EventRef | None = None
    refusal_reason: str | None = None
    steps: tuple[StepRecord, ...] = ()
    decision: StepRecord | None = None
    extensions: tuple[Extension, ...] = ()
    suspensions: tuple[Suspension, ...] = ()
    fees: tuple[FeeRecord, ...] = ()
    completed: EventRef | None = None
    delivered: EventRef | None = None
    withdrawn: EventRef | None = None
    voided: EventRef | None = None
    void_reason: str | None = None
    void_approver_id: str | None = None
    void_approver_role: str | None = None
    # from case.received (what the node stamped on the case)
    committed_half_days: int | None = None
    statutory_half_days: int | None = None
    fee_standard_fen: int | None = None
    flow: tuple[dict, ...] | None = None
    separate_accept_approve: bool | None = None
    # irregularities found while reading
    problems: tuple[dict, ...] = ()
    """Content problems (X-01): ``{"seq", "node", "type", "problem", "zh"}``."""
    order_problems: tuple[dict, ...] = ()
    """Events not allowed in the case's state at the time (F-01):
    ``{"seq", "node", "type", "state", "kind"}``."""
    flow_position: int = 0
    """The lifecycle's ``next_step`` after the last event (1 after acceptance)."""

    @property
    def closed_on(self) -> date | None:
        """The date the processing clock stopped: decision, completion, refusal,
        withdrawal or voiding, whichever came first (None while open)."""
        days = [r.day for r in (self.decision.ref if self.decision else None, self.completed,
                                self.refused, self.withdrawn, self.voided)
                if r is not None and r.day is not None]
        return min(days) if days else None

    @property
    def is_open(self) -> bool:
        return self.closed_on is None

    @property
    def has_handling(self) -> bool:
        return any(e.type in CASE_TYPES_HANDLING for e in self.events)


# --------------------------------------------------------------------------- reading


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _strip(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return unicodedata.normalize("NFC", value).strip()


def _who(value: Any) -> tuple[str | None, str | None]:
    if not isinstance(value, Mapping):
        return None, None
    ident, role = value.get("id"), value.get("role")
    return (ident if isinstance(ident, str) and ident else None,
            role if isinstance(role, str) and role else None)


def _materials(value: Any) -> tuple[dict, ...] | None:
    if not isinstance(value, list):
        return None
    out = []
    for m in value:
        if isinstance(m, Mapping) and isinstance(m.get("id"), str):
            out.append({"id": m["id"], "name": _text(m.get("name")) or m["id"],
                        "required": m.get("required") is True,
                        "present": m.get("present") is True})
    return tuple(out)


def _flow(value: Any) -> tuple[dict, ...] | None:
    if not isinstance(value, list):
        return None
    out = []
    for s in value:
        if isinstance(s, Mapping) and isinstance(s.get("id"), str):
            out.append({"id": s["id"], "name": _text(s.get("name")) or s["id"],
                        "role": _text(s.get("role"))})
    return tuple(out) if out else None


def _parse_ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and 19 <= len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    try:
        moment = moment.astimezone(SHANGHAI)
    except (OverflowError, ValueError):
        return None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        return None
    return moment


def normalise_event(event: Any) -> dict | None:
    """A plain envelope dict from a dict-like envelope or a ``SignedEvent``; None if
    neither (never raises)."""
    env = getattr(event, "env", event)
    if isinstance(env, Mapping):
        return env if isinstance(env, dict) else dict(env)
    return None


def _same(a: Mapping, b: Mapping) -> bool:
    try:
        return a == b
    except RecursionError:  # a cyclic structure cannot come from JSON; not the same
        return a is b


def _sort_key(pair: tuple[int, dict]) -> tuple:
    index, env = pair
    seq = env.get("seq")
    return (_text(env.get("node")) or "", seq if type(seq) is int else 2**63, index)


def case_facts(events: Iterable[Any]) -> CaseFacts:
    """Derive a case's :class:`CaseFacts` from its events (any order; never raises).

    Events of one node are read in ``seq`` order (the node's own order, which a skewed
    clock cannot disturb); a case whose events come from several nodes is read in
    timestamp order, then node and seq. Duplicates of a (node, seq) are read once.
    """
    try:
        raw = list(events)
    except Exception:  # noqa: BLE001 - a broken iterable is still a case to report
        raw = []
    problems: list[dict] = []

    def problem(env: Mapping | None, en: str, zh: str) -> None:
        env = env or {}
        seq = env.get("seq")
        problems.append({"seq": seq if type(seq) is int else None,
                         "node": _text(env.get("node")), "type": _text(env.get("type")),
                         "problem": en, "zh": zh})

    envs: list[tuple[int, dict]] = []
    for index, event in enumerate(raw):
        env = normalise_event(event)
        if env is None:
            problem(None, f"event {index} is not an envelope ({type(event).__name__})",
                    f"第 {index + 1} 条记录不是事件")
            continue
        envs.append((index, env))

    nodes = sorted({n for _, e in envs if isinstance((n := e.get("node")), str)})
    # de-duplicate (node, seq); a different event at the same seq is a content problem
    seen: dict[tuple, dict] = {}
    unique: list[tuple[int, dict]] = []
    for index, env in sorted(envs, key=_sort_key):
        seq = env.get("seq")
        key = (_text(env.get("node")), seq) if type(seq) is int else None
        if key is not None and key in seen:
            if not _same(seen[key], env):
                problem(env, f"two different events carry seq {seq}",
                        f"同一序号 {seq} 出现两条不同的事件")
            continue
        if key is not None:
            seen[key] = env
        unique.append((index, env))

    refs: list[tuple[EventRef, dict]] = []
    for _, env in unique:
        type_ = env.get("type")
        type_ = type_ if isinstance(type_, str) else "?"
        seq = env.get("seq")
        ts = _parse_ts(env.get("ts"))
        body = env.get("body")
        if ts is None:
            problem(env, "ts is missing or not an RFC 3339 time with offset in 2000-2100",
                    "事件时间缺失或无法解析")
        if type(seq) is not int:
            problem(env, "seq is missing or not an integer", "事件序号缺失或不是整数")
        if not EVENT_TYPES.get(type_):
            problem(env, f"unknown event type {type_!r}", f"未知的事件类型 {type_}")
        else:
            try:
                validate_body(type_, body, _text(env.get("case")))
            except EventBodyError as exc:
                problem(env, str(exc), f"事件内容不符合规范：{exc}")
            except Exception as exc:  # noqa: BLE001 - a validator crash is a problem too
                problem(env, f"body could not be checked ({type(exc).__name__})",
                        "事件内容无法校验")
        actor_id, actor_role = _who(body.get("actor") if isinstance(body, Mapping) else None)
        refs.append((EventRef(seq if type(seq) is int else None, _text(env.get("node")),
                              type_, ts, None if ts is None else ts.date(),
                              actor_id, actor_role),
                     body if isinstance(body, Mapping) else {}))

    if len(nodes) > 1:
        far = datetime.max.replace(tzinfo=SHANGHAI)
        refs.sort(key=lambda r: (r[0].ts or far, r[0].node or "", r[0].seq or 0))

    cases = [c for _, e in unique if isinstance((c := e.get("case")), str)]
    case = max(sorted(set(cases)), key=cases.count) if cases else None
    if len(set(cases)) > 1:
        problem({}, f"events of several cases mixed: {', '.join(sorted(set(cases)))}",
                "多个办件的事件混在一起")

    return _fold(case, nodes, refs, problems)


def _fold(case: str | None, nodes: list[str], refs: list[tuple[EventRef, dict]],
          problems: list[dict]) -> CaseFacts:
    f: dict[str, Any] = {"intakes": [], "steps": [], "extensions": [], "suspensions": [],
                         "fees": []}
    order: list[dict] = []
    state: str | None = None
    ptr = 0
    pending_receipt: EventRef | None = None
    flow: tuple[dict, ...] | None = None

    for ref, body in refs:
        type_ = ref.type
        if not type_.startswith(("case.", "fee.")):
            continue
        allowed = _ALLOWED_FROM.get(type_)
        if allowed is not None and state not in allowed:
            order.append({"seq": ref.seq, "node": ref.node, "type": type_, "state": state,
                          "kind": "state"})
        if type_ == "case.received":
            if f.get("received") is None:
                f["received"] = ref
                item = body.get("item")
                if isinstance(item, Mapping):
                    f["item_code"] = _text(item.get("code"))
                f["catalogue_version"] = _int(body.get("catalogue_version"))
                f["committed_half_days"] = _int(body.get("committed_half_days"))
                f["statutory_half_days"] = _int(body.get("statutory_half_days"))
                f["fee_standard_fen"] = _int(body.get("fee_standard_fen"))
                flow = _flow(body.get("flow"))
                sep = body.get("separate_accept_approve")
                f["separate_accept_approve"] = sep if isinstance(sep, bool) else None
            f["latest_materials"] = _materials(body.get("materials"))
            pending_receipt = ref
        elif type_ == "case.resubmitted":
            mats = _materials(body.get("materials"))
            if mats is not None:
                f["latest_materials"] = mats
            pending_receipt = ref
        elif type_ in ("case.accepted", "case.refused", "case.supplement_requested"):
            if pending_receipt is not None:
                f["intakes"].append(Intake(pending_receipt, ref))
                pending_receipt = None
            mats = _materials(body.get("materials"))
            if mats is not None:
                f["latest_materials"] = mats
            if type_ == "case.accepted" and f.get("accepted") is None:
                f["accepted"] = ref
                f["accepted_materials"] = mats
                ptr = 1
            elif type_ == "case.refused" and f.get("refused") is None:
                f["refused"] = ref
                f["refusal_reason"] = _strip(body.get("reason"))
        elif type_ in ("case.step_completed", "case.decided"):
            step = _text(body.get("step"))
            outcome = _text(body.get("outcome"))
            expected = None
            if flow and state in ("accepted", "decided"):
                if type_ == "case.decided":
                    expected = flow[lifecycle.flow_plan(flow)[0]]["id"]
                else:
                    expected = flow[min(ptr, len(flow) - 1)]["id"]
            kind = "decision" if type_ == "case.decided" else "step"
            record = StepRecord(ref, step, outcome, kind, expected,
                                _strip(body.get("reason")) if kind == "decision" else None,
                                ptr)
            f["steps"].append(record)
            if kind == "decision" and f.get("decision") is None:
                f["decision"] = record
            ptr = advance(ptr, flow or (), step, outcome, kind)
        elif type_ == "case.extended":
            aid, arole = _who(body.get("approver"))
            f["extensions"].append(Extension(ref, _int(body.get("days")), aid, arole,
                                             _strip(body.get("reason"))))
        elif type_ == "case.suspended":
            f["suspensions"].append(Suspension(ref, ref.day, None,
                                               _text(body.get("procedure")),
                                               _strip(body.get("reason"))))
        elif type_ == "case.resumed":
            open_ = [i for i, s in enumerate(f["suspensions"]) if s.resume is None]
            if open_:
                s = f["suspensions"][open_[-1]]
                f["suspensions"][open_[-1]] = Suspension(s.ref, s.start, ref.day, s.procedure,
                                                         s.reason, ref)
        elif type_ == "case.completed":
            f.setdefault("completed", ref)
        elif type_ == "case.delivered":
            f.setdefault("delivered", ref)
        elif type_ == "case.withdrawn":
            f.setdefault("withdrawn", ref)
        elif type_ == "case.voided":
            if f.get("voided") is None:
                f["voided"] = ref
                f["void_reason"] = _strip(body.get("reason"))
                f["void_approver_id"], f["void_approver_role"] = _who(body.get("approver"))
        elif type_.startswith("fee."):
            kind = type_[4:]
            if kind in ("charged", "waived", "refunded"):
                aid, arole = _who(body.get("approver"))
                f["fees"].append(FeeRecord(ref, kind, _int(body.get("amount_fen")),
                                           _int(body.get("standard_fen")), aid, arole,
                                           _strip(body.get("reason"))))
        # state follows the lifecycle even through irregular events
        if type_ in _NEXT_STATE and not (type_ == "case.received" and state is not None):
            state = _NEXT_STATE[type_]

    if pending_receipt is not None:
        f["intakes"].append(Intake(pending_receipt, None))
    for name in ("intakes", "steps", "extensions", "suspensions", "fees"):
        f[name] = tuple(f[name])
    primary = None
    if f.get("received") is not None:
        primary = f["received"].node
    elif refs:
        primary = refs[0][0].node
    return CaseFacts(case=case, node=primary, nodes=tuple(nodes),
                     events=tuple(r for r, _ in refs), state=state, flow=flow,
                     problems=tuple(problems), order_problems=tuple(order),
                     flow_position=ptr, **{k: v for k, v in f.items()})


def advance(ptr: int, flow: Sequence[Mapping], step: str | None, outcome: str | None,
            kind: str) -> int:
    """The flow pointer after a step or decision: exactly the lifecycle's ``next_step``
    (an approval continues with the steps after the decision step, a rejection goes to
    the completion step)."""
    if not flow:
        return ptr
    ids = [s.get("id") for s in flow]
    if kind == "decision":
        decision, final = lifecycle.flow_plan(flow)
        return min(decision + 1 if outcome == "approve" else final, final)
    at = ids.index(step) if step in ids else ptr
    ptr = max(1, at - 1) if outcome == "return" else max(ptr, at + 1)
    return min(ptr, len(ids))
