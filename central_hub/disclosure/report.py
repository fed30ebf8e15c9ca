"""Statistics and the annual report of government information disclosure.

:func:`build_report` gathers plain records from the store (published documents, requests,
reconsideration and litigation entered by hand, the report's free texts, licensing,
penalty and enforcement decisions and fees from the case projection) and hands them to
:func:`protocol.disclosure.annual_report`, which lays them out in the tables of the
national format (国办公开办函〔2021〕30号). :func:`report_xlsx` writes the same tables to
an XLSX workbook; the page and the printable page render the same dict; the CLI prints
it as JSON.
"""

from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from protocol import disclosure as rules
from web.spreadsheet import safe_row

from ..store import disclosure as sql

SECTIONS = {"overview": "一、总体情况", "problems": "五、存在的主要问题及改进情况",
            "other": "六、其他需要报告的事项"}
PROACTIVE_ROWS = (("rules", "规章"), ("normative", "行政规范性文件"))
DECISION_ROWS = (("license", "行政许可", "第二十条第（五）项"),
                 ("penalty", "行政处罚", "第二十条第（六）项"),
                 ("enforcement", "行政强制", "第二十条第（六）项"))
APPEAL_OUTCOME_ORDER = ("upheld", "corrected", "other", "pending", "total")


def body_name(store, body_code: str) -> str:
    for code, name in sql.bodies(store):
        if code == body_code:
            return name
    unit = store.org_unit(body_code) if hasattr(store, "org_unit") else None
    return unit.name if unit else body_code


def build_report(store, year: int, body_code: str) -> dict:
    if not 2000 <= year <= 2100:
        raise rules.DisclosureError("year", "年份须在 2000 至 2100 之间")
    docs = sql.documents_for_report(store, body_code)
    documents = [{"genre": d["genre"], "made_on": d["made_on"],
                  "published_on": d["first_published_on"] or d["published_on"],
                  "repealed_on": d["repealed_on"], "withdrawn": d["state"] == "withdrawn"}
                 for d in docs]
    report = rules.annual_report(
        year, {"code": body_code, "name": body_name(store, body_code)},
        documents=documents, requests=sql.requests_for_report(store, body_code),
        appeals=sql.appeals(store, body_code, year),
        case_decisions=sql.case_decisions(store, body_code, year),
        fees_fen=sql.case_fees_fen(store, body_code, year),
        texts=sql.report_texts(store, body_code, year))
    report["consistency"] = rules.report_consistency(report)
    return report


def statistics(store, year: int | None) -> dict:
    """Published documents by body and topic, genre, grouping and year; timeliness; ratings."""
    out = {"year": year}
    for column in ("topic", "genre", "grouping"):
        out[column] = sql.counts_by(store, column, year)
    out["by_year"] = sql.counts_by(store, "year")
    docs = sql.documents_for_report(store, None)
    timely: dict[str, list[int]] = {}
    for d in docs:
        if year is not None and not (d["first_published_on"] or d["published_on"] or "") \
                .startswith(str(year)):
            continue
        entry = timely.setdefault(d["body_code"] or "", [0, 0])
        entry[0] += 1
        entry[1] += 1 if (d["days_late"] or 0) > 0 else 0
    out["timeliness"] = sorted((body, total, late) for body, (total, late) in timely.items())
    out["ratings"] = sql.rating_counts(store)
    return out


# --------------------------------------------------------------------------- XLSX


