"""What one app instance holds: config, store, identity (reloaded when the key changes),
throttles and the sync API's rate limits. Built by :func:`central_hub.app.create_app`;
endpoints reach it through ``request.app.state.hub``. No module-level state."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from web.security import LoginThrottle
from web.sessions import SessionPolicy

from .config import HubConfig
from .identity import HubIdentity, load_identity
from .store import HubStore
from .sync.limits import SyncLimits


@dataclass
class HubContext:
    config: HubConfig
    store: HubStore
    _identity: HubIdentity
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    sync_limits: SyncLimits = field(init=False)     # abuse limits of /sync/v1
    _key_stamp: tuple[int, int] | None = None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.config.key_path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def __post_init__(self) -> None:
        self._key_stamp = self._stamp()
        self.sync_limits = SyncLimits(self.config)

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(idle_seconds=self.config.session_idle_seconds,
                             lifetime_seconds=self.config.session_lifetime_seconds)

    def clock_seconds(self) -> float:
        """Hub time as seconds since the epoch (session records)."""
        return self.config.clock().timestamp()

    @property
    def identity(self) -> HubIdentity:
        """The hub's keys; reloaded when ``central-hub rotate-key`` replaced them."""
        stamp = self._stamp()
        if stamp is not None and stamp != self._key_stamp:
            self._identity = load_identity(self.config)
            self._key_stamp = stamp
        return self._identity

    def close(self) -> None:
        self.store.close()
