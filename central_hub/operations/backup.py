"""Online backup and restore of a hub's data directory.

A backup is a tar archive (mode 0600): ``hub.db`` copied with SQLite's online backup API
in one step (a consistent snapshot while the hub keeps serving: in WAL mode the reader
does not block writers), the key files, ``hub.json``, ``session.secret``, ``retired-keys/``
and ``backup.json`` (time, last event position, per-node heads, SHA-256 of the database).

Restore refuses to overwrite a hub unless forced, checks the checksum and SQLite's
``integrity_check``, and puts the files back with their modes. What the hub stored after
the backup is gone; each node notices on its next push (``chain_gap`` with the hub's
``acked_seq``) and re-sends from there, so no acknowledged event is lost for good as
long as nodes keep their logs (they do: a node never deletes its log).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from ..config import HUB_DB, HUB_ENC_KEY, HUB_JSON, HUB_KEY, RETIRED_KEYS, SESSION_SECRET, HubConfig
from ..errors import HubError
from ..store import file_integrity, open_store, snapshot_summary

MANIFEST = "backup.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backup_hub(config: HubConfig, target: Path) -> dict:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent if target.parent.exists() else None) as tmp:
        snapshot = Path(tmp) / HUB_DB
        store = open_store(config.db_path, config.now_ts())
        try:
            store.backup_to(snapshot)
        finally:
            store.close()
        last_position, events, heads = snapshot_summary(snapshot)
        info = {"format": "township-hub-backup/1", "taken_at": config.now_ts(),
                "last_position": last_position, "events": events, "node_heads": heads,
                "db_sha256": _sha256(snapshot)}
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w") as tar:
            data = json.dumps(info, ensure_ascii=False, indent=2).encode("utf-8")
            entry = tarfile.TarInfo(MANIFEST)
            entry.size, entry.mode = len(data), 0o600
            tar.addfile(entry, io.BytesIO(data))
            tar.add(snapshot, HUB_DB)
            for name in (HUB_KEY, HUB_ENC_KEY, HUB_JSON, SESSION_SECRET):
                path = config.data_dir / name
                if path.exists():
                    tar.add(path, name)
            retired = config.data_dir / RETIRED_KEYS
            if retired.is_dir():
                tar.add(retired, RETIRED_KEYS)
            handle.flush()
            os.fsync(handle.fileno())
    info["bytes"] = target.stat().st_size
    info["seconds"] = time.monotonic() - started
    return info


def restore_hub(source: Path, data_dir: Path, force: bool = False) -> dict:
    if (data_dir / HUB_JSON).exists() and not force:
        raise HubError(f"{data_dir} already holds a hub; stop it and pass --force to replace it",
                       code="hub_exists")
    try:
        tar = tarfile.open(source, mode="r")
    except (tarfile.TarError, OSError):
        raise HubError(f"{source} is not a hub backup", code="backup_invalid") from None
    with tar, tempfile.TemporaryDirectory() as tmp:
        names = set(tar.getnames())
        if MANIFEST not in names or HUB_DB not in names:
            raise HubError(f"{source} is not a hub backup (no {MANIFEST} or {HUB_DB})",
                           code="backup_invalid")
        tar.extractall(tmp, filter="data")
        staged = Path(tmp)
        info = json.loads((staged / MANIFEST).read_text(encoding="utf-8"))
        if _sha256(staged / HUB_DB) != info.get("db_sha256"):
            raise HubError("the database in the backup does not match its checksum",
                           code="backup_invalid")
        result = file_integrity(staged / HUB_DB)
        if result != "ok":
            raise HubError(f"the database in the backup is damaged: {result}",
                           code="backup_invalid")
        data_dir.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            (data_dir / (HUB_DB + suffix)).unlink(missing_ok=True)
        for name in (HUB_DB, HUB_KEY, HUB_ENC_KEY, HUB_JSON, SESSION_SECRET):
            if (staged / name).exists():
                target = data_dir / name
                target.unlink(missing_ok=True)
                shutil.copyfile(staged / name, target)
                target.chmod(0o600)
        if (staged / RETIRED_KEYS).is_dir():
            shutil.rmtree(data_dir / RETIRED_KEYS, ignore_errors=True)
            shutil.copytree(staged / RETIRED_KEYS, data_dir / RETIRED_KEYS)
            (data_dir / RETIRED_KEYS).chmod(0o700)
            for key in (data_dir / RETIRED_KEYS).iterdir():
                key.chmod(0o600)
    return info
