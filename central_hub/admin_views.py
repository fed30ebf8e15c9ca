"""County screens: login, home, org units, accounts, node assignment, the audit log."""

from __future__ import annotations

import csv
import io
import json
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.errors import ValidationErrors, error_response
from web.flash import flash
from web.spreadsheet import safe_row
from web.pagination import Pagination
from web import totp
from web.security import (
    DUMMY_PASSWORD_HASH,
    client_ip,
    hash_password,
    login_throttle_key,
    needs_rehash,
    retry_after_header,
    rotate_csrf_token,
    verify_password,
)

from . import accounts as acc
from .audit_labels import action_label
from .catalogue_admin import STAGES
from .context import HubContext
from .records import Account
from .orgs import KIND_LABELS, OrgError, OrgTree, add_unit
from .store import supervision as supervision_sql
from .web_common import (
    FORM_LIMIT,
    SESSION_EPOCH,
    TOTP_ENROL_URL,
    account_of,
    audit,
    current_account,
    end_session,
    hub_of,
    page,
    read_form,
    redirect,
    show,
    start_session,
    text_field,
)

SESSION_PENDING = "hub_totp_pending"      # [username, session_epoch, since] between steps
PENDING_SECONDS = 5 * 60                  # the code must follow the password within this
TOTP_ISSUER = "县级政务服务平台"

# --------------------------------------------------------------------------- login


async def login_page(request: Request) -> Response:
    return show(request, "pages/hub_login.html", {"error": None, "username": ""})


async def login(request: Request) -> Response:
    hub = hub_of(request)
    form = await read_form(request)
    username = text_field(form, "username", 64).strip()
    password = text_field(form, "password", 256)
    key = login_throttle_key(username, request)
    wait = hub.login_throttle.check(key)
    if wait:
        response = show(request, "pages/hub_login.html",
                        {"error": f"登录失败次数过多，请 {int(wait) + 1} 秒后再试",
                         "username": username}, status_code=429)
        response.headers.update(retry_after_header(wait))
        return response
    account = hub.store.account(username)
    # An unknown user costs the same scrypt as a known one: timing tells no account apart.
    matches = verify_password(password, account.password_hash if account is not None
                              else DUMMY_PASSWORD_HASH)
    if account is None or not account.active or not matches:
        hub.login_throttle.failure(key)
        hub.store.audit(hub.config.now_ts(), username[:64] or "-", "login.failed", None,
                        ip=client_ip(request))
        return show(request, "pages/hub_login.html",
                    {"error": "用户名或密码错误", "username": username}, status_code=401)
    hub.login_throttle.success(key)
    if needs_rehash(account.password_hash):
        hub.store.set_password(username, hash_password(password))
        account = hub.store.account(username)
    if account.totp_enabled:
        # Second step: the session holds only who passed the password, not a sign-in.
        request.session.clear()
        request.session[SESSION_PENDING] = [username, account.session_epoch,
                                             hub.clock_seconds()]
        rotate_csrf_token(request)
        return redirect("/login/totp")
    start_session(request, account)
    hub.store.audit(hub.config.now_ts(), username, "login", None, ip=client_ip(request))
    return redirect("/")


def _pending_account(request: Request) -> Account | None:
    """The account that passed the password step and owes its TOTP code, else None."""
    hub = hub_of(request)
    pending = request.session.get(SESSION_PENDING)
    if not (isinstance(pending, list) and len(pending) == 3
            and isinstance(pending[0], str) and isinstance(pending[2], (int, float))):
        return None
    username, epoch, since = pending
    if not 0 <= hub.clock_seconds() - since <= PENDING_SECONDS:
        return None
    account = hub.store.account(username)
    if account is None or not account.active or not account.totp_enabled \
            or account.session_epoch != epoch:
        return None
    return account


def _totp_page(request: Request, error: str | None, status_code: int = 200,
               headers: dict | None = None) -> Response:
    response = show(request, "pages/hub_login_totp.html", {"error": error},
                    status_code=status_code)
    response.headers.update(headers or {})
    return response


