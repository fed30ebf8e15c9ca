"""HTTP status of every refusal, decided once, and the JSON error answers of /sync/v1.

A refusal is ``{"error": {"code", "message", "seq"?}, "hub_time": "..."}`` (plus
``"ack"``, a signed ack, for ``chain_gap``); every response carries ``X-Hub-Time`` and
``X-Hub-Key`` (see :class:`HubTimeMiddleware`).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol.errors import ProtocolError
from protocol.request_auth import H_HUB_KEY, H_HUB_TIME

from web.errors import error_response
from web.security import retry_after_header

from .errors import HubError, RateLimited


def _is_chinese(text: object) -> bool:
    return isinstance(text, str) and any("\u3400" <= ch <= "\u9fff" for ch in text)

logger = logging.getLogger(__name__)

STATUS_BY_CODE = {
    "request_unsigned": 401, "request_signature_invalid": 401, "request_expired": 401,
    "request_replayed": 409, "node_unknown": 401, "node_revoked": 403,
    "node_quarantined": 403, "batch_wrong_node": 403,
    "chain_fork": 409, "chain_gap": 409, "chain_reorder": 409, "chain_duplicate": 409,
    "chain_broken": 409, "signature_invalid": 422, "signature_malformed": 400,
    "batch_too_large": 413, "request_too_large": 413, "too_large": 413,
    "event_too_large": 413,
    "enroll_token_malformed": 400, "enroll_token_unknown": 403, "enroll_token_used": 409,
    "enroll_token_expired": 410, "node_exists": 409,
    "config_unknown": 404, "not_found": 404, "method_not_allowed": 405,
    "content_type_invalid": 415, "rate_limited": 429, "internal_error": 500,
    # sync in the field (docs/sync-field.md)
    "restore_token_malformed": 400, "restore_token_unknown": 403, "restore_token_used": 409,
    "restore_token_expired": 410, "epoch_behind_backup": 409, "attachment_too_large": 413,
    "attachment_type_refused": 415, "attachment_unreferenced": 409,
    "attachment_chunk_corrupt": 422, "attachment_corrupt": 422, "attachment_unknown": 409,
}
SYNC_PREFIX = "/sync/"


def status_of(code: str) -> int:
    return STATUS_BY_CODE.get(code, 400)


class HubTimeMiddleware:
    """Add ``X-Hub-Time`` (and the hub's current key) to every HTTP response."""

    def __init__(self, app: ASGIApp, now_ts: Callable[[], str], hub_key: Callable[[], str]) -> None:
        self.app = app
        self.now_ts = now_ts
        self.hub_key = hub_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_time(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((H_HUB_TIME.lower().encode(), self.now_ts().encode()))
                headers.append((H_HUB_KEY.lower().encode(), self.hub_key().encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_time)


def refusal(code: str, message: str, hub_time: str, *, seq: int | None = None,
            extra: dict | None = None, status: int | None = None,
            headers: dict | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if seq is not None:
        error["seq"] = seq
    body = {"error": error, "hub_time": hub_time, **(extra or {})}
    return JSONResponse(body, status_code=status or status_of(code), headers=headers)


def _retry_after(exc: Exception, status: int) -> dict | None:
    """``Retry-After`` for a 429 refusal (its ``extra["retry_after"]`` seconds, else 1)."""
    if status != 429:
        return None
    extra = getattr(exc, "extra", None) or {}
    seconds = extra.get("retry_after", 1)
    return retry_after_header(seconds if isinstance(seconds, (int, float)) else 1)


def sync_exception_handlers(now_ts: Callable[[], str], hub_key: Callable[[], str],
                            web_handlers: dict, templates: Any = None) -> dict:
    """Exception handlers: JSON refusals under /sync/, the web layer's pages elsewhere."""
    web_http = web_handlers.get(HTTPException)
    web_server_error = web_handlers.get(Exception)

    async def hub_error(request: Request, exc: Exception) -> Response:
        if templates is not None and not request.url.path.startswith(SYNC_PREFIX):
            code = getattr(exc, "code", "hub_error")
            status = getattr(exc, "status", None) or status_of(code)
            message = getattr(exc, "message", str(exc))
            return error_response(templates, request, status if status < 500 else 400,
                                  message=message if _is_chinese(message) else None,
                                  headers=_retry_after(exc, status))
        if isinstance(exc, RateLimited):
            return refusal(exc.code, exc.message, now_ts(),
                           headers=retry_after_header(exc.retry_after))
        if isinstance(exc, HubError):
            return refusal(exc.code, exc.message, now_ts(), seq=exc.seq, extra=exc.extra,
                           headers=_retry_after(exc, status_of(exc.code)))
        assert isinstance(exc, ProtocolError)
        return refusal(exc.code, exc.message, now_ts(), seq=exc.seq)

    async def http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith(SYNC_PREFIX) or web_http is None:
            code = {413: "request_too_large", 404: "not_found",
                    405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
            message = {413: "request body is over the limit of this endpoint"}.get(
                exc.status_code, str(exc.detail))
            return refusal(code, message, now_ts(), status=exc.status_code, headers=exc.headers)
        return await web_http(request, exc)

    async def server_error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(SYNC_PREFIX) or web_server_error is None:
            logger.error("unhandled error on %s %s", request.method, request.url.path,
                         exc_info=exc)
            return refusal("internal_error", "the hub failed to handle this request; it is "
                           "logged", now_ts(), headers={H_HUB_TIME: now_ts(),
                                                       H_HUB_KEY: hub_key()})
        response = await web_server_error(request, exc)
        response.headers[H_HUB_TIME] = now_ts()
        return response

    return {HubError: hub_error, ProtocolError: hub_error, HTTPException: http_exception,
            Exception: server_error}
