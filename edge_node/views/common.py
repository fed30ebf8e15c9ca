"""What every screen module shares: the :class:`Ui` context, sign-in and role checks,
form reading with CSRF and field bounds, and page rendering with the staff header.

Roles (``protocol.events.ROLES``) and what they may open:

* ``STAFF_ROLES`` (clerk, handler, reviewer, approver, head, supervisor): work queue,
  case detail, search, receipts;
* ``WORK_ROLES`` (all of them but the supervisor): the actions on a case that their role
  may take in its state (the supervisor is read-only: no action buttons, POSTs 403);
* the clerk alone: intake;
* ``admin``: the accounts page only (it sees no resident's data).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Mapping

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from protocol.calendar import add_working_days, remaining_working_days, shanghai_date
from protocol.lifecycle import CLOCK_STATES, ROLE_LABELS
from web import security
from web.errors import ValidationErrors
from web.flash import flash
from web.sessions import (
    EXPIRED,
    SESSION_ID,
    TOUCH,
    SessionPolicy,
    new_session_id,
    prune_bounds,
    session_key,
    verdict,
)
from web.templating import render

from ..config import NodeConfig
from ..errors import NotSignedIn, PermissionDenied
from ..node import Node
from ..store.queries import QueueWindow
from ..sync import status_views as sync_status

STAFF_ROLES = ("clerk", "handler", "reviewer", "approver", "head", "supervisor")
WORK_ROLES = ("clerk", "handler", "reviewer", "approver", "head")
ROLE_ORDER = ("clerk", "handler", "reviewer", "approver", "head", "supervisor", "admin")
NEAR_WORKING_DAYS = 2
"""A case due within this many working days (today included) is "nearing" its deadline."""

MAX_FORM_FIELDS = 200
MAX_FIELD_CHARS = 4000
"""Any single form value longer than this is refused before any domain check (422)."""
MAX_PART_BYTES = 64 * 1024
"""A value over this many bytes is refused by the form parser itself (400)."""


@dataclass
class Ui:
    """Everything the screens need, built once by ``create_app`` (no module state)."""

    node: Node
    config: NodeConfig
    templates: Jinja2Templates
    login_throttle: security.LoginThrottle
    lookup_limiter: security.RateLimiter
    lookup_throttle: security.LoginThrottle
    extras: dict = field(default_factory=dict)

    def today(self) -> dt.date:
        return shanghai_date(self.node.now())

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(idle_seconds=self.config.session_idle_seconds,
                             lifetime_seconds=self.config.session_lifetime_seconds)


# --------------------------------------------------------------------------- users


def signed_in_user(ui: Ui, request: Request) -> dict | None:
    """The active user of the session, else None (cached on the request)."""
    if "session" not in request.scope:
        return None
    if "staff_user" in request.scope:
        return request.scope["staff_user"]
    uid, sid = request.session.get("user"), request.session.get(SESSION_ID)
    user = None
    if isinstance(uid, str) and isinstance(sid, str):
        state = _session_state(ui, sid, uid)
        if state == "alive":
            user = ui.node.store.user(uid)
        if user is None or not user["active"]:
            user = None
            _forget_ended_session(ui, request, state)
    request.scope["staff_user"] = user
    return user


def _session_state(ui: Ui, sid: str, user_id: str) -> str:
    """"alive" when the session's record exists, is the user's and is within its limits
    (``last_seen`` refreshed at most once a minute); EXPIRED past them (the record is
    deleted); "ended" when there is no such record."""
    store = ui.node.store
    key = session_key(sid)
    record = store.session(key)
    if record is None or record.user != user_id:
        return "ended"
    now = ui.node.now().timestamp()
    state = verdict(ui.session_policy, record, now)
    if state == EXPIRED:
        store.end_session(key)
        return EXPIRED
    if state == TOUCH:
        store.touch_session(key, now)
    return "alive"


def _forget_ended_session(ui: Ui, request: Request, state: str) -> None:
    """The cookie names a session that has ended: drop it from the cookie and tell the
    person why on the next page (the login page), instead of a silent bounce."""
    request.session.pop("user", None)
    request.session.pop(SESSION_ID, None)
    message = session_ended_message(ui, state)
    request.scope["node.session_ended"] = message
    flash(request, message, "warning")


def session_ended_message(ui: Ui, state: str) -> str:
    if state == EXPIRED:
        minutes = max(1, round(ui.session_policy.idle_seconds / 60))
        return f"登录已超时（超过 {minutes} 分钟未操作或登录时间过长），请重新登录"
    return "登录已失效（已在别处退出、密码已重置或账号已停用），请重新登录"


def start_session(ui: Ui, request: Request, user: Mapping) -> str:
    """Sign ``user`` in: a new session record (dead ones pruned), a fresh cookie and CSRF
    token (returned)."""
    store = ui.node.store
    now = ui.node.now().timestamp()
    sid = new_session_id()
    with store.transaction():
        store.prune_sessions(*prune_bounds(ui.session_policy, now))
        store.add_session(session_key(sid), user["id"], now)
    request.session.clear()
    request.session["user"] = user["id"]
    request.session[SESSION_ID] = sid
    request.scope.pop("staff_user", None)
    return security.rotate_csrf_token(request)


def end_session(ui: Ui, request: Request) -> None:
    """Sign out: delete this session's record, so a copy of the cookie is refused too."""
    sid = request.session.get(SESSION_ID)
    if isinstance(sid, str):
        ui.node.store.end_session(session_key(sid))
    request.session.clear()
    request.scope.pop("staff_user", None)
    security.rotate_csrf_token(request)


