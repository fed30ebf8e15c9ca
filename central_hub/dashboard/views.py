"""Dashboard screens (统计分析): figures for the county, a township, a department, an item and
a period; each node's sync freshness beside its figures; ECharts charts with the same
numbers as tables; every figure links to the cases behind it; CSV and XLSX exports.

Routes: ``GET /dashboard``, ``GET /dashboard/cases`` (drill-down),
``GET /dashboard/export.csv``, ``GET /dashboard/export.xlsx``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Iterator
from urllib.parse import urlencode

from openpyxl import Workbook
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from protocol.lifecycle import STATE_LABELS
from web.pagination import Pagination
from web.spreadsheet import safe_row

from ..accounts.service import case_scope
from ..orgs.service import OrgTree
from ..store import face as sql
from ..web_common import account_of, audit, hub_of, page, show

METRIC_LABELS = {
    "received": "收件", "accepted": "受理", "refused": "不予受理", "completed": "办结",
    "on_time": "按时办结", "late": "超期办结", "overdue": "当前超期", "fees": "收费办件",
    "evaluated": "评价", "bad": "差评",
}
LEVELS = {1: "非常满意", 2: "满意", 3: "基本满意", 4: "不满意", 5: "非常不满意"}
STALE_HOURS = 24
MAX_PERIOD_DAYS = 3 * 366
EXPORT_COLUMNS = (("case_no", "办件编号"), ("node", "节点"), ("item_code", "事项编码"),
                  ("item_name", "事项名称"), ("state", "办件状态"), ("channel", "办理渠道"),
                  ("applicant_masked", "申请人"), ("received_at", "收件时间"),
                  ("accepted_date", "受理日期"), ("due_date", "承诺办结日期"),
                  ("completed_at", "办结时间"), ("fee_charged_fen", "收费（分）"))


class FilterError(ValueError):
    pass


@dataclass
class Filters:
    since: str
    until: str
    unit: str = ""
    node: str = ""
    item: str = ""
    nodes: tuple[str, ...] | None = None
    department: str | None = None
    label: str = "全县"
    errors: list[str] = field(default_factory=list)

    def params(self, **extra: str) -> dict[str, str]:
        out = {"from": self.since, "to": self.until}
        for k in ("unit", "node", "item"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        out.update({k: v for k, v in extra.items() if v})
        return out

    def query(self, **extra: str) -> str:
        return urlencode(self.params(**extra))

    def scope(self) -> dict:
        return {"nodes": self.nodes, "department": self.department, "item": self.item or None}


def _date(text: str | None, name: str, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise FilterError(f"{name}：请按 YYYY-MM-DD 填写日期（收到“{text[:20]}”）") from None


def read_filters(request: Request) -> Filters:
    """The filters of the query string, intersected with what the account may see.
    Raises FilterError with a Chinese message for a value that cannot be used."""
    hub = hub_of(request)
    q = request.query_params
    today = hub.config.now().date()
    since = _date(q.get("from"), "开始日期", today.replace(day=1))
    until = _date(q.get("to"), "结束日期", today)
    if since > until:
        raise FilterError("开始日期不能晚于结束日期")
    if (until - since).days > MAX_PERIOD_DAYS:
        raise FilterError("统计期间最长三年")
    scope = case_scope(hub.store, account_of(request))
    f = Filters(since.isoformat(), until.isoformat(), nodes=scope.nodes,
                department=scope.department, label=scope.label)
    unit = (q.get("unit") or "").strip()[:40]
    if unit:
        tree = OrgTree.load(hub.store)
        org = tree.units.get(unit)
        if org is None:
            raise FilterError(f"单位：{unit} 不存在")
        f.unit, f.label = unit, org.name
        if org.kind == "department":
            if f.department not in (None, unit):
                f.nodes = ()
            f.department = unit
        elif org.kind != "county":
            subtree = tree.subtree(unit)
            wanted = {c for c, o in hub.store.node_org_units().items() if o in subtree}
            f.nodes = tuple(sorted(wanted if f.nodes is None else wanted & set(f.nodes)))
    node = (q.get("node") or "").strip()[:64]
    if node:
        if hub.store.node(node) is None:
            raise FilterError(f"节点：{node} 不存在")
        f.node = node
        f.nodes = (node,) if f.nodes is None or node in f.nodes else ()
        f.label = f"{f.label} · {hub.store.node(node).name}"
    item = (q.get("item") or "").strip()[:64]
    if item:
        record = hub.store.catalogue_item(item)
        if record is None:
            raise FilterError(f"事项：{item} 不在事项目录中")
        f.item, f.label = item, f"{f.label} · {record.name}"
    return f


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def _figures(row: dict, overdue: int, evals: dict[int, int]) -> dict:
    completed = row.get("completed", 0)
    n = row.get("work_days_n", 0)
    bad = evals.get(4, 0) + evals.get(5, 0)
    total_evals = sum(evals.values())
    return {**row, "overdue": overdue, "on_time_rate": _rate(row.get("on_time", 0), completed),
            "avg_days": f"{row.get('work_days_sum', 0) / n:.1f}" if n else "—",
            "fees_yuan": f"{row.get('fees_fen', 0) / 100:,.2f}", "evaluated": total_evals,
            "bad": bad, "good_rate": _rate(total_evals - bad, total_evals)}


def _sum_by(rows: list[dict], key) -> list[dict]:
    out: dict[str, dict] = {}
    for r in rows:
        k = key(r["key"])
        acc = out.setdefault(k, {"key": k, **{n: 0 for n in sql._TOTAL_NAMES}})
        for n in sql._TOTAL_NAMES:
            acc[n] += r[n]
    return [out[k] for k in sorted(out)]


def freshness(info: dict | None, now: datetime) -> dict:
    """How current a node's figures are: its last complete sync, in words."""
    if info is None:
        return {"label": "未登记", "stale": True, "at": None}
    at = info["caught_up_at"] or info["last_seen"]
    if not at:
        return {"label": "从未同步", "stale": True, "at": None}
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return {"label": "未知", "stale": True, "at": at}
    hours = (now - moment).total_seconds() / 3600
    if hours < 1:
        label = "1 小时内已同步"
    elif hours < STALE_HOURS:
        label = f"{int(hours)} 小时前同步"
    else:
        label = f"已 {int(hours // 24)} 天未同步，数据可能不全"
    behind = (info["reported_head"] or 0) - (info["acked_seq"] or 0)
    if behind > 0:
        label += f"（尚有 {behind} 条未上传）"
    return {"label": label, "stale": hours >= STALE_HOURS or behind > 0, "at": at}