async def login_totp_page(request: Request) -> Response:
    if _pending_account(request) is None:
        return redirect("/login")
    return _totp_page(request, None)


async def login_totp(request: Request) -> Response:
    """Second sign-in step: the TOTP code, once per step, throttled like passwords."""
    hub = hub_of(request)
    form = await read_form(request)
    account = _pending_account(request)
    if account is None:
        return redirect("/login")
    key = ("totp",) + login_throttle_key(account.username, request)
    wait = hub.login_throttle.check(key)
    if wait:
        return _totp_page(request, f"验证码错误次数过多，请 {int(wait) + 1} 秒后再试", 429,
                          retry_after_header(wait))
    secret, _, _ = hub.store.totp(account.username)
    step = totp.matching_step(secret, totp.normalise_code(text_field(form, "code", 32)),
                              hub.clock_seconds())
    if step is None or not hub.store.use_totp_step(account.username, step):
        hub.login_throttle.failure(key)
        hub.store.audit(hub.config.now_ts(), account.username, "login.totp_failed", None,
                        ip=client_ip(request))
        return _totp_page(request, "验证码：不正确或已使用过，请输入验证器中显示的最新 6 位数字",
                          401)
    hub.login_throttle.success(key)
    start_session(request, account)
    hub.store.audit(hub.config.now_ts(), account.username, "login", None,
                    {"second_factor": "totp"}, ip=client_ip(request))
    return redirect("/")


async def logout(request: Request) -> Response:
    await read_form(request)
    account = current_account(request)
    if account is not None:
        audit(request, "logout", None)
    end_session(request)
    flash(request, "已退出登录", "info")
    return redirect("/login")


# --------------------------------------------------------------------------- TOTP enrolment


def _totp_account(request: Request) -> tuple[Account | None, Response | None]:
    """The signed-in account that may enrol a second factor, or the answer refusing it."""
    account = current_account(request)
    if account is None:
        if request.method == "GET":
            return None, redirect("/login")
        return None, error_response(request.app.state.templates, request, 401,
                                    message="请先登录")
    if not acc.may_use_totp(account):
        return None, error_response(request.app.state.templates, request, 403,
                                    message="双因素认证：仅管理员（系统、安全、审计）和监察人员可以启用")
    return account, None


def _enrol_page(request: Request, account: Account, error: str | None,
                status_code: int = 200, headers: dict | None = None) -> Response:
    hub = hub_of(request)
    context: dict = {"error": error, "enabled": account.totp_enabled,
                     "required": hub.config.require_totp_for_admins and acc.is_admin(account)}
    if not account.totp_enabled:
        _, pending, _ = hub.store.totp(account.username)
        if pending is None:
            pending = totp.new_secret()
            hub.store.set_totp_pending(account.username, pending)
        uri = totp.provisioning_uri(pending, account.username, TOTP_ISSUER)
        context.update(secret=totp.grouped(pending), qr=totp.qr_svg(uri))
    response = show(request, "pages/totp_enrol.html", context, status_code=status_code)
    response.headers.update(headers or {})
    return response


async def totp_enrol_page(request: Request) -> Response:
    account, refused = _totp_account(request)
    if refused is not None:
        return refused
    return _enrol_page(request, account, None)


