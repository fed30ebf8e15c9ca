"""Supervision reports and exports.

* :func:`quarter_report`: per township (the node's org unit), department (the item's
  department), person (the alert's responsible person) or quarter: red and yellow cards,
  cases closed, on-time rate and the quarterly grade (优秀/良好/合格/不合格) by the
  thresholds in the supervision settings. Superseded alerts (disproved by later events or
  a re-evaluation) are not counted; they stay in the records.
* :func:`report_csv`, :func:`report_xlsx`: the same rows as files.
* :func:`records_rows`, :func:`records_csv`, :func:`records_xlsx`: supervision records in
  the fields of GB/T 39046-2020 table 11.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date

from openpyxl import Workbook

from web.spreadsheet import safe_row

from ..store import HubStore
from ..store import supervision as sql
from .service import GRADE_ZH, STATES_ZH, current_settings, level_label, rule_label

GROUPS = {"township": "乡镇（节点所属单位）", "department": "部门", "person": "责任人",
          "quarter": "季度"}
RECORD_FIELDS = (   # GB/T 39046-2020 表 11 监察信息
    ("case_no", "办件编号"), ("content", "监察内容"), ("body", "实施主体"),
    ("item_type", "事项类型"), ("raised_at", "预警时间"), ("supervision_no", "监察编号"),
    ("rule_id", "规则编号"), ("alert_type", "预警类型"), ("state_changed_at", "状态变更时间"),
    ("result", "结果描述"), ("responsible_unit", "责任部门"),
)
EXTRA_FIELDS = (("level", "预警级别"), ("state", "状态"), ("responsible_person", "责任人"),
                ("responsible_role", "责任层级"), ("explain_due", "说明期限"),
                ("escalation", "升级次数"))


def quarter_bounds(year: int, quarter: int) -> tuple[str, str]:
    if not 1 <= quarter <= 4 or not 2000 <= year <= 2100:
        raise ValueError("quarter out of range")
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start.isoformat(), end.isoformat()


def quarter_of(text: str | None) -> str:
    if not text or len(text) < 7:
        return "-"
    return f"{text[:4]}Q{(int(text[5:7]) - 1) // 3 + 1}"


@dataclass
class ReportRow:
    key: str
    label: str
    red: int = 0
    yellow: int = 0
    warning: int = 0
    closed_cases: int = 0
    on_time: int = 0
    grade: str = ""
    persons: set = field(default_factory=set)

    @property
    def on_time_pct(self) -> float | None:
        return None if not self.closed_cases else round(100 * self.on_time / self.closed_cases, 1)

    @property
    def grade_zh(self) -> str:
        return GRADE_ZH.get(self.grade, "—")

    def to_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "red": self.red, "yellow": self.yellow,
                "warning": self.warning, "closed_cases": self.closed_cases,
                "on_time": self.on_time, "on_time_pct": self.on_time_pct,
                "grade": self.grade, "grade_zh": self.grade_zh}


def grade_for(row: ReportRow, settings: dict) -> str:
    if row.on_time_pct is None:
        pct = 100.0 if row.red == 0 and row.yellow == 0 else 0.0
    else:
        pct = row.on_time_pct
    for grade in ("excellent", "good", "pass"):
        limits = settings["grades"][grade]
        if pct >= limits["on_time_pct"] and row.red <= limits["max_red"]:
            return grade
    return "fail"


def quarter_report(store: HubStore, *, by: str, start: str, end: str) -> list[ReportRow]:
    """Rows grouped ``by`` township, department, person or quarter over [start, end)."""
    if by not in GROUPS:
        raise ValueError(f"unknown grouping {by}")
    units = {u.code: u.name for u in store.org_units()}
    node_unit = {n: (units.get(u, u) if u else n) for n, u in store.node_org_units().items()}
    departments = sql.item_departments(store)

    def key_of(node: str | None, item_code: str | None, person: str | None,
               moment: str | None) -> tuple[str, str]:
        if by == "township":
            return node or "-", node_unit.get(node or "", node or "-")
        if by == "department":
            dept = departments.get(item_code or "") or "-"
            return dept, units.get(dept, dept)
        if by == "person":
            return person or "-", person or "（未确定）"
        q = quarter_of(moment)
        return q, q

    rows: dict[str, ReportRow] = {}

    def row(key: tuple[str, str]) -> ReportRow:
        if key[0] not in rows:
            rows[key[0]] = ReportRow(key[0], key[1])
        return rows[key[0]]

    for alert in sql.alerts_between(store, start, end):
        if alert["state"] == "superseded" or alert["case_no"] is None:
            continue
        item_code = (alert["details"] or {}).get("item_code")
        if item_code is None and alert["case_no"]:
            case = store.case(alert["case_no"])
            item_code = case["item_code"] if case else None
        r = row(key_of(alert["node"], item_code, alert["responsible_person"],
                       alert["raised_at"]))
        if alert["level"] in ("red", "yellow", "warning"):
            setattr(r, alert["level"], getattr(r, alert["level"]) + 1)
    if by != "person":
        for case_no, node, item_code, due, closed_at, _ in sql.completed_cases_between(
                store, start, end):
            r = row(key_of(node, item_code, None, closed_at))
            r.closed_cases += 1
            if due is None or (closed_at or "")[:10] <= due:
                r.on_time += 1
    settings = current_settings(store)
    for r in rows.values():
        r.grade = grade_for(r, settings)
    return sorted(rows.values(), key=lambda r: (-r.red, -r.yellow, r.key))


_REPORT_HEAD = ("分组", "红牌", "黄牌", "预警", "办结件数", "按时办结", "按时办结率(%)", "季度等次")


def _report_cells(r: ReportRow) -> list:
    return [r.label, r.red, r.yellow, r.warning, r.closed_cases, r.on_time,
            "" if r.on_time_pct is None else r.on_time_pct, r.grade_zh]


def _csv(head, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(safe_row(head))
    for cells in rows:
        writer.writerow(safe_row(cells))
    return ("\ufeff" + out.getvalue()).encode("utf-8")      # BOM: Excel opens it as UTF-8


def _xlsx(title: str, head, rows) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(safe_row(head))
    for cells in rows:
        sheet.append(safe_row(cells))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report_csv(rows: list[ReportRow]) -> bytes:
    return _csv(_REPORT_HEAD, (_report_cells(r) for r in rows))


def report_xlsx(rows: list[ReportRow]) -> bytes:
    return _xlsx("监察报表", _REPORT_HEAD, [_report_cells(r) for r in rows])


def records_rows(store: HubStore, start: str, end: str) -> list[list]:
    out = []
    for a in sql.alerts_between(store, start, end):
        cells = []
        for name, _ in RECORD_FIELDS + EXTRA_FIELDS:
            value = a.get(name)
            if name == "alert_type":
                value = f"{value}（{rule_label(a['rule_id'])}）"
            elif name == "level":
                value = level_label(value)
            elif name == "state":
                value = STATES_ZH.get(value, value)
            cells.append("" if value is None else value)
        out.append(cells)
    return out


def records_head() -> list[str]:
    return [label for _, label in RECORD_FIELDS + EXTRA_FIELDS]


def records_csv(store: HubStore, start: str, end: str) -> bytes:
    return _csv(records_head(), records_rows(store, start, end))


def records_xlsx(store: HubStore, start: str, end: str) -> bytes:
    return _xlsx("监察信息（GB-T 39046 表11）", records_head(), records_rows(store, start, end))