def dashboard_data(hub, f: Filters) -> dict:
    store = hub.store
    scope = f.scope()
    today = hub.config.now().date().isoformat()
    pairs = sql.totals(store, since=f.since, until=f.until, group="node_item", **scope)
    by_node_rows = _sum_by(pairs, lambda k: k[0])
    by_item_rows = _sum_by(pairs, lambda k: k[1])
    overdue_pairs = sql.overdue_by_node_item(store, today=today, **scope)
    overdue_node: dict[str, int] = {}
    overdue_item: dict[str, int] = {}
    for (node, item_code), n in overdue_pairs.items():
        overdue_node[node] = overdue_node.get(node, 0) + n
        overdue_item[item_code] = overdue_item.get(item_code, 0) + n
    evals_pairs = sql.evaluation_counts(store, since=f.since, until=f.until,
                                        group="node_item", **scope)
    evals_node: dict[str, dict[int, int]] = {}
    evals_item: dict[str, dict[int, int]] = {}
    for (node, item_code), levels in evals_pairs.items():
        for target, key in ((evals_node, node), (evals_item, item_code)):
            acc = target.setdefault(key, {})
            for level, n in levels.items():
                acc[level] = acc.get(level, 0) + n
    # the whole is the sum of the nodes (one query fewer of each kind)
    total = {k: sum(r[k] for r in by_node_rows) for k in sql._TOTAL_NAMES}
    evals = {"": {level: sum(e.get(level, 0) for e in evals_node.values()) for level in LEVELS}}
    summary = _figures(total, sum(overdue_node.values()), evals[""])
    fresh = sql.node_freshness(store)
    now = hub.config.now()
    seen = {r["key"] for r in by_node_rows}
    by_node_rows += [{"key": k} for k in sorted(set(overdue_node) - seen)]
    by_node = []
    for r in by_node_rows:
        info = fresh.get(r["key"])
        by_node.append({**_figures(r, overdue_node.get(r["key"], 0),
                                   evals_node.get(r["key"], {})),
                        "name": info["name"] if info else r["key"],
                        "freshness": freshness(info, now)})
    items = {r.code: r for r in _catalogue(hub)}
    units = {u.code: u.name for u in store.org_units()}
    by_item, by_dept = [], {}
    for r in by_item_rows:
        record = items.get(r["key"])
        fig = _figures(r, overdue_item.get(r["key"], 0), evals_item.get(r["key"], {}))
        by_item.append({**fig, "name": record.name if record else r["key"]})
        dept = (record.department if record else None) or ""
        acc = by_dept.setdefault(dept, {"key": dept, "name": units.get(dept, "未归属部门"),
                                        **{k: 0 for k in ("received", "accepted", "refused",
                                                          "completed", "on_time",
                                                          "work_days_sum", "work_days_n",
                                                          "fees_fen", "overdue")}})
        for k in ("received", "accepted", "refused", "completed", "on_time", "work_days_sum",
                  "work_days_n", "fees_fen"):
            acc[k] += r[k]
        acc["overdue"] += overdue_item.get(r["key"], 0)
        for level, n in evals_item.get(r["key"], {}).items():
            acc.setdefault("evals", {})[level] = acc.get("evals", {}).get(level, 0) + n
    departments = [{**_figures(d, d["overdue"], d.get("evals", {})), "name": d["name"]}
                   for d in sorted(by_dept.values(), key=lambda d: d["key"])]
    by_item.sort(key=lambda r: -r["received"])
    days = (date.fromisoformat(f.until) - date.fromisoformat(f.since)).days
    grain = "day" if days <= 62 else "month"
    series = sql.totals(store, since=f.since, until=f.until, group=grain, **scope)
    return {"summary": summary, "by_node": by_node, "by_item": by_item[:50],
            "departments": departments, "series": series, "grain": grain,
            "levels": {LEVELS[k]: evals.get("", {}).get(k, 0) for k in LEVELS},
            "stale_nodes": [n for n in by_node if n["freshness"]["stale"]]}