async def totp_enrol(request: Request) -> Response:
    """Confirm enrolment with a first code from the app (the pending secret becomes the
    account's; that code's step counts as used)."""
    hub = hub_of(request)
    form = await read_form(request)
    account, refused = _totp_account(request)
    if refused is not None:
        return refused
    if account.totp_enabled:
        return redirect(TOTP_ENROL_URL)
    key = ("totp-enrol",) + login_throttle_key(account.username, request)
    wait = hub.login_throttle.check(key)
    if wait:
        return _enrol_page(request, account, f"验证码错误次数过多，请 {int(wait) + 1} 秒后再试",
                           429, retry_after_header(wait))
    _, pending, _ = hub.store.totp(account.username)
    step = None if pending is None else totp.matching_step(
        pending, totp.normalise_code(text_field(form, "code", 32)), hub.clock_seconds())
    if step is None:
        hub.login_throttle.failure(key)
        return _enrol_page(request, account,
                           "验证码：不正确，请输入验证器中显示的 6 位数字", 422)
    hub.login_throttle.success(key)
    with hub.store.transaction():
        hub.store.enable_totp(account.username, pending, step)
        audit(request, "account.totp_enabled", account.username)
    request.scope.pop("hub.account", None)
    flash(request, "已启用双因素认证，今后登录时须输入验证器中的动态验证码", "success")
    return redirect("/")


@page("home")
async def home(request: Request) -> Response:
    hub = hub_of(request)
    account = account_of(request)
    scope = acc.case_scope(hub.store, account)
    total = None
    if acc.can(account, "cases.view"):
        total, _ = hub.store.cases(nodes=scope.nodes, department=scope.department, limit=1)
    queue = []
    for state, (capability, label, _) in STAGES.items():
        if acc.can(account, capability):
            queue.append((label, len(hub.store.drafts(states=[state]))))
    return show(request, "pages/home.html", {"scope": scope, "case_total": total,
                                             "queue": queue, "tree": OrgTree.load(hub.store),
                                             "duties": acc.ROLE_DUTIES.get(account.role)})


# --------------------------------------------------------------------------- org units


@page("orgs.manage")
async def orgs_page(request: Request) -> Response:
    return _orgs(request, {}, ValidationErrors())


DUTY_LABELS = {"department_head": "主要负责人（A 级风险）", "deputy_in_charge": "分管负责人（B 级）",
               "section_chief": "股（科）室负责人（C 级）"}


def _orgs(request: Request, values: dict, errors: ValidationErrors,
          status_code: int = 200, duty_values: dict | None = None,
          duty_errors: ValidationErrors | None = None) -> Response:
    store = hub_of(request).store
    tree = OrgTree.load(store)
    return show(request, "pages/orgs.html",
                {"units": tree.flat(), "kinds": list(KIND_LABELS.items()),
                 "parents": [(u.code, u.name) for _, u in tree.flat()
                             if u.kind in ("county", "township")],
                 "roster": supervision_sql.duty_roster(store),
                 "duties": list(DUTY_LABELS.items()),
                 "unit_choices": [(u.code, "　" * d + u.name) for d, u in tree.flat()],
                 "account_choices": [(a.username, f"{a.display_name or a.username}（{a.username}）")
                                     for a in store.accounts() if a.active],
                 "values": values, "errors": errors, "duty_values": duty_values or {},
                 "duty_errors": duty_errors or ValidationErrors()}, status_code=status_code)


@page("orgs.manage")
async def orgs_duty(request: Request) -> Response:
    """Name who answers for risk-graded supervision alerts in a unit (empty: clear)."""
    hub = hub_of(request)
    form = await read_form(request)
    values = {k: text_field(form, k, 100) for k in ("org_unit", "duty", "username")}
    errors = ValidationErrors()
    tree = OrgTree.load(hub.store)
    if values["org_unit"] not in tree.units:
        errors.add("org_unit", "单位：请从列表中选择")
    if values["duty"] not in DUTY_LABELS:
        errors.add("duty", "职责：请从列表中选择")
    account = hub.store.account(values["username"]) if values["username"] else None
    if values["username"] and (account is None or not account.active):
        errors.add("username", "负责人：请选择一个在用的账户（留空表示取消指定）")
    if errors:
        return _orgs(request, {}, ValidationErrors(), 422, values, errors)
    with hub.store.transaction():
        before = supervision_sql.duty_roster(hub.store).get(values["org_unit"], {}).get(
            values["duty"])
        supervision_sql.set_duty(hub.store, values["org_unit"], values["duty"],
                                 values["username"] or None, hub.config.now_ts())
        audit(request, "org_unit.duty_set", values["org_unit"],
              before={"duty": values["duty"], "username": before},
              after={"duty": values["duty"], "username": values["username"] or None})
    flash(request, f"已更新 {tree.units[values['org_unit']].name} 的"
                   f"{DUTY_LABELS[values['duty']].split('（')[0]}", "success")
    return redirect("/admin/orgs")


