"""``central-hub``: a thin shell over the hub's modules.

Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path

import click

from protocol.errors import ProtocolError

from .config import HubConfig
from .errors import HubError, NotInitialised


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"错误 / error: {message}", err=True)
    sys.exit(code)


def _guarded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (HubError, ProtocolError) as exc:
            _fail(f"{exc.message} [{exc.code}]")
        except (OSError, ValueError) as exc:
            _fail(str(exc))
    return wrapper


def _config(data_dir: str, **overrides) -> HubConfig:
    path = Path(data_dir)
    if not (path / "hub.json").exists():
        raise NotInitialised(f"{path} is not a hub data directory: run `central-hub init "
                             f"{path}` first")
    return HubConfig.load(path, **overrides)


def _store(config: HubConfig):
    from .store import open_store
    return open_store(config.db_path, config.now_ts())


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """County hub (县级平台) of the township service centres."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


TLS_NAME = click.option("--tls-name", "tls_names", multiple=True, metavar="NAME",
                        help="Host name or IP address the certificate is for (repeatable; "
                             "default localhost and 127.0.0.1).")


@main.command()
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--name", default="county-hub", show_default=True,
              help="Name of the hub, the issuer of its signed documents.")
@click.option("--tls", "make_tls", is_flag=True,
              help="Also make a self-signed TLS certificate (tls/hub.crt, tls/hub.key).")
@TLS_NAME
@_guarded
def init(data_dir: str, name: str, make_tls: bool, tls_names: tuple[str, ...]) -> None:
    """Create the hub's keys, store and its three administrators in DATA_DIR."""
    from .accounts import ADMIN_ROLES, ROLE_DUTIES
    from .bootstrap import init_hub
    result = init_hub(data_dir, name)
    click.echo(f"hub {name} created in {data_dir}")
    click.echo(f"signing key fingerprint: {result.identity.fingerprint}")
    for kind, version in result.published:
        click.echo(f"published {kind} version {version}")
    if make_tls or tls_names:
        _tls_cert(data_dir, tls_names, new_key=True, next_=False, promote=False)
    for role, (username, password) in result.admins.items():
        click.echo(f"{role} user: {username}  password: {password}  "
                   f"({ADMIN_ROLES[role]}：{ROLE_DUTIES[role]})")
    click.echo("(the passwords are shown once; give each to a different person: "
               "三权分立, one account never holds two administrator roles)")


def _tls_cert(data_dir: str, names: tuple[str, ...], *, new_key: bool, next_: bool,
              promote: bool) -> None:
    from .identity import load_identity
    from .tls import make_certificate, make_next, promote_next, publish_pins, tls_files
    config = _config(data_dir)
    files = tls_files(config)
    if promote:
        pin = promote_next(config)
        click.echo(f"next TLS certificate is now current: {files.cert} (pin {pin}); "
                   "restart serve with it")
    elif next_:
        pin = make_next(config, names)
        click.echo(f"next TLS certificate: {files.next_cert} (pin {pin}); promote it with "
                   "`central-hub tls-cert --promote` once the nodes have synced")
    else:
        pin = make_certificate(config, names, new_key=new_key or not files.key.exists())
        click.echo(f"TLS certificate: {files.cert}  key: {files.key}  (pin {pin})")
    store = _store(config)
    try:
        content = publish_pins(store, load_identity(config), config)
    finally:
        store.close()
    click.echo("published config.tls: " + ", ".join(f"{k} {v[:16]}..." for k, v in
                                                      content.items()))


@main.command("tls-cert")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@TLS_NAME
@click.option("--new-key", is_flag=True,
              help="Re-issue with a new key (nodes that do not know its pin will refuse it: "
                   "prefer --next and --promote).")
@click.option("--next", "next_", is_flag=True,
              help="Make the next certificate (new key) and announce its pin to the nodes.")