def report_xlsx(report: dict) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "年度报告"

    def append(cells: list) -> None:
        ws.append(safe_row(cells))     # overview, problems ...: typed text, never a formula

    bold = Font(bold=True)
    title = f"{report['body']['name']}{report['year']}年政府信息公开工作年度报告"
    append([title])
    ws["A1"].font = Font(bold=True, size=14)
    append([f"（按{report['basis']}格式）"])

    def section(text: str) -> None:
        append([])
        append([text])
        ws.cell(ws.max_row, 1).font = bold

    section(SECTIONS["overview"])
    append([report["overview"] or ""])
    section("二、主动公开政府信息情况")
    append(["第二十条第（一）项"])
    append(["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"])
    for key, label in PROACTIVE_ROWS:
        row = report["proactive"][key]
        append([label, row["issued"], row["repealed"], row["in_force"]])
    for key, label, clause in DECISION_ROWS:
        if key != "enforcement":
            append([clause])
            append(["信息内容", "本年处理决定数量"])
        append([label, report["proactive"][key]["decisions"]])
    append(["第二十条第（八）项"])
    append(["信息内容", "本年收费金额（单位：万元）"])
    append(["行政事业性收费", float(report["proactive"]["fees"]["amount_wan"])])
    ws.cell(ws.max_row, 2).number_format = "0.0000"

    section("三、收到和处理政府信息公开申请情况")
    append(["本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和", "申请人情况"])
    append(["", "自然人", "法人或其他组织", "", "", "", "", "总计"])
    append(["", "", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", ""])
    rows = report["requests"]["rows"]
    labels = report["requests"]["labels"]
    for key, label in labels.items():
        if key == "grant":
            append(["三、本年度办理结果"])
        append([label, *[rows[key][c] for c in rules.REPORT_APPLICANT_COLUMNS]])

    section("四、政府信息公开行政复议、行政诉讼情况")
    append(["行政复议", "", "", "", "", "行政诉讼"])
    append(["", "", "", "", "", "未经复议直接起诉", "", "", "", "", "复议后起诉"])
    heads = [rules.APPEAL_OUTCOMES.get(o, "总计") for o in APPEAL_OUTCOME_ORDER]
    append(heads * 3)
    values = []
    for kind in ("reconsideration", "litigation_direct", "litigation_after"):
        values += [report["appeals"][kind][o] for o in APPEAL_OUTCOME_ORDER]
    append(values)
    section(SECTIONS["problems"])
    append([report["problems"] or ""])
    section(SECTIONS["other"])
    append([report["other"] or ""])
    ws.column_dimensions["A"].width = 60
    for row in ws.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def report_text(report: dict) -> str:
    """A plain-text rendering for the terminal."""
    lines = [f"{report['body']['name']}（{report['body']['code']}）{report['year']}年"
             "政府信息公开工作年度报告", ""]
    lines.append("二、主动公开政府信息情况")
    for key, label in PROACTIVE_ROWS:
        row = report["proactive"][key]
        lines.append(f"  {label}：本年制发 {row['issued']}，本年废止 {row['repealed']}，"
                     f"现行有效 {row['in_force']}")
    for key, label, _ in DECISION_ROWS:
        lines.append(f"  {label}：本年处理决定 {report['proactive'][key]['decisions']}")
    lines.append(f"  行政事业性收费：{report['proactive']['fees']['amount_wan']} 万元")
    lines.append("三、收到和处理政府信息公开申请情况（自然人/商业企业/科研机构/社会公益组织/"
                 "法律服务机构/其他/总计）")
    for key, label in report["requests"]["labels"].items():
        row = report["requests"]["rows"][key]
        lines.append(f"  {label}：" + " / ".join(str(row[c])
                                                 for c in rules.REPORT_APPLICANT_COLUMNS))
    lines.append("四、政府信息公开行政复议、行政诉讼情况（维持/纠正/其他/未审结/总计）")
    for kind, label in rules.APPEAL_KINDS.items():
        lines.append(f"  {label}：" + " / ".join(str(report["appeals"][kind][o])
                                                 for o in APPEAL_OUTCOME_ORDER))
    for problem in report.get("consistency", []):
        lines.append(f"注意：{problem}")
    return "\n".join(lines)


def default_year(today: date) -> int:
    """The year a report is usually wanted for: last year until the end of January."""
    return today.year - 1 if today.month == 1 else today.year
