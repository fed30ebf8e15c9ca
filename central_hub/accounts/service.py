"""County accounts (县级平台账号): roles, what each may do, and what each may see.

A role says what a user may *do*; the user's org unit says what they may *see*:

* a user of the county (or with no unit) sees every case;
* a user of a department sees the cases of the department's items;
* a user of a township, village or community sees the cases of the nodes in that subtree.

Passwords are scrypt hashes (:mod:`web.security`, memory-hard); a change of password,
role, unit or activity ends the account's sessions (``session_epoch``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from web.passwords import password_problem
from web.security import hash_password

from ..errors import HubError
from ..orgs.service import OrgTree
from ..store.records import Account
from ..store import HubStore

ADMIN_ROLES = {
    "system_admin": "系统管理员",
    "security_admin": "安全管理员",
    "audit_admin": "审计管理员",
}
"""The three administrators of GB/T 22239-2019 level 3 (三权分立), the one place their names
live: the system administrator runs the system (org units, nodes and fleet, catalogue,
calendar, settings), the security administrator its accounts (roles, passwords, sessions,
API tokens), the audit administrator reads and exports the audit log, which nobody else
does. An account has exactly one role (``users.role``), so it never holds two of them."""
ROLES = {
    **ADMIN_ROLES,
    "centre_staff": "服务中心工作人员",
    "dept_reviewer": "部门审核员",
    "legal_reviewer": "法制审查员（法制办）",
    "secrecy_reviewer": "保密审查员（保密局）",
    "supervisor": "监察人员",
    "viewer": "查看人员",
}
ROLE_DUTIES = {
    "system_admin": "组织机构、事项目录、工作日历、系统配置、节点与运行状态",
    "security_admin": "账号、角色、密码、会话与接口令牌",
    "audit_admin": "查阅和导出审计日志",
}
ALL = frozenset(ROLES)
STAFF = ALL - {"security_admin", "audit_admin"}
"""Who sees the county's business data (cases, items, disclosure, supervision …): not the
security and audit administrators, whose work is accounts and the audit log."""
TOTP_ROLES = frozenset(ADMIN_ROLES) | {"supervisor"}
"""Who may enrol a TOTP second factor: the administrators and supervisors (a hub setting,
``HubConfig.require_totp_for_admins``, makes it mandatory for the administrators)."""
CAPABILITIES: dict[str, frozenset[str]] = {
    "home": ALL,
    "cases.view": STAFF,
    "catalogue.view": STAFF,
    "calendar.view": STAFF,
    "fleet.view": frozenset({"system_admin", "centre_staff", "supervisor", "viewer"}),
    "catalogue.draft": frozenset({"system_admin", "dept_reviewer"}),
    "catalogue.legal_review": frozenset({"legal_reviewer"}),
    "catalogue.secrecy_review": frozenset({"secrecy_reviewer"}),
    "catalogue.approve": frozenset({"centre_staff"}),
    "catalogue.import": frozenset({"system_admin"}),
    "calendar.manage": frozenset({"system_admin"}),
    "orgs.manage": frozenset({"system_admin"}),
    "accounts.manage": frozenset({"security_admin"}),
    "nodes.manage": frozenset({"system_admin"}),
    "audit.view": frozenset({"audit_admin"}),
    "disclosure.view": STAFF,
    "disclosure.manage": frozenset({"system_admin", "centre_staff", "dept_reviewer"}),
    # the public face (issue #8, docs/hub-face.md)
    "dashboard.view": STAFF,
    "evaluations.view": STAFF,
    "evaluations.answer": frozenset({"system_admin", "centre_staff"}),
    "interactions.view": STAFF,
    "interactions.answer": frozenset({"system_admin", "centre_staff"}),
    "notices.view": STAFF,
    "notices.manage": frozenset({"system_admin", "centre_staff"}),
    "face.settings": frozenset({"system_admin"}),
    "api_tokens.manage": frozenset({"security_admin"}),
    # electronic supervision (issue #9, docs/supervision.md)
    "supervision.view": frozenset({"system_admin", "supervisor", "centre_staff",
                                   "dept_reviewer"}),
    "supervision.answer": frozenset({"system_admin", "centre_staff", "dept_reviewer"}),
    "supervision.decide": frozenset({"system_admin", "supervisor"}),
    "supervision.manage": frozenset({"system_admin"}),
}
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")


def is_admin(account: Account | None) -> bool:
    return account is not None and account.role in ADMIN_ROLES


def may_use_totp(account: Account | None) -> bool:
    return account is not None and account.role in TOTP_ROLES


def can(account: Account | None, capability: str) -> bool:
    return account is not None and account.role in CAPABILITIES[capability]


def missing_admin_roles(store: HubStore) -> list[str]:
    """The administrator roles no active account holds (after an upgrade, say): each must
    be given to a separate account with ``central-hub user add``."""
    held = {a.role for a in store.accounts() if a.active}
    return [role for role in ADMIN_ROLES if role not in held]


class AccountError(HubError):
    code = "account_invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, extra={"field": field})
        self.field = field


@dataclass(frozen=True)
class CaseScope:
    """Which cases an account sees: ``nodes`` (None: any node), ``department`` (None: any);
    ``units``: the org units of the account's subtree (None: every unit), which scopes the
    records kept by body rather than by node (disclosure requests)."""

    nodes: tuple[str, ...] | None = None
    department: str | None = None
    label: str = "全县"
    units: tuple[str, ...] | None = None

    @property
    def everything(self) -> bool:
        return self.nodes is None and self.department is None


def case_scope(store: HubStore, account: Account) -> CaseScope:
    if not account.org_unit:
        return CaseScope()
    tree = OrgTree.load(store)
    unit = tree.units.get(account.org_unit)
    if unit is None or unit.kind == "county":
        return CaseScope()
    subtree = tree.subtree(unit.code)
    if unit.kind == "department":
        return CaseScope(department=unit.code, label=unit.name, units=tuple(sorted(subtree)))
    nodes = tuple(sorted(code for code, org in store.node_org_units().items() if org in subtree))
    return CaseScope(nodes=nodes, label=unit.name, units=tuple(sorted(subtree)))


def may_edit_department(store: HubStore, account: Account, department: str | None) -> bool:
    """Department reviewers draft their own department's items; the system administrator
    any."""
    if account.role == "system_admin":
        return True
    if account.role != "dept_reviewer" or not account.org_unit:
        return False
    return department == account.org_unit


def check_password(password: str, field: str = "password", *, username: str = "",
                   display_name: str = "") -> None:
    """The shared staff password rules (:func:`web.passwords.password_problem`)."""
    problem = password_problem(password, username=username, display_name=display_name)
    if problem is not None:
        raise AccountError(field, problem)


def _check_fields(store: HubStore, role: str, display_name: str, org_unit: str | None) -> None:
    if role not in ROLES:
        raise AccountError("role", "角色：请从列表中选择角色")
    if len(display_name) > 50 or not display_name.isprintable():
        raise AccountError("display_name", "姓名：最多 50 个字符")
    unit = store.org_unit(org_unit) if org_unit else None
    if org_unit and unit is None:
        raise AccountError("org_unit", f"所属单位：{org_unit} 不存在")
    if role == "dept_reviewer" and (unit is None or unit.kind not in ("department", "township")):
        raise AccountError("org_unit", "所属单位：部门审核员须属于一个县直部门或乡镇（事项的实施主体）")


def create_account(store: HubStore, now: str, *, username: str, password: str, role: str,
                   display_name: str = "", org_unit: str | None = None) -> Account:
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise AccountError("username", "用户名：2 至 32 个小写字母、数字或 _ . -，以字母或数字开头")
    if store.account(username) is not None:
        raise AccountError("username", f"用户名：{username} 已存在")
    display_name = (display_name or "").strip()
    _check_fields(store, role, display_name, org_unit or None)
    check_password(password, username=username, display_name=display_name)
    store.add_user(username, hash_password(password), role, now, display_name,
                   org_unit or None)
    account = store.account(username)
    assert account is not None
    return account


def update_account(store: HubStore, username: str, *, role: str, display_name: str,
                   org_unit: str | None, active: bool) -> Account:
    if store.account(username) is None:
        raise AccountError("username", f"用户名：{username} 不存在")
    display_name = (display_name or "").strip()
    _check_fields(store, role, display_name, org_unit or None)
    store.update_account(username, role=role, display_name=display_name,
                         org_unit=org_unit or None, active=active)
    account = store.account(username)
    assert account is not None
    return account


def public_view(account: Account) -> dict:
    """What the audit log records of an account (never the hash)."""
    return {"username": account.username, "role": account.role,
            "display_name": account.display_name, "org_unit": account.org_unit,
            "active": account.active}