def _catalogue(hub) -> list:
    """Published items (names, departments), parsed once per catalogue version."""
    cache = hub.__dict__.setdefault("_face_catalogue", {})
    version = sql.config_version(hub.store, "config.catalogue")
    if cache.get("version") != version:
        cache.clear()
        cache.update(version=version, items=hub.store.catalogue_items(include_withdrawn=True))
    return cache["items"]


def charts(data: dict) -> dict[str, str]:
    """ECharts options (JSON text for <script type="application/json">)."""
    names = [n["name"] for n in data["by_node"]]
    nodes = {
        "tooltip": {"trigger": "axis"}, "legend": {"data": ["收件", "办结", "当前超期"]},
        "grid": {"left": 48, "right": 16, "bottom": 72},
        "xAxis": {"type": "category", "data": names, "axisLabel": {"rotate": 30}},
        "yAxis": {"type": "value"},
        "series": [{"name": "收件", "type": "bar", "data": [n["received"] for n in data["by_node"]]},
                   {"name": "办结", "type": "bar", "data": [n["completed"] for n in data["by_node"]]},
                   {"name": "当前超期", "type": "bar",
                    "data": [n["overdue"] for n in data["by_node"]]}],
        "animation": False,
    }
    trend = {
        "tooltip": {"trigger": "axis"}, "legend": {"data": ["收件", "办结"]},
        "grid": {"left": 48, "right": 16},
        "xAxis": {"type": "category", "data": [s["key"] for s in data["series"]]},
        "yAxis": {"type": "value"},
        "series": [{"name": "收件", "type": "line", "data": [s["received"] for s in data["series"]]},
                   {"name": "办结", "type": "line",
                    "data": [s["completed"] for s in data["series"]]}],
        "animation": False,
    }
    levels = {
        "tooltip": {"trigger": "item"},
        "series": [{"type": "pie", "radius": "65%",
                    "data": [{"name": k, "value": v} for k, v in data["levels"].items()]}],
        "animation": False,
    }
    dump = lambda o: json.dumps(o, ensure_ascii=False).replace("</", "<\\/")  # noqa: E731
    return {"nodes": dump(nodes), "trend": dump(trend), "levels": dump(levels)}


def _choices(hub) -> dict:
    units = hub.store.org_units()
    return {"unit_choices": [(u.code, u.name) for u in units
                             if u.kind in ("county", "department", "township")],
            "node_choices": [(n.code, n.name) for n in hub.store.nodes()],
            "item_choices": [(i.code, i.name) for i in _catalogue(hub) if not i.withdrawn]}


@page("dashboard.view")
async def dashboard_page(request: Request) -> Response:
    hub = hub_of(request)
    try:
        f = read_filters(request)
    except FilterError as exc:
        return show(request, "dashboard/index.html",
                    {"error": str(exc), "f": None, "q": request.query_params,
                     **_choices(hub)}, status_code=400)
    data = dashboard_data(hub, f)
    return show(request, "dashboard/index.html",
                {"f": f, "data": data, "charts": charts(data), "metrics": METRIC_LABELS,
                 "levels": LEVELS, "q": request.query_params, **_choices(hub)})


