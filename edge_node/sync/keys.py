"""Node key rotation and the data directory's serve lock.

:func:`rotate_key` writes a ``node.key_rotated`` event signed by the old key naming the new
one; requests stay signed with the old key (kept as ``node-old.key``) until the hub
acknowledges the event, then :func:`finish_acknowledged_rotation` drops it. A crash in
between is settled by :func:`recover_key_rotation`, which :func:`edge_node.node.open_node`
calls on every open (docs/sync.md, "Node key rotation").
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from protocol.keys import PrivateKey, load_private_key, save_private_key

from ..errors import SetupError

log = logging.getLogger(__name__)

OLD_KEY_FILE = "node-old.key"
NEXT_KEY_FILE = "node-next.key"
SERVE_LOCK_FILE = "serve.lock"


def _serve_lock(data_dir: str | os.PathLike):
    return open(Path(data_dir) / SERVE_LOCK_FILE, "a+")


def hold_serve_lock(data_dir: str | os.PathLike):
    """Take the data directory's serve lock (``edge-node serve``); returns the open file
    (keep it open while serving). Raises SetupError when another server holds it."""
    handle = _serve_lock(data_dir)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise SetupError(f"another edge-node serve is running on {data_dir}",
                         zh="此数据目录已有一个 edge-node serve 在运行") from None
    return handle


def rotate_key(node) -> dict:
    """Rotate the node's key: a ``node.key_rotated`` event signed by the old key names the
    new one; later events are signed by the new key, while requests stay signed with the
    old key until the hub acknowledges the event (docs/sync.md, "Node key rotation").

    Crash-safe: the new key is written to node-next.key and the old one copied to
    node-old.key before the event commits; node.key is replaced after. A crash in between
    is finished by :func:`recover_key_rotation`.
    """
    data_dir = Path(node.config.data_dir)
    state = node.store.sync_state()
    if not state.get("hub_signing_key"):
        raise SetupError("enrol before rotating the key",
                         zh="请先接入县级平台（edge-node enroll），再更换节点密钥")
    if state.get("rotation"):
        raise SetupError("a key rotation is waiting for the hub's acknowledgement",
                         zh="上一次更换的密钥尚未得到县级平台确认，请先同步（edge-node sync）")
    lock = _serve_lock(data_dir)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SetupError("stop edge-node serve before rotating the key",
                             zh="请先停止 edge-node serve，再更换节点密钥") from None
        recover_key_rotation(node)
        old = node.key
        new = PrivateKey.generate()
        for name in (NEXT_KEY_FILE, OLD_KEY_FILE):
            (data_dir / name).unlink(missing_ok=True)
        save_private_key(new, data_dir / NEXT_KEY_FILE)
        save_private_key(old, data_dir / OLD_KEY_FILE)
        with node.store.transaction():
            event = node.store.append_key_rotation(new.public.hex)
            node.store.save_sync_state(rotation={"seq": event.seq, "new_key": new.public.hex,
                                                 "old_key": old.public.hex})
        _fsync_dir(data_dir)
        os.replace(data_dir / NEXT_KEY_FILE, data_dir / "node.key")
        _fsync_dir(data_dir)
        node.key = new
        node.store.key = new
    finally:
        lock.close()
    log.info("node key rotated at seq %d: %s -> %s", event.seq, old.public.fingerprint,
             new.public.fingerprint)
    return {"seq": event.seq, "old": old.public.fingerprint, "new": new.public.fingerprint}


def recover_key_rotation(node) -> None:
    """Finish or undo a key rotation a crash interrupted (idempotent; cheap when none)."""
    data_dir = Path(node.config.data_dir)
    next_path, old_path = data_dir / NEXT_KEY_FILE, data_dir / OLD_KEY_FILE
    rotation = node.store.sync_state().get("rotation")
    if next_path.exists():
        pending = load_private_key(next_path)
        if rotation and rotation["new_key"] == pending.public.hex:
            os.replace(next_path, data_dir / "node.key")     # committed: finish
            _fsync_dir(data_dir)
            node.key = pending
            node.store.key = pending
            log.warning("finished an interrupted key rotation")
        else:
            next_path.unlink()                               # never committed: undo
            if not rotation:
                old_path.unlink(missing_ok=True)
    elif not rotation and old_path.exists():
        old_path.unlink()


def finish_acknowledged_rotation(node) -> None:
    """The hub acknowledged the rotation event: drop the old key."""
    (Path(node.config.data_dir) / OLD_KEY_FILE).unlink(missing_ok=True)
    node.store.save_sync_state(rotation=None)
    log.info("the hub acknowledged the key rotation; the old key is deleted")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
