"""The electronic supervision engine: findings from a case's facts (pure, never raising).

Entry points (see docs/supervision.md):

* :func:`evaluate_case` — every per-case rule over a case's events;
* :func:`case_facts` (in :mod:`.facts`) + :func:`evaluate_time` — the time-based rules
  alone over cached facts, for a periodic tick; :func:`next_change_date` tells the tick
  when a case next needs looking at;
* :func:`evaluate_repeats` — the cross-case rule (the same unit or person overdue
  repeatedly), over :class:`OverdueRecord` rows the app keeps (:func:`overdue_record`);
* :func:`superseded` — which stored findings a new evaluation no longer confirms.

Fairness to off-line nodes: time is judged only up to ``as_of``, which the caller passes
(at the hub: the node's last sync time). What the hub cannot know yet, it does not judge.

Robustness: the hub runs this over events from possibly broken nodes. Odd content is a
finding (X-01) or ignored; each rule group runs under a guard, so even a bug in one rule
yields an X-01 finding naming it rather than an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..calendar import (Calendar, Deadline, Pause, add_working_days, due_date,
                        due_date_half_days, shanghai_date, working_days_between)
from ..envelope import format_ts
from ..lifecycle import ACTION_ROLES, EVENT_ACTIONS, MAX_EXTENSIONS, flow_plan
from ..routing import judge_sides
from .facts import (MAX_HALF_DAYS_JUDGED, CaseFacts, EventRef, advance,
                    case_facts)
from .rules import (CASE_RULE_IDS, LEVEL_LABELS, LEVELS, RULES, RuleSet,
                    SupervisionError)

__all__ = [
    "EvalContext", "Finding", "OverdueRecord", "ROUTES", "deadline_for", "evaluate_case",
    "evaluate_repeats", "evaluate_time", "next_change_date", "overdue_record",
    "risk_point_for", "superseded",
]

ROUTES = {
    "A": (("department_head",), "部门主要负责人"),
    "B": (("deputy_in_charge",), "分管负责人"),
    "C": (("section_chief", "handler"), "股（科）室负责人及经办人"),
}
"""Risk grade -> (recipients, Chinese label): A to the head of department, B to the
deputy in charge, C to the section chief and the handler."""
_LEVEL_GRADE = {"red": "A", "yellow": "B", "warning": "C", "info": "C"}
"""Routing when the step has no risk point: by the finding's level (our choice)."""

_REVIEW_ROLES = frozenset({"reviewer", "approver", "head"})
_APPROVE_ROLES = frozenset({"approver", "head"})
_PROCEDURES = frozenset({"hearing", "tendering", "auction", "inspection", "testing",
                         "quarantine", "appraisal", "expert_review", "public_notice", "other"})
_PLACEHOLDER_REASONS = frozenset({"无", "无理由", "略", "空", "-", "--", "/", ".", "..", "...",
                                  "。", "n/a", "na", "none", "null", "无。", "暂无"})
_ROLE_ZH = {"clerk": "窗口受理", "handler": "承办", "reviewer": "审核", "approver": "批准",
            "head": "中心负责人", "supervisor": "监察", "admin": "系统管理员"}
_MAX_LIST = 20  # entries kept in a finding's details lists


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class EvalContext:
    """What the caller knows beyond the events.

    ``skewed_seqs``: events recorded while the node's clock was skewed, as seqs (any node
    of the case) or ``(node, seq)`` pairs. ``skew_intervals``: ``(start, end)`` aware
    datetimes (node time); events stamped inside one are treated as skewed.
    ``user_roles``: user id -> roles the user actually holds (optional; checks claimed
    roles). ``unit``: the responsible unit for repeat counting (default: the case's node).
    """

    skewed_seqs: frozenset = frozenset()
    skew_intervals: tuple = ()
    user_roles: Mapping[str, Iterable[str]] | None = None
    unit: str | None = None

    def is_skewed(self, ref: EventRef) -> bool:
        try:
            if ref.seq is not None and (ref.seq in self.skewed_seqs
                                        or (ref.node, ref.seq) in self.skewed_seqs):
                return True
            if ref.ts is not None:
                for start, end in self.skew_intervals:
                    if start <= ref.ts <= end:
                        return True
        except TypeError:
            return False
        return False


@dataclass(frozen=True)
class Finding:
    """One supervision alert. ``key`` = (case, rule_id, level): one alert per case, rule
    and level. ``details`` is JSON-able (dates as ``YYYY-MM-DD``)."""

    rule_id: str
    rule_version: int
    ruleset_version: int
    level: str
    alert_type: str
    case: str | None
    seq: int | None
    node: str | None
    step: str | None
    responsible: dict | None
    message_zh: str
    basis: str
    details: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str | None, str, str]:
        return (self.case, self.rule_id, self.level)

    @property
    def level_zh(self) -> str:
        return LEVEL_LABELS[self.level]

    def to_dict(self) -> dict:
        return {"rule_id": self.rule_id, "rule_version": self.rule_version,
                "ruleset_version": self.ruleset_version, "level": self.level,
                "alert_type": self.alert_type, "case": self.case, "seq": self.seq,
                "node": self.node, "step": self.step, "responsible": self.responsible,
                "message_zh": self.message_zh, "basis": self.basis, "details": self.details}


@dataclass(frozen=True)
class OverdueRecord:
    """One overdue case for the repeat rule: the first day it was overdue, its unit (the
    node or department) and the person responsible for the step that ran late."""

    case: str
    overdue_on: date
    unit: str | None = None
    person: str | None = None

    def to_dict(self) -> dict:
        return {"case": self.case, "overdue_on": self.overdue_on.isoformat(),
                "unit": self.unit, "person": self.person}


@dataclass(frozen=True)
class _Clock:
    start: date
    start_basis: str  # "accepted" | "deemed_art32"
    base_half_days: int
    extension_days: int
    limit_half_days: int
    pauses: tuple[Pause, ...]
    deadline: Deadline


# --------------------------------------------------------------------------- small helpers


def _as_date(as_of: Any) -> date:
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise SupervisionError("as_of: a naive datetime has no time zone",
                                   zh="as_of 缺少时区信息", field="as_of")
        return shanghai_date(as_of)
    if isinstance(as_of, date):
        return as_of
    raise SupervisionError(f"as_of: expected a date or an aware datetime, got "
                           f"{type(as_of).__name__}", zh="as_of 须为日期或带时区的时间",
                           field="as_of")


