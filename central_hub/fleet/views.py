"""The fleet page and its JSON twin (per-node sync figures)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .service import fleet_status
from ..web_common import hub_of, page, show


@page("fleet.view")
async def fleet_page(request: Request) -> Response:
    hub = hub_of(request)
    nodes = fleet_status(hub.store, hub.config)
    days = list(nodes[0].events_per_day) if nodes else []
    return show(request, "pages/fleet.html",
                {"nodes": nodes, "days": days, "hub_time": hub.config.now_ts()},
                partial="partials/_fleet_table.html")


@page("fleet.view")
async def fleet_api(request: Request) -> Response:
    hub = hub_of(request)
    return JSONResponse({"hub_time": hub.config.now_ts(),
                         "nodes": [n.to_dict() for n in fleet_status(hub.store, hub.config)]})


def fleet_routes() -> list[Route]:
    return [
        Route("/fleet", fleet_page, methods=["GET"]),
        Route("/api/fleet", fleet_api, methods=["GET"]),
    ]
