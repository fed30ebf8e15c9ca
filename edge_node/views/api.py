"""The JSON endpoints (sign-in and intake) that the crash test and the benchmarks drive."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from web import security
from web.inputs import loads_json

from ..accounts import users
from ..cases import handling as cases
from ..errors import PermissionDenied, ValidationError
from .common import Ui, end_session, require_case_reader, require_user, start_session


async def _read_json(request: Request) -> dict:
    if "application/json" not in request.headers.get("content-type", ""):
        raise ValidationError("body", "content_type", "请以 JSON 格式提交（application/json）")
    data = loads_json(await request.body())          # 400 for bad or too deeply nested JSON
    if not isinstance(data, dict):
        raise ValidationError("body", "json", "提交的内容须为 JSON 对象")
    return data


def routes(ui: Ui) -> list[Route]:
    node = ui.node

    async def health(request: Request) -> Response:
        head = node.store.chain_head()
        return JSONResponse({"ok": True, "node": ui.config.code, "head_seq": head.seq})

    async def login(request: Request) -> Response:
        data = await _read_json(request)
        username, password = str(data.get("username", "")), str(data.get("password", ""))
        key = security.login_throttle_key(username, request)
        wait = ui.login_throttle.check(key)
        if wait > 0:
            return JSONResponse({"error": {"status": 429, "detail":
                                           f"登录失败次数过多，请 {int(wait) + 1} 秒后再试"}},
                                status_code=429, headers=security.retry_after_header(wait))
        user = users.authenticate(node, username, password)
        if user is None:
            ui.login_throttle.failure(key)
            raise PermissionDenied("wrong username or password", zh="用户名或密码不正确")
        ui.login_throttle.success(key)
        token = start_session(ui, request, user)
        return JSONResponse({"user": user["id"], "name": user["name"],
                             "roles": list(user["roles"]), "csrf_token": token})

    async def logout(request: Request) -> Response:
        security.check_csrf(request)
        end_session(ui, request)
        return JSONResponse({"ok": True})

    async def create_case(request: Request) -> Response:
        user = require_user(ui, request)
        security.check_csrf(request)
        data = await _read_json(request)
        actor = users.actor_for(user, str(data.get("role") or "clerk"))
        materials = data.get("materials", [])
        if not isinstance(materials, (list, dict)):
            raise ValidationError("materials", "format", "材料清单格式不正确")
        state = cases.intake(node, actor, item_code=str(data.get("item", "")),
                             applicant=data.get("applicant") or {}, materials=materials,
                             outcome=str(data.get("outcome", "accept")),
                             reason=data.get("reason"), note=data.get("note"))
        return JSONResponse({"case": state["case"], "query_code": state["query_code"],
                             "state": state["state"], "seq": state["last_seq"],
                             "deadline": state["deadline"]}, status_code=201)

    async def show_case(request: Request) -> Response:
        require_case_reader(ui, request)
        return JSONResponse(cases.get_case(node, request.path_params["case_no"]))

    return [
        Route("/health", health),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/api/cases", create_case, methods=["POST"]),
        Route("/api/cases/{case_no}", show_case),
    ]