def _check_api(rules: Any, calendar: Any) -> None:
    if not isinstance(rules, RuleSet):
        raise SupervisionError(f"rules: expected a RuleSet, got {type(rules).__name__}",
                               zh="rules 须为监察规则集（RuleSet）", field="rules")
    if not isinstance(calendar, Calendar):
        raise SupervisionError(f"calendar: expected a Calendar, got "
                               f"{type(calendar).__name__}", zh="calendar 须为工作日历",
                               field="calendar")


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _yuan(fen: int | None) -> str:
    if fen is None:
        return "未知金额"
    return f"{fen // 100}.{fen % 100:02d} 元"


def _half_zh(half_days: int) -> str:
    whole, half = divmod(half_days, 2)
    return f"{whole}{'.5' if half else ''} 个工作日"


def _no_reason(reason: str | None, rules: RuleSet) -> bool:
    if reason is None:
        return True
    text = reason.strip()
    return len(text) < max(rules.min_reason_chars, 1) or text.casefold() in _PLACEHOLDER_REASONS


def _approved(approver_id: str | None, approver_role: str | None, actor_id: str | None,
              rules: RuleSet) -> tuple[bool, str]:
    """Whether an approval is valid, and why not (Chinese)."""
    if approver_id is None or approver_role is None:
        return False, "无批准人"
    if approver_role not in rules.approval_role_set:
        return False, f"批准人岗位为“{_ROLE_ZH.get(approver_role, approver_role)}”，不具备批准权限"
    if not rules.self_approval_allowed and actor_id is not None and approver_id == actor_id:
        return False, "本人批准本人的操作"
    return True, ""


def _item_map(item: Any) -> Mapping:
    return item if isinstance(item, Mapping) else {}


def _item_name(facts: CaseFacts, item: Any) -> str:
    name = _item_map(item).get("name")
    if isinstance(name, str) and name:
        return name
    return facts.item_code or "未知事项"


def _case_label(facts: CaseFacts, item: Any) -> str:
    return f"办件 {facts.case or '（无编号）'}（{_item_name(facts, item)}）"


def flow_of(facts: CaseFacts, item: Any) -> list[dict]:
    """The case's flow: steps stamped on the case at receipt (the node's snapshot), with
    share and level from the catalogue item; the item's flow if the case has none."""
    item_steps = {}
    raw = _item_map(item).get("flow")
    if isinstance(raw, list):
        for s in raw:
            if isinstance(s, Mapping) and isinstance(s.get("id"), str):
                share = s.get("share_pct")
                item_steps[s["id"]] = {
                    "id": s["id"],
                    "name": s["name"] if isinstance(s.get("name"), str) else s["id"],
                    "role": s.get("role") if isinstance(s.get("role"), str) else None,
                    "share_pct": share if type(share) is int and 0 <= share <= 100 else None}
    if facts.flow:
        return [{**s, "share_pct": item_steps.get(s["id"], {}).get("share_pct")}
                for s in facts.flow]
    return list(item_steps.values())


def _step_name(flow: Sequence[Mapping], step_id: str | None) -> str:
    for s in flow:
        if s["id"] == step_id:
            return f"“{s['name']}”（{step_id}）"
    return f"“{step_id}”" if step_id else "未知环节"


def risk_point_for(item: Any, step_id: str | None) -> dict | None:
    """The catalogue's 廉政风险点 for ``step_id`` (the highest grade if several, A first);
    None if the item has none there or is malformed."""
    points = _item_map(item).get("risk_points")
    if not isinstance(points, list) or step_id is None:
        return None
    found = [p for p in points if isinstance(p, Mapping) and p.get("step") == step_id
             and p.get("grade") in ROUTES]
    if not found:
        return None
    return dict(min(found, key=lambda p: p["grade"]))


def _route(item: Any, step_id: str | None, level: str) -> dict:
    point = risk_point_for(item, step_id)
    if point is not None:
        grade, source = point["grade"], "risk_point"
    else:
        grade, source = _LEVEL_GRADE[level], "level"
    to, label = ROUTES[grade]
    route = {"grade": grade, "to": list(to), "to_zh": label, "source": source}
    if point is not None:
        route["risk_point"] = {"code": point.get("code"), "name": point.get("name")}
    return route


class _Out:
    """Collects findings for one case, applying the rule set's switches and levels."""

    def __init__(self, facts: CaseFacts, item: Any, rules: RuleSet,
                 context: EvalContext | None) -> None:
        self.facts, self.item, self.rules = facts, item, rules
        self.context = context or EvalContext()
        self.findings: list[Finding] = []
        self.uncertain = any(self.context.is_skewed(e) for e in facts.events)

    def add(self, rule_id: str, message: str, *, ref: EventRef | None = None,
            step: str | None = None, responsible: dict | None = None,
            details: dict | None = None, time_based: bool = False) -> None:
        if not self.rules.enabled(rule_id):
            return
        rule = RULES[rule_id]
        level = self.rules.level_of(rule_id)
        details = dict(details or {})
        details["route"] = _route(self.item, step, level)
        if time_based and self.uncertain:
            details["times_uncertain"] = True
            message += "（该办件有记录于节点时钟偏差期间，时间待核实）"
        self.findings.append(Finding(
            rule_id=rule_id, rule_version=rule.version, ruleset_version=self.rules.version,
            level=level, alert_type=rule.alert_type, case=self.facts.case,
            seq=None if ref is None else ref.seq, node=None if ref is None else ref.node,
            step=step, responsible=responsible, message_zh=message, basis=rule.basis,
            details=details))

    def guard(self, rule_ids: str, fn: Callable[[], None]) -> None:
        """Run one rule group; an internal failure becomes an X-01 finding, never a raise."""
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the hub must never stop on one case
            if self.rules.enabled("X-01"):
                self.add("X-01", f"{_case_label(self.facts, self.item)}：规则 {rule_ids} "
                                 f"无法判定（{type(exc).__name__}），请核查该办件的事件。",
                         details={"internal_error": type(exc).__name__, "rules": rule_ids})


def _who(ref: EventRef | None) -> dict | None:
    if ref is None or (ref.actor_id is None and ref.actor_role is None):
        return None
    return {"id": ref.actor_id, "role": ref.actor_role}


# --------------------------------------------------------------------------- deadlines


def _intake_checks(facts: CaseFacts, rules: RuleSet, cal: Calendar, today: date) -> list[dict]:
    """For each receipt, its acceptance due date and whether it was answered late."""
    closed = facts.closed_on
    effective = today if closed is None or closed > today else closed
    out = []
    for intake in facts.intakes:
        received = intake.receipt.day
        if received is None:
            continue
        due = due_date(cal, received, rules.acceptance_days).due
        decision = intake.decision
        if decision is not None and decision.day is not None:
            late, pending = decision.day > due, False
        elif decision is None:
            late, pending = effective > due, closed is None
        else:
            continue
        out.append({"intake": intake, "due": due, "late": late, "pending": pending})
    return out