@click.option("--promote", is_flag=True, help="Make the announced next certificate current.")
@_guarded
def tls_cert(data_dir: str, tls_names: tuple[str, ...], new_key: bool, next_: bool,
             promote: bool) -> None:
    """Make, re-issue or rotate the hub's self-signed TLS certificate; publish its pins."""
    if sum((new_key, next_, promote)) > 1:
        raise HubError("give at most one of --new-key, --next, --promote", code="usage")
    _tls_cert(data_dir, tls_names, new_key=new_key, next_=next_, promote=promote)


@main.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8600, show_default=True, type=int)
@click.option("--tls-cert", default=None, type=click.Path(dir_okay=False),
              help="Serve HTTPS with this certificate (PEM), e.g. DATA_DIR/tls/hub.crt.")
@click.option("--tls-key", default=None, type=click.Path(dir_okay=False),
              help="The certificate's key (PEM, readable by its owner only).")
@_guarded
def serve(data_dir: str, host: str, port: int, tls_cert: str | None,
          tls_key: str | None) -> None:
    """Serve the hub (sync API and fleet page)."""
    import uvicorn

    from web.transport import plain_http_warning, tls_serve_options, uvicorn_log_config

    from .app import create_app
    options = tls_serve_options(tls_cert, tls_key)
    config = _config(data_dir)
    store = _store(config)
    try:
        _warn_missing_admins(store)
    finally:
        store.close()
    app = create_app(config)
    warning = plain_http_warning(host, options)
    if warning:
        logging.getLogger("central_hub").warning(warning)
        click.echo(warning, err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=uvicorn_log_config(),
                **options)


TOKEN_TLS_CERT = click.option(
    "--tls-cert", default=None, type=click.Path(exists=True, dir_okay=False),
    help="Pin this TLS certificate in the token (default: DATA_DIR/tls/hub.crt when it exists).")
NO_TLS_PIN = click.option("--no-tls-pin", is_flag=True, help="Print the token without a TLS pin.")


def _token_tls_pin(config, tls_cert: str | None, no_tls_pin: bool) -> str | None:
    """The hub TLS pin an enrolment or restore token carries (None: no pin, plain http)."""
    from .tls import file_pin, tls_files
    return None if no_tls_pin else file_pin(Path(tls_cert) if tls_cert
                                            else tls_files(config).cert)


def _pinned(token: str, pin: str | None) -> str:
    """The token as typed on the node: the pin after a dot (``protocol.tls.split_token``)."""
    from protocol.tls import encode_token_pin
    return token + (f".{encode_token_pin(pin)}" if pin else "")


def _pin_note(pin: str | None) -> str:
    return f"; TLS pin {pin}" if pin else "; no TLS pin (plain http)"


@main.command("enroll-token")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--node", "code", required=True, help="Node code, e.g. XZ-001.")
@click.option("--name", required=True, help="Name of the centre, e.g. 城关镇便民服务中心.")
@click.option("--ttl", default=72.0, show_default=True, type=float, help="Hours of validity.")
@TOKEN_TLS_CERT
@NO_TLS_PIN
@_guarded
def enroll_token(data_dir: str, code: str, name: str, ttl: float, tls_cert: str | None,
                 no_tls_pin: bool) -> None:
    """Print a one-time enrolment token for a node (with the hub's TLS pin after a dot)."""
    from .enrolment import issue_token
    from .identity import load_identity
    config = _config(data_dir)
    pin = _token_tls_pin(config, tls_cert, no_tls_pin)
    store = _store(config)
    try:
        token, expires = issue_token(store, config, code, name, ttl)
    finally:
        store.close()
    click.echo(_pinned(token, pin))
    click.echo(f"node {code} ({name}); valid until {expires}; hub key fingerprint "
               f"{load_identity(config).fingerprint}" + _pin_note(pin), err=True)


