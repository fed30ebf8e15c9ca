"""`edge-node`: the commands a township centre runs. A thin shell over domain functions.

Add a command with ``@main.command()`` and wrap its body in ``with friendly_errors():``
(or decorate with ``@handles_errors``): a user mistake then prints one Chinese line and
exits with status 1, never a traceback. Logging is configured here, not in library code.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from pathlib import Path

import click
import uvicorn

from protocol.errors import ProtocolError
from web.transport import TlsSetupError, plain_http_warning, tls_serve_options, \
    write_self_signed

from .accounts import users
from .app import create_app
from .config import load_config
from .demo.simulate import simulate as run
from .errors import NodeError, SetupError
from .node import init_node, open_data_dir
from .status import format_status, node_status
from .sync.client import SyncClient
from .sync.hub_link import SyncError
from .sync.keys import hold_serve_lock, recover_key_rotation, rotate_key
from .sync.loop import SyncService
from .sync.restore import backup_node, restore_from_backup, restore_from_hub
from .sync.usb import export_file, import_ack

log = logging.getLogger(__name__)


@contextlib.contextmanager
def friendly_errors():
    """Turn domain and protocol errors into one line on stderr and exit status 1."""
    try:
        yield
    except NodeError as exc:
        click.echo(f"错误：{exc.zh}", err=True)
        sys.exit(1)
    except ProtocolError as exc:
        zh = getattr(exc, "zh", None)
        click.echo(f"错误：{zh or exc} ({exc.code})", err=True)
        sys.exit(1)


def handles_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with friendly_errors():
            return fn(*args, **kwargs)
    return wrapper


DATA_DIR = click.argument("data_dir", type=click.Path(file_okay=False, path_type=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Township convenience service centre node (乡镇便民服务中心节点)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@DATA_DIR
@click.option("--code", required=True, help="Node code, unique in the county (A-Z a-z 0-9 -).")
@click.option("--name", required=True, help="Centre name, e.g. 青山镇便民服务中心.")
@click.option("--admin-password", default=None,
              help="The first administrator's password (generated and printed if omitted).")
@click.option("--admin-username", default="admin", show_default=True)
@handles_errors
def init(data_dir: str, code: str, name: str, admin_password: str | None,
         admin_username: str) -> None:
    """Create a node in DATA_DIR (no network needed)."""
    node, password = init_node(data_dir, code, name, admin_password=admin_password,
                               admin_username=admin_username)
    try:
        click.echo(f"已创建节点 {code}（{name}），数据目录 {data_dir}")
        click.echo(f"节点公钥指纹：{node.key.public.fingerprint}")
        if admin_password is None:
            click.echo(f"管理员账号：{admin_username}  初始密码：{password}"
                       "（仅显示这一次，请妥善保管并尽快修改）")
    finally:
        node.close()


@main.command()
@DATA_DIR
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--sync-interval", type=click.IntRange(1), default=None,
              help="Seconds between sync rounds (default: node.json settings.sync_interval).")
@click.option("--no-sync", is_flag=True, help="Do not sync with the hub in the background.")
@click.option("--tls-cert", default=None, type=click.Path(dir_okay=False),
              help="Serve HTTPS with this certificate (PEM), e.g. from edge-node tls-cert.")
@click.option("--tls-key", default=None, type=click.Path(dir_okay=False),
              help="The certificate's key (PEM, readable by its owner only).")
@handles_errors
def serve(data_dir: str, host: str, port: int, sync_interval: int | None,
          no_sync: bool, tls_cert: str | None, tls_key: str | None) -> None:
    """Serve the node's web app, and sync with the hub in the background."""


    try:
        options = tls_serve_options(tls_cert, tls_key)
    except TlsSetupError as exc:
        click.echo(f"错误：TLS 证书或密钥不可用 / {exc}", err=True)
        sys.exit(1)
    config = load_config(data_dir)
    warning = plain_http_warning(host, options)
    if warning:
        log.warning(warning)
        click.echo(warning, err=True)
    lock = hold_serve_lock(data_dir)
    try:
        app = create_app(config)
        service = None
        if not no_sync:
            service = SyncService(config, interval=sync_interval)
            app.state.sync_service = service
            service.start()
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                        **options)
        finally:
            if service is not None:
                service.stop()
    finally:
        lock.close()


@main.command("tls-cert")
@DATA_DIR
@click.option("--tls-name", "tls_names", multiple=True, metavar="NAME",
              help="Host name or IP address of this centre's computer (repeatable; default "
                   "localhost and 127.0.0.1).")