def _clock(facts: CaseFacts, item: Any, rules: RuleSet, cal: Calendar,
           today: date | None = None) -> _Clock | None:
    if facts.accepted is None or facts.accepted.day is None:
        return None
    base = facts.committed_half_days
    if base is None:
        raw = _item_map(item).get("committed_half_days")
        base = raw if type(raw) is int else None
    if base is None or not 0 <= base <= MAX_HALF_DAYS_JUDGED:
        return None
    start, basis = facts.accepted.day, "accepted"
    if rules.deemed_acceptance:
        for check in _intake_checks(facts, rules, cal, today or facts.accepted.day):
            if check["intake"].decision is facts.accepted and check["late"]:
                start, basis = check["intake"].receipt.day, "deemed_art32"
    ext = 0
    counted = 0
    for e in facts.extensions:
        ok, _ = _approved(e.approver_id, e.approver_role, e.ref.actor_id, rules)
        if ok and e.days is not None and 1 <= e.days <= MAX_HALF_DAYS_JUDGED // 2 \
                and counted < MAX_EXTENSIONS:
            ext += e.days
            counted += 1
    limit = base + 2 * ext
    if limit > MAX_HALF_DAYS_JUDGED:
        return None
    pauses = []
    for s in facts.suspensions:
        if s.start is None:
            continue
        first = s.start + timedelta(days=1)
        if s.resume is None:
            pauses.append(Pause(first, None, "special_procedure"))
        elif s.end is not None and s.end >= first:
            pauses.append(Pause(first, s.end, "special_procedure"))
    deadline = due_date_half_days(cal, start, limit, pauses)
    return _Clock(start, basis, base, ext, limit, tuple(pauses), deadline)


def deadline_for(facts: CaseFacts, item: Any, rules: RuleSet,
                 calendar: Calendar) -> Deadline | None:
    """The processing deadline supervision judges against (None: not accepted, or the
    limit is unknown). Only the first approved extension counts (art. 42)."""
    _check_api(rules, calendar)
    try:
        clock = _clock(facts, item, rules, calendar)
    except Exception:  # noqa: BLE001
        return None
    return None if clock is None else clock.deadline


def _deadline_note(deadline: Deadline) -> str:
    if deadline.confirmed:
        return ""
    years = "、".join(str(y) for y in deadline.unknown_years)
    return f"（截止日期涉及 {years} 年，该年节假日安排尚未录入，按周末推算，待确认）"


def _deadline_details(clock: _Clock) -> dict:
    d = clock.deadline
    return {"start": _iso(clock.start), "start_basis": clock.start_basis,
            "committed_half_days": clock.base_half_days,
            "extension_days": clock.extension_days, "limit_half_days": clock.limit_half_days,
            "due": _iso(d.due), "deadline_confirmed": d.confirmed,
            "unknown_years": list(d.unknown_years), "calendar_version": d.calendar_version,
            "pauses": [[_iso(p.start), _iso(p.end)] for p in clock.pauses],
            "explain_zh": d.explain_zh()}


def _handling(facts: CaseFacts, flow: Sequence[Mapping], clock: _Clock, cal: Calendar,
              effective: date) -> tuple[list[dict], dict | None]:
    """Time spent per step up to ``effective``: done intervals, and the open one."""
    ids = [s["id"] for s in flow]
    intervals: list[dict] = []
    prev = clock.start
    ptr = 1
    decided = False
    for rec in facts.steps:
        day = rec.ref.day
        if day is None or day > effective:
            continue
        used = max(0, working_days_between(cal, prev, day, clock.pauses)) if day >= prev else 0
        intervals.append({"step": rec.step, "from": prev, "to": day, "working_days": used,
                          "actor": _who(rec.ref), "seq": rec.ref.seq, "done": True})
        prev = max(prev, day)
        ptr = advance(ptr, flow, rec.step, rec.outcome, rec.kind)
        decided = decided or rec.kind == "decision"
    current = None
    closed = facts.closed_on
    if not decided and ids and (closed is None or closed > effective) and len(ids) > 1:
        step = ids[min(ptr, len(ids) - 1)]
        used = max(0, working_days_between(cal, prev, effective, clock.pauses)) \
            if effective >= prev else 0
        current = {"step": step, "from": prev, "to": effective, "working_days": used,
                   "actor": None, "seq": None, "done": False}
        intervals.append(current)
    return intervals, current


def _share_days(share_pct: int, limit_half_days: int) -> int:
    """Whole working days a step may take: its share of the limit, a part day rounded up
    (dates have no time of day, like the calendar's half days; never flags early)."""
    return (share_pct * limit_half_days + 199) // 200


def _role_of(flow: Sequence[Mapping], step_id: str | None) -> str | None:
    return next((s.get("role") for s in flow if s["id"] == step_id), None)


# --------------------------------------------------------------------------- time rules


