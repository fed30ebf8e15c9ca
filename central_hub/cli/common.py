"""Helpers shared by the ``central-hub`` command modules: one-line errors, loading the
hub's configuration and opening its store."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from protocol.errors import ProtocolError

from ..accounts.service import ADMIN_ROLES, missing_admin_roles
from ..config import HubConfig
from ..errors import HubError, NotInitialised
from ..store import open_store


def fail(message: str, code: int = 1) -> None:
    click.echo(f"错误 / error: {message}", err=True)
    sys.exit(code)


def guarded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (HubError, ProtocolError) as exc:
            fail(f"{exc.message} [{exc.code}]")
        except (OSError, ValueError) as exc:
            fail(str(exc))
    return wrapper


def load_config(data_dir: str, **overrides) -> HubConfig:
    path = Path(data_dir)
    if not (path / "hub.json").exists():
        raise NotInitialised(f"{path} is not a hub data directory: run `central-hub init "
                             f"{path}` first")
    return HubConfig.load(path, **overrides)


def hub_store(config: HubConfig):
    return open_store(config.db_path, config.now_ts())


def warn_missing_admins(store) -> None:
    """One line on stderr per administrator role no active account holds (an upgraded
    hub has only the system administrator until the other two are created)."""
    for role in missing_admin_roles(store):
        click.echo(f"注意 / note: no active {role} ({ADMIN_ROLES[role]}) account: create one "
                   f"for a separate person with `central-hub user add DATA_DIR NAME "
                   f"--role {role}`", err=True)
