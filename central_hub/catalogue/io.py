"""Catalogue import and export as JSON and XLSX, validated row by row.

JSON is the catalogue document itself (``{"version", "published_at", "items"}``; a bare
list of items or ``{"items": [...]}`` is accepted on import). XLSX has one sheet per
list: 事项 (one row per item), 申请材料, 办理流程, 廉政风险点, 常见问题 (one row per entry,
keyed by 基本编码). Time limits are in working days (0.5 allowed), fees in yuan, booleans
是/否, code lists comma-separated, 设定依据 one per line inside its cell.

An import is checked completely before anything is written: every problem is reported
with its sheet, row and column (or item number for JSON); only a clean file creates
drafts, one per new or changed item, which then go through the review workflow.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook, load_workbook

from protocol.catalogue import CatalogueError, validate_item
from web.inputs import ascii_digits, to_int
from web.spreadsheet import safe_row, unquote_cell

from .forms import days_text, parse_days, parse_yuan, yuan_text

MAX_IMPORT_BYTES = 8 * 1024 * 1024
MAX_ROWS = 20_000

ITEM_COLUMNS = (  # (header, key)
    ("基本编码", "code"), ("实施编码", "impl_code"), ("事项名称", "name"), ("事项类型", "type_code"),
    ("行使层级", "level"), ("实施主体", "body.name"), ("统一社会信用代码", "body.credit_code"),
    ("实施主体性质", "body.nature"), ("承办机构", "handling_org"), ("设定依据", "basis"),
    ("受理条件", "conditions"), ("办件类型", "case_kind"), ("法定办结时限（工作日）", "statutory"),
    ("承诺办结时限（工作日）", "committed"), ("是否收费", "fee.charged"),
    ("收费标准（元）", "fee.amount"), ("收费依据", "fee.basis"), ("服务对象", "serves"),
    ("办理形式", "channels"), ("受理审批分离", "separate_accept_approve"), ("办理地点", "place"),
    ("办理时间", "hours"), ("咨询电话", "phone"), ("监督电话", "supervision_phone"),
    ("结果名称", "result_name"),
)
SUB_SHEETS = {  # sheet -> (list key, columns (header, key, kind))
    "申请材料": ("materials", (("基本编码", "_item", "text"), ("材料标识", "id", "text"),
                           ("材料名称", "name", "text"), ("出具机构", "issuer", "text"),
                           ("原件份数", "originals", "int"), ("复印件份数", "copies", "int"),
                           ("是否必备", "required", "bool"), ("说明", "note", "text"))),
    "办理流程": ("flow", (("基本编码", "_item", "text"), ("环节标识", "id", "text"),
                       ("环节名称", "name", "text"), ("岗位", "role", "text"),
                       ("层级", "level", "text"), ("时限占比", "share_pct", "int"))),
    "廉政风险点": ("risk_points", (("基本编码", "_item", "text"), ("风险点编码", "code", "text"),
                              ("风险点名称", "name", "text"), ("所在环节", "step", "text"),
                              ("风险等级", "grade", "text"), ("风险描述", "description", "text"),
                              ("防控措施", "measures", "text"))),
    "常见问题": ("faq", (("基本编码", "_item", "text"), ("问题", "q", "text"),
                       ("解答", "a", "text"))),
}


@dataclass
class ImportResult:
    items: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- export


def export_json(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def export_xlsx(document: dict) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "事项"
    sheet.append(safe_row(h for h, _ in ITEM_COLUMNS))
    for item in document["items"]:
        row = []
        for _, key in ITEM_COLUMNS:
            if key == "basis":
                row.append("\n".join(item["basis"]))
            elif key == "statutory":
                row.append(days_text(item["statutory_half_days"]))
            elif key == "committed":
                row.append(days_text(item["committed_half_days"]))
            elif key == "fee.charged":
                row.append("是" if item["fee"]["charged"] else "否")
            elif key == "fee.amount":
                row.append(yuan_text(item["fee"]["amount_fen"]))
            elif key in ("serves", "channels"):
                row.append(",".join(item[key]))
            elif key == "separate_accept_approve":
                row.append("是" if item[key] else "否")
            elif "." in key:
                a, b = key.split(".")
                row.append(item[a][b])
            else:
                row.append(item[key])
        sheet.append(safe_row(row))
    for title, (list_key, columns) in SUB_SHEETS.items():
        sub = book.create_sheet(title)
        sub.append(safe_row(h for h, _, _ in columns))
        for item in document["items"]:
            for entry in item[list_key]:
                sub.append(safe_row(item["code"] if key == "_item" else
                                    ("是" if entry[key] else "否") if kind == "bool"
                                    else entry[key] for _, key, kind in columns))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --------------------------------------------------------------------------- import


def _check_items(items: list[dict], where: list[str], result: ImportResult) -> None:
    """Validate each item; record one message per bad item, then catalogue-wide uniqueness."""
    seen: dict[str, dict[str, str]] = {"code": {}, "impl_code": {}, "risk": {}}
    for item, origin in zip(items, where):
        try:
            valid = validate_item(item)
        except CatalogueError as exc:
            result.errors.append(f"{origin}：{exc.zh}")
            continue
        for key, value in (("code", valid["code"]), ("impl_code", valid["impl_code"])):
            if value in seen[key]:
                result.errors.append(f"{origin}：{'基本编码' if key == 'code' else '实施编码'} "
                                     f"{value} 与{seen[key][value]}重复")
            seen[key][value] = origin
        for risk in valid["risk_points"]:
            if risk["code"] in seen["risk"]:
                result.errors.append(f"{origin}：风险点编码 {risk['code']} 与{seen['risk'][risk['code']]}重复")
            seen["risk"][risk["code"]] = origin
        result.items.append(valid)
    if result.errors:
        result.items = []


def import_json(data: bytes) -> ImportResult:
    result = ImportResult()
    if len(data) > MAX_IMPORT_BYTES:
        result.errors.append(f"文件过大：最多 {MAX_IMPORT_BYTES // 1024 // 1024} MB")
        return result
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        result.errors.append("文件不是 UTF-8 编码的 JSON")
        return result
    items = doc.get("items") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        result.errors.append("JSON 应为目录文档（含 items 列表）或事项列表")
        return result
    if len(items) > MAX_ROWS:
        result.errors.append(f"事项过多：最多 {MAX_ROWS} 个")
        return result
    where = [f"第 {i + 1} 个事项" + (f"（{item.get('code')}）" if isinstance(item, dict)
                                     and isinstance(item.get("code"), str) else "")
             for i, item in enumerate(items)]
    _check_items(items, where, result)
    return result


def _cell(value: Any) -> str:
    value = unquote_cell(value)     # text the export quoted so it is not a formula
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def import_xlsx(data: bytes) -> ImportResult:
    result = ImportResult()
    if len(data) > MAX_IMPORT_BYTES:
        result.errors.append(f"文件过大：最多 {MAX_IMPORT_BYTES // 1024 // 1024} MB")
        return result
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:   # openpyxl raises many kinds for a file that is not a workbook
        result.errors.append("文件不是有效的 XLSX 工作簿")
        return result
    try:
        if "事项" not in book.sheetnames:
            result.errors.append("缺少工作表“事项”")
            return result
        items: dict[str, dict] = {}
        where: dict[str, str] = {}
        rows = list(book["事项"].iter_rows(values_only=True, max_row=MAX_ROWS + 1))
        header = [_cell(v) for v in (rows[0] if rows else ())]
        expected = [h for h, _ in ITEM_COLUMNS]
        if header[:len(expected)] != expected:
            result.errors.append("工作表“事项”第 1 行：表头应为 " + "、".join(expected))
            return result
        for n, row in enumerate(rows[1:], start=2):
            cells = [_cell(v) for v in row] + [""] * len(ITEM_COLUMNS)
            if not any(cells):
                continue
            values = dict(zip((k for _, k in ITEM_COLUMNS), cells))
            origin = f"工作表“事项”第 {n} 行（{values['code'] or '无编码'}）"
            item, problems = _item_from_row(values)
            for column, message in problems:
                result.errors.append(f"{origin}“{column}”：{message}")
            if values["code"] in items:
                result.errors.append(f"{origin}：基本编码 {values['code']} 重复出现")
            items[values["code"]] = item
            where[values["code"]] = origin
        for title, (list_key, columns) in SUB_SHEETS.items():
            if title not in book.sheetnames:
                continue
            for n, row in enumerate(book[title].iter_rows(values_only=True, min_row=2,
                                                         max_row=MAX_ROWS), start=2):
                cells = [_cell(v) for v in row] + [""] * len(columns)
                if not any(cells):
                    continue
                origin = f"工作表“{title}”第 {n} 行"
                entry: dict[str, Any] = {}
                for (header_text, key, kind), value in zip(columns, cells):
                    if kind == "int":
                        number = to_int(value, max_digits=9)
                        if number is None:
                            result.errors.append(f"{origin}“{header_text}”：应为整数")
                        value = number or 0
                    elif kind == "bool":
                        if value not in ("是", "否"):
                            result.errors.append(f"{origin}“{header_text}”：应填“是”或“否”")
                        value = value == "是"
                    entry[key] = value
                code = entry.pop("_item")
                if code not in items:
                    result.errors.append(f"{origin}：基本编码 {code or '（空）'} 不在工作表“事项”中")
                    continue
                items[code][list_key].append(entry)
    finally:
        book.close()
    if result.errors:
        return result
    _check_items(list(items.values()), [where[c] for c in items], result)
    return result


def _item_from_row(values: dict[str, str]) -> tuple[dict, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    header = dict((k, h) for h, k in ITEM_COLUMNS)

    def flag(key: str, message: str) -> None:
        problems.append((header[key], message))

    def yes_no(key: str) -> bool:
        if values[key] not in ("是", "否"):
            flag(key, "应填“是”或“否”")
        return values[key] == "是"

    statutory, committed = parse_days(values["statutory"]), parse_days(values["committed"])
    if statutory is None:
        flag("statutory", "应为工作日数，可为半日，如 20 或 0.5")
    if committed is None:
        flag("committed", "应为工作日数，可为半日，如 20 或 0.5")
    amount = parse_yuan(values["fee.amount"])
    if amount is None:
        flag("fee.amount", "应为金额（元），最多两位小数")
    item = {
        "code": values["code"], "impl_code": values["impl_code"], "name": values["name"],
        "type_code": values["type_code"].zfill(2) if ascii_digits(values["type_code"])
        else values["type_code"],
        "level": values["level"],
        "body": {"name": values["body.name"], "credit_code": values["body.credit_code"],
                 "nature": values["body.nature"]},
        "handling_org": values["handling_org"],
        "basis": [b.strip() for b in values["basis"].split("\n") if b.strip()],
        "conditions": values["conditions"], "case_kind": values["case_kind"],
        "statutory_half_days": statutory or 0, "committed_half_days": committed or 0,
        "fee": {"charged": yes_no("fee.charged"), "amount_fen": amount or 0,
                "basis": values["fee.basis"]},
        "serves": [c.strip() for c in values["serves"].replace("，", ",").split(",") if c.strip()],
        "channels": [c.strip() for c in values["channels"].replace("，", ",").split(",")
                     if c.strip()],
        "materials": [], "flow": [], "risk_points": [],
        "separate_accept_approve": yes_no("separate_accept_approve"),
        "place": values["place"], "hours": values["hours"], "phone": values["phone"],
        "supervision_phone": values["supervision_phone"], "faq": [],
        "result_name": values["result_name"],
    }
    return item, problems
