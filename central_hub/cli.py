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


@main.command()
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--name", default="county-hub", show_default=True,
              help="Name of the hub, the issuer of its signed documents.")
@_guarded
def init(data_dir: str, name: str) -> None:
    """Create the hub's keys, store and admin user in DATA_DIR."""
    from .bootstrap import init_hub
    result = init_hub(data_dir, name)
    click.echo(f"hub {name} created in {data_dir}")
    click.echo(f"signing key fingerprint: {result.identity.fingerprint}")
    for kind, version in result.published:
        click.echo(f"published {kind} version {version}")
    click.echo(f"admin user: {result.admin_user}  password: {result.admin_password}")
    click.echo("(the password is shown once; keep it safe)")


@main.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8600, show_default=True, type=int)
@_guarded
def serve(data_dir: str, host: str, port: int) -> None:
    """Serve the hub (sync API and fleet page)."""
    import uvicorn

    from .app import create_app
    app = create_app(_config(data_dir))
    uvicorn.run(app, host=host, port=port, log_level="info")


@main.command("enroll-token")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--node", "code", required=True, help="Node code, e.g. XZ-001.")
@click.option("--name", required=True, help="Name of the centre, e.g. 城关镇便民服务中心.")
@click.option("--ttl", default=72.0, show_default=True, type=float, help="Hours of validity.")
@_guarded
def enroll_token(data_dir: str, code: str, name: str, ttl: float) -> None:
    """Print a one-time enrolment token for a node."""
    from .enrolment import issue_token
    from .identity import load_identity
    config = _config(data_dir)
    store = _store(config)
    try:
        token, expires = issue_token(store, config, code, name, ttl)
    finally:
        store.close()
    click.echo(token)
    click.echo(f"node {code} ({name}); valid until {expires}; hub key fingerprint "
               f"{load_identity(config).fingerprint}", err=True)


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
