"""``central-hub user ...``: county accounts."""

from __future__ import annotations

import click

from web.security import hash_password

from ..accounts.service import (AccountError, check_password, create_account, public_view,
                                update_account)
from .common import fail, guarded, hub_store, load_config, warn_missing_admins


def _one_role(roles: tuple[str, ...]) -> str:
    """Exactly one role per account (三权分立): a second --role is refused, not ignored."""
    if len(roles) != 1:
        fail("an account holds exactly one role; give --role once "
              "(三权分立：一个账号只能担任一种角色)")
    return roles[0]


ROLE_HELP = ("system_admin, security_admin, audit_admin, centre_staff, dept_reviewer, "
             "legal_reviewer, secrecy_reviewer, supervisor or viewer (exactly one)")


@click.group()
def user() -> None:
    """County accounts."""


@user.command("add")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("username")
@click.option("--role", "roles", required=True, multiple=True, help=ROLE_HELP)
@click.option("--org-unit", default=None, help="Code of the user's org unit (none: county).")
@click.option("--name", "display_name", default="")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@guarded
def user_add(data_dir, username, roles, org_unit, display_name, password) -> None:
    """Create an account."""
    role = _one_role(roles)
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        with store.transaction():
            account = create_account(store, config.now_ts(), username=username,
                                     password=password, role=role, display_name=display_name,
                                     org_unit=org_unit)
            store.audit(config.now_ts(), "cli", "account.created", username,
                        after=public_view(account), ip="cli")
    except AccountError as exc:
        fail(exc.message)
    finally:
        store.close()
    click.echo(f"account {username} ({role}) created")


@user.command("passwd")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@guarded
def user_passwd(data_dir, username, password) -> None:
    """Set an account's password (its sessions end)."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        account = store.account(username)
        if account is None:
            fail(f"no account {username}")
        check_password(password, username=username, display_name=account.display_name)
        with store.transaction():
            store.set_password(username, hash_password(password))
            store.audit(config.now_ts(), "cli", "account.password_set", username, ip="cli")
    except AccountError as exc:
        fail(exc.message)
    finally:
        store.close()
    click.echo(f"password of {username} set")


@user.command("set-role")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("username")
@click.option("--role", "roles", required=True, multiple=True, help=ROLE_HELP)
@guarded
def user_set_role(data_dir, username, roles) -> None:
    """Replace an account's role (it has one; its sessions end)."""
    role = _one_role(roles)
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        before = store.account(username)
        if before is None:
            fail(f"no account {username}")
        with store.transaction():
            after = update_account(store, username, role=role,
                                   display_name=before.display_name,
                                   org_unit=before.org_unit, active=before.active)
            store.audit(config.now_ts(), "cli", "account.updated", username,
                        before=public_view(before), after=public_view(after), ip="cli")
    except AccountError as exc:
        fail(exc.message)
    finally:
        store.close()
    click.echo(f"account {username} now has the role {role} (it was {before.role})")


@user.command("reset-totp")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("username")
@guarded
def user_reset_totp(data_dir, username) -> None:
    """Remove an account's TOTP second factor (a lost phone); its sessions end."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        if store.account(username) is None:
            fail(f"no account {username}")
        with store.transaction():
            store.clear_totp(username)
            store.end_sessions(username)
            store.audit(config.now_ts(), "cli", "account.totp_reset", username, ip="cli")
    finally:
        store.close()
    click.echo(f"second factor of {username} removed; it can enrol again at /account/totp")


@user.command("list")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@guarded
def user_list(data_dir) -> None:
    """List accounts."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        for a in store.accounts():
            click.echo(f"{a.username:<20}{a.role:<18}{a.org_unit or 'county':<16}"
                       f"{'active' if a.active else 'disabled'}  {a.display_name}")
        warn_missing_admins(store)
    finally:
        store.close()
