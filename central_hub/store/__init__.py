"""The hub's store: the interface (:mod:`.interface`) and its SQLite implementation.

All SQL of the hub lives in this package. ``open_store(path, now)`` opens (and migrates)
the SQLite store; a PostgreSQL implementation would satisfy the same
:class:`~.interface.HubStore` protocol.
"""

from __future__ import annotations

from pathlib import Path

from .interface import HubStore, StoreError
from .sqlite import SqliteHubStore, file_integrity, snapshot_summary


def open_store(path: str | Path, now: str) -> HubStore:
    return SqliteHubStore(path, now)


__all__ = ["HubStore", "SqliteHubStore", "StoreError", "file_integrity", "open_store",
           "snapshot_summary"]