@page("orgs.manage")
async def orgs_add(request: Request) -> Response:
    hub = hub_of(request)
    form = await read_form(request)
    values = {k: text_field(form, k, 200) for k in ("code", "name", "kind", "parent",
                                                    "item_prefix")}
    try:
        with hub.store.transaction():
            unit = add_unit(hub.store, hub.config.now_ts(), code=values["code"],
                            name=values["name"], kind=values["kind"],
                            parent=values["parent"] or None,
                            item_prefix=values["item_prefix"] or None)
            audit(request, "org_unit.created", unit.code, after={
                "code": unit.code, "name": unit.name, "kind": unit.kind, "parent": unit.parent,
                "item_prefix": unit.item_prefix})
    except OrgError as exc:
        return _orgs(request, values, ValidationErrors({exc.field: exc.message}), 422)
    flash(request, f"已添加 {unit.name}（{unit.code}）", "success")
    return redirect("/admin/orgs")


# --------------------------------------------------------------------------- accounts


def _role_options() -> list[tuple[str, str]]:
    """The role choice: each administrator with his duties (三权分立), then the others."""
    return [(role, f"{label}（{acc.ROLE_DUTIES[role]}）" if role in acc.ROLE_DUTIES else label)
            for role, label in acc.ROLES.items()]


def _accounts(request: Request, values: dict, errors: ValidationErrors,
              status_code: int = 200) -> Response:
    hub = hub_of(request)
    tree = OrgTree.load(hub.store)
    return show(request, "pages/accounts.html",
                {"accounts": hub.store.accounts(), "roles": _role_options(), "role_names": acc.ROLES,
                 "units": [(u.code, "　" * d + u.name) for d, u in tree.flat()],
                 "tree": tree, "values": values, "errors": errors}, status_code=status_code)


@page("accounts.manage")
async def accounts_page(request: Request) -> Response:
    return _accounts(request, {}, ValidationErrors())


@page("accounts.manage")
async def accounts_add(request: Request) -> Response:
    hub = hub_of(request)
    form = await read_form(request)
    values = {k: text_field(form, k, 300) for k in ("username", "display_name", "role",
                                                    "org_unit", "password")}
    try:
        with hub.store.transaction():
            account = acc.create_account(
                hub.store, hub.config.now_ts(), username=values["username"],
                password=values["password"], role=values["role"],
                display_name=values["display_name"], org_unit=values["org_unit"] or None)
            audit(request, "account.created", account.username, after=acc.public_view(account))
    except acc.AccountError as exc:
        values.pop("password")
        return _accounts(request, values, ValidationErrors({exc.field: exc.message}), 422)
    flash(request, f"已创建账号 {account.username}", "success")
    return redirect("/admin/accounts")


def _account_page(request: Request, username: str, errors: ValidationErrors,
                  status_code: int = 200) -> Response:
    hub = hub_of(request)
    account = hub.store.account(username)
    if account is None:
        return show(request, "pages/message.html", {"title": "账号不存在",
                                                    "message": f"没有账号 {username}"},
                    status_code=404)
    tree = OrgTree.load(hub.store)
    return show(request, "pages/account.html",
                {"user": account, "roles": _role_options(), "role_names": acc.ROLES,
                 "units": [(u.code, "　" * d + u.name) for d, u in tree.flat()],
                 "errors": errors}, status_code=status_code)


