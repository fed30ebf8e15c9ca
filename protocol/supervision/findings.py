"""What the supervision checks produce and how: :class:`Finding`, routing by risk point,
the :class:`Collector` a check adds its findings to, and the :class:`Check` entries of the
check tables (:mod:`.checks`, :mod:`.time_checks`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .facts import CaseFacts, EventRef
from .rules import LEVEL_LABELS, RULES, Rule, RuleSet
from .support import case_label, item_map

__all__ = ["Check", "Collector", "EvalContext", "Finding", "LEVEL_GRADE", "ROUTES",
           "risk_point_for"]

ROUTES = {
    "A": (("department_head",), "部门主要负责人"),
    "B": (("deputy_in_charge",), "分管负责人"),
    "C": (("section_chief", "handler"), "股（科）室负责人及经办人"),
}
"""Risk grade -> (recipients, Chinese label): A to the head of department, B to the
deputy in charge, C to the section chief and the handler."""
LEVEL_GRADE = {"red": "A", "yellow": "B", "warning": "C", "info": "C"}
"""Routing when the step has no risk point: by the finding's level (our choice)."""


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


def risk_point_for(item: Any, step_id: str | None) -> dict | None:
    """The catalogue's 廉政风险点 for ``step_id`` (the highest grade if several, A first);
    None if the item has none there or is malformed."""
    points = item_map(item).get("risk_points")
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
        grade, source = LEVEL_GRADE[level], "level"
    to, label = ROUTES[grade]
    route = {"grade": grade, "to": list(to), "to_zh": label, "source": source}
    if point is not None:
        route["risk_point"] = {"code": point.get("code"), "name": point.get("name")}
    return route


class Collector:
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

    def guard(self, rule_ids: tuple[str, ...], fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` for the rules ``rule_ids``; an internal failure becomes an X-01
        finding naming them (and None is returned), never a raise."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - the hub must never stop on one case
            if self.rules.enabled("X-01"):
                named = ",".join(rule_ids)
                self.add("X-01", f"{case_label(self.facts, self.item)}：规则 {named} "
                                 f"无法判定（{type(exc).__name__}），请核查该办件的事件。",
                         details={"internal_error": type(exc).__name__, "rules": named})
            return None


@dataclass(frozen=True)
class Check:
    """One entry of a check table: the ids of the rules a check function raises, and the
    function. The ids must be rules of :data:`~.rules.RULES`."""

    rule_ids: tuple[str, ...]
    run: Callable[..., None]

    def __post_init__(self) -> None:
        unknown = [r for r in self.rule_ids if r not in RULES]
        if not self.rule_ids or unknown:
            raise ValueError(f"check {self.run.__name__}: not rule ids: {unknown or '(none)'}")

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules' metadata (name, level, alert type, basis) from :data:`~.rules.RULES`."""
        return tuple(RULES[r] for r in self.rule_ids)