def require_user(ui: Ui, request: Request, roles: Iterable[str] | None = None) -> dict:
    """The signed-in user holding one of ``roles`` (None: any role); else NotSignedIn
    (the app sends a browser to the login page) or PermissionDenied (403)."""
    user = signed_in_user(ui, request)
    if user is None:
        raise NotSignedIn("not signed in",
                          zh=request.scope.get("node.session_ended") or "请先登录")
    if roles is not None and not set(user["roles"]) & set(roles):
        raise PermissionDenied(f"user {user['username']} lacks the role for {request.url.path}",
                               zh="您的岗位无权使用此页面")
    return user


def require_case_reader(ui: Ui, request: Request) -> dict:
    """The signed-in user who may read a case with its applicant's data: the staff roles
    (the case page, its receipts and ``GET /api/cases/{no}`` all decide here)."""
    return require_user(ui, request, STAFF_ROLES)


def role_labels(roles: Iterable[str]) -> str:
    return "、".join(ROLE_LABELS.get(r, r) for r in roles)


def home_for(user: Mapping) -> str:
    """Where a user lands after signing in."""
    if set(user["roles"]) & set(STAFF_ROLES):
        return "/"
    return "/admin/users"


# --------------------------------------------------------------------------- forms


class FormError(Exception):
    """A form that cannot be read at all (a file where text was expected)."""


