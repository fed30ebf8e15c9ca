"""``central-hub enroll-token``, ``revoke``, ``nodes``, ``import`` (USB) and
``restore-token``: the township nodes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from protocol.tls import encode_token_pin

from ..errors import HubError
from ..fleet.service import fleet_status
from ..identity import load_identity
from ..projection.registry import run_all
from ..store.records import NODE_REVOKED
from ..sync.enrolment import issue_token
from ..sync.epochs import issue_restore_token
from ..sync.tls import file_pin, tls_files
from ..sync.usb import import_export_file, write_ack_file
from .common import fail, guarded, hub_store, load_config


TOKEN_TLS_CERT = click.option(
    "--tls-cert", default=None, type=click.Path(exists=True, dir_okay=False),
    help="Pin this TLS certificate in the token (default: DATA_DIR/tls/hub.crt when it exists).")
NO_TLS_PIN = click.option("--no-tls-pin", is_flag=True, help="Print the token without a TLS pin.")


def _token_tls_pin(config, tls_cert: str | None, no_tls_pin: bool) -> str | None:
    """The hub TLS pin an enrolment or restore token carries (None: no pin, plain http)."""
    return None if no_tls_pin else file_pin(Path(tls_cert) if tls_cert
                                            else tls_files(config).cert)


def _pinned(token: str, pin: str | None) -> str:
    """The token as typed on the node: the pin after a dot (``protocol.tls.split_token``)."""
    return token + (f".{encode_token_pin(pin)}" if pin else "")


def _pin_note(pin: str | None) -> str:
    return f"; TLS pin {pin}" if pin else "; no TLS pin (plain http)"


@click.command("enroll-token")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--node", "code", required=True, help="Node code, e.g. XZ-001.")
@click.option("--name", required=True, help="Name of the centre, e.g. 城关镇便民服务中心.")
@click.option("--ttl", default=72.0, show_default=True, type=float, help="Hours of validity.")
@TOKEN_TLS_CERT
@NO_TLS_PIN
@guarded
def enroll_token(data_dir: str, code: str, name: str, ttl: float, tls_cert: str | None,
                 no_tls_pin: bool) -> None:
    """Print a one-time enrolment token for a node (with the hub's TLS pin after a dot)."""
    config = load_config(data_dir)
    pin = _token_tls_pin(config, tls_cert, no_tls_pin)
    store = hub_store(config)
    try:
        token, expires = issue_token(store, config, code, name, ttl)
    finally:
        store.close()
    click.echo(_pinned(token, pin))
    click.echo(f"node {code} ({name}); valid until {expires}; hub key fingerprint "
               f"{load_identity(config).fingerprint}" + _pin_note(pin), err=True)


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--node", "code", required=True)
@click.option("--reason", default="revoked by the county administrator", show_default=True)
@guarded
def revoke(data_dir: str, code: str, reason: str) -> None:
    """Revoke a node: its requests are refused from now on."""
    config = load_config(data_dir)
    store = hub_store(config)
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


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@guarded
def nodes(data_dir: str, as_json: bool) -> None:
    """Print the per-node sync figures of the fleet page."""
    config = load_config(data_dir)
    store = hub_store(config)
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




@click.command("import")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--ack", "ack_path", default=None,
              help="Where to write the ack file (default: FILE.ack.json).")
@guarded
def import_command(data_dir: str, file: str, ack_path: str | None) -> None:
    """Import a node's export FILE (USB) with the push checks; write a hub-signed ack file."""
    config = load_config(data_dir)
    store = hub_store(config)
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
        fail(f"{result.error.message} [{result.error.code}] (ack file written: {ack_path})")


@click.command("restore-token")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--node", "code", required=True)
@click.option("--ttl", default=24.0, show_default=True, help="Hours the token is valid.")
@TOKEN_TLS_CERT
@NO_TLS_PIN
@guarded
def restore_token_command(data_dir: str, code: str, ttl: float, tls_cert: str | None,
                          no_tls_pin: bool) -> None:
    """A one-time token that authorises node CODE to restore under a new key (with the
    hub's TLS pin after a dot, as ``enroll-token``)."""
    config = load_config(data_dir)
    pin = _token_tls_pin(config, tls_cert, no_tls_pin)
    store = hub_store(config)
    try:
        token, expires = issue_restore_token(store, config, code, ttl)
    finally:
        store.close()
    click.echo(_pinned(token, pin))
    click.echo(f"node {code}: restore token valid until {expires}" + _pin_note(pin), err=True)
