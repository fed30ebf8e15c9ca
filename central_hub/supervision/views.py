"""Supervision screens (监察工作台) in Chinese.

``/supervision`` the desk: open alerts by level, unit and age, with filters and bulk
review; ``/supervision/alerts/{no}`` one alert with its history, the explanation form and
the supervisor's decision; ``/supervision/cases/{case_no}`` a case's alerts;
``/supervision/risk-points`` the 廉政风险点 registry from the catalogue;
``/supervision/reports`` reports with charts (+ ``.csv``/``.xlsx``);
``/supervision/records.csv|.xlsx`` GB/T 39046 table 11; ``/supervision/rules`` rule set
versions, settings and the explicit re-evaluation.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.supervision import LEVEL_LABELS, RULES
from web.flash import flash
from web.inputs import InputError, loads_json, parse_int
from web.pagination import Pagination

from ..accounts.service import can, case_scope
from ..errors import HubError
from ..store import supervision as sql
from ..web_common import account_of, audit, hub_of, page, read_form, redirect, show, text_field
from . import reports, service

LEVEL_ORDER = ("red", "yellow", "warning", "info")
STATES = {"open": "待说明", "answered": "已说明", "closed": "已办结", "superseded": "已撤销"}


def _rule_names() -> dict[str, str]:
    names = {rid: f"{rid} {rule.name_zh}" for rid, rule in RULES.items()}
    names[service.SILENT_RULE] = f"{service.SILENT_RULE} {service.SILENT_ZH}"
    names[service.FOLLOW_UP_RULE] = f"{service.FOLLOW_UP_RULE} {service.FOLLOW_UP_ZH}"
    names[service.INTERACTION_RULE] = f"{service.INTERACTION_RULE} {service.INTERACTION_ZH}"
    return names


def _nodes_in_scope(request: Request):
    hub = hub_of(request)
    scope = case_scope(hub.store, account_of(request))
    return scope.nodes


def _today(request: Request) -> date:
    return hub_of(request).config.now().date()


@page("supervision.view")
async def desk_page(request: Request) -> Response:
    hub = hub_of(request)
    q = request.query_params
    level = q.get("level") if q.get("level") in LEVEL_LABELS else None
    state = q.get("state") if q.get("state") in STATES else None
    rule = (q.get("rule") or "")[:16] or None
    unit = (q.get("unit") or "")[:100] or None
    age = parse_int(q.get("age"), "age", "预警天数", max_digits=3)
    mine = q.get("mine") == "1"          # the alerts the roster or a finding put on me
    raised_before = None
    if age is not None:
        raised_before = (_today(request) - timedelta(days=age)).isoformat()
    states = [state] if state else list(sql.OPEN_STATES)
    nodes = _nodes_in_scope(request)
    args = dict(states=states, level=level, rule=rule, unit=unit, nodes=nodes,
                raised_before=raised_before,
                person=account_of(request).username if mine else None)
    total, _ = sql.list_alerts(hub.store, limit=0, **args)
    pager = Pagination.from_query(q.get("page"), total, 50)
    _, rows = sql.list_alerts(hub.store, offset=pager.offset, limit=pager.limit, **args)
    today = _today(request).isoformat()
    for r in rows:
        try:
            r["age"] = (_today(request) - date.fromisoformat(r["raised_at"][:10])).days
        except ValueError:
            r["age"] = None
        r["overdue_explain"] = r["state"] == "open" and (r["explain_due"] or "9") < today
    counts: dict[str, dict[str, int]] = {}
    for lvl, unit_name, n in sql.open_counts(hub.store):
        counts.setdefault(unit_name or "—", {})[lvl] = n
    params = {k: v for k, v in (("level", level), ("state", state), ("rule", rule),
                                ("unit", unit), ("age", age), ("mine", "1" if mine else ""))
              if v}
    return show(request, "supervision/desk.html", {
        "rows": rows, "pager": pager, "params": params, "counts": counts,
        "levels": LEVEL_LABELS, "level_order": LEVEL_ORDER, "states": STATES,
        "rules": _rule_names(), "filters": {"level": level or "", "state": state or "",
                                            "rule": rule or "", "unit": unit or "",
                                            "age": age, "mine": mine},
        "units": sorted(counts), "may_decide": can(account_of(request), "supervision.decide")},
        partial="supervision/_alerts_table.html")


def _alert_or_404(request: Request):
    number = parse_int(request.path_params["no"], "no", "预警编号", max_digits=11,
                       required=True)
    alert = sql.alert_row(hub_of(request).store, number)
    if alert is None or alert["item_type"] != sql.SUPERVISION:
        return None, show(request, "pages/message.html",
                          {"title": "预警不存在", "message": "没有该监察预警"}, status_code=404)
    nodes = _nodes_in_scope(request)
    if nodes is not None and alert["node"] not in nodes:
        return None, show(request, "pages/message.html",
                          {"title": "预警不存在", "message": "没有您可查看的监察预警"},
                          status_code=404)
    return alert, None


@page("supervision.view")
async def alert_page(request: Request) -> Response:
    alert, missing = _alert_or_404(request)
    if missing is not None:
        return missing
    account = account_of(request)
    return show(request, "supervision/alert.html", {
        "alert": alert, "history": sql.history(hub_of(request).store, alert["id"]),
        "levels": LEVEL_LABELS, "states": STATES, "rules": _rule_names(),
        "details_json": json.dumps(alert["details"], ensure_ascii=False, indent=1)[:4000],
        "may_answer": can(account, "supervision.answer") and alert["state"] == "open",
        "may_decide": can(account, "supervision.decide")
        and alert["state"] in sql.OPEN_STATES})


@page("supervision.answer")
async def answer_alert(request: Request) -> Response:
    form = await read_form(request)
    alert, missing = _alert_or_404(request)
    if missing is not None:
        return missing
    hub = hub_of(request)
    try:
        service.answer(hub.store, alert["id"], text_field(form, "explanation", 2000),
                       account_of(request).username, hub.config.now())
    except HubError as exc:
        flash(request, exc.message, "error")
        return redirect(f"/supervision/alerts/{alert['id']}")
    audit(request, "supervision.answer", alert["supervision_no"])
    flash(request, "情况说明已提交", "success")
    return redirect(f"/supervision/alerts/{alert['id']}")


def _decide(hub, alert_id: int, action: str, text: str, by: str) -> None:
    if action == "close":
        service.close(hub.store, alert_id, text, by, hub.config.now())
    elif action == "escalate":
        service.escalate(hub.store, alert_id, text, by, hub.config.now())
    else:
        raise service.AlertActionError("请选择办结或升级", extra={"field": "action"})


@page("supervision.decide")
async def decide_alert(request: Request) -> Response:
    form = await read_form(request)
    alert, missing = _alert_or_404(request)
    if missing is not None:
        return missing
    hub = hub_of(request)
    action = text_field(form, "action", 16)
    try:
        _decide(hub, alert["id"], action, text_field(form, "decision", 2000),
                account_of(request).username)
    except HubError as exc:
        flash(request, exc.message, "error")
        return redirect(f"/supervision/alerts/{alert['id']}")
    audit(request, f"supervision.{action}", alert["supervision_no"])
    flash(request, "已办结" if action == "close" else "已升级", "success")
    return redirect(f"/supervision/alerts/{alert['id']}")


@page("supervision.decide")
async def bulk_review(request: Request) -> Response:
    """Close or escalate several alerts with one opinion (批量审核)."""
    form = await read_form(request)
    hub = hub_of(request)
    ids = [parse_int(v, "alert", "预警编号", max_digits=11, required=True)
           for v in form.getlist("alert")[:500]]
    action = text_field(form, "action", 16)
    text = text_field(form, "decision", 2000)
    nodes = _nodes_in_scope(request)
    done, failed, last = 0, 0, "无权处理或状态不允许"
    for alert_id in ids:
        alert = sql.alert_row(hub.store, alert_id)
        if alert is None or alert["item_type"] != sql.SUPERVISION or (
                nodes is not None and alert["node"] not in nodes):
            failed += 1
            continue
        try:
            _decide(hub, alert_id, action, text, account_of(request).username)
            done += 1
        except HubError as exc:
            failed += 1
            last = exc.message
    if ids:
        audit(request, f"supervision.bulk_{action[:10]}", None, {"ids": ids, "done": done})
    if not ids:
        flash(request, "请先勾选预警", "warning")
    elif failed:
        flash(request, f"已处理 {done} 条，{failed} 条未处理（{last}）", "warning")
    else:
        flash(request, f"已处理 {done} 条", "success")
    return redirect("/supervision")


@page("supervision.view")
async def case_alerts_page(request: Request) -> Response:
    hub = hub_of(request)
    case_no = request.path_params["case_no"][:64]
    nodes = _nodes_in_scope(request)
    rows = [a for a in sql.case_alerts(hub.store, case_no)
            if nodes is None or a["node"] in nodes]
    row = sql.case_row(hub.store, case_no)
    if not rows and row is None:
        return show(request, "pages/message.html",
                    {"title": "办件不存在", "message": f"没有您可查看的办件 {case_no} 的监察记录"},
                    status_code=404)
    return show(request, "supervision/case.html", {
        "case_no": case_no, "rows": rows, "case": row, "levels": LEVEL_LABELS,
        "states": STATES, "rules": _rule_names()},
        partial="supervision/_case_alerts.html")   # htmx: the table alone (case pages)


@page("supervision.view")
async def risk_points_page(request: Request) -> Response:
    hub = hub_of(request)
    grade = request.query_params.get("grade")
    grade = grade if grade in ("A", "B", "C") else None
    points = []
    for item in hub.store.catalogue_items():
        content = item.content or {}
        steps = {s.get("id"): s.get("name") for s in content.get("flow") or []
                 if isinstance(s, dict)}
        for p in content.get("risk_points") or []:
            if not isinstance(p, dict) or (grade and p.get("grade") != grade):
                continue
            points.append({"item_code": item.code, "item_name": item.name,
                           "department": item.department, "step": p.get("step"),
                           "step_name": steps.get(p.get("step"), ""), **p,
                           "route": service.ROUTES.get(p.get("grade"), ("", ""))[1]})
    points.sort(key=lambda p: (p.get("grade") or "Z", p["item_code"], p.get("code") or ""))
    return show(request, "supervision/risk_points.html",
                {"points": points, "grade": grade or ""})


def _period(request: Request) -> tuple[int, int, str, str]:
    q = request.query_params
    today = _today(request)
    year = parse_int(q.get("year"), "year", "年度", lo=2000, hi=2100, default=today.year)
    quarter = parse_int(q.get("quarter"), "quarter", "季度", lo=1, hi=4, max_digits=1,
                        default=(today.month - 1) // 3 + 1)
    start, end = reports.quarter_bounds(year, quarter)
    return year, quarter, start, end


def _report(request: Request):
    by = request.query_params.get("by")
    by = by if by in reports.GROUPS else "township"
    year, quarter, start, end = _period(request)
    if by == "quarter":
        start, end = f"{year}-01-01", f"{year + 1}-01-01"
    rows = reports.quarter_report(hub_of(request).store, by=by, start=start, end=end)
    return by, year, quarter, rows


@page("supervision.view")
async def reports_page(request: Request) -> Response:
    by, year, quarter, rows = _report(request)
    labels = [r.label for r in rows][:30]
    chart = {"tooltip": {}, "legend": {"data": ["红牌", "黄牌"]},
             "xAxis": {"type": "category", "data": labels}, "yAxis": {"type": "value"},
             "series": [{"name": "红牌", "type": "bar", "data": [r.red for r in rows][:30],
                         "itemStyle": {"color": "#b71c1c"}},
                        {"name": "黄牌", "type": "bar", "data": [r.yellow for r in rows][:30],
                         "itemStyle": {"color": "#f9a825"}}]}
    rate = {"tooltip": {}, "xAxis": {"type": "category", "data": labels},
            "yAxis": {"type": "value", "max": 100},
            "series": [{"name": "按时办结率", "type": "line",
                        "data": [r.on_time_pct for r in rows][:30]}]}
    dump = lambda o: json.dumps(o, ensure_ascii=False).replace("</", "<\\/")  # noqa: E731
    query = f"by={by}&year={year}&quarter={quarter}"
    return show(request, "supervision/reports.html", {
        "rows": rows, "by": by, "groups": reports.GROUPS, "year": year, "quarter": quarter,
        "chart_cards": dump(chart), "chart_rate": dump(rate), "query": query,
        "settings": service.current_settings(hub_of(request).store),
        "grade_names": service.GRADE_ZH})


def _download(data: bytes, name: str, kind: str) -> Response:
    media = "text/csv; charset=utf-8" if kind == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'})


@page("supervision.view")
async def report_csv(request: Request) -> Response:
    by, year, quarter, rows = _report(request)
    return _download(reports.report_csv(rows), f"supervision-{by}-{year}Q{quarter}", "csv")


@page("supervision.view")
async def report_xlsx(request: Request) -> Response:
    by, year, quarter, rows = _report(request)
    return _download(reports.report_xlsx(rows), f"supervision-{by}-{year}Q{quarter}", "xlsx")


@page("supervision.view")
async def records_csv(request: Request) -> Response:
    year, quarter, start, end = _period(request)
    return _download(reports.records_csv(hub_of(request).store, start, end),
                     f"supervision-records-{year}Q{quarter}", "csv")


@page("supervision.view")
async def records_xlsx(request: Request) -> Response:
    year, quarter, start, end = _period(request)
    return _download(reports.records_xlsx(hub_of(request).store, start, end),
                     f"supervision-records-{year}Q{quarter}", "xlsx")


@page("supervision.view")
async def rules_page(request: Request) -> Response:
    hub = hub_of(request)
    book = service.RuleBook(hub.store)
    current = book.get(book.latest_version)
    return show(request, "supervision/rules.html", {
        "rules": [r.to_dict() | {"enabled": current.enabled(r.id),
                                 "level_now": current.level_of(r.id)}
                  for r in RULES.values()],
        "version": book.latest_version, "published": book.published,
        "document": json.dumps(current.to_document(), ensure_ascii=False, indent=1),
        "settings": json.dumps(service.current_settings(hub.store), ensure_ascii=False,
                               indent=1),
        "runs": sql.reevaluations(hub.store)[:50], "levels": LEVEL_LABELS,
        "may_manage": can(account_of(request), "supervision.manage")})


@page("supervision.manage")
async def publish_rules(request: Request) -> Response:
    form = await read_form(request)
    hub = hub_of(request)
    try:
        document = loads_json(text_field(form, "document", 20_000) or "null", "document",
                              "规则文档")
        version = service.publish_rules(hub.store, hub.identity, hub.config, document,
                                        account_of(request).username)
    except InputError as exc:
        flash(request, exc.detail, "error")
        return redirect("/supervision/rules")
    except (ValueError, HubError) as exc:
        flash(request, getattr(exc, "message", None) or f"规则文档不是有效的 JSON：{exc}", "error")
        return redirect("/supervision/rules")
    flash(request, f"规则版本 {version} 已发布，将随同步下发到各节点；已有预警不会被改写", "success")
    return redirect("/supervision/rules")


@page("supervision.manage")
async def save_settings(request: Request) -> Response:
    form = await read_form(request)
    hub = hub_of(request)
    try:
        content = loads_json(text_field(form, "settings", 20_000) or "null", "settings",
                             "监察设置")
        version = service.save_settings(hub.store, content, hub.config.now_ts(),
                                        account_of(request).username)
    except InputError as exc:
        flash(request, exc.detail, "error")
        return redirect("/supervision/rules")
    except (ValueError, HubError) as exc:
        flash(request, getattr(exc, "message", None) or f"设置不是有效的 JSON：{exc}", "error")
        return redirect("/supervision/rules")
    flash(request, f"监察设置第 {version} 版已保存", "success")
    return redirect("/supervision/rules")


@page("supervision.manage")
async def reevaluate(request: Request) -> Response:
    form = await read_form(request)
    hub = hub_of(request)
    version_text = text_field(form, "version", 10)
    scope = text_field(form, "scope", 10) or "open"
    try:
        result = service.reevaluate(
            hub.store, to_version=parse_int(version_text, "version", "规则版本", max_digits=9),
            by=account_of(request).username, now=hub.config.now(), scope=scope,
            note=text_field(form, "note", 500) or None)
    except HubError as exc:
        flash(request, exc.message, "error")
        return redirect("/supervision/rules")
    flash(request, f"已按规则版本 {result['version']} 重新判定 {result['cases']} 件办件：新增预警 "
                   f"{result['raised']} 条，撤销 {result['superseded']} 条（均有记录）", "success")
    return redirect("/supervision/rules")


def routes() -> list[Route]:
    return [
        Route("/supervision", desk_page, methods=["GET"]),
        Route("/supervision/bulk", bulk_review, methods=["POST"]),
        Route("/supervision/alerts/{no}", alert_page, methods=["GET"]),
        Route("/supervision/alerts/{no}/answer", answer_alert, methods=["POST"]),
        Route("/supervision/alerts/{no}/decide", decide_alert, methods=["POST"]),
        Route("/supervision/cases/{case_no}", case_alerts_page, methods=["GET"]),
        Route("/supervision/risk-points", risk_points_page, methods=["GET"]),
        Route("/supervision/reports", reports_page, methods=["GET"]),
        Route("/supervision/reports.csv", report_csv, methods=["GET"]),
        Route("/supervision/reports.xlsx", report_xlsx, methods=["GET"]),
        Route("/supervision/records.csv", records_csv, methods=["GET"]),
        Route("/supervision/records.xlsx", records_xlsx, methods=["GET"]),
        Route("/supervision/rules", rules_page, methods=["GET"]),
        Route("/supervision/rules/publish", publish_rules, methods=["POST"]),
        Route("/supervision/settings", save_settings, methods=["POST"]),
        Route("/supervision/reevaluate", reevaluate, methods=["POST"]),
    ]
