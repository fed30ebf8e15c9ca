"""三权分立 on the hub (GB/T 22239-2019 level 3): the system, security and audit
administrators are three roles, an account holds one, each is refused the others' pages,
the audit administrator's own reads are audited, ``central-hub init`` creates one of each,
the CLI never gives a second role, and an upgraded hub's ``admin`` becomes the system
administrator."""

from __future__ import annotations

import re
import sqlite3

import pytest
from click.testing import CliRunner

from central_hub.accounts.service import ADMIN_ROLES, CAPABILITIES, ROLES
from central_hub.cli import main
from central_hub.store import open_store

from test_hub_core import Hub, post

# route family -> a page of it; who may open it (every other administrator gets 403)
FAMILIES = {
    "/admin/orgs": "admin", "/admin/nodes": "admin", "/fleet": "admin",
    "/calendar": "admin", "/catalogue/import": "admin", "/supervision/rules": "admin",
    "/admin/accounts": "secadmin", "/admin/accounts/viewer": "secadmin",
    "/admin/api-tokens": "secadmin",
    "/audit": "auditadmin", "/audit/export.csv": "auditadmin",
}
ADMINS = {"admin": "system_admin", "secadmin": "security_admin", "auditadmin": "audit_admin"}


@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path / "hub")
    yield hub
    hub.close()


def test_role_names_live_in_one_place_and_no_capability_joins_two_admin_duties():
    assert ADMIN_ROLES == {"system_admin": "系统管理员", "security_admin": "安全管理员",
                           "audit_admin": "审计管理员"}
    assert all(ROLES[r] == label for r, label in ADMIN_ROLES.items())
    assert "admin" not in ROLES
    assert CAPABILITIES["audit.view"] == {"audit_admin"}
    assert CAPABILITIES["accounts.manage"] == {"security_admin"}
    for capability, roles in CAPABILITIES.items():
        assert len(roles & set(ADMIN_ROLES)) <= 1 or capability == "home", capability


def test_each_route_family_is_refused_to_the_other_administrators(hub):
    for path, owner in FAMILIES.items():
        for user in ADMINS:
            response = hub.client(user).get(path, follow_redirects=False)
            if user == owner:
                assert response.status_code == 200, (path, user, response.status_code)
            else:
                assert response.status_code == 403, (path, user, response.status_code)
                assert "无权" in response.text
    # the security and audit administrators see no business data
    for user in ("secadmin", "auditadmin"):
        for path in ("/cases", "/dashboard", "/disclosure", "/disclosure/requests",
                     "/evaluations", "/catalogue"):
            assert hub.client(user).get(path, follow_redirects=False).status_code == 403
        home = hub.client(user).get("/")
        assert home.status_code == 200 and "可查看的办件" not in home.text
        assert ADMIN_ROLES[ADMINS[user]] in home.text and 'id="role-duties"' in home.text
    # POSTs too: the system administrator cannot create accounts, the security
    # administrator cannot add org units
    sysadmin, security = hub.client("admin"), hub.client("secadmin")
    assert post(sysadmin, "/admin/accounts", {"username": "x1", "role": "viewer",
                                              "password": "long-enough-1"}).status_code == 403
    assert post(security, "/admin/orgs", {"kind": "village", "parent": "510829100",
                                          "code": "510829100203", "name": "新村"}
                ).status_code == 403
    assert hub.store.account("x1") is None and hub.store.org_unit("510829100203") is None


def test_the_audit_administrators_own_reads_are_audited(hub):
    auditor = hub.client("auditadmin")
    assert auditor.get("/audit?action=login").status_code == 200
    assert auditor.get("/audit/export.csv").status_code == 200
    mine = hub.store.audit_entries(actor="auditadmin")
    actions = [e.action for e in mine]
    assert "audit.viewed" in actions and "audit.exported" in actions
    viewed = next(e for e in mine if e.action == "audit.viewed")
    assert viewed.details["filters"] == {"action": "login"}
    exported = next(e for e in mine if e.action == "audit.exported")
    assert exported.details["entries"] >= 1