@page("accounts.manage")
async def account_page(request: Request) -> Response:
    return _account_page(request, request.path_params["username"], ValidationErrors())


@page("accounts.manage")
async def account_update(request: Request) -> Response:
    hub = hub_of(request)
    username = request.path_params["username"]
    form = await read_form(request)
    before = hub.store.account(username)
    if before is None:
        return _account_page(request, username, ValidationErrors())
    if username == account_of(request).username and not form.get("active"):
        return _account_page(request, username,
                             ValidationErrors({"active": "不能停用自己正在使用的账号"}), 422)
    if username == account_of(request).username \
            and text_field(form, "role", 40) != before.role:
        return _account_page(request, username,
                             ValidationErrors({"role": "角色：不能更改自己账号的角色（三权分立）"}),
                             422)
    try:
        with hub.store.transaction():
            after = acc.update_account(hub.store, username, role=text_field(form, "role", 40),
                                       display_name=text_field(form, "display_name", 100),
                                       org_unit=text_field(form, "org_unit", 40) or None,
                                       active=bool(form.get("active")))
            audit(request, "account.updated", username, before=acc.public_view(before),
                  after=acc.public_view(after))
    except acc.AccountError as exc:
        return _account_page(request, username, ValidationErrors({exc.field: exc.message}),
                             422)
    flash(request, f"已保存账号 {username}", "success")
    return redirect(f"/admin/accounts/{username}")


@page("accounts.manage")
async def account_password(request: Request) -> Response:
    hub = hub_of(request)
    username = request.path_params["username"]
    form = await read_form(request)
    if hub.store.account(username) is None:
        return _account_page(request, username, ValidationErrors())
    password = text_field(form, "password", 300)
    target = hub.store.account(username)
    try:
        acc.check_password(password, username=username, display_name=target.display_name)
    except acc.AccountError as exc:
        return _account_page(request, username, ValidationErrors({exc.field: exc.message}),
                             422)
    with hub.store.transaction():
        hub.store.set_password(username, hash_password(password))
        audit(request, "account.password_set", username)
    if username == account_of(request).username:
        request.session[SESSION_EPOCH] = hub.store.account(username).session_epoch
    flash(request, f"已为 {username} 设置新密码，该账号的其他登录已失效", "success")
    return redirect(f"/admin/accounts/{username}")


# --------------------------------------------------------------------------- nodes


@page("nodes.manage")
async def nodes_page(request: Request) -> Response:
    hub = hub_of(request)
    tree = OrgTree.load(hub.store)
    return show(request, "pages/nodes.html",
                {"nodes": hub.store.nodes(), "orgs": hub.store.node_org_units(), "tree": tree,
                 "units": [(u.code, "　" * d + u.name) for d, u in tree.flat()]})


@page("nodes.manage")
async def node_assign(request: Request) -> Response:
    hub = hub_of(request)
    code = request.path_params["code"]
    form = await read_form(request)
    unit = text_field(form, "org_unit", 40) or None
    if hub.store.node(code) is None:
        flash(request, f"节点 {code} 不存在", "error")
        return redirect("/admin/nodes")
    if unit is not None and hub.store.org_unit(unit) is None:
        flash(request, f"所属单位：{unit} 不存在", "error")
        return redirect("/admin/nodes")
    before = hub.store.node_org_units().get(code)
    with hub.store.transaction():
        hub.store.set_node_org_unit(code, unit)
        audit(request, "node.org_unit_set", code, before={"org_unit": before},
              after={"org_unit": unit})
    flash(request, f"节点 {code} 已归属到 {OrgTree.load(hub.store).label(unit)}", "success")
    return redirect("/admin/nodes")


# --------------------------------------------------------------------------- audit