def _time_rules(out: _Out, cal: Calendar, today: date) -> None:
    facts, item, rules = out.facts, out.item, out.rules
    label = _case_label(facts, item)
    flow = flow_of(facts, item)

    def acceptance() -> None:
        for check in _intake_checks(facts, rules, cal, today):
            if not check["late"]:
                continue
            intake, due = check["intake"], check["due"]
            receipt = intake.receipt
            what = "收到申请材料" if receipt.type == "case.received" else "收到补正材料"
            if intake.decision is None:
                msg = (f"{label} {_iso(receipt.day)} {what}，应于 {_iso(due)} 前作出受理、"
                       f"不予受理或补正告知决定，至 {_iso(today)} 仍未作出")
            else:
                dec = intake.decision
                kind = {"case.accepted": "受理", "case.refused": "不予受理",
                        "case.supplement_requested": "补正告知"}.get(dec.type, dec.type)
                msg = (f"{label} {_iso(receipt.day)} {what}，应于 {_iso(due)} 前作出决定，"
                       f"实际于 {_iso(dec.day)} 作出{kind}决定")
            msg += f"（超过 {rules.acceptance_days} 个工作日）"
            out.add("A-01", msg, ref=intake.decision or receipt,
                    step=flow[0]["id"] if flow else None,
                    responsible=_who(receipt) if intake.decision is None
                    else _who(intake.decision),
                    details={"received": _iso(receipt.day), "due": _iso(due),
                             "decided": _iso(intake.decision.day) if intake.decision else None,
                             "pending": check["pending"], "judged_on": _iso(today)},
                    time_based=True)
            return

    out.guard("A-01", acceptance)

    held: dict[str, _Clock | None] = {}

    def compute_clock() -> None:
        held["clock"] = _clock(facts, item, rules, cal, today)

    out.guard("T-01,T-02,T-03,T-05", compute_clock)
    clock = held.get("clock")
    if clock is None or clock.deadline.due is None:
        return
    due = clock.deadline.due
    closed = facts.closed_on
    is_closed = closed is not None and closed <= today
    effective = closed if is_closed else today
    note = _deadline_note(clock.deadline)
    base = _deadline_details(clock)
    limit_zh = _half_zh(clock.limit_half_days)

    def timeliness() -> None:
        intervals, current = _handling(facts, flow, clock, cal, effective)
        if effective > due:
            overdue = max(0, working_days_between(cal, due, effective, clock.pauses))
            late = next((i for i in intervals if i["to"] > due), None)
            step = late["step"] if late else None
            resp = None
            if late is not None:
                resp = late["actor"] or {"id": None, "role": _role_of(flow, step)}
            details = {**base, "judged_on": _iso(effective), "closed_on": _iso(closed),
                       "overdue_working_days": overdue, "overdue_calendar_days":
                       (effective - due).days}
            when = (f"于 {_iso(closed)} 办结" if is_closed
                    else f"至 {_iso(today)} 仍未办结")
            msg = (f"{label}承诺时限 {limit_zh}，截止 {_iso(due)}{note}，{when}，"
                   f"超期 {overdue} 个工作日")
            if step:
                msg += f"（超期时处于{_step_name(flow, step)}环节）"
            out.add("T-02", msg, ref=None, step=step, responsible=resp, details=details,
                    time_based=True)
            if overdue >= 1 and overdue * 200 > rules.red_overdue_share_pct * clock.limit_half_days:
                out.add("T-03", msg + f"，超过时限的 {rules.red_overdue_share_pct}%",
                        step=step, responsible=resp,
                        details={**details, "red_overdue_share_pct": rules.red_overdue_share_pct},
                        time_based=True)
        elif not is_closed:
            remaining = working_days_between(cal, today, due, clock.pauses)
            if remaining <= rules.warning_days:
                step = current["step"] if current else None
                resp = {"id": None, "role": _role_of(flow, step)} if step else None
                msg = (f"{label}承诺时限 {limit_zh}，将于 {_iso(due)} 到期{note}，"
                       f"剩余 {remaining} 个工作日，尚未办结")
                if step:
                    msg += f"（当前环节{_step_name(flow, step)}）"
                out.add("T-01", msg, step=step, responsible=resp,
                        details={**base, "judged_on": _iso(today),
                                 "remaining_working_days": remaining,
                                 "warning_days": rules.warning_days}, time_based=True)

    def step_share() -> None:
        intervals, _ = _handling(facts, flow, clock, cal, effective)
        shares = {s["id"]: s.get("share_pct") for s in flow[1:]}
        used: dict[str, int] = {}
        for i in intervals:
            if i["step"] in shares:
                used[i["step"]] = used.get(i["step"], 0) + i["working_days"]
        over = []
        for step_id, days in used.items():
            share = shares[step_id]
            if share is None:
                continue
            allowed = _share_days(share, clock.limit_half_days)
            if days > allowed:
                done = [i for i in intervals if i["step"] == step_id]
                over.append({"step": step_id, "name": _step_name(flow, step_id),
                             "share_pct": share, "working_days": days,
                             "allowed_working_days": allowed,
                             "done": all(i["done"] for i in done),
                             "actor": next((i["actor"] for i in reversed(done) if i["actor"]),
                                           None)})
        if not over:
            return
        first = over[0]
        parts = "；".join(f"{o['name']}用时 {o['working_days']} 个工作日，"
                         f"占比 {o['share_pct']}% 应不超过 {o['allowed_working_days']} 个工作日"
                         for o in over[:5])
        msg = f"{label}环节超时：{parts}（办结时限 {limit_zh}）"
        out.add("T-05", msg, step=first["step"],
                responsible=first["actor"] or {"id": None,
                                               "role": _role_of(flow, first["step"])},
                details={**base, "judged_on": _iso(effective), "steps": over[:_MAX_LIST]},
                time_based=True)

    def side_share() -> None:
        sides = _judge_sides(facts, item, cal, effective, clock.limit_half_days)
        over = [s for s in sides if s["over"]]
        if not over:
            return
        parts = "；".join(f"{_SIDE_ZH[s['side']]}持有 {s['held_days']} 个工作日，"
                         f"按占比应不超过 {s['allowed_days']} 个工作日" for s in over)
        out.add("T-06", f"{label}分级办理超时：{parts}（办结时限 {limit_zh}）",
                details={**base, "judged_on": _iso(effective), "sides": over},
                time_based=True)

    out.guard("T-01,T-02,T-03", timeliness)
    out.guard("T-05", step_share)
    out.guard("T-06", side_share)


_SIDE_ZH = {"township": "乡镇（初审）", "county": "县级（审批）"}


def _judge_sides(facts: CaseFacts, item: Any, cal: Calendar, effective: date,
                 limit_half_days: int) -> list[dict]:
    """Each side of a forwarded case on its own share (protocol.routing.judge_sides);
    nothing for a case that never left its township."""
    catalogue_item = _item_map(item)
    if not isinstance(catalogue_item.get("flow"), list) \
            or not any(e.type == "case.forwarded" for e in facts.events):
        return []
    envelopes = [{"type": e.type, "ts": format_ts(e.ts)} for e in facts.events
                 if e.ts is not None and e.day is not None and e.day <= effective]
    return [s for s in judge_sides(envelopes, catalogue_item, cal, effective, limit_half_days)
            if s["side"] in _SIDE_ZH]


def evaluate_time(facts: CaseFacts, item: Any, rules: RuleSet, calendar: Calendar,
                  as_of: date | datetime, context: EvalContext | None = None) -> list[Finding]:
    """The time-based findings (A-01, T-01, T-02, T-03, T-05) of a case at ``as_of``.

    ``as_of`` is the last day the caller can vouch for (at the hub: the node's last sync);
    an open case is judged as of that day and no later.
    """
    _check_api(rules, calendar)
    today = _as_date(as_of)
    out = _Out(facts, item, rules, context)
    _time_rules(out, calendar, today)
    return _sorted(out.findings)


