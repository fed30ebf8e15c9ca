"""Notices from the county (通知公告 / 内部消息): ``GET /notices`` (unread first marked),
``GET /notices/{id}``, ``POST /notices/{id}/read`` (records the reading as a signed
``notice.read`` event). Domain: edge_node/notices/board.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.inputs import parse_int

from ..notices import board as notices
from .common import ROLE_ORDER, STAFF_ROLES, Ui, page, read_form, redirect, require_user

ALL_ROLES = STAFF_ROLES    # the node's staff (administrators manage accounts only)


def _notice_id(request: Request) -> int:
    return parse_int(request.path_params["notice_id"], "notice_id", "通知编号", max_digits=12,
                     required=True)


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    async def list_page(request: Request) -> Response:
        user = require_user(ui, request, ALL_ROLES)
        return page(ui, request, "notices/list.html",
                    {"rows": notices.notices_for(node, user["id"]), "kinds": notices.KINDS})

    async def detail(request: Request) -> Response:
        user = require_user(ui, request, ALL_ROLES)
        found = notices.notice(node, _notice_id(request), user["id"])
        return page(ui, request, "notices/detail.html", {"n": found, "kinds": notices.KINDS})

    async def read(request: Request) -> Response:
        user = require_user(ui, request, ALL_ROLES)
        await read_form(request)
        notice_id = _notice_id(request)
        role = next(r for r in ROLE_ORDER if r in user["roles"])
        notices.mark_read(node, notice_id, {"id": user["id"], "role": role})
        return redirect(request, f"/notices/{notice_id}")

    return [Route("/notices", list_page, methods=["GET"]),
            Route("/notices/{notice_id}", detail, methods=["GET"]),
            Route("/notices/{notice_id}/read", read, methods=["POST"])]
