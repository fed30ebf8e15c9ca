"""Shared pytest fixtures. Keep them generic: each app's tests build on these.

- ``settable_clock``: a clock callable whose time tests move (``clock.set(...)``,
  ``clock.advance(...)``); aware datetimes in Asia/Shanghai (+08:00).
- ``edge_node``: a freshly initialised edge node in ``tmp_path`` on that clock, with
  staff accounts for every role (``edge_staff``).
- ``writes_only_in_transactions`` (automatic): every SQLite connection the apps open
  during a test is traced; a write that the apps' code runs outside the store's
  ``transaction()`` fails the test. (Tests that tamper with a database on purpose write
  from their own code, which is not counted.)
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import central_hub.store.sqlite as hub_sqlite
import edge_node.store as node_store

ROOT = Path(__file__).resolve().parent.parent
_APP_CODE = tuple(str(ROOT / package) + "/" for package in ("central_hub", "edge_node", "web"))
_STORE_CODE = tuple(str(ROOT / package / "store") + "/" for package in ("central_hub", "edge_node"))
_TEST_CODE = str(ROOT / "tests") + "/"
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)

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


def _responsible_frame(frame):
    """The first caller outside the stores: the code that should have held a transaction."""
    while frame is not None:
        name = frame.f_code.co_filename
        if (name.startswith(_APP_CODE) and not name.startswith(_STORE_CODE)) \
                or name.startswith(_TEST_CODE):
            return frame
        frame = frame.f_back
    return None


@pytest.fixture(autouse=True)
def writes_only_in_transactions(monkeypatch):
    stray: list[str] = []

    def traced(connect):
        def open_connection(*args, **kwargs):
            conn = connect(*args, **kwargs)

            def trace(sql: str) -> None:
                if conn.in_transaction or not _WRITE.match(sql):
                    return
                frame = _responsible_frame(sys._getframe(1))
                if frame is not None and frame.f_code.co_filename.startswith(_APP_CODE):
                    stray.append(f"{frame.f_code.co_filename}:{frame.f_lineno}: {sql[:80]}")

            conn.set_trace_callback(trace)
            return conn
        return open_connection

    monkeypatch.setattr(hub_sqlite, "connect", traced(hub_sqlite.connect))
    monkeypatch.setattr(node_store, "connect", traced(node_store.connect))
    yield
    assert not stray, "writes outside the store's transaction():\n" + "\n".join(stray)


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

    from edge_node.accounts import users

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
