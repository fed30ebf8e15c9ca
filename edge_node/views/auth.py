"""Sign-in and sign-out of staff (form posts; the JSON sign-in is in ``api``).

Failed sign-ins are throttled per (user name, client address) by ``web.security.
LoginThrottle``: five free failures in 15 minutes, then growing waits up to 5 minutes,
never a lock-out. A successful sign-in clears the session, starts a server-side session
record (web.sessions) and rotates the CSRF token; signing out deletes that record, so a
copy of the cookie stops working too.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web import security
from web.errors import ValidationErrors
from web.flash import flash

from ..accounts import users
from .common import (
    Ui,
    end_session,
    home_for,
    page,
    read_form,
    redirect,
    signed_in_user,
    start_session,
    text,
)


def safe_next(value: str | None) -> str | None:
    """A local path to return to after sign-in, else None (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if len(value) > 200 or any(ord(c) < 32 for c in value):
        return None
    return value


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    def login_page(request: Request, values: dict, errors: ValidationErrors,
                   status_code: int = 200, headers: dict | None = None) -> Response:
        response = page(ui, request, "pages/login.html", {"values": values, "errors": errors},
                        status_code=status_code)
        response.headers.update(headers or {})
        return response

    async def login_form(request: Request) -> Response:
        user = signed_in_user(ui, request)
        if user is not None:
            return redirect(request, home_for(user))
        return login_page(request, {"next": safe_next(request.query_params.get("next")) or ""},
                          ValidationErrors())

    async def login(request: Request) -> Response:
        form = await read_form(request)
        errors = ValidationErrors()
        username = text(form, "username", errors, label="用户名", max_len=40, required=True)
        password = text(form, "password", errors, label="密码", max_len=200, required=True)
        values = {"username": username, "next": safe_next(text(form, "next")) or ""}
        if errors:
            return login_page(request, values, errors, 422)
        key = security.login_throttle_key(username, request)
        wait = ui.login_throttle.check(key)
        if wait > 0:
            errors.add_form(f"登录失败次数过多，请 {int(wait) + 1} 秒后再试")
            return login_page(request, values, errors, 429, security.retry_after_header(wait))
        user = users.authenticate(node, username, password)
        if user is None:
            ui.login_throttle.failure(key)
            errors.add("password", "用户名或密码不正确")
            return login_page(request, values, errors, 422)
        ui.login_throttle.success(key)
        start_session(ui, request, user)
        flash(request, f"{user['name']}，您好", "success")
        return redirect(request, values["next"] or home_for(user))

    async def logout(request: Request) -> Response:
        await read_form(request)
        end_session(ui, request)
        flash(request, "已退出登录", "info")
        return redirect(request, "/login")

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