@main.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--node", "code", required=True)
@click.option("--reason", default="revoked by the county administrator", show_default=True)
@_guarded
def revoke(data_dir: str, code: str, reason: str) -> None:
    """Revoke a node: its requests are refused from now on."""
    from .records import NODE_REVOKED
    config = _config(data_dir)
    store = _store(config)
    try:
        if store.node(code) is None:
            raise HubError(f"no node {code} is enrolled", code="node_unknown")
        now = config.now_ts()
        with store.transaction():
            store.set_node_status(code, NODE_REVOKED, reason, now)
            store.audit(now, "admin", "node.revoked", code, {"reason": reason})
    finally:
        store.close()
    click.echo(f"node {code} revoked")


@main.command("rotate-key")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@_guarded
def rotate_key(data_dir: str) -> None:
    """Replace the hub's keys; nodes follow the statement signed by the old key."""
    from .publication import rotate_hub_key
    config = _config(data_dir)
    store = _store(config)
    try:
        identity, statement = rotate_hub_key(store, config)
    finally:
        store.close()
    click.echo(f"hub key rotated (statement {statement.seq}); new fingerprint "
               f"{identity.fingerprint}")


@main.command("publish-config")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("kind")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_guarded
def publish_config_command(data_dir: str, kind: str, file: str) -> None:
    """Publish FILE (JSON) as the next version of configuration KIND."""
    from .identity import load_identity
    from .publication import publish_config
    config = _config(data_dir)
    content = json.loads(Path(file).read_text(encoding="utf-8"))
    store = _store(config)
    try:
        if kind == "config.calendar":
            from protocol.calendar import Calendar, CalendarError

            from .calendar_admin import publish_calendar
            try:
                calendar = Calendar.from_document(content)
            except CalendarError as exc:
                raise HubError(exc.zh, code="calendar_invalid") from None
            result = publish_calendar(store, load_identity(config), config, calendar, "admin")
            click.echo(f"published config.calendar version {result.version}; "
                       f"{result.changes_recorded} open case deadline(s) changed")
            return
        if kind == "config.catalogue":
            from .catalogue_admin import seed_items
            with store.transaction():
                doc = publish_config(store, load_identity(config), config, kind, content,
                                     "admin")
                seed_items(store, content, config.now_ts(), "admin")
        else:
            doc = publish_config(store, load_identity(config), config, kind, content, "admin")
    finally:
        store.close()
    click.echo(f"published {doc.kind} version {doc.version} ({doc.digest[:16]})")


@main.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guarded
def nodes(data_dir: str, as_json: bool) -> None:
    """Print the per-node sync figures of the fleet page."""
    from .fleet import fleet_status
    from .projector import run_all
    config = _config(data_dir)
    store = _store(config)
    try:
        run_all(store)
        statuses = fleet_status(store, config)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"hub_time": config.now_ts(),
                               "nodes": [s.to_dict() for s in statuses]},
                              ensure_ascii=False, indent=2))
        return
    if not statuses:
        click.echo("no nodes enrolled")
        return
    click.echo(f"{'node':<16}{'status':<13}{'acked':>8}{'lag':>7}{'lag time':>10}"
               f"{'skew s':>9}{'today':>7}  last seen")
    for s in statuses:
        today = list(s.events_per_day.values())[-1] if s.events_per_day else 0
        skew = "-" if s.clock_skew_ms is None else str(round(s.clock_skew_ms / 1000))
        if s.skew_flagged:
            skew += "!"
        lag = "-" if s.lag_events is None else str(s.lag_events)
        lag_time = "-" if s.lag_seconds is None else f"{s.lag_seconds}s"
        click.echo(f"{s.code:<16}{s.status:<13}{s.acked_seq:>8}{lag:>7}{lag_time:>10}"
                   f"{skew:>9}{today:>7}  {s.last_seen or 'never'}")


# --------------------------------------------------------------------------- hub core


