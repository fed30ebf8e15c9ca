"""A catalogue item as an HTML form and back.

Lists are edited one entry per line, fields separated by ``|``::

    materials   M1 | 申请表 | 申请人 | 1 | 0 | 是 | 说明
    flow        S1 | 受理 | clerk | township | 10
    risk_points MZ_QR_001 | 名称 | S2 | B | 风险描述 | 防控措施
    faq         问题 | 解答
    basis       one legal basis per line

Time limits are entered in working days (``0.5`` allowed), fees in yuan (``20.00``).
:func:`form_to_item` returns the item dict (not yet validated) and a
:class:`web.errors.ValidationErrors` for what could not even be parsed; the caller then
runs :func:`protocol.catalogue.validate_item` and maps its error with :func:`field_error`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from web.errors import ValidationErrors
from web.inputs import to_int

SCALARS = ("code", "impl_code", "name", "type_code", "level", "handling_org", "conditions",
           "case_kind", "place", "hours", "phone", "supervision_phone", "result_name")
LIST_FIELDS = ("basis", "materials", "flow", "risk_points", "faq")
YES = {"是", "y", "yes", "true", "1", "必备", "必须"}
NO = {"否", "n", "no", "false", "0", "", "非必备", "可选"}
_DAYS_RE = re.compile(r"^[0-9]{1,3}(\.5|\.0)?$")
_YUAN_RE = re.compile(r"^[0-9]{1,7}(\.[0-9]{1,2})?$")


def days_text(half_days: int) -> str:
    return f"{half_days // 2}" + (".5" if half_days % 2 else "")


def yuan_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def parse_days(text: str) -> int | None:
    text = text.strip()
    if not _DAYS_RE.match(text):
        return None
    return int(round(float(text) * 2))


def parse_yuan(text: str) -> int | None:
    text = text.strip() or "0"
    if not _YUAN_RE.match(text):
        return None
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def _bool(text: str) -> bool | None:
    value = text.strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    return None


def _int(text: str) -> int | None:
    text = text.strip()
    return to_int(text, max_digits=9)


def item_to_form(item: Mapping | None) -> dict[str, str]:
    if not item:
        return {"type_code": "20", "level": "5", "case_kind": "2", "body_nature": "法定机关",
                "serves": "1", "channels": "1", "fee_amount": "0.00", "statutory_days": "",
                "committed_days": ""}
    form = {k: str(item.get(k, "")) for k in SCALARS}
    form.update({
        "body_name": item["body"]["name"], "body_credit_code": item["body"]["credit_code"],
        "body_nature": item["body"]["nature"],
        "statutory_days": days_text(item["statutory_half_days"]),
        "committed_days": days_text(item["committed_half_days"]),
        "fee_charged": "1" if item["fee"]["charged"] else "",
        "fee_amount": yuan_text(item["fee"]["amount_fen"]), "fee_basis": item["fee"]["basis"],
        "serves": ",".join(item["serves"]), "channels": ",".join(item["channels"]),
        "separate_accept_approve": "1" if item["separate_accept_approve"] else "",
        "basis": "\n".join(item["basis"]),
        "materials": "\n".join(" | ".join([m["id"], m["name"], m["issuer"], str(m["originals"]),
                                           str(m["copies"]), "是" if m["required"] else "否",
                                           m["note"]]) for m in item["materials"]),
        "flow": "\n".join(" | ".join([s["id"], s["name"], s["role"], s["level"],
                                      str(s["share_pct"])]) for s in item["flow"]),
        "risk_points": "\n".join(" | ".join([r["code"], r["name"], r["step"], r["grade"],
                                             r["description"], r["measures"]])
                                 for r in item["risk_points"]),
        "faq": "\n".join(f"{f['q']} | {f['a']}" for f in item["faq"]),
    })
    return form


def _lines(text: str) -> list[tuple[int, list[str]]]:
    out = []
    for n, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if line.strip():
            out.append((n, [part.strip() for part in line.split("|")]))
    return out


def form_to_item(form: Mapping[str, Any]) -> tuple[dict, ValidationErrors]:
    errors = ValidationErrors()

    def text(name: str) -> str:
        value = form.get(name, "")
        return value.strip() if isinstance(value, str) else ""

    item: dict[str, Any] = {k: text(k) for k in SCALARS}
    item["body"] = {"name": text("body_name"), "credit_code": text("body_credit_code").upper(),
                    "nature": text("body_nature")}
    for name, key, label in (("statutory_days", "statutory_half_days", "法定办结时限"),
                             ("committed_days", "committed_half_days", "承诺办结时限")):
        value = parse_days(text(name))
        if value is None:
            errors.add(name, f"{label}：请填写工作日数，可为半日，如 20 或 0.5")
            value = 0
        item[key] = value
    charged = bool(text("fee_charged"))
    amount = parse_yuan(text("fee_amount"))
    if amount is None:
        errors.add("fee_amount", "收费标准：请填写金额（元），最多两位小数，如 20.00")
        amount = 0
    item["fee"] = {"charged": charged, "amount_fen": amount, "basis": text("fee_basis")}
    for name, label in (("serves", "服务对象"), ("channels", "办理形式")):
        item[name] = [c.strip() for c in re.split(r"[,，、\s]+", text(name)) if c.strip()]
    item["separate_accept_approve"] = bool(text("separate_accept_approve"))
    item["basis"] = [line for line in (t.strip() for t in text("basis").split("\n")) if line]

    item["materials"] = []
    for n, parts in _lines(text("materials")):
        if len(parts) not in (6, 7):
            errors.add("materials", f"申请材料第 {n} 行：应为 7 栏“标识 | 名称 | 出具机构 | 原件份数 | "
                                    "复印件份数 | 是否必备 | 说明”（说明可省略）")
            continue
        parts += [""] * (7 - len(parts))
        originals, copies, required = _int(parts[3]), _int(parts[4]), _bool(parts[5])
        if originals is None or copies is None:
            errors.add("materials", f"申请材料第 {n} 行：原件份数和复印件份数应为整数")
            continue
        if required is None:
            errors.add("materials", f"申请材料第 {n} 行：是否必备应填“是”或“否”")
            continue
        item["materials"].append({"id": parts[0], "name": parts[1], "issuer": parts[2],
                                  "originals": originals, "copies": copies,
                                  "required": required, "note": parts[6]})
    item["flow"] = []
    for n, parts in _lines(text("flow")):
        if len(parts) != 5 or _int(parts[4]) is None:
            errors.add("flow", f"办理流程第 {n} 行：应为 5 栏“标识 | 环节名称 | 岗位 | 层级 | 时限占比”，"
                               "时限占比为整数")
            continue
        item["flow"].append({"id": parts[0], "name": parts[1], "role": parts[2],
                             "level": parts[3], "share_pct": _int(parts[4])})
    item["risk_points"] = []
    for n, parts in _lines(text("risk_points")):
        if len(parts) != 6:
            errors.add("risk_points", f"廉政风险点第 {n} 行：应为 6 栏“编码 | 名称 | 所在环节 | 等级 | "
                                      "风险描述 | 防控措施”")
            continue
        item["risk_points"].append(dict(zip(("code", "name", "step", "grade", "description",
                                             "measures"), parts)))
    item["faq"] = []
    for n, parts in _lines(text("faq")):
        if len(parts) != 2:
            errors.add("faq", f"常见问题第 {n} 行：应为“问题 | 解答”")
            continue
        item["faq"].append({"q": parts[0], "a": parts[1]})
    return item, errors


_FIELD_MAP = {"body.name": "body_name", "body.credit_code": "body_credit_code",
              "body.nature": "body_nature", "statutory_half_days": "statutory_days",
              "committed_half_days": "committed_days", "fee.charged": "fee_charged",
              "fee.amount_fen": "fee_amount", "fee.basis": "fee_basis", "fee": "fee_amount",
              "body": "body_name"}
_LIST_LABELS = {"materials": "申请材料", "flow": "办理流程", "risk_points": "廉政风险点",
                "faq": "常见问题", "basis": "设定依据", "serves": "服务对象", "channels": "办理形式"}


def field_error(path: str, zh: str) -> tuple[str, str]:
    """(form field, message) for a CatalogueError of ``validate_item``."""
    match = re.match(r"^([a-z_]+)\[(\d+)\]", path or "")
    if match and match.group(1) in _LIST_LABELS:
        name = match.group(1)
        return name, f"{_LIST_LABELS[name]}第 {int(match.group(2)) + 1} 行：{zh}"
    root = (path or "").split("[")[0]
    if path in _FIELD_MAP:
        return _FIELD_MAP[path], zh
    if root in SCALARS or root in _LIST_LABELS or root in ("separate_accept_approve",):
        return root, zh
    return ValidationErrors.FORM, zh
