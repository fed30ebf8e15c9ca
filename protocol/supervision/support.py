"""Small pure helpers the supervision checks share: reading the catalogue item and the
case's flow, approvals and reasons, and the Chinese wording of findings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from collections.abc import Mapping, Sequence
from typing import Any

from ..lifecycle import flow_plan
from .facts import CaseFacts, EventRef
from .rules import RuleSet

__all__ = ["CaseFlow", "MAX_LIST", "ROLE_ZH", "approved", "case_label", "flow_of",
           "half_zh", "iso", "item_map", "no_reason", "role_of", "step_name", "who", "yuan"]

MAX_LIST = 20  # entries kept in a finding's details lists

ROLE_ZH = {"clerk": "窗口受理", "handler": "承办", "reviewer": "审核", "approver": "批准",
           "head": "中心负责人", "supervisor": "监察", "admin": "系统管理员"}
_PLACEHOLDER_REASONS = frozenset({"无", "无理由", "略", "空", "-", "--", "/", ".", "..", "...",
                                  "。", "n/a", "na", "none", "null", "无。", "暂无"})


def iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def yuan(fen: int | None) -> str:
    if fen is None:
        return "未知金额"
    return f"{fen // 100}.{fen % 100:02d} 元"


def half_zh(half_days: int) -> str:
    whole, half = divmod(half_days, 2)
    return f"{whole}{'.5' if half else ''} 个工作日"


def no_reason(reason: str | None, rules: RuleSet) -> bool:
    """Whether ``reason`` does not count as one: missing, too short or a placeholder."""
    if reason is None:
        return True
    text = reason.strip()
    return len(text) < max(rules.min_reason_chars, 1) or text.casefold() in _PLACEHOLDER_REASONS


def approved(approver_id: str | None, approver_role: str | None, actor_id: str | None,
             rules: RuleSet) -> tuple[bool, str]:
    """Whether an approval is valid, and why not (Chinese)."""
    if approver_id is None or approver_role is None:
        return False, "无批准人"
    if approver_role not in rules.approval_role_set:
        return False, f"批准人岗位为“{ROLE_ZH.get(approver_role, approver_role)}”，不具备批准权限"
    if not rules.self_approval_allowed and actor_id is not None and approver_id == actor_id:
        return False, "本人批准本人的操作"
    return True, ""


def item_map(item: Any) -> Mapping:
    """The catalogue item if it is a mapping, else an empty one (a malformed item)."""
    return item if isinstance(item, Mapping) else {}


def _item_name(facts: CaseFacts, item: Any) -> str:
    name = item_map(item).get("name")
    if isinstance(name, str) and name:
        return name
    return facts.item_code or "未知事项"


def case_label(facts: CaseFacts, item: Any) -> str:
    """How findings name the case: ``办件 <id>（<item name>）``."""
    return f"办件 {facts.case or '（无编号）'}（{_item_name(facts, item)}）"


def who(ref: EventRef | None) -> dict | None:
    """The person responsible for an event, as a finding names them."""
    if ref is None or (ref.actor_id is None and ref.actor_role is None):
        return None
    return {"id": ref.actor_id, "role": ref.actor_role}


def flow_of(facts: CaseFacts, item: Any) -> list[dict]:
    """The case's flow: steps stamped on the case at receipt (the node's snapshot), with
    share and level from the catalogue item; the item's flow if the case has none."""
    item_steps = {}
    raw = item_map(item).get("flow")
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


@dataclass(frozen=True)
class CaseFlow:
    """The flow a case is judged against: its steps (:func:`flow_of`), their ids, and
    the index of the step where the lifecycle decides (``protocol.lifecycle.flow_plan``)."""

    steps: list[dict]
    ids: list[str]
    decision_at: int

    @classmethod
    def of(cls, facts: CaseFacts, item: Any) -> CaseFlow:
        steps = flow_of(facts, item)
        ids = [s["id"] for s in steps]
        try:
            decision_at = flow_plan(steps)[0] if steps else 0
        except (KeyError, TypeError, IndexError):      # a malformed flow from a broken node
            decision_at = len(ids) - 1 if ids else 0
        return cls(steps, ids, decision_at)


def step_name(flow: Sequence[Mapping], step_id: str | None) -> str:
    """A step as findings name it: ``“name”（id）``."""
    for s in flow:
        if s["id"] == step_id:
            return f"“{s['name']}”（{step_id}）"
    return f"“{step_id}”" if step_id else "未知环节"


def role_of(flow: Sequence[Mapping], step_id: str | None) -> str | None:
    return next((s.get("role") for s in flow if s["id"] == step_id), None)
