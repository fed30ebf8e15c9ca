"""Accounts (账号管理), for the node administrator only: create a member of staff with
roles, deactivate or reactivate an account, reset a password. A new or reset password is
shown once on the page that answers the form (never put in the session cookie). The last
active administrator cannot be deactivated, and nobody deactivates their own account, so
a centre is never left without access.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.events import ROLES
from protocol.lifecycle import ROLE_LABELS
from web.errors import ValidationErrors
from web.flash import flash

from ..accounts import users
from ..errors import NodeError, NotFound, ValidationError
from ..store import queries
from .common import Ui, all_texts, page, read_form, redirect, require_user, text

ROLE_HINTS = {"clerk": "接件、受理、补正、送达、收费", "handler": "承办环节、特别程序",
              "reviewer": "审核环节", "approver": "批准环节", "head": "延期、作废、减免、退费",
              "supervisor": "只读查看", "admin": "账号管理"}


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    def users_page(request: Request, *, errors=None, values=None, shown=None,
                   status_code=200, row: str | None = None) -> Response:
        context = {"row": row, "users": node.store.users(), "roles": [(r, ROLE_LABELS[r]) for r in ROLES],
                   "role_hints": ROLE_HINTS, "errors": errors or ValidationErrors(),
                   "values": values or {"roles": []}, "shown": shown}
        return page(ui, request, "pages/admin_users.html", context, status_code=status_code)

    def admin_actor(request: Request) -> dict:
        user = require_user(ui, request, ("admin",))
        return {"id": user["id"], "role": "admin"}

    def target_user(request: Request) -> dict:
        user = node.store.user(request.path_params["user_id"][:40])
        if user is None:
            raise NotFound("no such user", zh="该账号不存在")
        return user

    async def list_users(request: Request) -> Response:
        admin_actor(request)
        return users_page(request)

    async def create(request: Request) -> Response:
        actor = admin_actor(request)
        form = await read_form(request)
        errors = ValidationErrors()
        values = {"username": text(form, "username", errors, label="用户名", max_len=40,
                                   required=True),
                  "name": text(form, "name", errors, label="姓名", max_len=100, required=True),
                  "password": text(form, "password", errors, label="初始密码", max_len=200),
                  "roles": all_texts(form, "roles", errors, label="岗位", max_len=20,
                                     max_count=len(ROLES))}
        if not errors and not values["roles"]:
            errors.add("roles", "请至少选择一个岗位")
        if not errors and any(r not in ROLES for r in values["roles"]):
            errors.add("roles", "请选择有效的岗位")
        if errors:
            return users_page(request, errors=errors, values=values, status_code=422)
        password = values["password"] or users.generate_password(values["username"],
                                                                 values["name"])
        try:
            user = users.create_user(node, values["username"], values["name"],
                                     values["roles"], password, actor=actor)
        except ValidationError as exc:
            errors.add(exc.field if exc.field in values else "username", exc.zh)
            return users_page(request, errors=errors, values=values, status_code=422)
        except NodeError as exc:        # the user name exists
            errors.add("username", exc.zh)
            return users_page(request, errors=errors, values=values, status_code=422)
        shown = {"title": f"已创建账号“{user['username']}”（{user['name']}）",
                 "password": None if values["password"] else password}
        return users_page(request, shown=shown)

    async def set_active(request: Request) -> Response:
        actor = admin_actor(request)
        form = await read_form(request)
        user = target_user(request)
        errors = ValidationErrors()
        wanted = text(form, "active", errors, label="状态", max_len=5)
        if wanted not in ("0", "1"):
            errors.add("active", "请选择启用或停用")
        elif wanted == "0" and user["id"] == actor["id"]:
            errors.add("active", "不能停用自己的账号")
        elif wanted == "0" and "admin" in user["roles"] and user["active"] \
                and queries.active_admin_count(node.store) <= 1:
            errors.add("active", "这是最后一个启用的管理员账号，不能停用")
        if errors:
            return users_page(request, errors=errors, status_code=422, row=user["id"])
        users.set_active(node, user["id"], wanted == "1", actor=actor)
        flash(request, f"已{'启用' if wanted == '1' else '停用'}账号“{user['username']}”",
              "success")
        return redirect(request, "/admin/users")

    async def reset(request: Request) -> Response:
        actor = admin_actor(request)
        form = await read_form(request)
        user = target_user(request)
        errors = ValidationErrors()
        password = text(form, "password", errors, label="新密码", max_len=200)
        if errors:
            return users_page(request, errors=errors, status_code=422, row=user["id"])
        try:
            new = users.reset_password(node, user["username"], password or None, actor=actor)
        except ValidationError as exc:
            errors.add("password", exc.zh)
            return users_page(request, errors=errors, status_code=422, row=user["id"])
        shown = {"title": f"已重置账号“{user['username']}”的密码",
                 "password": None if password else new}
        return users_page(request, shown=shown)

    return [
        Route("/admin/users", list_users, methods=["GET"]),
        Route("/admin/users", create, methods=["POST"]),
        Route("/admin/users/{user_id}/active", set_active, methods=["POST"]),
        Route("/admin/users/{user_id}/password", reset, methods=["POST"]),
    ]