async def read_form(request: Request, *, csrf: bool = True) -> FormData:
    """The submitted form (no files), after the CSRF check."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS,
                              max_part_size=MAX_PART_BYTES)
    if csrf:
        security.check_csrf(request, form)
    return form


def text(form: FormData | Mapping, name: str, errors: ValidationErrors | None = None, *,
         label: str = "", max_len: int = MAX_FIELD_CHARS, required: bool = False) -> str:
    """One text value, stripped; a field error (not an exception) when it breaks a bound."""
    value = form.get(name)
    if isinstance(value, UploadFile):
        value = None
        if errors is not None:
            errors.add(name, f"{label or '该项'}须为文字")
        return ""
    value = (value or "").strip()
    if errors is not None:
        if len(value) > max_len:
            errors.add(name, f"{label or '该项'}不能超过 {max_len} 个字")
            return ""
        if required and not value:
            errors.add(name, f"请填写{label or '该项'}")
    return value


def choice(form, name: str, options: Iterable[str], errors: ValidationErrors, *,
           label: str, default: str | None = None) -> str:
    value = text(form, name, errors, label=label, max_len=100) or (default or "")
    if value not in options:
        errors.add(name, f"请选择有效的{label}")
        return ""
    return value


def all_texts(form, name: str, errors: ValidationErrors, *, label: str,
              max_len: int = 100, max_count: int = 100) -> list[str]:
    values = form.getlist(name) if hasattr(form, "getlist") else list(form.get(name) or [])
    out = []
    for v in values:
        if not isinstance(v, str) or len(v) > max_len:
            errors.add(name, f"{label}格式不正确")
            return []
        out.append(v.strip())
    if len(out) > max_count:
        errors.add(name, f"{label}过多")
        return []
    return out


# --------------------------------------------------------------------------- rendering


class StaffContext:
    """Lazily computed header context (the user, their roles, the sync indicator)."""

    def __init__(self, ui: Ui, request: Request) -> None:
        self._ui, self._request = ui, request

    @cached_property
    def user(self) -> dict | None:
        return signed_in_user(self._ui, self._request)

    @cached_property
    def roles(self) -> frozenset[str]:
        return frozenset(self.user["roles"]) if self.user else frozenset()

    @cached_property
    def sync(self) -> dict:
        return sync_status.indicator(self._ui.node)

    @property
    def role_text(self) -> str:
        return role_labels(r for r in ROLE_ORDER if r in self.roles)

    def can(self, what: str) -> bool:
        roles = self.roles
        return {"cases": bool(roles & set(STAFF_ROLES)), "intake": "clerk" in roles,
                "admin": "admin" in roles, "act": bool(roles & set(WORK_ROLES))}[what]


def staff_context_processor(ui: Ui):
    def processor(request: Request) -> dict[str, Any]:
        if "staff_ctx" not in request.scope:
            request.scope["staff_ctx"] = StaffContext(ui, request)
        return {"staff": request.scope["staff_ctx"], "node_name": ui.config.name,
                "node_code": ui.config.code}
    return processor


def page(ui: Ui, request: Request, template: str, context: Mapping[str, Any] | None = None,
         *, partial: str | None = None, status_code: int = 200) -> Response:
    """Render a page (or, for htmx, its partial)."""
    return render(ui.templates, request, template, partial or template, dict(context or {}),
                  status_code=status_code)


def redirect(request: Request, url: str) -> Response:
    """303 to ``url``; an htmx request gets ``HX-Redirect`` so the whole page changes."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def queue_window(ui: Ui, previous_visit: dt.date | None = None):
    """The dates that split the work queue (see docs/edge-screens.md, "newly overdue")."""

    calendar = ui.node.store.calendar()
    today = ui.today()
    near_until = add_working_days(calendar, today, NEAR_WORKING_DAYS - 1) or today
    # The last working day before today.
    prev_wd = today - dt.timedelta(days=1)
    for _ in range(40):
        if calendar.is_working_day(prev_wd):
            break
        prev_wd -= dt.timedelta(days=1)
    # A case becomes overdue on the day after its due date. It is "newly" overdue when
    # that day is on or after the last working day, or after the user's previous visit.
    newly_from = prev_wd - dt.timedelta(days=1)
    if previous_visit is not None:
        newly_from = min(newly_from, previous_visit)
    return QueueWindow(today=today, near_until=near_until, newly_from=newly_from)


def deadline_marks(ui: Ui, state: Mapping, window) -> dict:
    """Remaining working days and the marks a row shows: near / overdue / newly."""

    deadline = state.get("deadline") or {}
    due = deadline.get("due")
    if state["state"] not in CLOCK_STATES or not due:
        return {"remaining": None, "due": due, "mark": None,
                "paused": state["state"] == "suspended"}
    due_day = dt.date.fromisoformat(due)
    remaining = remaining_working_days(ui.node.store.calendar(), window.today, due_day)
    if due_day < window.today:
        mark = "newly" if due_day >= window.newly_from else "overdue"
    elif due_day <= window.near_until:
        mark = "near"
    else:
        mark = None
    return {"remaining": remaining, "due": due, "mark": mark, "paused": False,
            "confirmed": deadline.get("confirmed", True)}
