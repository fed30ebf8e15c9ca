"""``central-hub init``, ``tls-cert``, ``serve``, ``rotate-key`` and ``publish-config``:
the hub itself."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import uvicorn

from protocol.calendar import Calendar, CalendarError
from web.transport import plain_http_warning, tls_serve_options, uvicorn_log_config

from ..accounts.service import ADMIN_ROLES, ROLE_DUTIES
from ..app import create_app
from ..calendar.service import publish_calendar
from ..catalogue.service import seed_items
from ..errors import HubError
from ..identity import load_identity
from ..operations.bootstrap import init_hub
from ..sync.publication import publish_config, rotate_hub_key
from ..sync.tls import make_certificate, make_next, promote_next, publish_pins, tls_files
from .common import guarded, hub_store, load_config, warn_missing_admins


TLS_NAME = click.option("--tls-name", "tls_names", multiple=True, metavar="NAME",
                        help="Host name or IP address the certificate is for (repeatable; "
                             "default localhost and 127.0.0.1).")


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--name", default="county-hub", show_default=True,
              help="Name of the hub, the issuer of its signed documents.")
@click.option("--tls", "make_tls", is_flag=True,
              help="Also make a self-signed TLS certificate (tls/hub.crt, tls/hub.key).")
@TLS_NAME
@guarded
def init(data_dir: str, name: str, make_tls: bool, tls_names: tuple[str, ...]) -> None:
    """Create the hub's keys, store and its three administrators in DATA_DIR."""
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
    config = load_config(data_dir)
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
    store = hub_store(config)
    try:
        content = publish_pins(store, load_identity(config), config)
    finally:
        store.close()
    click.echo("published config.tls: " + ", ".join(f"{k} {v[:16]}..." for k, v in
                                                      content.items()))


@click.command("tls-cert")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@TLS_NAME
@click.option("--new-key", is_flag=True,
              help="Re-issue with a new key (nodes that do not know its pin will refuse it: "
                   "prefer --next and --promote).")
@click.option("--next", "next_", is_flag=True,
              help="Make the next certificate (new key) and announce its pin to the nodes.")
@click.option("--promote", is_flag=True, help="Make the announced next certificate current.")
@guarded
def tls_cert(data_dir: str, tls_names: tuple[str, ...], new_key: bool, next_: bool,
             promote: bool) -> None:
    """Make, re-issue or rotate the hub's self-signed TLS certificate; publish its pins."""
    if sum((new_key, next_, promote)) > 1:
        raise HubError("give at most one of --new-key, --next, --promote", code="usage")
    _tls_cert(data_dir, tls_names, new_key=new_key, next_=next_, promote=promote)


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8600, show_default=True, type=int)
@click.option("--tls-cert", default=None, type=click.Path(dir_okay=False),
              help="Serve HTTPS with this certificate (PEM), e.g. DATA_DIR/tls/hub.crt.")
@click.option("--tls-key", default=None, type=click.Path(dir_okay=False),
              help="The certificate's key (PEM, readable by its owner only).")
@guarded
def serve(data_dir: str, host: str, port: int, tls_cert: str | None,
          tls_key: str | None) -> None:
    """Serve the hub (sync API and fleet page)."""
    options = tls_serve_options(tls_cert, tls_key)
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        warn_missing_admins(store)
    finally:
        store.close()
    app = create_app(config)
    warning = plain_http_warning(host, options)
    if warning:
        logging.getLogger("central_hub").warning(warning)
        click.echo(warning, err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=uvicorn_log_config(),
                **options)


@click.command("rotate-key")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@guarded
def rotate_key(data_dir: str) -> None:
    """Replace the hub's keys; nodes follow the statement signed by the old key."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        identity, statement = rotate_hub_key(store, config)
    finally:
        store.close()
    click.echo(f"hub key rotated (statement {statement.seq}); new fingerprint "
               f"{identity.fingerprint}")


@click.command("publish-config")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("kind")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@guarded
def publish_config_command(data_dir: str, kind: str, file: str) -> None:
    """Publish FILE (JSON) as the next version of configuration KIND."""
    config = load_config(data_dir)
    content = json.loads(Path(file).read_text(encoding="utf-8"))
    store = hub_store(config)
    try:
        if kind == "config.calendar":
            try:
                calendar = Calendar.from_document(content)
            except CalendarError as exc:
                raise HubError(exc.zh, code="calendar_invalid") from None
            result = publish_calendar(store, load_identity(config), config, calendar, "admin")
            click.echo(f"published config.calendar version {result.version}; "
                       f"{result.changes_recorded} open case deadline(s) changed")
            return
        if kind == "config.catalogue":
            with store.transaction():
                doc = publish_config(store, load_identity(config), config, kind, content,
                                     "admin")
                seed_items(store, content, config.now_ts(), "admin")
        else:
            doc = publish_config(store, load_identity(config), config, kind, content, "admin")
    finally:
        store.close()
    click.echo(f"published {doc.kind} version {doc.version} ({doc.digest[:16]})")