@click.option("--new-key", is_flag=True, help="Make a new key instead of reusing tls/node.key.")
@handles_errors
def tls_cert(data_dir: str, tls_names: tuple[str, ...], new_key: bool) -> None:
    """Make (or re-issue) a self-signed TLS certificate: DATA_DIR/tls/node.crt and node.key."""


    config = load_config(data_dir)
    base = Path(data_dir) / "tls"
    base.mkdir(mode=0o700, exist_ok=True)
    try:
        write_self_signed(base / "node.crt", base / "node.key", tls_names,
                          common_name=config.code, new_key=new_key)
    except TlsSetupError as exc:
        click.echo(f"错误：{exc}", err=True)
        sys.exit(1)
    click.echo(f"已生成 TLS 证书 {base / 'node.crt'}，密钥 {base / 'node.key'}（仅本人可读）；"
               f"启动：edge-node serve {data_dir} --tls-cert {base / 'node.crt'} "
               f"--tls-key {base / 'node.key'}")


@main.command()
@DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--full", is_flag=True, help="Verify every signature (slower).")
@handles_errors
def status(data_dir: str, as_json: bool, full: bool) -> None:
    """Cases by state, events, unacknowledged events, chain head and chain check."""
    node = open_data_dir(data_dir)
    try:
        report = node_status(node, full=full)
    finally:
        node.close()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(format_status(report))
    if not report["chain"]["verifies"]:
        sys.exit(2)


@main.command("reset-password")
@DATA_DIR
@click.argument("user")
@click.option("--password", default=None, help="New password (generated if omitted).")
@handles_errors
def reset_password(data_dir: str, user: str, password: str | None) -> None:
    """Set a new password for USER (for a centre without IT support)."""
    node = open_data_dir(data_dir)
    try:
        new = users.reset_password(node, user, password)
    finally:
        node.close()
    click.echo(f"用户 {user} 的密码已重置" + ("" if password else f"，新密码：{new}"))


