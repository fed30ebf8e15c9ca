"""Error pages and form validation errors, in Chinese.

``install_error_handlers(templates)`` returns the ``exception_handlers=`` mapping an
app passes to Starlette. HTTP status is decided once, there:

- ``HTTPException`` (404 and 405 from the router, 413 from the body limit, 403 from
  ``CsrfError``, anything an endpoint raises) -> the Chinese error page, a small
  message fragment for htmx requests, or JSON for ``/api/`` paths and JSON clients;
- any other ``Exception`` -> logged with its traceback, answered with a Chinese 500
  page (never a traceback).

``ValidationErrors`` collects field -> Chinese message while a form is checked; the
macros in ``partials/_form_field.html`` show each message beside its field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.templating import Jinja2Templates

from web.negotiation import wants_json
from web.security import SECURITY_HEADERS
from web.templating import is_htmx, patch_vary

logger = logging.getLogger(__name__)

# status -> (title, default message)
ERROR_TEXTS: Mapping[int, tuple[str, str]] = {
    400: ("请求有误", "提交的内容无法识别，请检查后重新提交。"),
    401: ("需要登录", "请先登录后再进行此操作。"),
    403: ("无权访问", "您没有权限进行此操作。如需办理，请联系管理员。"),
    404: ("页面不存在", "您访问的页面不存在或已被移除，请检查地址是否正确。"),
    405: ("操作方式不正确", "当前页面不支持此操作方式，请从页面上的按钮或链接进入。"),
    409: ("数据冲突", "数据已被其他操作修改，请刷新页面后重试。"),
    413: ("提交内容过大", "提交的内容过大，请减小附件或分批提交。"),
    415: ("格式不受支持", "提交的内容格式不受支持。"),
    422: ("填写有误", "提交的内容未通过校验，请按提示修改后重新提交。"),
    429: ("操作过于频繁", "您的操作过于频繁，请稍后再试。"),
    500: ("系统内部错误", "系统处理时出现了问题，已记录日志。请稍后重试，如仍有问题请联系管理员。"),
    502: ("上级服务暂时不可用", "暂时无法连接上级服务，请稍后重试。"),
    503: ("服务暂时不可用", "系统正在维护或繁忙，请稍后重试。"),
    504: ("上级服务响应超时", "上级服务响应超时，请稍后重试。"),
}

_HTMX_ERROR_TARGET = "#messages"
_FALLBACK_500 = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>500 系统内部错误</title></head>
<body><h1>系统内部错误</h1><p>系统处理时出现了问题，已记录日志。请稍后重试，如仍有问题请联系管理员。</p>
<p><a href="/">返回首页</a></p></body></html>
"""


def describe_status(status_code: int) -> tuple[str, str]:
    """Chinese (title, message) for an HTTP status; generic text for unlisted codes."""
    if status_code in ERROR_TEXTS:
        return ERROR_TEXTS[status_code]
    if 400 <= status_code < 500:
        return ("请求无法完成", "请求无法完成，请检查后重试。")
    return ERROR_TEXTS[500]


def _has_cjk(text: object) -> bool:
    return isinstance(text, str) and any("\u3400" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in text)