@main.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--check", is_flag=True, help="Also verify the result equals the incremental one.")
@_guarded
def rebuild(data_dir: str, check: bool) -> None:
    """Drop the projections (cases, steps, fees, ...) and rebuild them from the event log."""
    import time

    from .projector import rebuild_all, run_all
    config = _config(data_dir)
    store = _store(config)
    try:
        before = None
        if check:
            run_all(store)
            before = store.projection_digest()
        started = time.monotonic()
        last = store.last_position()
        shown = {"at": started}

        def progress(name: str, position: int) -> None:    # a line every 10 s on stderr
            now = time.monotonic()
            if now - shown["at"] >= 10 or position == last:
                shown["at"] = now
                click.echo(f"rebuild: {name} {position:,}/{last:,} events "
                           f"({100 * position / max(last, 1):.0f} %), "
                           f"{now - started:.0f} s so far", err=True)

        events = rebuild_all(store, progress=progress)
        seconds = time.monotonic() - started
        after = store.projection_digest()
    finally:
        store.close()
    click.echo(f"rebuilt projections from {events} events in {seconds:.1f} s: "
               + ", ".join(f"{k} {v.split(':')[0]}" for k, v in after.items()))
    if before is not None:
        if before != after:
            _fail("the rebuilt projections differ from the incremental ones: "
                  + ", ".join(k for k in after if before.get(k) != after[k]))
        click.echo("identical to the incremental projections")


@main.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("file", type=click.Path(dir_okay=False))
@_guarded
def backup(data_dir: str, file: str) -> None:
    """Take a consistent online backup of DATA_DIR into FILE (a tar archive, mode 0600)."""
    from .backup import backup_hub
    info = backup_hub(_config(data_dir), Path(file))
    click.echo(f"backup written to {file}: {info['events']} events, last position "
               f"{info['last_position']}, {info['bytes']} bytes in {info['seconds']:.1f} s")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing hub in DATA_DIR.")
@_guarded
def restore(file: str, data_dir: str, force: bool) -> None:
    """Restore a backup FILE into DATA_DIR (stop the hub first)."""
    from .backup import restore_hub
    info = restore_hub(Path(file), Path(data_dir), force=force)
    click.echo(f"restored {info['events']} events (taken {info['taken_at']}) into {data_dir}")
    click.echo("nodes re-send what the hub lost on their next sync (chain_gap, resend from "
               "the hub's acked seq)")


def _warn_missing_admins(store) -> None:
    """One line on stderr per administrator role no active account holds (an upgraded
    hub has only the system administrator until the other two are created)."""
    from .accounts import ADMIN_ROLES, missing_admin_roles
    for role in missing_admin_roles(store):
        click.echo(f"注意 / note: no active {role} ({ADMIN_ROLES[role]}) account: create one "
                   f"for a separate person with `central-hub user add DATA_DIR NAME "
                   f"--role {role}`", err=True)


def _one_role(roles: tuple[str, ...]) -> str:
    """Exactly one role per account (三权分立): a second --role is refused, not ignored."""
    if len(roles) != 1:
        _fail("an account holds exactly one role; give --role once "
              "(三权分立：一个账号只能担任一种角色)")
    return roles[0]


ROLE_HELP = ("system_admin, security_admin, audit_admin, centre_staff, dept_reviewer, "
             "legal_reviewer, secrecy_reviewer, supervisor or viewer (exactly one)")


@main.group()
def user() -> None:
    """County accounts."""


@user.command("add")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("username")
@click.option("--role", "roles", required=True, multiple=True, help=ROLE_HELP)
@click.option("--org-unit", default=None, help="Code of the user's org unit (none: county).")
@click.option("--name", "display_name", default="")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@_guarded
def user_add(data_dir, username, roles, org_unit, display_name, password) -> None:
    """Create an account."""
    from .accounts import AccountError, create_account, public_view
    role = _one_role(roles)
    config = _config(data_dir)
    store = _store(config)
    try:
        with store.transaction():
            account = create_account(store, config.now_ts(), username=username,
                                     password=password, role=role, display_name=display_name,
                                     org_unit=org_unit)
            store.audit(config.now_ts(), "cli", "account.created", username,
                        after=public_view(account), ip="cli")
    except AccountError as exc:
        _fail(exc.message)
    finally:
        store.close()
    click.echo(f"account {username} ({role}) created")


