"""Printable documents (A4, web/static/print.css): 受理通知书, 补正告知书, 不予受理决定书,
办结通知. Each carries a QR code (segno, inline SVG) leading to the self-service status
look-up with the case number filled in: ``settings.status_url`` in node.json (e.g. the
county portal, ``{case}`` is replaced) or else this node's own ``/kiosk/status``.
"""

from __future__ import annotations

from urllib.parse import quote

import segno
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import lifecycle

from ..cases import catalogue as node_catalogue
from ..cases import handling as cases
from ..errors import NotFound
from .cases import receipts_for
from .common import Ui, page, require_case_reader

TITLES = {"acceptance": "受理通知书", "supplement": "补正告知书", "refusal": "不予受理决定书",
          "completion": "办结通知"}


def status_url(ui: Ui, request: Request, case_no: str) -> str:
    template = ui.config.settings.get("status_url")
    if isinstance(template, str) and template:
        return template.replace("{case}", quote(case_no))
    return f"{str(request.base_url).rstrip('/')}/kiosk/status?case={quote(case_no)}"


def qr_svg(url: str) -> Markup:
    """The QR code of ``url`` as inline SVG markup (segno output: paths, no style)."""
    return Markup(segno.make(url, error="m").svg_inline(scale=3, border=2,
                                                       title="办件进度查询二维码"))


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    async def receipt(request: Request) -> Response:
        require_case_reader(ui, request)
        state = cases.get_case(node, request.path_params["case_no"][:80])
        kind = request.path_params["kind"]
        if kind not in dict(receipts_for(state)):
            raise NotFound(f"no {kind} document for {state['case']}",
                           zh="该办件当前没有此类文书可打印")
        supplement = None
        if kind == "supplement":
            for event in node.store.case_events(state["case"]):
                if event.env["type"] == "case.supplement_requested":
                    supplement = event.env
            names = {m["id"]: m for m in supplement["body"]["materials"]}
            supplement = {"ts": supplement["ts"], "note": supplement["body"].get("note"),
                          "missing": [names[i] for i in supplement["body"]["missing"]
                                      if i in names]}
        item = node_catalogue.current_catalogue(node).by_code(state["item"]["code"])
        url = status_url(ui, request, state["case"])
        context = {"case": state, "kind": kind, "title": TITLES[kind], "item": item,
                   "supplement": supplement, "status_url": url, "qr": qr_svg(url),
                   "state_label": lifecycle.STATE_LABELS[state["state"]],
                   "issued": node.now(), "committed_days": state["committed_half_days"] / 2}
        return page(ui, request, "pages/receipt.html", context)

    return [Route("/cases/{case_no}/print/{kind}", receipt, methods=["GET"])]