def test_an_account_holds_one_role_and_the_security_admin_cannot_change_his_own(hub):
    security = hub.client("secadmin")
    mine = post(security, "/admin/accounts/secadmin", {"role": "audit_admin",
                                                       "display_name": "x", "active": "1"})
    assert mine.status_code == 422 and "不能更改自己账号的角色" in mine.text
    assert hub.store.account("secadmin").role == "security_admin"
    # another account's role is replaced, never added to
    assert post(security, "/admin/accounts/viewer", {"role": "audit_admin", "active": "1",
                                                     "org_unit": "510829"}).status_code == 303
    assert hub.store.account("viewer").role == "audit_admin"
    columns = sqlite3.connect(hub.config.db_path).execute(
        "SELECT role FROM users WHERE username = 'viewer'").fetchall()
    assert columns == [("audit_admin",)]


def test_init_creates_and_prints_one_account_of_each_administrator_role(tmp_path):
    result = CliRunner().invoke(main, ["init", str(tmp_path / "hub")])
    assert result.exit_code == 0, result.output
    printed = dict(re.findall(r"^(\w+) user: (\S+)\s+password: \S+", result.output, re.M))
    assert printed == {"system_admin": "admin", "security_admin": "secadmin",
                       "audit_admin": "auditadmin"}
    assert "三权分立" in result.output
    listed = CliRunner().invoke(main, ["user", "list", str(tmp_path / "hub")])
    assert listed.exit_code == 0 and "note" not in listed.output


def test_cli_refuses_a_second_role(tmp_path):
    data = str(tmp_path / "hub")
    CliRunner().invoke(main, ["init", data])
    two = CliRunner().invoke(main, ["user", "add", data, "ops", "--role", "system_admin",
                                    "--role", "audit_admin", "--password", "long-enough-1"])
    assert two.exit_code != 0 and "exactly one role" in two.output
    assert len(two.output.strip().splitlines()) == 1
    again = CliRunner().invoke(main, ["user", "add", data, "secadmin", "--role", "audit_admin",
                                      "--password", "long-enough-1"])
    assert again.exit_code != 0 and "已存在" in again.output
    both = CliRunner().invoke(main, ["user", "set-role", data, "secadmin", "--role",
                                     "security_admin", "--role", "audit_admin"])
    assert both.exit_code != 0 and "exactly one role" in both.output
    moved = CliRunner().invoke(main, ["user", "set-role", data, "secadmin", "--role",
                                      "viewer"])
    assert moved.exit_code == 0, moved.output
    listed = CliRunner().invoke(main, ["user", "list", data])
    assert "secadmin            viewer" in listed.output
    assert "no active security_admin" in listed.output


def test_upgrade_turns_admin_into_the_system_administrator(tmp_path):
    """A hub created before the split: one ``admin`` account. Opening it migrates the
    account to system_admin (its sessions end; the change is audited); the CLI then warns
    that no security or audit administrator exists until they are created."""
    hub = Hub(tmp_path / "hub")
    client = hub.client("admin")
    assert client.get("/admin/orgs").status_code == 200
    path = hub.config.db_path
    hub.close()
    conn = sqlite3.connect(path)
    with conn:   # the database as the previous release left it
        conn.execute("DELETE FROM users WHERE username IN ('secadmin', 'auditadmin')")
        conn.execute("UPDATE users SET role = 'admin' WHERE username = 'admin'")
        conn.execute("DELETE FROM _migrations WHERE name = "
                     "'accounts_0001_separate_administrators'")
    epoch = conn.execute("SELECT session_epoch FROM users WHERE username = 'admin'").fetchone()
    conn.close()
    listed = CliRunner().invoke(main, ["user", "list", str(hub.path)])
    assert listed.exit_code == 0, listed.output
    assert re.search(r"^admin\s+system_admin", listed.output, re.M)
    assert "no active security_admin" in listed.output and "no active audit_admin" in listed.output
    store = open_store(path, "2026-01-01T00:00:00.000+08:00")
    try:
        account = store.account("admin")
        assert account.role == "system_admin" and account.session_epoch == epoch[0] + 1
        (entry,) = store.audit_entries(action="account.role_migrated")
        assert entry.target == "admin" and entry.after == {"role": "system_admin"}
    finally:
        store.close()
    added = CliRunner().invoke(main, ["user", "add", str(hub.path), "sec", "--role",
                                      "security_admin", "--password", "long-enough-1"])
    assert added.exit_code == 0, added.output
    listed = CliRunner().invoke(main, ["user", "list", str(hub.path)])
    assert "no active security_admin" not in listed.output
    assert "no active audit_admin" in listed.output