@user.command("passwd")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@_guarded
def user_passwd(data_dir, username, password) -> None:
    """Set an account's password (its sessions end)."""
    from web.security import hash_password

    from .accounts import AccountError, check_password
    config = _config(data_dir)
    store = _store(config)
    try:
        account = store.account(username)
        if account is None:
            _fail(f"no account {username}")
        check_password(password, username=username, display_name=account.display_name)
        with store.transaction():
            store.set_password(username, hash_password(password))
            store.audit(config.now_ts(), "cli", "account.password_set", username, ip="cli")
    except AccountError as exc:
        _fail(exc.message)
    finally:
        store.close()
    click.echo(f"password of {username} set")


@user.command("set-role")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("username")
@click.option("--role", "roles", required=True, multiple=True, help=ROLE_HELP)
@_guarded
def user_set_role(data_dir, username, roles) -> None:
    """Replace an account's role (it has one; its sessions end)."""
    from .accounts import AccountError, public_view, update_account
    role = _one_role(roles)
    config = _config(data_dir)
    store = _store(config)
    try:
        before = store.account(username)
        if before is None:
            _fail(f"no account {username}")
        with store.transaction():
            after = update_account(store, username, role=role,
                                   display_name=before.display_name,
                                   org_unit=before.org_unit, active=before.active)
            store.audit(config.now_ts(), "cli", "account.updated", username,
                        before=public_view(before), after=public_view(after), ip="cli")
    except AccountError as exc:
        _fail(exc.message)
    finally:
        store.close()
    click.echo(f"account {username} now has the role {role} (it was {before.role})")


@user.command("reset-totp")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("username")
@_guarded
def user_reset_totp(data_dir, username) -> None:
    """Remove an account's TOTP second factor (a lost phone); its sessions end."""
    config = _config(data_dir)
    store = _store(config)
    try:
        if store.account(username) is None:
            _fail(f"no account {username}")
        with store.transaction():
            store.clear_totp(username)
            store.end_sessions(username)
            store.audit(config.now_ts(), "cli", "account.totp_reset", username, ip="cli")
    finally:
        store.close()
    click.echo(f"second factor of {username} removed; it can enrol again at /account/totp")


@user.command("list")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@_guarded
def user_list(data_dir) -> None:
    """List accounts."""
    config = _config(data_dir)
    store = _store(config)
    try:
        for a in store.accounts():
            click.echo(f"{a.username:<20}{a.role:<18}{a.org_unit or 'county':<16}"
                       f"{'active' if a.active else 'disabled'}  {a.display_name}")
        _warn_missing_admins(store)
    finally:
        store.close()


@main.group()
def org() -> None:
    """The org hierarchy."""


@org.command("add")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--kind", required=True,
              type=click.Choice(["county", "department", "township", "village", "community"]))
@click.option("--code", default="", help="Area code (GB/T 2260 style); none for departments.")
@click.option("--name", required=True)
@click.option("--parent", default=None)
@click.option("--item-prefix", default=None, help="A department's letters in item codes.")
@_guarded
def org_add(data_dir, kind, code, name, parent, item_prefix) -> None:
    """Add an org unit."""
    from .orgs import OrgError, add_unit
    config = _config(data_dir)
    store = _store(config)
    try:
        with store.transaction():
            unit = add_unit(store, config.now_ts(), code=code, name=name, kind=kind,
                            parent=parent, item_prefix=item_prefix)
            store.audit(config.now_ts(), "cli", "org_unit.created", unit.code, ip="cli",
                        after={"code": unit.code, "name": unit.name, "kind": unit.kind,
                               "parent": unit.parent, "item_prefix": unit.item_prefix})
    except OrgError as exc:
        _fail(exc.message)
    finally:
        store.close()
    click.echo(f"org unit {unit.code} {unit.name} added")