def next_change_date(facts: CaseFacts, item: Any, rules: RuleSet, calendar: Calendar,
                     after: date | datetime | None = None) -> date | None:
    """The earliest date (after ``after``, if given) on which :func:`evaluate_time` could
    give different findings for these facts; None if no date can change them (the case
    is closed, paused without end, or not accepted and not awaiting an intake decision).

    A tick stores this date per case and looks only at cases whose date has come. New
    events change the facts, so the app recomputes it whenever a case's events change.
    """
    _check_api(rules, calendar)
    floor = None if after is None else _as_date(after)
    try:
        dates = _change_dates(facts, item, rules, calendar, floor)
    except Exception:  # noqa: BLE001 - unknown: look again tomorrow
        return None if floor is None else floor + timedelta(days=1)
    dates = [d for d in dates if d is not None and (floor is None or d > floor)]
    return min(dates) if dates else None


def _change_dates(facts: CaseFacts, item: Any, rules: RuleSet, cal: Calendar,
                  floor: date | None) -> list[date | None]:
    out: list[date | None] = []
    today = floor or date.min
    closed = facts.closed_on
    for check in _intake_checks(facts, rules, cal, max(today, date(2000, 1, 1))):
        if check["intake"].decision is None and closed is None:
            out.append(check["due"] + timedelta(days=1))
    clock = _clock(facts, item, rules, cal, floor)
    if clock is None or clock.deadline.due is None or closed is not None:
        return out
    due = clock.deadline.due
    # T-01 starts on the first day with at most warning_days counted days left
    out.append(_warning_start(cal, due, rules.warning_days, clock.pauses, clock.start))
    out.append(due + timedelta(days=1))  # T-01 ends, T-02 starts
    need = max(1, rules.red_overdue_share_pct * clock.limit_half_days // 200 + 1)
    out.append(add_working_days(cal, due, need, clock.pauses))  # T-03
    # T-05: the day the current step goes over its share
    flow = flow_of(facts, item)
    effective = max(today, clock.start)
    intervals, current = _handling(facts, flow, clock, cal, effective)
    if current is not None:
        share = next((s.get("share_pct") for s in flow if s["id"] == current["step"]), None)
        if share is not None:
            before = sum(i["working_days"] for i in intervals
                         if i["step"] == current["step"] and i["done"])
            total_need = _share_days(share, clock.limit_half_days) + 1
            left = max(1, total_need - before)
            out.append(add_working_days(cal, current["from"], left, clock.pauses))
    # T-06: a forwarded case's side may go over its share any working day: look daily
    if _judge_sides(facts, item, cal, effective, clock.limit_half_days):
        out.append(effective + timedelta(days=1))
    return out


def _warning_start(cal: Calendar, due: date, warning_days: int, pauses: Sequence[Pause],
                   start: date) -> date:
    """The first day d with working_days_between(d, due) <= warning_days."""
    day = due
    while day > start:
        prev = day - timedelta(days=1)
        if working_days_between(cal, prev, due, pauses) > warning_days:
            return day
        day = prev
    return start


# --------------------------------------------------------------------------- static rules


def _static_rules(out: _Out) -> None:
    facts, item, rules = out.facts, out.item, out.rules
    label = _case_label(facts, item)
    flow = flow_of(facts, item)
    ids = [s["id"] for s in flow]
    try:                                               # where the lifecycle decides
        decision_at = flow_plan(flow)[0] if flow else 0
    except (KeyError, TypeError, IndexError):          # a malformed flow from a broken node
        decision_at = len(ids) - 1 if ids else 0
    ctx = out.context

    def content() -> None:
        if not facts.problems:
            return
        first = facts.problems[0]
        more = f"等 {len(facts.problems)} 处" if len(facts.problems) > 1 else ""
        ref = EventRef(first["seq"], first["node"], first["type"] or "?", None, None)
        out.add("X-01", f"{label}的事件内容异常：{first['zh']}{more}", ref=ref,
                details={"problems": list(facts.problems[:_MAX_LIST]),
                         "count": len(facts.problems)})

    def integrity() -> None:
        skewed = [e for e in facts.events if ctx.is_skewed(e)]
        if skewed:
            seqs = [e.seq for e in skewed]
            out.add("I-01", f"{label}有 {len(skewed)} 条事件（序号 "
                            f"{'、'.join(str(s) for s in seqs[:10])}）记录于节点时钟偏差期间，"
                            "时效判定需人工核实", ref=skewed[0],
                    details={"seqs": seqs[:_MAX_LIST], "nodes": sorted({e.node or "" for e in skewed})})

    def outside() -> None:
        handling = [e for e in facts.events
                    if e.type in ("case.step_completed", "case.decided", "case.completed",
                                  "case.delivered", "case.extended", "case.suspended",
                                  "case.resumed", "fee.charged", "fee.waived", "fee.refunded")]
        if not handling:
            return
        if facts.received is not None and facts.accepted is not None:
            return
        first = handling[0]
        why = "无接件记录" if facts.received is None else "无受理记录"
        out.add("O-01", f"{label}{why}，却出现{_event_zh(first.type)}记录"
                        f"（{_iso(first.day) or '日期不明'}），疑似在平台外办理",
                ref=first, responsible=_who(first),
                details={"received": facts.received is not None,
                         "accepted": facts.accepted is not None,
                         "events": [{"seq": e.seq, "type": e.type}
                                    for e in handling[:_MAX_LIST]]})

    def order() -> None:
        issues = []
        for p in facts.order_problems:
            issues.append({**p, "zh": f"{_event_zh(p['type'])}发生在“"
                                      f"{_STATE_ZH.get(p['state'], '未接件')}”状态"})
        for rec in facts.steps:
            if rec.expected is None or not ids:
                continue
            if rec.step not in ids:
                issues.append({"seq": rec.ref.seq, "node": rec.ref.node, "type": rec.ref.type,
                               "kind": "unknown_step", "step": rec.step,
                               "zh": f"办理了流程中没有的环节“{rec.step}”"})
                continue
            idx = ids.index(rec.step)
            if rec.kind == "decision":
                if idx != decision_at:
                    issues.append({"seq": rec.ref.seq, "node": rec.ref.node,
                                   "type": rec.ref.type, "kind": "wrong_decision_step",
                                   "step": rec.step,
                                   "zh": f"在{_step_name(flow, rec.step)}环节作出决定，"
                                         f"应在{_step_name(flow, ids[decision_at])}环节"})
                missing = [s for s in flow[rec.position:decision_at]] if rec.position >= 1 \
                    else []
                if missing and not any(s.get("role") in _REVIEW_ROLES for s in missing):
                    issues.append({"seq": rec.ref.seq, "node": rec.ref.node,
                                   "type": rec.ref.type, "kind": "skipped",
                                   "step": rec.step, "skipped": [s["id"] for s in missing],
                                   "zh": "作出决定前跳过"
                                         + "、".join(_step_name(flow, s["id"]) for s in missing)})
                continue
            exp = ids.index(rec.expected) if rec.expected in ids else rec.position
            if idx == 0 or (idx == len(ids) - 1 and len(ids) > 1):
                issues.append({"seq": rec.ref.seq, "node": rec.ref.node, "type": rec.ref.type,
                               "kind": "wrong_kind", "step": rec.step,
                               "zh": f"{_step_name(flow, rec.step)}不能作为办理环节提交"})
            elif idx > exp:
                skipped = ids[exp:idx]
                issues.append({"seq": rec.ref.seq, "node": rec.ref.node, "type": rec.ref.type,
                               "kind": "skipped", "step": rec.step, "skipped": skipped,
                               "zh": f"办理{_step_name(flow, rec.step)}前跳过"
                                     + "、".join(_step_name(flow, s) for s in skipped)})
            elif idx < exp:
                issues.append({"seq": rec.ref.seq, "node": rec.ref.node, "type": rec.ref.type,
                               "kind": "out_of_order", "step": rec.step,
                               "zh": f"{_step_name(flow, rec.step)}未经退回重复或倒序办理"})
        if issues:
            issues.sort(key=lambda i: (i.get("seq") is None, i.get("seq") or 0))
            first = issues[0]
            ref = next((e for e in facts.events if e.seq == first["seq"]
                        and e.node == first["node"]), None)
            more = f"等 {len(issues)} 处" if len(issues) > 1 else ""
            out.add("F-01", f"{label}流程不合规：{first['zh']}{more}", ref=ref,
                    step=first.get("step") if first.get("step") in ids else None,
                    responsible=_who(ref), details={"issues": issues[:_MAX_LIST]})

    def no_review() -> None:
        rec = facts.decision
        if rec is None or not ids or rec.position < 1:
            return
        missing = [s for s in flow[rec.position:decision_at]
                   if s.get("role") in _REVIEW_ROLES]
        if not missing:
            return
        names = "、".join(_step_name(flow, s["id"]) for s in missing)
        out.add("F-02", f"{label}于 {_iso(rec.ref.day)} 作出"
                        f"{'准予' if rec.outcome == 'approve' else '不予'}许可决定，"
                        f"但{names}环节尚未完成", ref=rec.ref, step=missing[0]["id"],
                responsible=_who(rec.ref),
                details={"missing_steps": [s["id"] for s in missing],
                         "decision_step": rec.step, "outcome": rec.outcome})

    def roles() -> None:
        issues = []
        user_roles = ctx.user_roles if isinstance(ctx.user_roles, Mapping) else None
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
                if action == "decide" and ids:
                    step_id = ids[decision_at]
                role = _role_of(flow, step_id)
                if role is None:
                    continue
                allowed = frozenset({role})
            if not allowed:
                continue
            if e.actor_role not in allowed:
                want = "、".join(_ROLE_ZH.get(r, r) for r in sorted(allowed))
                issues.append({"seq": e.seq, "node": e.node, "type": e.type, "step": step_id,
                               "actor": _who(e), "kind": "wrong_role",
                               "allowed": sorted(allowed),
                               "zh": f"{e.actor_id or '某人员'}以“{_ROLE_ZH.get(e.actor_role, e.actor_role)}”"
                                     f"岗位{_event_zh(e.type)}"
                                     + (f"{_step_name(flow, step_id)}" if step_id else "")
                                     + f"，应由{want}岗位办理"})
            elif user_roles is not None and e.actor_id in user_roles:
                try:
                    held = frozenset(user_roles[e.actor_id])
                except TypeError:
                    continue
                if e.actor_role not in held:
                    issues.append({"seq": e.seq, "node": e.node, "type": e.type,
                                   "step": step_id, "actor": _who(e), "kind": "role_not_held",
                                   "zh": f"{e.actor_id} 未被授予“"
                                         f"{_ROLE_ZH.get(e.actor_role, e.actor_role)}”岗位，"
                                         f"却以该岗位{_event_zh(e.type)}"})
        if issues:
            first = issues[0]
            ref = next((e for e in facts.events if e.seq == first["seq"]
                        and e.node == first["node"]), None)
            more = f"等 {len(issues)} 处" if len(issues) > 1 else ""
            out.add("F-03", f"{label}越权办理：{first['zh']}{more}", ref=ref,
                    step=first["step"], responsible=first["actor"],
                    details={"issues": issues[:_MAX_LIST]})

    def separation() -> None:
        sep = facts.separate_accept_approve is True \
            or _item_map(item).get("separate_accept_approve") is True
        acc = facts.accepted
        if not sep or acc is None or acc.actor_id is None:
            return
        for rec in facts.steps:
            approving = rec.kind == "decision" or _role_of(flow, rec.step) in _APPROVE_ROLES
            if approving and rec.ref.actor_id == acc.actor_id:
                what = "作出审批决定" if rec.kind == "decision" else \
                    f"办理{_step_name(flow, rec.step)}环节"
                out.add("F-04", f"{label}要求受理与审批分离，但 {acc.actor_id} 于 "
                                f"{_iso(acc.day)} 受理后又于 {_iso(rec.ref.day)} {what}",
                        ref=rec.ref, step=rec.step, responsible=_who(rec.ref),
                        details={"person": acc.actor_id, "accepted_seq": acc.seq,
                                 "approving_seq": rec.ref.seq})
                return

    def extensions() -> None:
        for i, e in enumerate(facts.extensions):
            ok, why = _approved(e.approver_id, e.approver_role, e.ref.actor_id, rules)
            if not ok:
                out.add("F-05", f"{label}于 {_iso(e.ref.day)} 延期 {e.days} 个工作日未经批准"
                                f"（{why}）", ref=e.ref, responsible=_who(e.ref),
                        details={"days": e.days, "approver": {"id": e.approver_id,
                                                              "role": e.approver_role},
                                 "problem_zh": why})
                break
        if len(facts.extensions) > MAX_EXTENSIONS:
            e = facts.extensions[MAX_EXTENSIONS]
            out.add("F-06", f"{label}第 {MAX_EXTENSIONS + 1} 次延期（{_iso(e.ref.day)}，"
                            f"{e.days} 个工作日），法定只能延长一次；该次延期不计入时限",
                    ref=e.ref, responsible=_who(e.ref),
                    details={"count": len(facts.extensions),
                             "seqs": [x.ref.seq for x in facts.extensions]})

    def suspensions() -> None:
        for s in facts.suspensions:
            bad_proc = s.procedure not in _PROCEDURES
            if bad_proc or _no_reason(s.reason, rules):
                why = "未载明特别程序类别" if bad_proc else "未说明理由"
                out.add("F-07", f"{label}于 {_iso(s.start)} 启动特别程序（暂停计时）{why}",
                        ref=s.ref, responsible=_who(s.ref),
                        details={"procedure": s.procedure, "reason": s.reason})
                return

    def completeness() -> None:
        if facts.accepted is None:
            return
        mats = facts.accepted_materials
        if mats is None:
            mats = facts.latest_materials
        item_required = set()
        raw = _item_map(item).get("materials")
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
            out.add("C-01", f"{label}于 {_iso(facts.accepted.day)} 受理时必备材料不全："
                            f"缺{listed}", ref=facts.accepted,
                    step=ids[0] if ids else None, responsible=_who(facts.accepted),
                    details={"missing": missing, "required": sorted(required)})

    def fees() -> None:
        standard = None
        fee = _item_map(item).get("fee")
        if isinstance(fee, Mapping) and isinstance(fee.get("charged"), bool):
            amt = fee.get("amount_fen")
            standard = (amt if type(amt) is int else None) if fee["charged"] else 0
        if standard is None:
            standard = facts.fee_standard_fen
        if standard is None:
            return
        charges = [f for f in facts.fees if f.kind == "charged"]
        free_charged = [f for f in charges if (f.amount_fen or 0) > 0] if standard == 0 else []
        if free_charged:
            f = free_charged[0]
            out.add("P-02", f"{label}为不收费事项，却于 {_iso(f.ref.day)} 收取费用 "
                            f"{_yuan(f.amount_fen)}", ref=f.ref, responsible=_who(f.ref),
                    details={"charged_fen": f.amount_fen, "standard_fen": 0})
        issues = []
        for f in charges:
            if standard == 0:
                continue
            if f.standard_fen is not None and f.standard_fen != standard:
                issues.append((f, f"记载的收费标准 {_yuan(f.standard_fen)} 与目录标准 "
                                  f"{_yuan(standard)} 不符"))
            elif f.amount_fen is not None and f.amount_fen > standard:
                issues.append((f, f"实收 {_yuan(f.amount_fen)}，超过收费标准 {_yuan(standard)}"))
            elif f.amount_fen is not None and f.amount_fen < standard:
                ok, why = _approved(f.approver_id, f.approver_role, f.ref.actor_id, rules)
                if not ok:
                    issues.append((f, f"实收 {_yuan(f.amount_fen)}，低于收费标准 "
                                      f"{_yuan(standard)}，减收未经批准（{why}）"))
        finished = facts.completed or facts.delivered
        if standard > 0 and finished is not None and not charges \
                and not any(f.kind == "waived" for f in facts.fees):
            issues.append((None, f"收费事项（标准 {_yuan(standard)}）办结时既未收费也未减免"))
        if issues:
            f, why = issues[0]
            ref = f.ref if f is not None else finished
            out.add("P-01", f"{label}收费与标准不符：{why}", ref=ref,
                    responsible=_who(ref),
                    details={"standard_fen": standard,
                             "charged_fen": None if f is None else f.amount_fen,
                             "recorded_standard_fen": None if f is None else f.standard_fen,
                             "count": len(issues)})
        for f in facts.fees:
            if f.kind not in ("waived", "refunded"):
                continue
            ok, why = _approved(f.approver_id, f.approver_role, f.ref.actor_id, rules)
            if ok and _no_reason(f.reason, rules):
                ok, why = False, "未说明理由"
            if not ok:
                what = "减免" if f.kind == "waived" else "退费"
                out.add("P-03", f"{label}于 {_iso(f.ref.day)} {what} {_yuan(f.amount_fen)}"
                                f"未经批准或无理由（{why}）", ref=f.ref,
                        responsible=_who(f.ref),
                        details={"kind": f.kind, "amount_fen": f.amount_fen,
                                 "approver": {"id": f.approver_id, "role": f.approver_role},
                                 "problem_zh": why})
                return

    def reasons() -> None:
        if facts.refused is not None and _no_reason(facts.refusal_reason, rules):
            out.add("R-01", f"{label}于 {_iso(facts.refused.day)} 不予受理，未说明理由",
                    ref=facts.refused, step=ids[0] if ids else None,
                    responsible=_who(facts.refused),
                    details={"kind": "refused", "reason": facts.refusal_reason})
            return
        rec = facts.decision
        if rec is not None and rec.outcome == "reject" and _no_reason(rec.reason, rules):
            out.add("R-01", f"{label}于 {_iso(rec.ref.day)} 作出不予许可决定，未说明理由",
                    ref=rec.ref, step=rec.step, responsible=_who(rec.ref),
                    details={"kind": "rejected", "reason": rec.reason})

    def voided() -> None:
        v = facts.voided
        if v is None:
            return
        out.add("V-01", f"{label}于 {_iso(v.day)} 作废（理由：{facts.void_reason or '无'}，"
                        f"批准人：{facts.void_approver_id or '无'}）", ref=v,
                responsible=_who(v), details={"reason": facts.void_reason,
                                              "approver": {"id": facts.void_approver_id,
                                                           "role": facts.void_approver_role}})
        ok, why = _approved(facts.void_approver_id, facts.void_approver_role, v.actor_id, rules)
        if ok and _no_reason(facts.void_reason, rules):
            ok, why = False, "未说明理由"
        if not ok:
            out.add("V-02", f"{label}于 {_iso(v.day)} 作废未经批准或无理由（{why}）", ref=v,
                    responsible=_who(v), details={"problem_zh": why})

    out.guard("X-01", content)
    out.guard("I-01", integrity)
    out.guard("O-01", outside)
    out.guard("F-01", order)
    out.guard("F-02", no_review)
    out.guard("F-03", roles)
    out.guard("F-04", separation)
    out.guard("F-05,F-06", extensions)
    out.guard("F-07", suspensions)
    out.guard("C-01", completeness)
    out.guard("P-01,P-02,P-03", fees)
    out.guard("R-01", reasons)
    out.guard("V-01,V-02", voided)


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


_ORDER = {rid: i for i, rid in enumerate(RULES)}


def _sorted(findings: list[Finding]) -> list[Finding]:
    unique: dict[tuple, Finding] = {}
    for f in findings:
        unique.setdefault(f.key, f)
    return sorted(unique.values(), key=lambda f: (_ORDER[f.rule_id], LEVELS.index(f.level)))


# --------------------------------------------------------------------------- entry points


def evaluate_case(events: Sequence[Any], item: Any, rules: RuleSet, calendar: Calendar,
                  as_of: date | datetime, context: EvalContext | None = None,
                  *, facts: CaseFacts | None = None) -> list[Finding]:
    """Every per-case finding for a case's events (any order, any content; never raises
    for what the events say).

    ``item``: the catalogue item in force at acceptance (None if unknown); ``rules``: the
    rule set in force at acceptance; ``calendar``: the newest calendar; ``as_of``: judge
    time up to this date (at the hub: the node's last sync). ``facts`` may be passed if
    already derived from the same events.
    """
    _check_api(rules, calendar)
    today = _as_date(as_of)
    if facts is None:
        facts = case_facts(events)
    out = _Out(facts, item, rules, context)
    _static_rules(out)
    _time_rules(out, calendar, today)
    return _sorted(out.findings)


def overdue_record(facts: CaseFacts, item: Any, rules: RuleSet, calendar: Calendar,
                   as_of: date | datetime,
                   context: EvalContext | None = None) -> OverdueRecord | None:
    """The case's :class:`OverdueRecord` if it is overdue at ``as_of`` (for the repeat
    rule); None otherwise. ``unit`` is ``context.unit`` or the case's node."""
    for f in evaluate_time(facts, item, rules, calendar, as_of, context):
        if f.rule_id == "T-02" and facts.case:
            due = date.fromisoformat(f.details["due"])
            person = (f.responsible or {}).get("id")
            unit = (context.unit if context and context.unit else None) or facts.node
            return OverdueRecord(facts.case, due + timedelta(days=1), unit, person)
    return None


def evaluate_repeats(overdue_records: Iterable[Any], rules: RuleSet,
                     as_of: date | datetime) -> list[Finding]:
    """T-04: a case is a repeat when its unit or person had at least ``repeat_count``
    overdue cases (itself included) whose first overdue day lies in the
    ``repeat_period_days`` calendar days ending on its own. Records after ``as_of`` are
    not yet known and ignored. Malformed records are skipped."""
    if not isinstance(rules, RuleSet):
        raise SupervisionError("rules: expected a RuleSet", zh="rules 须为监察规则集",
                               field="rules")
    today = _as_date(as_of)
    if not rules.enabled("T-04"):
        return []
    records: list[OverdueRecord] = []
    try:
        iterator = list(overdue_records)
    except Exception:  # noqa: BLE001
        iterator = []
    for r in iterator:
        if isinstance(r, OverdueRecord) and isinstance(r.case, str) \
                and isinstance(r.overdue_on, date) and r.overdue_on <= today:
            records.append(r)
    groups: dict[tuple[str, str], list[OverdueRecord]] = {}
    for r in records:
        if isinstance(r.unit, str) and r.unit:
            groups.setdefault(("unit", r.unit), []).append(r)
        if isinstance(r.person, str) and r.person:
            groups.setdefault(("person", r.person), []).append(r)
    hits: dict[str, dict] = {}
    period = timedelta(days=rules.repeat_period_days)
    for (kind, subject), rows in sorted(groups.items()):
        rows.sort(key=lambda r: (r.overdue_on, r.case))
        for i, r in enumerate(rows):
            window = [x for x in rows[:i + 1] if x.overdue_on > r.overdue_on - period]
            if len(window) >= rules.repeat_count:
                entry = hits.setdefault(r.case, {"record": r, "subjects": []})
                entry["subjects"].append({"kind": kind, "subject": subject,
                                          "count": len(window),
                                          "cases": [x.case for x in window][-_MAX_LIST:]})
    rule = RULES["T-04"]
    level = rules.level_of("T-04")
    out = []
    for case, entry in sorted(hits.items()):
        r = entry["record"]
        subj = entry["subjects"][0]
        who = "单位" if subj["kind"] == "unit" else "人员"
        msg = (f"办件 {case} 于 {r.overdue_on.isoformat()} 超期；{who} {subj['subject']} 在 "
               f"{rules.repeat_period_days} 日内已有 {subj['count']} 件办件超期"
               f"（{'、'.join(subj['cases'][-5:])}），属重复超期")
        out.append(Finding(
            rule_id="T-04", rule_version=rule.version, ruleset_version=rules.version,
            level=level, alert_type=rule.alert_type, case=case, seq=None, node=None,
            step=None, responsible={"id": r.person, "role": None, "unit": r.unit},
            message_zh=msg, basis=rule.basis,
            details={"overdue_on": r.overdue_on.isoformat(), "subjects": entry["subjects"],
                     "repeat_count": rules.repeat_count,
                     "repeat_period_days": rules.repeat_period_days,
                     "route": {"grade": _LEVEL_GRADE[level],
                               "to": list(ROUTES[_LEVEL_GRADE[level]][0]),
                               "to_zh": ROUTES[_LEVEL_GRADE[level]][1], "source": "level"}}))
    return out


def _key_of(finding: Any) -> tuple | None:
    if isinstance(finding, Finding):
        return finding.key
    if isinstance(finding, Mapping):
        return (finding.get("case"), finding.get("rule_id"), finding.get("level"))
    if isinstance(finding, tuple) and len(finding) == 3:
        return finding
    return None


def superseded(old_findings: Iterable[Any], new_findings: Iterable[Any], *,
               rule_ids: Iterable[str] | None = None) -> list[tuple]:
    """Keys of old findings that the new evaluation no longer confirms: resolved (a
    warning on a case since completed in time), escalated (a warning on a case now
    overdue) or disproved (judged before events that arrived later).

    The app marks them superseded and keeps them (nothing is deleted). Only old findings
    of ``rule_ids`` are considered: by default the rules :func:`evaluate_case` produces;
    pass :data:`TIME_RULE_IDS` after :func:`evaluate_time`, ``{"T-04"}`` after
    :func:`evaluate_repeats`. Old and new findings may be :class:`Finding` objects, their
    ``to_dict()`` forms or keys.
    """
    scope = CASE_RULE_IDS if rule_ids is None else frozenset(rule_ids)
    new_keys = {k for k in map(_key_of, new_findings) if k is not None}
    out = []
    for key in map(_key_of, old_findings):
        if key is not None and key[1] in scope and key not in new_keys and key not in out:
            out.append(key)
    return sorted(out, key=lambda k: (str(k[0]), str(k[1]), str(k[2])))