@main.command()
@DATA_DIR
@click.option("--cases", "n_cases", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First simulated day (default: 60 days before today).")
@click.option("--days", default=60, show_default=True, type=click.IntRange(1, 3650))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handles_errors
def simulate(data_dir: str, n_cases: int, start, days: int, seed: int, quiet: bool) -> None:
    """Run a synthetic workload through the domain functions, in simulated time."""
    node = open_data_dir(data_dir)
    try:
        first = start.date() if start else None
        if quiet:
            report = run(node, cases=n_cases, start=first, days=days, seed=seed)
        else:
            with click.progressbar(length=n_cases, label="模拟办件") as bar:
                report = run(node, cases=n_cases, start=first, days=days, seed=seed,
                             progress=bar.update)
    finally:
        node.close()
    click.echo(f"模拟完成：{report.cases} 件，{report.events} 条事件，"
               f"{report.seconds:.1f} 秒（{report.cases_per_second:.0f} 件/秒）")
    for state, count in sorted(report.by_state.items()):
        click.echo(f"  {state}: {count}")



# --------------------------------------------------------------------------- sync


def _sync_error_line(exc) -> str:
    """One line for a sync failure: Chinese, then the English reason and the code."""
    return f"错误：{exc.zh} / {exc.message} ({getattr(exc, 'code', type(exc).__name__)})"


@contextlib.contextmanager
def _sync_errors():
    try:
        yield
    except SyncError as exc:
        click.echo(_sync_error_line(exc), err=True)
        sys.exit(1)


@main.command()
@DATA_DIR
@click.option("--hub", "hub_url", required=True, help="The hub's URL, e.g. http://10.0.0.2:8100")
@click.option("--token", required=True, help="The one-time token from central-hub enroll-token.")
@click.option("--expect-fingerprint", default=None,
              help="Refuse unless the hub key has this fingerprint (read it to the admin).")
@handles_errors
def enroll(data_dir: str, hub_url: str, token: str, expect_fingerprint: str | None) -> None:
    """Enrol this node with the county hub and pin the hub's keys."""
    node = open_data_dir(data_dir)
    try:
        with _sync_errors():
            client = SyncClient(node)
            try:
                result = client.enroll(hub_url, token, expect_fingerprint=expect_fingerprint)
            finally:
                client.close()
    finally:
        node.close()
    click.echo(f"已接入县级平台 {result['hub_name']}（{result['hub_url']}）")
    click.echo(f"县级平台密钥指纹：{result['fingerprint']}（请与县级管理员核对）")


@main.command()
@DATA_DIR
@click.option("--retries", default=3, show_default=True, type=click.IntRange(0),
              help="Retries of a round that failed on the network.")
@click.option("--batch-events", default=None, type=click.IntRange(1, 1000),
              help="Events per batch (default 250).")
@click.option("--quiet", is_flag=True)
@handles_errors
def sync(data_dir: str, retries: int, batch_events: int | None, quiet: bool) -> None:
    """Sync with the hub until every event is acknowledged (exit 0 only then)."""
    node = open_data_dir(data_dir)
    try:
        recover_key_rotation(node)
        options = {"max_batch_events": batch_events} if batch_events else {}
        with _sync_errors():
            client = SyncClient(node, **options)
            try:
                def progress(report) -> None:
                    if not quiet:
                        applied = "，已更新 " + "、".join(report.applied) if report.applied else ""
                        click.echo(f"已确认至第 {report.acked_seq} 条（共 {report.head_seq} 条）"
                                   f"{applied}")
                report = client.sync_until_acknowledged(retries=retries, on_round=progress)
            finally:
                client.close()
    finally:
        node.close()
    if not report.complete:
        click.echo(f"错误：仍有 {report.waiting} 条事件未获县级平台确认 / "
                   f"{report.waiting} events not acknowledged (sync_incomplete)", err=True)
        sys.exit(1)
    click.echo(f"同步完成：全部 {report.head_seq} 条事件已获县级平台确认")


@main.command("rotate-key")
@DATA_DIR
@handles_errors
def rotate_key_command(data_dir: str) -> None:
    """Replace the node key (the change is an event signed by the old key)."""
    node = open_data_dir(data_dir)
    try:
        result = rotate_key(node)
    finally:
        node.close()
    click.echo(f"已更换节点密钥：{result['old']} → {result['new']}（第 {result['seq']} 条事件）。"
               "县级平台确认前，请求仍用旧密钥签名；请运行 edge-node sync")


# --------------------------------------------------------------------------- in the field
# (docs/sync-field.md): USB export files, ack files, backups and restores


@main.command("export")
@DATA_DIR
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--no-attachments", is_flag=True, help="Events only.")
@handles_errors
def export_command(data_dir: str, file: str, no_attachments: bool) -> None:
    """Write the unacknowledged events (and attachments) to FILE for a USB stick,
    encrypted to the hub and signed by this node."""
    node = open_data_dir(data_dir)
    try:
        with _sync_errors():
            info = export_file(node, file, attachments=not no_attachments)
    finally:
        node.close()
    span = f"第 {info['first_seq']}–{info['last_seq']} 条" if info["events"] else "无新事件"
    click.echo(f"已导出 {info['events']} 条事件（{span}，{info['batches']} 批）、"
               f"{info['attachments']} 个附件到 {file}（{info['bytes']} 字节，已加密）。"
               "请带到县级平台导入（central-hub import），再用 edge-node import-ack 导入确认文件")


@main.command("import-ack")
@DATA_DIR
@click.argument("ackfile", type=click.Path(exists=True, dir_okay=False, path_type=str))
@handles_errors
def import_ack_command(data_dir: str, ackfile: str) -> None:
    """Apply the hub's ack file (verified with the pinned hub key)."""
    node = open_data_dir(data_dir)
    try:
        with _sync_errors():
            result = import_ack(node, ackfile)
    finally:
        node.close()
    click.echo(f"县级平台已确认至第 {result['acked_seq']} 条（本次新确认 {result['newly']} 条）")
    if result["error"]:
        click.echo(f"县级平台只保存到第 {result['hub_acked_seq']} 条：下次导出或同步将从第 "
                   f"{result['hub_acked_seq'] + 1} 条起重新发送")


@main.command("backup")
@DATA_DIR
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@handles_errors
def backup_command(data_dir: str, file: str) -> None:
    """Write a consistent backup of the node (database, keys, attachments) to FILE."""
    info = backup_node(data_dir, file)
    click.echo(f"已备份到 {info['file']}（{info['bytes']} 字节；含节点密钥，请妥善保管）")


@main.command("restore")
@DATA_DIR
@click.option("--hub", "hub_url", default=None, help="Hub URL (with --backup: default the "
              "backup's).")
@click.option("--token", required=True, help="Restore token from the county administrator.")
@click.option("--backup", "backup_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="Restore from this edge-node backup file instead of from the hub alone.")
@click.option("--expect-fingerprint", default=None)
@click.option("--admin-password", default=None)
@handles_errors
def restore_command(data_dir: str, hub_url: str | None, token: str, backup_file: str | None,
                    expect_fingerprint: str | None, admin_password: str | None) -> None:
    """Rebuild a node into an empty DATA_DIR under a new key (a new epoch)."""
    with _sync_errors():
        if backup_file:
            info = restore_from_backup(data_dir, backup_file, token, hub_url=hub_url)
        else:
            if not hub_url:
                raise SetupError("--hub is required", zh="请用 --hub 指定县级平台地址")
            info = restore_from_hub(data_dir, hub_url, token,
                                    expect_fingerprint=expect_fingerprint,
                                    admin_password=admin_password)
    click.echo(f"节点 {info['node']} 已恢复：第 {info['epoch']} 纪元，新密钥自第 {info['from_seq']} "
               f"条起生效；从县级平台下载 {info['downloaded']} 条事件")
    if info.get("pushed"):
        click.echo(f"备份中县级平台缺少的 {info['pushed']} 条事件已上报")
    if info.get("admin_password"):
        click.echo(f"管理员 admin 的新密码：{info['admin_password']}（只显示一次）")