@org.command("list")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@_guarded
def org_list(data_dir) -> None:
    """Print the org tree."""
    from .orgs import OrgTree
    config = _config(data_dir)
    store = _store(config)
    try:
        for depth, unit in OrgTree.load(store).flat():
            click.echo(f"{'  ' * depth}{unit.code}  {unit.name}  ({unit.kind}"
                       f"{', ' + unit.item_prefix if unit.item_prefix else ''})")
    finally:
        store.close()


@org.command("assign-node")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--node", "node_code", required=True)
@click.option("--org-unit", required=True)
@_guarded
def org_assign_node(data_dir, node_code, org_unit) -> None:
    """Put a node under an org unit (township, village, community or county desk)."""
    config = _config(data_dir)
    store = _store(config)
    try:
        if store.node(node_code) is None:
            _fail(f"no node {node_code} is enrolled")
        if store.org_unit(org_unit) is None:
            _fail(f"no org unit {org_unit}")
        with store.transaction():
            before = store.node_org_units().get(node_code)
            store.set_node_org_unit(node_code, org_unit)
            store.audit(config.now_ts(), "cli", "node.org_unit_set", node_code, ip="cli",
                        before={"org_unit": before}, after={"org_unit": org_unit})
    finally:
        store.close()
    click.echo(f"node {node_code} now belongs to {org_unit}")


@main.group()
def calendar() -> None:
    """The working-day calendar."""


@calendar.command("due")
@click.option("--from", "start", required=True, help="Start date YYYY-MM-DD (not counted).")
@click.option("--working-days", "days", required=True, type=click.IntRange(0, 3650))
@click.argument("data_dir", required=False, type=click.Path(exists=True, file_okay=False))
@_guarded
def calendar_due(start: str, days: int, data_dir: str | None) -> None:
    """Print the due date N working days after a date, how it was computed, and whether it
    is confirmed (with DATA_DIR: the hub's newest calendar; without: the seeded one)."""
    from datetime import date

    from protocol.calendar import Calendar, due_date
    try:
        first = date.fromisoformat(start)
    except ValueError:
        _fail(f"--from: {start!r} is not a date written YYYY-MM-DD")
    if data_dir:
        from .calendar_admin import current_calendar
        store = _store(_config(data_dir))
        try:
            cal = current_calendar(store)
        finally:
            store.close()
    else:
        cal = Calendar.seeded()
    deadline = due_date(cal, first, days)
    click.echo(f"due: {deadline.due.isoformat()}")
    click.echo(f"confirmed: {'yes' if deadline.confirmed else 'no'}"
               + ("" if deadline.confirmed else
                  f" (no notice entered for {', '.join(map(str, deadline.unknown_years))})"))
    click.echo(f"calendar version: {cal.version}")
    click.echo("how it was computed:")
    for line in deadline.explain_zh():
        click.echo(f"  {line}")


@calendar.command("add-year")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--year", required=True)
@click.option("--source", required=True, help="The notice number, e.g. 国办发明电〔2026〕8号.")
@click.option("--holidays", required=True, help="Dates and ranges, comma-separated.")
@click.option("--workdays", default="", help="Adjusted working Saturdays and Sundays.")
@_guarded
def calendar_add_year(data_dir, year, source, holidays, workdays) -> None:
    """Enter a year's State Council notice, publish it, recompute open deadlines."""
    from .calendar_admin import check_notice, publish_notice
    from .identity import load_identity
    config = _config(data_dir)
    store = _store(config)
    try:
        notice, _, summary = check_notice(store, year, source, holidays, workdays)
        result = publish_notice(store, load_identity(config), config, notice, "cli", ip="cli")
    finally:
        store.close()
    click.echo(f"{summary.year}: {summary.working_days} working days, "
               f"{summary.holidays_on_weekdays} holidays on weekdays, "
               f"{summary.adjusted_workdays} adjusted working days")
    for warning in summary.warnings:
        click.echo(f"warning: {warning}")
    click.echo(f"published config.calendar version {result.version}; "
               f"{result.changes_recorded} open case deadline(s) changed and recorded")


