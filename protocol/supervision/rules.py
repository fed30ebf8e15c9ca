"""The supervision rule registry (:data:`RULES`) and its versioned configuration (:class:`RuleSet`).

A :class:`Rule` is the fixed part of a rule: its id, the version of its logic, its Chinese
name and description, its legal basis, its default level and its alert type. Changing
what a rule *checks* bumps its ``version``; findings carry that version so a stored alert
always says which logic raised it.

A :class:`RuleSet` is the configurable part, published by the hub as a signed document
and applied by nodes: thresholds (warning days, red share, repeat count and period, the
acceptance period...) and per-rule switches (enabled, level). It round-trips through a
plain JSON-able dict of ints, strings and bools (:meth:`RuleSet.to_document`,
:meth:`RuleSet.from_document`), validated with errors that name the field in English and
Chinese. A case is judged with the rule set in force when it was accepted; a new rule set
never rewrites past findings (the engine only returns findings; storing them is the apps'
job).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from collections.abc import Mapping
from typing import Any

from ..errors import ProtocolError
from ..events import ROLES

__all__ = [
    "ALERT_TYPES", "CASE_RULE_IDS", "CROSS_CASE_RULE_IDS", "DOCUMENT_FORMAT", "LEVELS",
    "LEVEL_LABELS", "RULES", "TIME_RULE_IDS", "Rule", "RuleSet", "SupervisionError",
]

DOCUMENT_FORMAT = "supervision-rules/1"

LEVELS = ("info", "warning", "yellow", "red")
"""Finding levels, mildest first: 提示 info, 预警 warning, 黄牌 yellow, 红牌 red."""
LEVEL_LABELS = MappingProxyType({"info": "提示", "warning": "预警", "yellow": "黄牌",
                                 "red": "红牌"})

ALERT_TYPES = MappingProxyType({
    "timeliness": "时效监察", "acceptance": "受理时限", "flow": "流程合法性",
    "completeness": "要件完整性", "fee": "收费监察", "reason": "理由说明",
    "voided": "作废办件", "outside_platform": "体外办件", "integrity": "数据完整性",
    "content": "事件内容异常",
})

_LAW = "《中华人民共和国行政许可法》"


class SupervisionError(ProtocolError, ValueError):
    """A rule set (or an argument of the engine's API) breaks a rule.

    ``str(err)`` is English and names the field; ``err.zh`` says the same in Chinese;
    ``err.field`` is the path of the offending field.
    """

    code = "rules_invalid"

    def __init__(self, message: str, *, zh: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.zh = zh

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["zh"] = self.zh
        return out


@dataclass(frozen=True)
class Rule:
    """One supervision rule: the fixed part (see :class:`RuleSet` for the thresholds)."""

    id: str
    version: int
    level: str
    alert_type: str
    name_zh: str
    description_zh: str
    basis: str
    time_based: bool = False
    cross_case: bool = False

    def to_dict(self) -> dict:
        return {"id": self.id, "version": self.version, "level": self.level,
                "alert_type": self.alert_type, "name_zh": self.name_zh,
                "description_zh": self.description_zh, "basis": self.basis,
                "time_based": self.time_based, "cross_case": self.cross_case}


_RULE_LIST = (
    # -- timeliness (time-based: re-judged by evaluate_time on every tick)
    Rule("T-01", 1, "warning", "timeliness", "临近办结时限",
         "办件在承诺办结时限届满前 {warning_days} 个工作日内仍未办结，向承办人员预警。",
         f"{_LAW}第四十二条；本事项承诺办结时限", time_based=True),
    Rule("T-02", 1, "yellow", "timeliness", "超期办件",
         "办件超过承诺办结时限（含经批准的延期、扣除特别程序时间）仍未办结或逾期办结，亮黄牌。",
         f"{_LAW}第四十二条、第八十二条；本事项承诺办结时限", time_based=True),
    Rule("T-03", 1, "red", "timeliness", "严重超期",
         "办件超期的工作日数超过办结时限的 {red_overdue_share_pct}%，亮红牌。",
         f"{_LAW}第四十二条；电子监察红黄牌规则", time_based=True),
    Rule("T-04", 1, "red", "timeliness", "重复超期",
         "同一单位或同一人员在 {repeat_period_days} 日内有 {repeat_count} 件及以上办件超期，"
         "对第 {repeat_count} 件起的超期办件亮红牌。",
         "电子监察红黄牌规则（重复超期问责）", time_based=True, cross_case=True),
    Rule("T-05", 1, "warning", "timeliness", "环节超时",
         "某一办理环节用时超过其在办结时限中所占比例（事项流程配置的时限占比），"
         "即使办件整体尚未超期也予以预警。",
         "本事项办理流程各环节时限占比；电子监察环节时限规则", time_based=True),
    Rule("T-06", 1, "warning", "timeliness", "分级办理超时",
         "上报县级办理的办件，乡镇与县级各自持有办件的工作日超过其环节在办结时限中"
         "所占比例之和；在途（已上报未接收、已回传未接收）时间不计入任何一方。",
         "本事项办理流程各级环节时限占比；电子监察环节时限规则", time_based=True),
    # -- acceptance
    Rule("A-01", 1, "yellow", "acceptance", "受理超时",
         "收到申请材料（或补正材料）后超过 {acceptance_days} 个工作日才作出受理、不予受理"
         "或一次性告知补正的决定；逾期未告知补正的，自收到材料之日起视为受理。",
         f"{_LAW}第三十二条", time_based=True),
    # -- flow legality
    Rule("F-01", 1, "yellow", "flow", "环节缺失或顺序错误",
         "办理环节被跳过、未按流程顺序办理、重复办理，或在办件当前状态下不允许的操作"
         "（如未受理即办理、办结后继续办理）。",
         "本事项办理流程（政务服务事项目录）；《政务服务平台基础数据规范》（GB/T 39046-2020）"),
    Rule("F-02", 1, "red", "flow", "未经审核作出决定",
         "流程中的审核、批准环节尚未完成即作出审批决定。",
         f"{_LAW}第三十四条；本事项办理流程"),
    Rule("F-03", 1, "yellow", "flow", "越权办理",
         "办理人员以不具备的岗位角色办理环节或操作（如非窗口人员受理、非审批岗位审批）。",
         "本事项办理流程岗位设置；岗位职责权限规定"),
    Rule("F-04", 1, "yellow", "flow", "受理审批未分离",
         "事项要求受理与审批分离，但同一人员既受理又审批（作出决定或办理批准环节）。",
         "本平台事项配置（受理与审批分离，廉政风险防控措施）"),
    Rule("F-05", 1, "yellow", "flow", "延期未经批准",
         "办件延期未经中心负责人批准（无批准人、批准人不具备批准岗位或自批）。",
         f"{_LAW}第四十二条"),
    Rule("F-06", 1, "yellow", "flow", "重复延期",
         "办件延期超过一次。", f"{_LAW}第四十二条（可以延长一次）"),
    Rule("F-07", 1, "yellow", "flow", "特别程序无理由",
         "启动特别程序（中止计时）未载明程序类别或理由。", f"{_LAW}第四十五条"),
    # -- completeness
    Rule("C-01", 1, "yellow", "completeness", "要件不全即受理",
         "受理时申请材料清单中的必备材料未齐全。", f"{_LAW}第三十二条"),
    # -- fees
    Rule("P-01", 1, "yellow", "fee", "收费与标准不符",
         "实收金额与目录公布的收费标准不一致（多收，或少收未经批准），"
         "事件记载的标准与目录不符，或收费事项办结时未收费也未减免。",
         f"{_LAW}第五十九条；本事项收费标准及依据"),
    Rule("P-02", 1, "red", "fee", "不收费事项收费",
         "目录中不收费的事项收取了费用。", f"{_LAW}第五十八条"),
    Rule("P-03", 1, "yellow", "fee", "减免或退费未经批准",
         "费用减免或退费未经中心负责人批准，或未说明理由。",
         "收费减免、退费审批制度；本事项收费依据"),
    # -- reasons, voided, outside the platform
    Rule("R-01", 1, "yellow", "reason", "不予受理或不予许可未说明理由",
         "作出不予受理或不予许可（驳回）决定未说明理由。",
         f"{_LAW}第三十二条、第三十八条第二款"),
    Rule("V-01", 1, "info", "voided", "作废办件",
         "每一件作废办件均纳入监察，供监察人员核查。", "电子监察作废办件监控"),
    Rule("V-02", 1, "yellow", "voided", "作废未经批准或无理由",
         "办件作废未经中心负责人批准或未说明理由。", "电子监察作废办件监控；作废审批制度"),
    Rule("O-01", 1, "yellow", "outside_platform", "体外办件",
         "办件未经平台接件、受理即出现办理、决定、办结或收费记录，疑似在平台外办理。",
         "电子监察统一入口监控（所有办件须经平台受理）"),
    # -- integrity and content
    Rule("I-01", 1, "info", "integrity", "时钟偏差期间的记录",
         "办件的事件记录于节点时钟偏差期间，相关时间可能不准确，时效判定需人工核实。",
         "本平台数据完整性要求（节点时钟校准）"),
    Rule("X-01", 1, "info", "content", "事件内容异常",
         "办件事件不符合事件格式规范（字段缺失、类型错误、未知事件类型、时间无法解析、"
         "办件编号不一致等），由监察人员核查节点。",
         "本平台事件格式规范（protocol/events.py）"),
)

RULES: Mapping[str, Rule] = MappingProxyType({r.id: r for r in _RULE_LIST})
"""Every rule, by id, in a stable order (timeliness, acceptance, flow, ...)."""

TIME_RULE_IDS = frozenset(r.id for r in _RULE_LIST if r.time_based and not r.cross_case)
"""Rules :func:`evaluate_time` produces (re-judged on a tick)."""
CROSS_CASE_RULE_IDS = frozenset(r.id for r in _RULE_LIST if r.cross_case)
"""Rules :func:`evaluate_repeats` produces."""
CASE_RULE_IDS = frozenset(r.id for r in _RULE_LIST if not r.cross_case)
"""Rules :func:`evaluate_case` produces."""

# name -> (default, minimum, maximum, English description, Chinese description)
_INT_THRESHOLDS: dict[str, tuple[int, int, int, str, str]] = {
    "warning_days": (1, 0, 30, "working days before the deadline a warning starts",
                     "到期前多少个工作日预警"),
    "red_overdue_share_pct": (50, 0, 1000,
                              "red card when working days overdue exceed this share of the limit",
                              "超期天数超过办结时限的百分之几亮红牌"),
    "repeat_count": (3, 2, 100, "overdue cases of one unit or person that make a repeat",
                     "同一单位或人员超期多少件视为重复超期"),
    "repeat_period_days": (90, 1, 3660, "calendar days a repeat is counted over",
                           "重复超期的统计周期（自然日）"),
    "acceptance_days": (5, 0, 30, "working days to accept, refuse or ask for supplements",
                        "收到材料后作出受理决定的期限（工作日）"),
    "min_reason_chars": (2, 0, 100, "characters a reason needs to count as one",
                         "理由至少多少个字符"),
}
_BOOL_THRESHOLDS: dict[str, tuple[bool, str, str]] = {
    "self_approval_allowed": (True, "an approver may approve their own action",
                              "是否允许本人批准本人的操作"),
    "deemed_acceptance": (True, "late acceptance counts the limit from receipt (art. 32)",
                          "逾期未告知补正的，时限自收到材料之日起计算"),
}
_TEXT_THRESHOLDS: dict[str, tuple[str, str, str]] = {
    "approval_roles": ("head", "comma-separated roles that may approve extensions, waivers, "
                               "refunds and voiding", "可以批准延期、减免、退费、作废的岗位"),
}
THRESHOLD_NAMES = (*_INT_THRESHOLDS, *_BOOL_THRESHOLDS, *_TEXT_THRESHOLDS)


def _fail(path: str, en: str, zh: str) -> SupervisionError:
    return SupervisionError(f"{path}: {en}", zh=f"{path}：{zh}", field=path)


@dataclass(frozen=True)
class RuleSet:
    """Versioned thresholds and per-rule switches. Immutable; build a new one to change it.

    ``disabled``: rule ids not evaluated. ``levels``: rule id -> level overriding the
    rule's default (e.g. ``{"T-05": "yellow"}``).
    """

    version: int = 1
    warning_days: int = 1
    red_overdue_share_pct: int = 50
    repeat_count: int = 3
    repeat_period_days: int = 90
    acceptance_days: int = 5
    min_reason_chars: int = 2
    self_approval_allowed: bool = True
    deemed_acceptance: bool = True
    approval_roles: str = "head"
    disabled: frozenset[str] = frozenset()
    levels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if type(self.version) is not int or not 1 <= self.version <= 2**31 - 1:
            raise _fail("version", f"must be a positive integer, got {self.version!r}",
                        f"规则版本号须为正整数，实际为 {self.version!r}")
        for name, (_, lo, hi, en, zh) in _INT_THRESHOLDS.items():
            value = getattr(self, name)
            if type(value) is not int or not lo <= value <= hi:
                raise _fail(f"thresholds.{name}",
                            f"must be an integer from {lo} to {hi} ({en}), got {value!r}",
                            f"{zh}，须为 {lo} 至 {hi} 的整数，实际为 {value!r}")
        for name, (_, en, zh) in _BOOL_THRESHOLDS.items():
            if not isinstance(getattr(self, name), bool):
                raise _fail(f"thresholds.{name}", f"must be true or false ({en})",
                            f"{zh}，须为 true 或 false")
        roles = self.approval_roles
        if not isinstance(roles, str) or not roles.strip():
            raise _fail("thresholds.approval_roles", "must name at least one role",
                        "须至少填写一个批准岗位")
        for role in roles.split(","):
            if role.strip() not in ROLES:
                raise _fail("thresholds.approval_roles",
                            f"{role.strip()!r} is not a role (one of {', '.join(ROLES)})",
                            f"“{role.strip()}”不是岗位代码")
        disabled = self.disabled
        if isinstance(disabled, str) or not hasattr(disabled, "__iter__"):
            raise _fail("rules", "disabled must be a set of rule ids", "停用规则须为规则编号集合")
        disabled = frozenset(disabled)
        for rule_id in sorted(disabled, key=str):
            if rule_id not in RULES:
                raise _fail(f"rules.{rule_id}", "is not a rule id", "不是已知的规则编号")
        object.__setattr__(self, "disabled", disabled)
        if not isinstance(self.levels, Mapping):
            raise _fail("rules", "levels must map rule ids to levels", "级别须为规则编号到级别的映射")
        levels = dict(self.levels)
        for rule_id, level in levels.items():
            if rule_id not in RULES:
                raise _fail(f"rules.{rule_id}", "is not a rule id", "不是已知的规则编号")
            if level not in LEVELS:
                raise _fail(f"rules.{rule_id}.level",
                            f"must be one of {', '.join(LEVELS)}, got {level!r}",
                            f"级别须为 {', '.join(LEVELS)} 之一")
        object.__setattr__(self, "levels", MappingProxyType(levels))

    def __hash__(self) -> int:
        return hash((self.version, tuple(getattr(self, n) for n in THRESHOLD_NAMES),
                     self.disabled, tuple(sorted(self.levels.items()))))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RuleSet):
            return NotImplemented
        return self.to_document() == other.to_document()

    # -- queries

    def enabled(self, rule_id: str) -> bool:
        return rule_id not in self.disabled

    def level_of(self, rule_id: str) -> str:
        return self.levels.get(rule_id, RULES[rule_id].level)

    @property
    def approval_role_set(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.approval_roles.split(","))

    def thresholds(self) -> dict:
        return {name: getattr(self, name) for name in THRESHOLD_NAMES}

    def describe_zh(self, rule_id: str) -> str:
        """The rule's Chinese description with this rule set's thresholds filled in."""
        return RULES[rule_id].description_zh.format(**self.thresholds())

    # -- documents

    def to_document(self) -> dict:
        """A plain dict of ints, strings and bools, for the hub to publish signed."""
        return {
            "format": DOCUMENT_FORMAT,
            "version": self.version,
            "thresholds": self.thresholds(),
            "rules": {rid: {"enabled": self.enabled(rid), "level": self.level_of(rid)}
                      for rid in RULES},
        }

    @classmethod
    def from_document(cls, doc: Any) -> RuleSet:
        """Rebuild from :meth:`to_document` output, checking every field.

        Unknown keys are refused. ``thresholds`` may omit names (defaults apply) and
        ``rules`` may omit rules (enabled at their default level), so an older document
        stays readable when a rule or threshold is added.
        """
        _expect(doc, "$", required=("format", "version"), optional=("thresholds", "rules"))
        if doc["format"] != DOCUMENT_FORMAT:
            raise _fail("format", f"expected {DOCUMENT_FORMAT!r}, got {doc['format']!r}",
                        "这不是监察规则文件（format 不符）")
        thresholds = doc.get("thresholds", {})
        _expect(thresholds, "thresholds", optional=THRESHOLD_NAMES)
        rules = doc.get("rules", {})
        if not isinstance(rules, dict):
            raise _fail("rules", "must be an object", "须为对象")
        disabled, levels = set(), {}
        for rule_id, entry in rules.items():
            if rule_id not in RULES:
                raise _fail(f"rules.{rule_id}", "is not a rule id", "不是已知的规则编号")
            _expect(entry, f"rules.{rule_id}", optional=("enabled", "level"))
            enabled = entry.get("enabled", True)
            if not isinstance(enabled, bool):
                raise _fail(f"rules.{rule_id}.enabled", "must be true or false",
                            "须为 true 或 false")
            if not enabled:
                disabled.add(rule_id)
            if "level" in entry and entry["level"] != RULES[rule_id].level:
                levels[rule_id] = entry["level"]
        return cls(version=doc["version"], disabled=frozenset(disabled), levels=levels,
                   **thresholds)


def _expect(value: Any, path: str, *, required: tuple[str, ...] = (),
            optional: tuple[str, ...] = ()) -> None:
    if not isinstance(value, dict):
        raise _fail(path, "must be an object", "须为对象")
    missing = [k for k in required if k not in value]
    if missing:
        raise _fail(f"{path}.{missing[0]}", "is required", "缺少此字段")
    extra = sorted(str(k) for k in value if k not in required and k not in optional)
    if extra:
        raise _fail(f"{path}.{extra[0]}", "is not a field of this document", "不是本文件的字段")
