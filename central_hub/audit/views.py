"""The audit log's screen and its CSV export (the viewing and the export are audited)."""

from __future__ import annotations

import csv
import io
import json
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.pagination import Pagination
from web.spreadsheet import safe_row

from ..context import HubContext
from ..web_common import audit, hub_of, page, show
from .labels import action_label


_DAY_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _audit_filters(request: Request) -> tuple[dict, dict]:
    q = request.query_params
    actor = (q.get("actor") or "").strip()[:64] or None
    action = (q.get("action") or "").strip()[:64] or None
    since = q.get("since") or ""
    until = q.get("until") or ""
    filters = {"actor": actor, "action": action,
               "since": since if _DAY_RE.match(since) else None,
               "until": (until + "T99") if _DAY_RE.match(until) else None}
    shown = {"actor": actor or "", "action": action or "",
             "since": since if _DAY_RE.match(since) else "",
             "until": until if _DAY_RE.match(until) else ""}
    return filters, shown


@page("audit.view")
async def audit_page(request: Request) -> Response:
    hub = hub_of(request)
    filters, shown = _audit_filters(request)
    total = hub.store.audit_count(**filters)
    pager = Pagination.from_query(request.query_params.get("page"), total, 50)
    entries = hub.store.audit_entries(**filters, offset=pager.offset, limit=pager.limit)
    audit(request, "audit.viewed", None, {"filters": {k: v for k, v in filters.items() if v},
                                          "page": pager.page, "entries": len(entries)})
    return show(request, "pages/audit.html",
                {"entries": entries, "pager": pager, "shown": shown, "total": total,
                 "params": {k: v for k, v in shown.items() if v},
                 "action_label": action_label, "names": _display_names(hub)},
                partial="partials/_audit_table.html")


def _display_names(hub: HubContext) -> dict[str, str]:
    """User name -> display name, so the audit screen names people."""
    return {a.username: a.display_name for a in hub.store.accounts() if a.display_name}


@page("audit.view")
async def audit_export(request: Request) -> Response:
    hub = hub_of(request)
    filters, _ = _audit_filters(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(safe_row(["编号", "时间", "操作人", "操作", "对象", "来源地址", "详情", "修改前",
                              "修改后"]))
    offset = 0
    while True:
        batch = hub.store.audit_entries(**filters, offset=offset, limit=1000,
                                        newest_first=False)
        for e in batch:
            writer.writerow(safe_row([
                e.id, e.at, e.actor, e.action, e.target or "", e.ip or "",
                json.dumps(e.details, ensure_ascii=False),
                "" if e.before is None else json.dumps(e.before, ensure_ascii=False),
                "" if e.after is None else json.dumps(e.after, ensure_ascii=False)]))
        if len(batch) < 1000:
            break
        offset += 1000
    audit(request, "audit.exported", None, {"filters": {k: v for k, v in filters.items() if v},
                                            "entries": offset + len(batch)})
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'})


def audit_routes() -> list[Route]:
    return [
        Route("/audit", audit_page, methods=["GET"]),
        Route("/audit/export.csv", audit_export, methods=["GET"]),
    ]