@main.group()
def audit() -> None:
    """The append-only audit log."""


@audit.command("export")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--since", default=None, help="YYYY-MM-DD")
@_guarded
def audit_export(data_dir, since) -> None:
    """Print the audit log as JSON lines, oldest first (the export is itself audited)."""
    config = _config(data_dir)
    store = _store(config)
    try:
        store.audit(config.now_ts(), "cli", "audit.exported", None,
                    {"since": since, "via": "central-hub audit export"}, ip="cli")
        offset = 0
        while True:
            batch = store.audit_entries(since=since, offset=offset, limit=1000,
                                        newest_first=False)
            for e in batch:
                click.echo(json.dumps({"id": e.id, "at": e.at, "actor": e.actor,
                                       "action": e.action, "target": e.target, "ip": e.ip,
                                       "details": e.details, "before": e.before,
                                       "after": e.after}, ensure_ascii=False))
            if len(batch) < 1000:
                break
            offset += 1000
    finally:
        store.close()


from .disclosure.cli import disclosure_report  # noqa: E402
main.add_command(disclosure_report)


# --------------------------------------------------------------------------- in the field
# (docs/sync-field.md)


@main.command("import")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--ack", "ack_path", default=None,
              help="Where to write the ack file (default: FILE.ack.json).")
@_guarded
def import_command(data_dir: str, file: str, ack_path: str | None) -> None:
    """Import a node's export FILE (USB) with the push checks; write a hub-signed ack file."""
    from .identity import load_identity
    from .usb_import import import_export_file, write_ack_file
    config = _config(data_dir)
    store = _store(config)
    try:
        with open(file, "rb") as fh:
            result = import_export_file(store, load_identity(config), config, fh)
    finally:
        store.close()
    ack_path = ack_path or file + ".ack.json"
    write_ack_file(ack_path, result.ack)
    body = json.loads(result.ack["document"])["body"]
    click.echo(f"node {result.node}: {result.stored} events stored, acknowledged up to "
               f"{body['acked_seq']}; {len(result.attachments)} attachments; ack file {ack_path}")
    if result.error is not None:
        _fail(f"{result.error.message} [{result.error.code}] (ack file written: {ack_path})")


@main.command("restore-token")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--node", "code", required=True)
@click.option("--ttl", default=24.0, show_default=True, help="Hours the token is valid.")
@TOKEN_TLS_CERT
@NO_TLS_PIN
@_guarded
def restore_token_command(data_dir: str, code: str, ttl: float, tls_cert: str | None,
                          no_tls_pin: bool) -> None:
    """A one-time token that authorises node CODE to restore under a new key (with the
    hub's TLS pin after a dot, as ``enroll-token``)."""
    from .epochs import issue_restore_token
    config = _config(data_dir)
    pin = _token_tls_pin(config, tls_cert, no_tls_pin)
    store = _store(config)
    try:
        token, expires = issue_restore_token(store, config, code, ttl)
    finally:
        store.close()
    click.echo(_pinned(token, pin))
    click.echo(f"node {code}: restore token valid until {expires}" + _pin_note(pin), err=True)


# electronic supervision (issue #9, docs/supervision.md)
from .supervision.cli import COMMANDS as _SUPERVISION_COMMANDS  # noqa: E402

for _command in _SUPERVISION_COMMANDS:
    main.add_command(_command)

# the public face: API tokens (issue #8, docs/hub-face.md)
from .api.cli import api_token as _api_token_group  # noqa: E402

main.add_command(_api_token_group)
