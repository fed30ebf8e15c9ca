"""Shared pytest fixtures. Keep them generic: each app's tests build on these.

- ``settable_clock``: a clock callable whose time tests move (``clock.set(...)``,
  ``clock.advance(...)``); aware datetimes in Asia/Shanghai (+08:00).
- ``edge_node``: a freshly initialised edge node in ``tmp_path`` on that clock, with
  staff accounts for every role (``edge_staff``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

SHANGHAI = timezone(timedelta(hours=8))
EDGE_ADMIN_PASSWORD = "lantern-ridge-7294"
EDGE_STAFF_PASSWORD = "staff-pass-123"


class SettableClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, *args: int) -> None:
        self.now = datetime(*args, tzinfo=SHANGHAI) if args else self.now

    def advance(self, **kwargs) -> None:
        self.now = self.now + timedelta(**kwargs)


@pytest.fixture
def settable_clock() -> SettableClock:
    return SettableClock(datetime(2026, 2, 12, 9, 30, tzinfo=SHANGHAI))


@pytest.fixture
def edge_node(tmp_path, settable_clock):
    from edge_node.node import init_node

    node, _ = init_node(tmp_path / "node", "TEST01", "测试镇便民服务中心",
                        admin_password=EDGE_ADMIN_PASSWORD, clock=settable_clock)
    yield node
    node.close()


@pytest.fixture
def edge_staff(edge_node) -> dict:
    """role -> actor dict ({"id", "role"}); ``"clerk2"``/``"head"`` etc. are other users."""
    from web.security import hash_password

    from edge_node import users

    admin = edge_node.store.user_by_username("admin")
    admin_actor = {"id": admin["id"], "role": "admin"}
    hashed = hash_password(EDGE_STAFF_PASSWORD)
    out = {"admin": admin_actor}
    for role in ("clerk", "handler", "reviewer", "approver", "head", "supervisor"):
        user = users.create_user(edge_node, role, f"{role} 用户", (role,), "",
                                 actor=admin_actor, password_hash=hashed)
        out[role] = {"id": user["id"], "role": role}
    user = users.create_user(edge_node, "clerk2", "第二受理员", ("clerk", "approver"), "",
                             actor=admin_actor, password_hash=hashed)
    out["clerk2"] = {"id": user["id"], "role": "clerk"}
    out["clerk2_approver"] = {"id": user["id"], "role": "approver"}
    return out
