"""依申请公开 at the window (edge_node/disclosure/applications.py).

| route | what |
|---|---|
| ``GET /disclosure-requests`` | requests taken in here, newest first |
| ``GET/POST /disclosure-requests/new`` | take one in; answers with its receipt |
| ``GET /disclosure-requests/{no}/receipt`` | the printable receipt (回执) |
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import disclosure as rules
from web.errors import ValidationErrors

from ..disclosure import applications as window
from ..errors import NotFound, ValidationError
from .common import STAFF_ROLES, Ui, page, read_form, redirect, require_user

FIELDS = ("applicant_type", "applicant_name", "applicant_id_no", "contact", "address",
          "description", "purpose", "delivery")
LIMITS = {"applicant_name": 100, "applicant_id_no": 40, "contact": 30, "address": 200,
          "description": 2000, "purpose": 500}


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    def form_page(request, values, errors, status_code=200) -> Response:
        return page(ui, request, "disclosure/request_new.html",
                    {"values": values, "errors": errors,
                     "types": list(rules.APPLICANT_TYPES.items()),
                     "deliveries": list(rules.REQUEST_DELIVERY.items())},
                    status_code=status_code)

    async def listing(request: Request) -> Response:
        require_user(ui, request, STAFF_ROLES)
        return page(ui, request, "disclosure/requests.html",
                    {"rows": window.received(node), "types": rules.APPLICANT_TYPES})

    async def new(request: Request) -> Response:
        user = require_user(ui, request, window.REGISTER_ROLES)
        if request.method == "GET":
            return form_page(request, {"applicant_type": "person", "delivery": "pickup"},
                             ValidationErrors())
        form = await read_form(request)
        values = {k: (form.get(k) if isinstance(form.get(k), str) else "")[:LIMITS.get(k, 40) + 1]
                  for k in FIELDS}
        role = next(r for r in window.REGISTER_ROLES if r in user["roles"])
        try:
            row = window.register(node, {"id": user["id"], "role": role}, values)
        except ValidationError as exc:
            return form_page(request, values, ValidationErrors({exc.field: exc.zh}), 422)
        return redirect(request, f"/disclosure-requests/{row['request_no']}/receipt")

    async def receipt(request: Request) -> Response:
        require_user(ui, request, STAFF_ROLES)
        row = window.receipt(node, request.path_params["no"][:24])
        if row is None:
            raise NotFound("request", zh="没有这件公开申请")
        return page(ui, request, "disclosure/request_receipt.html",
                    {"r": row, "types": rules.APPLICANT_TYPES,
                     "deliveries": rules.REQUEST_DELIVERY})

    return [
        Route("/disclosure-requests", listing, methods=["GET"]),
        Route("/disclosure-requests/new", new, methods=["GET", "POST"]),
        Route("/disclosure-requests/{no}/receipt", receipt, methods=["GET"]),
    ]