_DAY_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _audit_filters(request: Request) -> tuple[dict, dict]:
    q = request.query_params
    actor = (q.get("actor") or "").strip()[:64] or None
    action = (q.get("action") or "").strip()[:64] or None
    since = q.get("since") or ""
    until = q.get("until") or ""
    filters = {"actor": actor, "action": action,
               "since": since if _DAY_RE.match(since) else None,
               "until": (until + "T99") if _DAY_RE.match(until) else None}
    shown = {"actor": actor or "", "action": action or "",
             "since": since if _DAY_RE.match(since) else "",
             "until": until if _DAY_RE.match(until) else ""}
    return filters, shown


@page("audit.view")
async def audit_page(request: Request) -> Response:
    hub = hub_of(request)
    filters, shown = _audit_filters(request)
    total = hub.store.audit_count(**filters)
    pager = Pagination.from_query(request.query_params.get("page"), total, 50)
    entries = hub.store.audit_entries(**filters, offset=pager.offset, limit=pager.limit)
    audit(request, "audit.viewed", None, {"filters": {k: v for k, v in filters.items() if v},
                                          "page": pager.page, "entries": len(entries)})
    return show(request, "pages/audit.html",
                {"entries": entries, "pager": pager, "shown": shown, "total": total,
                 "params": {k: v for k, v in shown.items() if v},
                 "action_label": action_label, "names": _display_names(hub)},
                partial="partials/_audit_table.html")


def _display_names(hub: HubContext) -> dict[str, str]:
    """User name -> display name, so the audit screen names people."""
    return {a.username: a.display_name for a in hub.store.accounts() if a.display_name}


@page("audit.view")
async def audit_export(request: Request) -> Response:
    hub = hub_of(request)
    filters, _ = _audit_filters(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(safe_row(["编号", "时间", "操作人", "操作", "对象", "来源地址", "详情", "修改前",
                              "修改后"]))
    offset = 0
    while True:
        batch = hub.store.audit_entries(**filters, offset=offset, limit=1000,
                                        newest_first=False)
        for e in batch:
            writer.writerow(safe_row([
                e.id, e.at, e.actor, e.action, e.target or "", e.ip or "",
                json.dumps(e.details, ensure_ascii=False),
                "" if e.before is None else json.dumps(e.before, ensure_ascii=False),
                "" if e.after is None else json.dumps(e.after, ensure_ascii=False)]))
        if len(batch) < 1000:
            break
        offset += 1000
    audit(request, "audit.exported", None, {"filters": {k: v for k, v in filters.items() if v},
                                            "entries": offset + len(batch)})
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'})


def admin_routes() -> list[Route]:
    limit = {"max_body_size": FORM_LIMIT}
    return [
        Route("/", home, methods=["GET"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"], max_body_size=16 * 1024),
        Route("/login/totp", login_totp_page, methods=["GET"]),
        Route("/login/totp", login_totp, methods=["POST"], max_body_size=16 * 1024),
        Route("/logout", logout, methods=["POST"], max_body_size=16 * 1024),
        Route(TOTP_ENROL_URL, totp_enrol_page, methods=["GET"]),
        Route(TOTP_ENROL_URL, totp_enrol, methods=["POST"], max_body_size=16 * 1024),
        Route("/admin/orgs", orgs_page, methods=["GET"]),
        Route("/admin/orgs", orgs_add, methods=["POST"], **limit),
        Route("/admin/orgs/duties", orgs_duty, methods=["POST"], **limit),
        Route("/admin/accounts", accounts_page, methods=["GET"]),
        Route("/admin/accounts", accounts_add, methods=["POST"], **limit),
        Route("/admin/accounts/{username}", account_page, methods=["GET"]),
        Route("/admin/accounts/{username}", account_update, methods=["POST"], **limit),
        Route("/admin/accounts/{username}/password", account_password, methods=["POST"],
              **limit),
        Route("/admin/nodes", nodes_page, methods=["GET"]),
        Route("/admin/nodes/{code}", node_assign, methods=["POST"], **limit),
        Route("/audit", audit_page, methods=["GET"]),
        Route("/audit/export.csv", audit_export, methods=["GET"]),
    ]