def _metric(request: Request) -> str:
    metric = request.query_params.get("metric") or "received"
    if metric not in sql.METRICS:
        raise FilterError(f"指标：{metric[:20]} 不是可查询的指标")
    return metric


@page("dashboard.view")
async def drill_page(request: Request) -> Response:
    hub = hub_of(request)
    try:
        f = read_filters(request)
        metric = _metric(request)
    except FilterError as exc:
        return show(request, "pages/message.html", {"title": "查询条件有误", "message": str(exc)},
                    status_code=400)
    today = hub.config.now().date().isoformat()
    total, _ = sql.drill_down(hub.store, metric, since=f.since, until=f.until, today=today,
                              limit=0, **f.scope())
    pager = Pagination.from_query(request.query_params.get("page"), total, 50)
    _, rows = sql.drill_down(hub.store, metric, since=f.since, until=f.until, today=today,
                             offset=pager.offset, limit=pager.limit, **f.scope())
    return show(request, "dashboard/cases.html",
                {"f": f, "metric": metric, "metric_label": METRIC_LABELS[metric], "rows": rows,
                 "pager": pager, "labels": STATE_LABELS, "params": f.params(metric=metric),
                 "query": f.query(metric=metric)})


def _export_rows(hub, f: Filters, metric: str) -> Iterator[list]:
    today = hub.config.now().date().isoformat()
    for row in sql.iter_drill_down(hub.store, metric, since=f.since, until=f.until,
                                   today=today, **f.scope()):
        out = []
        for key, _ in EXPORT_COLUMNS:
            value = row[key]
            if key == "state":
                value = STATE_LABELS.get(value, value)
            out.append("" if value is None else value)
        yield out


def _export_name(f: Filters, metric: str, ext: str) -> str:
    return f"cases-{metric}-{f.since}-{f.until}.{ext}"


def _export_request(request: Request, fmt: str) -> tuple[Filters, str] | Response:
    """The filters and metric of an export (audited), or the 400 page for bad ones."""
    try:
        f = read_filters(request)
        metric = _metric(request)
    except FilterError as exc:
        return show(request, "pages/message.html", {"title": "查询条件有误", "message": str(exc)},
                    status_code=400)
    audit(request, "dashboard.exported", metric, {"format": fmt, **f.params()})
    return f, metric


@page("dashboard.view")
async def export_csv(request: Request) -> Response:
    hub = hub_of(request)
    asked = _export_request(request, "csv")
    if isinstance(asked, Response):
        return asked
    f, metric = asked

    def lines() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(safe_row(label for _, label in EXPORT_COLUMNS))
        yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        for row in _export_rows(hub, f, metric):
            writer.writerow(safe_row(row))
            if buffer.tell() > 64 * 1024:          # send ~64 KiB at a time
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode("utf-8")

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{_export_name(f, metric, "csv")}"'})


def write_xlsx(rows: Iterator[list], path: str, title: str) -> None:
    """Write-only openpyxl: rows go to a temporary file as they come (flat memory)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append(safe_row(label for _, label in EXPORT_COLUMNS))
    for row in rows:
        sheet.append(safe_row(row))
    workbook.save(path)


@page("dashboard.view")
async def export_xlsx(request: Request) -> Response:
    hub = hub_of(request)
    asked = _export_request(request, "xlsx")
    if isinstance(asked, Response):
        return asked
    f, metric = asked
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        await run_in_threadpool(write_xlsx, _export_rows(hub, f, metric), path,
                                METRIC_LABELS[metric])
    except BaseException:
        os.unlink(path)
        raise

    def chunks() -> Iterator[bytes]:
        try:
            with open(path, "rb") as fh:
                while block := fh.read(256 * 1024):
                    yield block
        finally:
            os.unlink(path)

    return StreamingResponse(chunks(), media_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), headers={
        "Content-Disposition": f'attachment; filename="{_export_name(f, metric, "xlsx")}"',
        "Content-Length": str(os.path.getsize(path))})


def routes() -> list[Route]:
    return [Route("/dashboard", dashboard_page, methods=["GET"]),
            Route("/dashboard/cases", drill_page, methods=["GET"]),
            Route("/dashboard/export.csv", export_csv, methods=["GET"]),
            Route("/dashboard/export.xlsx", export_xlsx, methods=["GET"])]