def _back_url(request: Request, home_url: str) -> str:
    """The same-origin page the user came from, else `home_url`."""
    referer = request.headers.get("referer")
    if not referer:
        return home_url
    parts = urlsplit(referer)
    if parts.netloc != request.url.netloc or parts.scheme not in ("http", "https"):
        return home_url
    if parts.path == request.url.path:
        return home_url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def error_response(
    templates: Jinja2Templates,
    request: Request,
    status_code: int,
    title: str | None = None,
    message: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    home_url: str = "/",
) -> Response:
    """An error answer in the representation the request wants.

    JSON ``{"error": {"status", "title", "detail"}}`` for API requests; for htmx
    requests a message fragment retargeted to ``#messages`` in the header; the full
    ``pages/error.html`` otherwise.
    """
    default_title, default_message = describe_status(status_code)
    title = title or default_title
    message = message or default_message
    if wants_json(request):
        response: Response = JSONResponse(
            {"error": {"status": status_code, "title": title, "detail": message}},
            status_code=status_code,
            headers=headers,
        )
        return patch_vary(response, "Accept")
    context = {
        "status_code": status_code,
        "title": title,
        "message": message,
        "back_url": _back_url(request, home_url),
        "home_url": home_url,
    }
    if is_htmx(request):
        response = templates.TemplateResponse(
            request, "partials/_error_message.html", context, status_code=status_code, headers=headers
        )
        response.headers["HX-Retarget"] = _HTMX_ERROR_TARGET
        response.headers["HX-Reswap"] = "innerHTML"
    else:
        response = templates.TemplateResponse(request, "pages/error.html", context, status_code=status_code, headers=headers)
    patch_vary(response, "HX-Request")
    return patch_vary(response, "Accept")


def install_error_handlers(templates: Jinja2Templates, *, home_url: str = "/") -> dict[Any, Any]:
    """The ``exception_handlers=`` mapping for Starlette: Chinese error pages, JSON for APIs."""

    async def http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        title, message = describe_status(exc.status_code)
        # Details written for users are Chinese; English ones come from the framework
        # ("Not Found", "Content Too Large") and are replaced by our own text.
        if _has_cjk(exc.detail):
            message = exc.detail
        return error_response(templates, request, exc.status_code, title, message, headers=exc.headers, home_url=home_url)

    async def server_error(request: Request, exc: Exception) -> Response:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        try:
            response = error_response(templates, request, 500, home_url=home_url)
        except Exception:
            logger.exception("rendering the 500 page failed")
            response = HTMLResponse(_FALLBACK_500, status_code=500)
        # ServerErrorMiddleware sits outside the app's middleware: add the headers here.
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return {HTTPException: http_exception, Exception: server_error}


class ValidationErrors:
    """Field -> Chinese message(s), collected while a submitted form is checked.

    >>> errors = ValidationErrors()
    >>> errors.add("id_number", "身份证号码应为18位")
    >>> errors.get("id_number")
    '身份证号码应为18位'
    >>> bool(errors), "name" in errors
    (True, False)

    Errors that belong to no single field go under ``ValidationErrors.FORM`` via
    ``add_form``. Templates use ``errors.get(name)`` (the macros do this), or iterate
    ``errors.items()`` for a summary at the top of the form.
    """

    FORM = "__form__"

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self._messages: dict[str, list[str]] = {}
        for field, message in (initial or {}).items():
            self.add(field, message)

    def add(self, field: str, message: str) -> None:
        """Record `message` for `field` (a field may collect several)."""
        self._messages.setdefault(field, []).append(message)

    def add_form(self, message: str) -> None:
        """Record a message about the form as a whole."""
        self.add(self.FORM, message)

    def get(self, field: str, default: str | None = None) -> str | None:
        """The first message for `field`, or `default`."""
        messages = self._messages.get(field)
        return messages[0] if messages else default

    def all(self, field: str) -> list[str]:
        return list(self._messages.get(field, []))

    @property
    def form_messages(self) -> list[str]:
        return self.all(self.FORM)

    def items(self) -> list[tuple[str, str]]:
        """(field, first message) for every field with an error, form-level ones included."""
        return [(field, messages[0]) for field, messages in self._messages.items()]

    def field_items(self) -> list[tuple[str, str]]:
        """(field, first message) for field errors only."""
        return [(field, message) for field, message in self.items() if field != self.FORM]

    def as_dict(self) -> dict[str, list[str]]:
        return {field: list(messages) for field, messages in self._messages.items()}

    def __contains__(self, field: object) -> bool:
        return field in self._messages

    def __iter__(self) -> Iterator[str]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def __bool__(self) -> bool:
        return bool(self._messages)

    def __repr__(self) -> str:
        return f"ValidationErrors({self._messages!r})"
