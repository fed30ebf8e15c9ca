"""The node's configuration: a frozen dataclass built from DATA_DIR/node.json.

Files of a data directory::

    node.db      SQLite database (WAL; synchronous=FULL): events, projections, users, ...
    node.key     the node's Ed25519 private key (PEM, mode 0600)
    secret.key   the session-cookie secret (mode 0600)
    node.json    code, name, created, settings (not secret)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from protocol.calendar import SHANGHAI

from .errors import SetupError

DB_FILE = "node.db"
KEY_FILE = "node.key"
SECRET_FILE = "secret.key"
NODE_FILE = "node.json"

Clock = Callable[[], datetime]


def shanghai_now() -> datetime:
    """Now, as an aware datetime at +08:00 (the node's default clock)."""
    return datetime.now(SHANGHAI)


@dataclass(frozen=True)
class NodeConfig:
    """Everything an edge node app or command needs; no module-level state anywhere.

    ``clock`` is injectable (tests and the simulator pass a simulated clock).
    """

    data_dir: Path
    code: str
    name: str
    secret_key: str
    clock: Clock = shanghai_now
    sync_interval: int = 60
    hub_url: str | None = None
    max_body_bytes: int = 256 * 1024
    session_idle_seconds: int = 30 * 60        # a session unused this long ends (shared PCs)
    session_lifetime_seconds: int = 12 * 60 * 60   # and any session ends this long after login
    settings: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILE

    @property
    def key_path(self) -> Path:
        return self.data_dir / KEY_FILE


def write_secret(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only; refuses to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def load_config(data_dir: str | os.PathLike, *, clock: Clock | None = None,
                **overrides) -> NodeConfig:
    """Read DATA_DIR/node.json and secret.key into a :class:`NodeConfig`."""
    data_dir = Path(data_dir)
    node_file = data_dir / NODE_FILE
    if not node_file.exists():
        raise SetupError(f"{data_dir} is not an edge node data directory (no {NODE_FILE})",
                         zh=f"{data_dir} 不是便民服务中心节点的数据目录（缺少 {NODE_FILE}），"
                            "请先运行 edge-node init")
    try:
        info = json.loads(node_file.read_text("utf-8"))
        secret = (data_dir / SECRET_FILE).read_text("ascii").strip()
    except (OSError, ValueError) as exc:
        raise SetupError(f"cannot read the node configuration: {exc}",
                         zh=f"无法读取节点配置：{exc}") from None
    settings = dict(info.get("settings") or {})
    kwargs = dict(data_dir=data_dir, code=info["code"], name=info["name"], secret_key=secret,
                  sync_interval=int(settings.get("sync_interval", 60)),
                  hub_url=settings.get("hub_url"), settings=settings,
                  session_idle_seconds=int(settings.get("session_idle_seconds", 30 * 60)),
                  session_lifetime_seconds=int(settings.get("session_lifetime_seconds",
                                                            12 * 60 * 60)))
    if clock is not None:
        kwargs["clock"] = clock
    kwargs.update(overrides)
    return NodeConfig(**kwargs)
