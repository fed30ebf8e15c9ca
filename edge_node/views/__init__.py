"""The node's screens, one small module per concern.

| module | routes |
|---|---|
| ``auth`` | ``GET/POST /login``, ``POST /logout`` |
| ``queue`` | ``GET /`` (my work queue; htmx: the table alone) |
| ``intake`` | ``GET/POST /intake``, ``GET /intake/items`` (item search), ``POST /intake/check`` (inline validation) |
| ``cases`` | ``GET /cases/{no}``, ``POST /cases/{no}/act/{action}`` |
| ``search`` | ``GET /search`` |
| ``receipts`` | ``GET /cases/{no}/print/{kind}`` (受理通知书, 补正告知书, 不予受理决定书, 办结通知) |
| ``admin`` | ``GET/POST /admin/users``, ``POST /admin/users/{id}/active``, ``POST /admin/users/{id}/password`` |
| ``selfservice`` | ``GET /kiosk``, ``GET /kiosk/items/{code}``, ``GET/POST /kiosk/status`` (no login) |
| ``disclosure_requests`` | ``/disclosure-requests…``: 依申请公开 taken in at the window, with its receipt (docs/disclosure.md) |
| ``disclosure`` | ``/disclosure…``: drafting, 保密审查, publishing, correcting, withdrawing government information (docs/disclosure.md) |
| ``inbox`` | ``/inbox…``: forwarded cases, returned results, on-line applications (docs/cross-level.md) |
| ``api`` | ``GET /health``, ``POST /api/login``, ``POST /api/logout``, ``POST /api/cases``, ``GET /api/cases/{no}`` |
| ``supervision`` | ``GET /supervision`` (local warnings), ``GET /supervision/cases/{case_no}`` (one case's, a partial) |
| ``notices`` | ``GET /notices``, ``GET /notices/{id}``, ``POST /notices/{id}/read`` (county notices; reading is a ``notice.read`` event) |

Every module exposes ``routes(ui) -> list[Route]``; ``common`` holds what they share. The
one route table, in this order, is ``SCREENS`` in :mod:`edge_node.app`.
"""
