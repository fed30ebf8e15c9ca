"""Staff accounts: creation, passwords, sign-in and the roles a user may act in.

Roles (protocol.events.ROLES): clerk 受理, handler 承办, reviewer 审核, approver 批准,
head 中心负责人 (extensions, voiding, waivers), supervisor 监察 (read-only), admin 账号管理.
Passwords are hashed with scrypt (web.security.hash_password) and follow the shared rules
(web.passwords: 12+ characters, not guessable, no user name inside). A password reset or
a deactivation ends the user's sessions (their records in the store, web.sessions).
"""

from __future__ import annotations

import secrets
import unicodedata

from protocol.envelope import format_ts
from protocol.events import ROLES
from web import passwords
from web.security import DUMMY_PASSWORD_HASH, hash_password, verify_password

from ..errors import NotFound, PermissionDenied, ValidationError
from ..store import queries

def generate_password(username: str = "", name: str = "") -> str:
    """A random password that passes the staff password rules (shown once)."""
    return passwords.generate_password(username=username, display_name=name)


def check_password_strength(password: str, *, username: str = "", name: str = "") -> None:
    """The shared staff password rules (:func:`web.passwords.password_problem`)."""
    problem = passwords.password_problem(password, username=username, display_name=name)
    if problem is not None:
        raise ValidationError("password", "weak", problem)


def _actor_body(actor: dict | None) -> dict | None:
    return None if actor is None else {"id": actor["id"], "role": actor["role"]}


def create_user(node, username: str, name: str, roles, password: str, *,
                actor: dict | None, password_hash: str | None = None) -> dict:
    """Create a user and write ``user.created``; ``actor`` (an admin) or None at init.

    ``password_hash`` lets the simulator reuse one hash for many accounts.
    """
    username = unicodedata.normalize("NFC", (username or "").strip())
    if not username or len(username) > 40 or any(c.isspace() for c in username):
        raise ValidationError("username", "format", "用户名须为 1 至 40 个字符，不含空格")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("name", "required", "请填写姓名（不超过 100 个字）")
    roles = tuple(dict.fromkeys(roles))
    if not roles or any(r not in ROLES for r in roles):
        raise ValidationError("roles", "choice", "请选择有效的岗位角色")
    if actor is not None:
        require_role(node, actor, ("admin",))
    if password_hash is None:
        check_password_strength(password, username=username, name=name)
        password_hash = hash_password(password)
    user = {"id": "u" + secrets.token_hex(5), "username": username, "name": name,
            "roles": roles, "password_hash": password_hash, "active": True,
            "created": format_ts(node.now())}
    with node.store.transaction():
        node.store.add_user(user)
        node.store.append_event("user.created", None, {
            "user": user["id"], "username": username, "name": name, "roles": list(roles),
            "actor": _actor_body(actor)})
    return user


def set_active(node, user_id: str, active: bool, *, actor: dict) -> None:
    """Deactivate or reactivate an account (an admin's act), with its event."""
    require_role(node, actor, ("admin",))
    with node.store.transaction():
        queries.set_user_active(node.store, user_id, active)
        if not active:
            node.store.end_user_sessions(user_id)
        node.store.append_event("user.reactivated" if active else "user.deactivated", None,
                                {"user": user_id, "actor": _actor_body(actor)})


def reset_password(node, username: str, password: str | None = None, *,
                   actor: dict | None = None) -> str:
    """Set a new password (generated when None) and return it; ``user.password_reset``."""
    user = node.store.user_by_username(username)
    if user is None:
        raise NotFound(f"no user {username}", zh=f"用户“{username}”不存在")
    if password is None:
        password = generate_password(user["username"], user["name"])
    check_password_strength(password, username=user["username"], name=user["name"])
    with node.store.transaction():
        node.store.set_password_hash(user["id"], hash_password(password))
        node.store.end_user_sessions(user["id"])     # a new password ends its sessions
        node.store.append_event("user.password_reset", None, {
            "user": user["id"], "via": "cli" if actor is None else "admin",
            "actor": _actor_body(actor)})
    return password


def authenticate(node, username: str, password: str) -> dict | None:
    """The active user with this username and password, else None."""
    user = node.store.user_by_username(username or "")
    # An unknown or inactive user costs the same scrypt as a real check: timing tells no
    # account apart.
    matches = verify_password(password or "", user["password_hash"] if user is not None
                              else DUMMY_PASSWORD_HASH)
    if user is None or not user["active"]:
        return None
    return user if matches else None


def actor_for(user: dict, role: str) -> dict:
    """The actor ``{"id", "role"}`` for ``user`` acting in ``role`` (which they must hold)."""
    if role not in user["roles"]:
        raise PermissionDenied(f"user {user['username']} lacks role {role}",
                               zh=f"用户“{user['name']}”没有“{role}”岗位权限")
    return {"id": user["id"], "role": role}


def require_role(node, actor: dict, roles) -> dict:
    """Check that ``actor`` is an active user holding its role, and that the role is one
    of ``roles`` (None: any). Returns the user."""
    if not isinstance(actor, dict) or "id" not in actor or "role" not in actor:
        raise PermissionDenied("no actor", zh="请先登录")
    user = node.store.user(actor["id"])
    if user is None or not user["active"]:
        raise PermissionDenied(f"unknown user {actor['id']}", zh="用户不存在或已停用")
    if actor["role"] not in user["roles"]:
        raise PermissionDenied(f"user {user['username']} lacks role {actor['role']}",
                               zh=f"用户“{user['name']}”没有该岗位权限")
    if roles is not None and actor["role"] not in roles:
        raise PermissionDenied(f"role {actor['role']} may not do this",
                               zh="当前岗位无权进行此操作")
    return user


def user_by_username(node, username: str) -> dict:
    user = node.store.user_by_username(username)
    if user is None:
        raise NotFound(f"no user {username}", zh=f"用户“{username}”不存在")
    return user
