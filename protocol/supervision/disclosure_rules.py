"""Supervision rules for information disclosure (政府信息公开监察), pure like the case rules.

The rules share :class:`~protocol.supervision.rules.Rule` with the case rules but live in
their own registry (:data:`DISCLOSURE_RULES`), so a case rule set document is unchanged.
Each evaluator takes plain projections (:func:`protocol.disclosure.apply_document_event`
and :func:`protocol.disclosure.apply_request_action` output), the calendar and ``as_of``,
and returns :class:`DisclosureFinding` values; storing them as alerts is the hub's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from collections.abc import Iterable, Mapping
from typing import Any

from ..calendar import Calendar, add_working_days, working_days_between
from ..disclosure import (MIN_REASON_CHARS, PROACTIVE_DAYS, REPLY_TYPES, catalogue_gaps,
                          proactive_due, request_deadline)
from .rules import Rule

__all__ = ["DISCLOSURE_RULES", "DisclosureFinding", "evaluate_catalogue",
           "evaluate_document", "evaluate_request"]

_REG = "《中华人民共和国政府信息公开条例》"

_RULE_LIST = (
    Rule("D-01", 1, "yellow", "disclosure", "主动公开超期",
         f"主动公开的政府信息未在形成或变更之日起 {PROACTIVE_DAYS} 个工作日内公开；"
         "超期超过 20 个工作日的亮红牌。", f"{_REG}第二十六条"),
    Rule("D-02", 1, "yellow", "disclosure", "依申请公开逾期未答复",
         "政府信息公开申请超过答复期限（20 个工作日，经批准延长的 40 个工作日，"
         "征求第三方意见的时间不计算在内）仍未答复或逾期答复。",
         f"{_REG}第三十三条", time_based=True),
    Rule("D-03", 1, "yellow", "disclosure", "补正告知超期",
         "申请内容不明确的，未在收到申请之日起 7 个工作日内一次性告知申请人补正。",
         f"{_REG}第三十条"),
    Rule("D-04", 1, "yellow", "disclosure", "不予公开未说明理由",
         "作出部分公开、不予公开、无法提供、不予处理或其他处理的答复，未载明理由及依据。",
         f"{_REG}第三十六条"),
    Rule("D-05", 1, "yellow", "disclosure", "延期未经批准",
         "答复期限延长未经政府信息公开工作机构负责人批准（无批准人或本人批准）。",
         f"{_REG}第三十三条第二款"),
    Rule("D-06", 1, "red", "disclosure", "未经保密审查即公开",
         "政府信息公开前未经保密审查，或保密审查未通过即予公开。",
         f"{_REG}第十七条；《中华人民共和国保守国家秘密法》"),
    Rule("D-07", 1, "warning", "disclosure", "依申请公开临近答复期限",
         "政府信息公开申请距答复期限不足 3 个工作日仍未答复，向承办人员预警。",
         f"{_REG}第三十三条", time_based=True),
    Rule("D-08", 1, "info", "disclosure", "目录条目当期未公开",
         "政府信息公开目录中按月、季度或年度更新的条目，在已届满的周期内没有发布任何信息。",
         f"{_REG}第十二条、第二十条"),
)
DISCLOSURE_RULES: Mapping[str, Rule] = MappingProxyType({r.id: r for r in _RULE_LIST})
NEAR_DAYS = 3
RED_LATE_DAYS = 20


@dataclass(frozen=True)
class DisclosureFinding:
    rule_id: str
    level: str
    subject: str              # the document id, request number or catalogue entry
    content_zh: str
    details: dict = field(default_factory=dict)

    @property
    def rule(self) -> Rule:
        return DISCLOSURE_RULES[self.rule_id]


def _d(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def evaluate_document(state: Mapping[str, Any], cal: Calendar) -> list[DisclosureFinding]:
    """D-01 (late proactive disclosure) and D-06 (published without a passing review)."""
    out: list[DisclosureFinding] = []
    published = state.get("published")
    if not published:
        return out
    meta = published.get("meta") or {}
    title = meta.get("title") or state.get("doc")
    made = _d(meta.get("made_on"))
    on = _d(published.get("published_on"))
    if made and on:
        due = proactive_due(cal, made)
        late = max(0, working_days_between(cal, due, on))
        if late > 0:
            level = "red" if late > RED_LATE_DAYS else "yellow"
            out.append(DisclosureFinding(
                "D-01", level, state["doc"],
                f"《{title}》形成于 {made.isoformat()}，应于 {due.isoformat()} 前公开，"
                f"实际 {on.isoformat()} 公开，超期 {late} 个工作日",
                {"made_on": made.isoformat(), "due_on": due.isoformat(),
                 "published_on": on.isoformat(), "days_late": late}))
    review = (state.get("reviews") or {}).get(str(published.get("version")))
    if not review or review.get("outcome") != "pass":
        out.append(DisclosureFinding(
            "D-06", "red", state["doc"],
            f"《{title}》第 {published.get('version')} 版未经保密审查通过即公开",
            {"version": published.get("version")}))
    return out


def evaluate_request(request_no: str, state: Mapping[str, Any], cal: Calendar,
                     as_of: date) -> list[DisclosureFinding]:
    """D-02 overdue, D-07 near the deadline, D-03 late supplement notice, D-04 refusal
    without reason, D-05 extension without approval."""
    out: list[DisclosureFinding] = []
    deadline = request_deadline(cal, state)
    reply = state.get("reply")
    supplement = state.get("supplement")
    if supplement and supplement.get("notice_on"):
        notice = _d(supplement["notice_on"])
        if notice and notice > deadline.supplement_notice_due:
            out.append(DisclosureFinding(
                "D-03", "yellow", request_no,
                f"申请 {request_no} 的补正告知于 {notice.isoformat()} 发出，"
                f"晚于 {deadline.supplement_notice_due.isoformat()}",
                {"notice_on": notice.isoformat(),
                 "due_on": deadline.supplement_notice_due.isoformat()}))
    extension = state.get("extension")
    if extension and not (extension.get("approver") or "").strip():
        out.append(DisclosureFinding("D-05", "yellow", request_no,
                                     f"申请 {request_no} 延期未经批准", {}))
    if reply:
        kind = reply.get("type")
        if kind != "grant" and len((reply.get("reason") or "").strip()) < MIN_REASON_CHARS:
            out.append(DisclosureFinding(
                "D-04", "yellow", request_no,
                f"申请 {request_no} 答复为“{REPLY_TYPES.get(kind, kind)}”但未说明理由", {}))
        replied = _d(reply.get("on"))
        if deadline.reply_due and replied and replied > deadline.reply_due:
            late = working_days_between(cal, deadline.reply_due, replied)
            out.append(DisclosureFinding(
                "D-02", "yellow", request_no,
                f"申请 {request_no} 应于 {deadline.reply_due.isoformat()} 前答复，"
                f"实际 {replied.isoformat()} 答复，逾期 {late} 个工作日",
                {"due_on": deadline.reply_due.isoformat(), "replied_on": replied.isoformat(),
                 "days_late": late}))
        return out
    if deadline.reply_due is None:
        return out
    if as_of > deadline.reply_due:
        late = working_days_between(cal, deadline.reply_due, as_of)
        out.append(DisclosureFinding(
            "D-02", "red" if late > RED_LATE_DAYS else "yellow", request_no,
            f"申请 {request_no} 应于 {deadline.reply_due.isoformat()} 前答复，至今未答复"
            f"（逾期 {late} 个工作日）",
            {"due_on": deadline.reply_due.isoformat(), "days_late": late}))
    else:
        near = add_working_days(cal, as_of, NEAR_DAYS - 1) or as_of
        if deadline.reply_due <= near:
            out.append(DisclosureFinding(
                "D-07", "warning", request_no,
                f"申请 {request_no} 将于 {deadline.reply_due.isoformat()} 到期，尚未答复",
                {"due_on": deadline.reply_due.isoformat()}))
    return out


def evaluate_catalogue(entries: Iterable[Mapping], published: Iterable[Mapping], year: int,
                       today: date) -> list[DisclosureFinding]:
    """D-08: a catalogue entry with nothing published in an ended period."""
    return [DisclosureFinding("D-08", "info", f"{g['body_code']}:{g['code']}:{g['start']}",
                              f"目录条目“{g['name']}”（{g['body_code']}）{g['period']}未发布信息",
                              g)
            for g in catalogue_gaps(entries, published, year, today)]
