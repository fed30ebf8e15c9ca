"""Service catalogue (政务服务事项目录): item schema, strict validation and helpers.

The catalogue is drafted and published at the county hub and shipped to township nodes as a
JSON document. Field semantics follow GB/T 39046-2020 (see docs/catalogue.md for the field
reference with the standard's Chinese names)::

    {"version": 1, "published_at": "2026-11-01", "items": [item, ...]}

Only integers, booleans, strings, lists and objects occur: no floats anywhere. Money is in
fen (分); time limits are in half working days (``*_half_days``).

This module is pure: it takes already-parsed data (``json.loads`` output) and does no I/O.
Validation is strict: unknown keys are refused, ``bool`` and ``int`` are distinct, and the
first problem found raises :class:`CatalogueError` naming the field path and the rule.
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
from dataclasses import dataclass, field as _dc_field
from types import MappingProxyType
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CatalogueError",
    "Catalogue",
    "validate_item",
    "validate_catalogue",
    "required_material_ids",
    "flow_step",
    "next_step",
    "steps_at_level",
    "risk_points_at_step",
    "fee_fen",
    "credit_code_ok",
    "match_rank",
    "TYPE_CODES",
    "LEVELS",
    "BODY_NATURES",
    "CASE_KINDS",
    "SERVES",
    "CHANNELS",
    "ROLES",
    "STEP_LEVELS",
    "RISK_GRADES",
    "ITEM_FIELDS",
]

# ---------------------------------------------------------------------------------------------
# Code tables (GB/T 39046-2020 appendix A, as summarised in DOMAIN.md)
# ---------------------------------------------------------------------------------------------

_BASE_TYPES = {
    "01": "行政许可",
    "02": "行政处罚",
    "03": "行政强制",
    "04": "行政征收",
    "05": "行政给付",
    "06": "行政检查",
    "07": "行政确认",
    "08": "行政奖励",
    "09": "行政裁决",
    "10": "其他行政权力",
    "20": "公共服务",
}
#: 事项类型: code -> Chinese name. "11".."19" and "21".."29" are local extensions.
TYPE_CODES: Mapping[str, str] = MappingProxyType(
    {
        **_BASE_TYPES,
        **{f"{n}": "地方扩展（行政权力）" for n in range(11, 20)},
        **{f"{n}": "地方扩展（公共服务）" for n in range(21, 30)},
    }
)
#: 行使层级 accepted in a county catalogue.
LEVELS: Mapping[str, str] = MappingProxyType(
    {"4": "县级", "5": "乡级", "6": "村级", "7": "分级行使"}
)
#: 实施主体性质
BODY_NATURES: tuple[str, ...] = ("法定机关", "授权组织", "受委托组织")
#: 办件类型
CASE_KINDS: Mapping[str, str] = MappingProxyType({"1": "即办件", "2": "承诺件"})
#: 服务对象
SERVES: Mapping[str, str] = MappingProxyType(
    {
        "1": "自然人",
        "2": "企业法人",
        "3": "事业法人",
        "4": "社会组织法人",
        "5": "行政机关",
        "6": "其他组织",
    }
)
#: 办理形式
CHANNELS: Mapping[str, str] = MappingProxyType(
    {"1": "窗口办理", "2": "网上办理", "3": "移动端办理", "4": "快递申请", "9": "其他"}
)
#: Flow-step roles (our own table; the first step is always the clerk's 受理).
ROLES: Mapping[str, str] = MappingProxyType(
    {
        "clerk": "窗口受理人员",
        "handler": "承办人员",
        "reviewer": "审核人员",
        "approver": "审批人员",
        "head": "单位负责人",
    }
)
STEP_LEVELS: Mapping[str, str] = MappingProxyType({"township": "乡镇", "county": "县级"})
#: 廉政风险等级: A -> head of department, B -> deputy in charge, C -> section chief + handler.
RISK_GRADES: Mapping[str, str] = MappingProxyType({"A": "高", "B": "中", "C": "低"})

# ---------------------------------------------------------------------------------------------
# Bounds
# ---------------------------------------------------------------------------------------------

MAX_NAME = 200
MAX_CODE = 10
MAX_IMPL_CODE = 24
MAX_TEXT = 2000
MAX_RISK_NAME = 20
MAX_ITEMS = 5000
MAX_MATERIALS = 50
MAX_STEPS = 20
MAX_BASIS = 50
MAX_RISKS = 50
MAX_FAQ = 50
MAX_HALF_DAYS = 2 * 365  # one calendar year of working days is far above any real limit
MAX_FEE_FEN = 100_000_000  # 100 万元
MAX_COPIES = 99

_CODE_RE = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$")
_RISK_CODE_RE = re.compile(r"^[A-Z0-9]{1,12}_[A-Z0-9]{1,6}_[0-9]{1,6}$")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,15}$")
_PHONE_RE = re.compile(r"^[0-9][0-9-]{2,19}$")
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# GB 32100-2015 unified social credit code
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

ITEM_FIELDS: tuple[str, ...] = (
    "code",
    "impl_code",
    "name",
    "type_code",
    "level",
    "body",
    "handling_org",
    "basis",
    "conditions",
    "case_kind",
    "statutory_half_days",
    "committed_half_days",
    "fee",
    "serves",
    "channels",
    "materials",
    "flow",
    "risk_points",
    "separate_accept_approve",
    "place",
    "hours",
    "phone",
    "supervision_phone",
    "faq",
    "result_name",
)
_DOC_FIELDS = ("version", "published_at", "items")
_BODY_FIELDS = ("name", "credit_code", "nature")
_FEE_FIELDS = ("charged", "amount_fen", "basis")
_MATERIAL_FIELDS = ("id", "name", "issuer", "originals", "copies", "required", "note")
_STEP_FIELDS = ("id", "name", "role", "level", "share_pct")
_RISK_FIELDS = ("code", "name", "step", "grade", "description", "measures")
_FAQ_FIELDS = ("q", "a")

# Chinese labels for error messages, keyed by the path with indices removed.
_LABELS = {
    "": "目录文档",
    "version": "目录版本",
    "published_at": "发布日期",
    "items": "事项清单",
    "item": "事项",
    "code": "基本编码",
    "impl_code": "实施编码",
    "name": "事项名称",
    "type_code": "事项类型",
    "level": "行使层级",
    "body": "实施主体",
    "body.name": "实施主体名称",
    "body.credit_code": "实施主体统一社会信用代码",
    "body.nature": "实施主体性质",
    "handling_org": "承办机构",
    "basis": "设定依据",
    "conditions": "受理条件",
    "case_kind": "办件类型",
    "statutory_half_days": "法定办结时限",
    "committed_half_days": "承诺办结时限",
    "fee": "收费信息",
    "fee.charged": "是否收费",
    "fee.amount_fen": "收费标准",
    "fee.basis": "收费依据",
    "serves": "服务对象",
    "channels": "办理形式",
    "materials": "申请材料",
    "materials.id": "材料标识",
    "materials.name": "材料名称",
    "materials.issuer": "出具机构",
    "materials.originals": "原件份数",
    "materials.copies": "复印件份数",
    "materials.required": "是否必备",
    "materials.note": "材料说明",
    "flow": "办理流程",
    "flow.id": "环节标识",
    "flow.name": "环节名称",
    "flow.role": "环节岗位",
    "flow.level": "环节层级",
    "flow.share_pct": "环节时限占比",
    "risk_points": "廉政风险点",
    "risk_points.code": "风险点编码",
    "risk_points.name": "风险点名称",
    "risk_points.step": "风险点所在环节",
    "risk_points.grade": "风险等级",
    "risk_points.description": "风险描述",
    "risk_points.measures": "防控措施",
    "separate_accept_approve": "受理审批分离",
    "place": "办理地点",
    "hours": "办理时间",
    "phone": "咨询电话",
    "supervision_phone": "监督电话",
    "faq": "常见问题",
    "faq.q": "问题",
    "faq.a": "解答",
    "result_name": "结果名称",
}

_RULE_ZH = {
    "required": "缺失（必填）",
    "unknown_field": "不是目录规定的字段",
    "type": "类型错误",
    "empty": "不能为空",
    "length": "长度或数量超出范围",
    "format": "格式不正确",
    "check_digit": "校验码不正确",
    "code_table": "不在代码表中",
    "range": "数值超出范围",
    "unique": "重复",
    "time_limit": "承诺办结时限不得超过法定办结时限",
    "fee": "收费信息前后矛盾",
    "share_sum": "各环节时限占比之和必须为100",
    "step_ref": "引用了不存在的办理环节",
    "first_step": "第一个环节必须由窗口人员受理（岗位 clerk）",
}


class CatalogueError(ValueError):
    """A catalogue document or item broke a rule.

    ``field`` is the path of the offending value (``"items[3].materials[0].name"``; ``""``
    for the document itself), ``rule`` a stable rule id (see ``docs/catalogue.md``),
    ``message`` English text and ``zh`` the Chinese message shown to staff.
    """

    def __init__(self, field: str, rule: str, message: str, zh: str | None = None):
        self.field = field
        self.rule = rule
        self.message = message
        if zh is None:
            zh = f"{_label(field)}（{field or '文档'}）{_RULE_ZH.get(rule, rule)}"
        self.zh = zh
        super().__init__(f"{field or '<document>'}: {message} [{rule}]")


def _label(path: str) -> str:
    key = re.sub(r"\[\d+\]", "", path)
    if key.startswith("items."):
        key = key[len("items.") :]
    elif key == "items" and re.match(r"^items\[\d+\]$", path):
        key = "item"
    return _LABELS.get(key, key or "目录文档")


def _fail(path: str, rule: str, message: str, detail_zh: str = "") -> CatalogueError:
    zh = f"{_label(path)}（{path or '文档'}）{_RULE_ZH.get(rule, rule)}"
    if detail_zh:
        zh = f"{zh}：{detail_zh}"
    return CatalogueError(path, rule, message, zh)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# ---------------------------------------------------------------------------------------------
# Primitive checks
# ---------------------------------------------------------------------------------------------


def _obj(value: Any, path: str, keys: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, "type", f"expected an object, got {type(value).__name__}")
    for k in value:
        if not isinstance(k, str) or k not in keys:
            raise _fail(_join(path, str(k)), "unknown_field", f"unknown field {k!r}")
    for k in keys:
        if k not in value:
            raise _fail(_join(path, k), "required", f"missing required field {k!r}")
    return value


def _str(
    value: Any,
    path: str,
    *,
    max_len: int = MAX_TEXT,
    allow_empty: bool = False,
    multiline: bool = True,
) -> str:
    if type(value) is not str:
        raise _fail(path, "type", f"expected a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise _fail(path, "empty", "must not be empty")
    if len(value) > max_len:
        raise _fail(
            path,
            "length",
            f"longer than {max_len} characters ({len(value)})",
            f"最多{max_len}个字符，实际{len(value)}个",
        )
    bad = _CONTROL_RE.search(value) or (not multiline and ("\n" in value or "\t" in value))
    if bad:
        raise _fail(path, "format", "contains control characters", "含有控制字符")
    return value


def _int(value: Any, path: str, lo: int, hi: int) -> int:
    if type(value) is not int:  # bool is not an int here
        raise _fail(path, "type", f"expected an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise _fail(path, "range", f"must be between {lo} and {hi}, got {value}", f"应在{lo}至{hi}之间")
    return value


def _bool(value: Any, path: str) -> bool:
    if type(value) is not bool:
        raise _fail(path, "type", f"expected true or false, got {type(value).__name__}")
    return value


def _list(value: Any, path: str, lo: int, hi: int) -> list:
    if type(value) is not list:
        raise _fail(path, "type", f"expected a list, got {type(value).__name__}")
    if not lo <= len(value) <= hi:
        raise _fail(
            path,
            "length",
            f"must have {lo} to {hi} entries, got {len(value)}",
            f"应有{lo}至{hi}项，实际{len(value)}项",
        )
    return value


def _coded(value: Any, path: str, table: Mapping[str, Any] | tuple[str, ...]) -> str:
    if type(value) is not str:
        raise _fail(path, "type", f"expected a code string, got {type(value).__name__}")
    if value not in table:
        allowed = ", ".join(table)
        raise _fail(path, "code_table", f"{value!r} is not one of: {allowed}", f"“{value}”不在代码表中")
    return value


def _pattern(value: Any, path: str, regex: re.Pattern, max_len: int, what: str) -> str:
    _str(value, path, max_len=max_len, multiline=False)
    if not regex.match(value):
        raise _fail(path, "format", f"{value!r} is not a valid {what}", f"“{value}”不符合{what}格式")
    return value


def credit_code_ok(code: str) -> bool:
    """True if ``code`` is a well-formed GB 32100 unified social credit code."""
    if len(code) != 18 or any(c not in _USCC_CHARS for c in code):
        return False
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(code[:17], _USCC_WEIGHTS))
    return _USCC_CHARS[(31 - total % 31) % 31] == code[17]


def _credit_code(value: Any, path: str) -> str:
    _str(value, path, max_len=18, multiline=False)
    if len(value) != 18 or any(c not in _USCC_CHARS for c in value):
        raise _fail(
            path,
            "format",
            "a unified social credit code is 18 characters of 0-9 and A-Y without I, O, S, V, Z",
            "统一社会信用代码应为18位（数字及除I、O、S、V、Z外的大写字母）",
        )
    if not credit_code_ok(value):
        raise _fail(path, "check_digit", f"check character of {value!r} is wrong")
    return value


# ---------------------------------------------------------------------------------------------
# Item validation
# ---------------------------------------------------------------------------------------------


def _validate_item(d: Any, p: str) -> dict:
    _obj(d, p, ITEM_FIELDS)
    j = lambda k: _join(p, k)  # noqa: E731
    out: dict[str, Any] = {}

    out["code"] = _pattern(d["code"], j("code"), _CODE_RE, MAX_CODE, "基本编码")
    out["impl_code"] = _pattern(d["impl_code"], j("impl_code"), _CODE_RE, MAX_IMPL_CODE, "实施编码")
    out["name"] = _str(d["name"], j("name"), max_len=MAX_NAME, multiline=False)
    out["type_code"] = _coded(d["type_code"], j("type_code"), TYPE_CODES)
    out["level"] = _coded(d["level"], j("level"), LEVELS)

    bp = j("body")
    body = _obj(d["body"], bp, _BODY_FIELDS)
    out["body"] = {
        "name": _str(body["name"], _join(bp, "name"), max_len=MAX_NAME, multiline=False),
        "credit_code": _credit_code(body["credit_code"], _join(bp, "credit_code")),
        "nature": _coded(body["nature"], _join(bp, "nature"), BODY_NATURES),
    }
    out["handling_org"] = _str(d["handling_org"], j("handling_org"), max_len=MAX_NAME, multiline=False)

    basis = _list(d["basis"], j("basis"), 1, MAX_BASIS)
    out["basis"] = [_str(b, f"{j('basis')}[{i}]") for i, b in enumerate(basis)]
    out["conditions"] = _str(d["conditions"], j("conditions"))
    out["case_kind"] = _coded(d["case_kind"], j("case_kind"), CASE_KINDS)

    statutory = _int(d["statutory_half_days"], j("statutory_half_days"), 0, MAX_HALF_DAYS)
    committed = _int(d["committed_half_days"], j("committed_half_days"), 0, MAX_HALF_DAYS)
    if committed > statutory:
        raise _fail(
            j("committed_half_days"),
            "time_limit",
            f"committed limit {committed} half days exceeds statutory limit {statutory}",
            f"承诺{committed}个半日，法定{statutory}个半日",
        )
    if out["case_kind"] == "2" and committed < 1:
        raise _fail(
            j("committed_half_days"),
            "range",
            "a promised case (承诺件) needs a committed limit of at least one half day",
            "承诺件的承诺办结时限至少为半个工作日",
        )
    out["statutory_half_days"] = statutory
    out["committed_half_days"] = committed

    fp = j("fee")
    fee = _obj(d["fee"], fp, _FEE_FIELDS)
    charged = _bool(fee["charged"], _join(fp, "charged"))
    amount = _int(fee["amount_fen"], _join(fp, "amount_fen"), 0, MAX_FEE_FEN)
    fee_basis = _str(fee["basis"], _join(fp, "basis"), allow_empty=True)
    if not charged and amount != 0:
        raise _fail(
            _join(fp, "amount_fen"), "fee", "a free item must have amount_fen 0", "不收费事项的收费标准必须为0"
        )
    if charged and amount == 0:
        raise _fail(
            _join(fp, "amount_fen"), "fee", "a charged item needs a positive amount_fen", "收费事项必须填写收费标准"
        )
    if charged and not fee_basis.strip():
        raise _fail(_join(fp, "basis"), "fee", "a charged item needs its fee basis", "收费事项必须填写收费依据")
    out["fee"] = {"charged": charged, "amount_fen": amount, "basis": fee_basis}

    out["serves"] = _code_list(d["serves"], j("serves"), SERVES)
    out["channels"] = _code_list(d["channels"], j("channels"), CHANNELS)

    mp = j("materials")
    materials = _list(d["materials"], mp, 0, MAX_MATERIALS)
    out["materials"] = []
    seen: set[str] = set()
    for i, m in enumerate(materials):
        ip = f"{mp}[{i}]"
        _obj(m, ip, _MATERIAL_FIELDS)
        mid = _pattern(m["id"], _join(ip, "id"), _ID_RE, 16, "材料标识")
        if mid in seen:
            raise _fail(_join(ip, "id"), "unique", f"duplicate material id {mid!r}", f"“{mid}”")
        seen.add(mid)
        out["materials"].append(
            {
                "id": mid,
                "name": _str(m["name"], _join(ip, "name"), max_len=MAX_NAME, multiline=False),
                "issuer": _str(m["issuer"], _join(ip, "issuer"), max_len=MAX_NAME, multiline=False),
                "originals": _int(m["originals"], _join(ip, "originals"), 0, MAX_COPIES),
                "copies": _int(m["copies"], _join(ip, "copies"), 0, MAX_COPIES),
                "required": _bool(m["required"], _join(ip, "required")),
                "note": _str(m["note"], _join(ip, "note"), allow_empty=True),
            }
        )

    sp = j("flow")
    flow = _list(d["flow"], sp, 1, MAX_STEPS)
    out["flow"] = []
    seen = set()
    total = 0
    for i, s in enumerate(flow):
        ip = f"{sp}[{i}]"
        _obj(s, ip, _STEP_FIELDS)
        sid = _pattern(s["id"], _join(ip, "id"), _ID_RE, 16, "环节标识")
        if sid in seen:
            raise _fail(_join(ip, "id"), "unique", f"duplicate step id {sid!r}", f"“{sid}”")
        seen.add(sid)
        step = {
            "id": sid,
            "name": _str(s["name"], _join(ip, "name"), max_len=MAX_NAME, multiline=False),
            "role": _coded(s["role"], _join(ip, "role"), ROLES),
            "level": _coded(s["level"], _join(ip, "level"), STEP_LEVELS),
            "share_pct": _int(s["share_pct"], _join(ip, "share_pct"), 0, 100),
        }
        if i == 0 and step["role"] != "clerk":
            raise _fail(
                _join(ip, "role"),
                "first_step",
                f"the first step must be the clerk's acceptance (受理), got role {step['role']!r}",
            )
        total += step["share_pct"]
        out["flow"].append(step)
    if total != 100:
        raise _fail(sp, "share_sum", f"step shares sum to {total}, not 100", f"实际合计{total}")

    rp = j("risk_points")
    risks = _list(d["risk_points"], rp, 0, MAX_RISKS)
    out["risk_points"] = []
    seen = set()
    for i, r in enumerate(risks):
        ip = f"{rp}[{i}]"
        _obj(r, ip, _RISK_FIELDS)
        rcode = _pattern(r["code"], _join(ip, "code"), _RISK_CODE_RE, 32, "风险点编码（主体_权力类型_序号）")
        if rcode in seen:
            raise _fail(_join(ip, "code"), "unique", f"duplicate risk point code {rcode!r}", f"“{rcode}”")
        seen.add(rcode)
        step_id = _str(r["step"], _join(ip, "step"), max_len=16, multiline=False)
        if not any(s["id"] == step_id for s in out["flow"]):
            raise _fail(_join(ip, "step"), "step_ref", f"no flow step with id {step_id!r}", f"“{step_id}”")
        out["risk_points"].append(
            {
                "code": rcode,
                "name": _str(r["name"], _join(ip, "name"), max_len=MAX_RISK_NAME, multiline=False),
                "step": step_id,
                "grade": _coded(r["grade"], _join(ip, "grade"), RISK_GRADES),
                "description": _str(r["description"], _join(ip, "description")),
                "measures": _str(r["measures"], _join(ip, "measures")),
            }
        )

    out["separate_accept_approve"] = _bool(d["separate_accept_approve"], j("separate_accept_approve"))
    out["place"] = _str(d["place"], j("place"), max_len=MAX_NAME)
    out["hours"] = _str(d["hours"], j("hours"), max_len=MAX_NAME)
    out["phone"] = _pattern(d["phone"], j("phone"), _PHONE_RE, 20, "电话号码")
    out["supervision_phone"] = _pattern(d["supervision_phone"], j("supervision_phone"), _PHONE_RE, 20, "电话号码")

    qp = j("faq")
    faq = _list(d["faq"], qp, 0, MAX_FAQ)
    out["faq"] = []
    for i, f in enumerate(faq):
        ip = f"{qp}[{i}]"
        _obj(f, ip, _FAQ_FIELDS)
        out["faq"].append({"q": _str(f["q"], _join(ip, "q")), "a": _str(f["a"], _join(ip, "a"))})

    out["result_name"] = _str(d["result_name"], j("result_name"), max_len=MAX_NAME, multiline=False)
    return out


def _code_list(value: Any, path: str, table: Mapping[str, str]) -> list[str]:
    items = _list(value, path, 1, len(table))
    seen: set[str] = set()
    for i, c in enumerate(items):
        _coded(c, f"{path}[{i}]", table)
        if c in seen:
            raise _fail(f"{path}[{i}]", "unique", f"duplicate code {c!r}", f"“{c}”")
        seen.add(c)
    return list(items)


def validate_item(d: Any) -> dict:
    """Validate one catalogue item; return a normalised deep copy (keys in canonical order).

    Raises :class:`CatalogueError` with a field path relative to the item (``"flow[0].role"``).
    """
    return _validate_item(d, "")


def validate_catalogue(doc: Any) -> "Catalogue":
    """Validate a whole catalogue document and return a :class:`Catalogue`.

    Field paths in errors are absolute (``"items[3].materials[0].name"``). Item codes, 实施编码
    and 廉政风险点 codes are unique across the catalogue.
    """
    _obj(doc, "", _DOC_FIELDS)
    version = _int(doc["version"], "version", 1, 2**31 - 1)
    published = _str(doc["published_at"], "published_at", max_len=10, multiline=False)
    if not _DATE_RE.match(published):
        raise _fail("published_at", "format", f"{published!r} is not a YYYY-MM-DD date", "应为YYYY-MM-DD")
    try:
        _dt.date.fromisoformat(published)
    except ValueError:
        raise _fail("published_at", "format", f"{published!r} is not a real date", "日期不存在") from None
    raw_items = _list(doc["items"], "items", 0, MAX_ITEMS)
    items = []
    codes: set[str] = set()
    impl_codes: set[str] = set()
    risk_codes: set[str] = set()
    for i, raw in enumerate(raw_items):
        p = f"items[{i}]"
        item = _validate_item(raw, p)
        if item["code"] in codes:
            raise _fail(f"{p}.code", "unique", f"duplicate item code {item['code']!r}", f"“{item['code']}”")
        if item["impl_code"] in impl_codes:
            raise _fail(
                f"{p}.impl_code", "unique", f"duplicate impl_code {item['impl_code']!r}", f"“{item['impl_code']}”"
            )
        for k, r in enumerate(item["risk_points"]):
            if r["code"] in risk_codes:
                raise _fail(
                    f"{p}.risk_points[{k}].code", "unique", f"duplicate risk point code {r['code']!r}", f"“{r['code']}”"
                )
            risk_codes.add(r["code"])
        codes.add(item["code"])
        impl_codes.add(item["impl_code"])
        items.append(item)
    return Catalogue(version=version, published_at=published, items=tuple(items))


# ---------------------------------------------------------------------------------------------
# Catalogue object
# ---------------------------------------------------------------------------------------------


def _in_order(term: str, text: str) -> bool:
    """Every character of ``term`` appears in ``text`` in the same order."""
    rest = iter(text)
    return all(ch in rest for ch in term)


def match_rank(query: str, name: str, others: Sequence[str] = ()) -> int | None:
    """How an item matches a search: every whitespace-separated term of ``query`` must be
    in ``name`` or one of ``others`` (case-insensitive); 0 when all are, 1 when a term
    of two or more Chinese characters matches ``name`` only as an abbreviation (its
    characters in order: 低保 finds 最低生活保障对象认定, 医保 finds 基本医疗保险); None
    when the item does not match."""
    terms = [t.casefold() for t in (query or "").split()]
    name_cf = name.casefold()
    hay = "\n".join((name_cf, *(o.casefold() for o in others if o)))
    rank = 0
    for term in terms:
        if term in hay:
            continue
        if len(term) >= 2 and not term.isascii() and _in_order(term, name_cf):
            rank = 1
            continue
        return None
    return rank


@dataclass(frozen=True)
class Catalogue:
    """A validated catalogue. Build it with :func:`validate_catalogue`.

    ``items`` are plain dicts in validated form; treat them as read-only (``to_document``
    returns independent copies).
    """

    version: int
    published_at: str
    items: tuple[dict, ...]
    _index: Mapping[str, dict] = _dc_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        object.__setattr__(self, "_index", MappingProxyType({it["code"]: it for it in self.items}))

    def __len__(self) -> int:
        return len(self.items)

    def by_code(self, code: str) -> dict | None:
        """The item with 基本编码 ``code`` (or with 实施编码 ``code``); None if absent."""
        found = self._index.get(code)
        if found is None:
            found = next((it for it in self.items if it["impl_code"] == code), None)
        return found

    def search(self, text: str) -> tuple[dict, ...]:
        """Items matching ``text`` (see :func:`match_rank`) over name, code, impl_code and
        body name: exact matches first, then abbreviations, each in catalogue order. An
        empty query returns all items."""
        if not (text or "").split():
            return self.items
        ranked = []
        for position, it in enumerate(self.items):
            rank = match_rank(text, it["name"], (it["code"], it["impl_code"], it["body"]["name"]))
            if rank is not None:
                ranked.append((rank, position, it))
        return tuple(it for _, _, it in sorted(ranked, key=lambda r: r[:2]))

    def to_document(self) -> dict:
        """The JSON-ready document (a deep copy); ``validate_catalogue`` accepts it back."""
        return {
            "version": self.version,
            "published_at": self.published_at,
            "items": [copy.deepcopy(it) for it in self.items],
        }


# ---------------------------------------------------------------------------------------------
# Helpers for case handling (take a validated item)
# ---------------------------------------------------------------------------------------------


def required_material_ids(item: Mapping) -> tuple[str, ...]:
    """Ids of the materials marked required (是否必备), in catalogue order."""
    return tuple(m["id"] for m in item["materials"] if m["required"])


def flow_step(item: Mapping, step_id: str) -> dict | None:
    """The flow step with ``step_id``; None if the item has no such step."""
    return next((s for s in item["flow"] if s["id"] == step_id), None)


def next_step(item: Mapping, step_id: str) -> dict | None:
    """The step after ``step_id``; None after the last one. KeyError for an unknown step."""
    flow = item["flow"]
    for i, s in enumerate(flow):
        if s["id"] == step_id:
            return flow[i + 1] if i + 1 < len(flow) else None
    raise KeyError(step_id)


def steps_at_level(item: Mapping, level: str) -> tuple[dict, ...]:
    """Steps done at ``level`` ("township" or "county"), in flow order."""
    if level not in STEP_LEVELS:
        raise ValueError(f"level must be one of {', '.join(STEP_LEVELS)}, got {level!r}")
    return tuple(s for s in item["flow"] if s["level"] == level)


def risk_points_at_step(item: Mapping, step_id: str) -> tuple[dict, ...]:
    """廉政风险点 attached to the flow step ``step_id``."""
    return tuple(r for r in item["risk_points"] if r["step"] == step_id)


def fee_fen(item: Mapping) -> int:
    """The catalogue fee in fen: 0 for a free item."""
    fee = item["fee"]
    return fee["amount_fen"] if fee["charged"] else 0
