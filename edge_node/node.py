"""A node instance: its configuration, store and signing key, and how one is created.

:func:`init_node` creates a data directory with no network: the database (WAL), the
node key (0600), the session secret, a first administrator, the seeded working-day
calendar and the sample catalogue (replaced when a hub's catalogue arrives).
:func:`open_node` opens an existing one. Domain functions take the :class:`Node`.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from protocol.calendar import Calendar
from protocol.envelope import NODE_RE, format_ts
from protocol.keys import PrivateKey, load_private_key, save_private_key

from .accounts import users
from .cases import catalogue as node_catalogue
from .cases import deadlines
from .config import NODE_FILE, SECRET_FILE, Clock, NodeConfig, load_config, shanghai_now, \
    write_secret
from .errors import SetupError, ValidationError
from .store import Store
from .sync.keys import recover_key_rotation

log = logging.getLogger(__name__)

SOFTWARE = "edge-node 0.1.0"
ADMIN_NAME = "系统管理员"


@dataclass
class Node:
    """An open node. Not thread-safe: use from one thread at a time (see store docs)."""

    config: NodeConfig
    store: Store
    key: PrivateKey

    @property
    def code(self) -> str:
        return self.config.code

    def now(self) -> datetime:
        return self.config.clock()

    def close(self) -> None:
        self.store.close()


def open_node(config: NodeConfig, *, create: bool = False) -> Node:
    """Open the node of ``config`` (applying any pending migrations)."""
    if not create and not config.db_path.exists():
        raise SetupError(f"{config.db_path} does not exist",
                         zh=f"数据库 {config.db_path} 不存在，请先运行 edge-node init")
    key = load_private_key(config.key_path)
    store = Store.open(config.db_path, node_code=config.code, key=key, clock=config.clock)
    node = Node(config, store, key)
    # A crash between committing a node.key_rotated event and swapping the key file would
    # leave this process signing with the old key and break the chain: settle it first.
    recover_key_rotation(node)
    return node


def open_data_dir(data_dir: str | Path, *, clock: Clock | None = None) -> Node:
    return open_node(load_config(data_dir, clock=clock))


def init_node(data_dir: str | Path, code: str, name: str, *,
              admin_password: str | None = None, admin_username: str = "admin",
              clock: Clock | None = None, with_sample_catalogue: bool = True
              ) -> tuple[Node, str]:
    """Create a node in ``data_dir``; returns the open node and the admin's password.

    Refuses a directory that already holds a node. Works without any network.
    """
    data_dir = Path(data_dir)
    if not isinstance(code, str) or not NODE_RE.match(code):
        raise ValidationError("code", "format",
                              "节点编码须为 1 至 32 位字母、数字或连字符，且以字母或数字开头")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ValidationError("name", "required", "请填写节点名称（不超过 100 个字）")
    if (data_dir / NODE_FILE).exists() or (data_dir / "node.db").exists():
        raise SetupError(f"{data_dir} already holds a node",
                         zh=f"{data_dir} 中已有节点数据，不能重复初始化")
    if admin_password is not None:
        users.check_password_strength(admin_password, username=admin_username,
                                      name=ADMIN_NAME)
    clock = clock or shanghai_now
    data_dir.mkdir(parents=True, exist_ok=True)
    key = PrivateKey.generate()
    save_private_key(key, data_dir / "node.key")
    write_secret(data_dir / SECRET_FILE, secrets.token_urlsafe(32))
    created = format_ts(clock())
    info = {"code": code, "name": name.strip(), "created": created,
            "public_key": key.public.hex, "settings": {"sync_interval": 60, "hub_url": None}}
    tmp = data_dir / (NODE_FILE + ".tmp")
    tmp.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", "utf-8")
    tmp.replace(data_dir / NODE_FILE)
    config = load_config(data_dir, clock=clock)
    node = open_node(config, create=True)
    password = admin_password or users.generate_password(admin_username, ADMIN_NAME)
    with node.store.transaction():
        node.store.append_event("node.initialised", None, {
            "code": code, "name": info["name"], "public_key": key.public.hex,
            "software": SOFTWARE})
        deadlines.apply_calendar(node, Calendar.seeded(), source="seeded")
        if with_sample_catalogue:
            node_catalogue.apply_catalogue(node, node_catalogue.sample_catalogue(),
                                           source="sample")
        users.create_user(node, admin_username, ADMIN_NAME, ("admin",), password,
                          actor=None)
    log.info("initialised node %s in %s", code, data_dir)
    return node, password
