"""The hub's configuration: one frozen dataclass, built by the CLI or by tests.

Files of a hub data directory (``central-hub init DATA_DIR`` creates them)::

    hub.db           the store (SQLite, WAL, synchronous=FULL)
    hub.key          the hub's Ed25519 signing key (PEM, mode 0600)
    hub-enc.key      the hub's X25519 encryption key for USB export files (PEM, 0600)
    hub.json         name of the hub (the ``issuer`` of its documents) and settings
    session.secret   the secret that signs admin session cookies (0600)
    retired-keys/    signing keys replaced by ``central-hub rotate-key`` (0600)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from protocol import limits
from protocol.calendar import SHANGHAI
from protocol.envelope import format_ts

HUB_DB = "hub.db"
HUB_KEY = "hub.key"
HUB_ENC_KEY = "hub-enc.key"
HUB_JSON = "hub.json"
SESSION_SECRET = "session.secret"
RETIRED_KEYS = "retired-keys"


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class HubConfig:
    data_dir: Path
    name: str = "county-hub"                 # issuer of the hub's signed documents
    request_window_seconds: int = 15 * 60    # signed requests outside it: request_expired
    skew_alert_seconds: int = 5 * 60         # a node clock further off raises an alert
    # Abuse limits of /sync/v1 (docs/sync.md, "Abuse limits"); in memory, per process.
    auth_failure_burst: int = 50             # failed node authentications per client address
    auth_failures_per_hour: float = 60       # ... refilled at this rate; beyond: 429
    node_request_burst: int = 300            # authenticated requests per node
    node_requests_per_second: float = 5.0    # ... refilled at this rate; beyond: 429
    auth_alert_window_seconds: int = 3600    # unknown_key / request_forged: one alert per
                                             # client address and window, counted
    max_push_bytes: int = limits.MAX_BATCH_COMPRESSED
    max_json_bytes: int = 64 * 1024
    background_jobs: bool = True             # projector and verifier in the serve process
    projector_interval_seconds: float = 1.0
    verifier_interval_seconds: float = 5.0
    job_time_budget_seconds: float = 1.0     # per job and run, so no job starves the others
    session_secret: str = ""                 # read from session.secret when empty
    https_only: bool = False
    session_idle_seconds: int = 30 * 60      # a session unused this long ends (shared PCs)
    session_lifetime_seconds: int = 12 * 60 * 60   # and any session ends this long after login
    require_totp_for_admins: bool = False    # administrators must enrol a TOTP second factor
    ack_verifies_every_signature: bool = False   # the naive ack path (benchmark baseline)
    clock: Callable[[], datetime] = field(default=system_clock, compare=False)

    @property
    def db_path(self) -> Path:
        return self.data_dir / HUB_DB

    @property
    def key_path(self) -> Path:
        return self.data_dir / HUB_KEY

    @property
    def enc_key_path(self) -> Path:
        return self.data_dir / HUB_ENC_KEY

    @property
    def json_path(self) -> Path:
        return self.data_dir / HUB_JSON

    @property
    def session_secret_path(self) -> Path:
        return self.data_dir / SESSION_SECRET

    def now(self) -> datetime:
        return self.clock().astimezone(SHANGHAI)

    def now_ts(self) -> str:
        """Hub time as the protocol writes it (RFC 3339, ms, +08:00)."""
        return format_ts(self.now())

    @classmethod
    def load(cls, data_dir: str | Path, **overrides: Any) -> "HubConfig":
        """The config of an initialised data directory (hub.json), with overrides."""
        data_dir = Path(data_dir)
        settings = json.loads((data_dir / HUB_JSON).read_text(encoding="utf-8"))
        known = {f for f in cls.__dataclass_fields__ if f not in ("data_dir", "clock")}
        values = {k: v for k, v in settings.items() if k in known}
        config = cls(data_dir=data_dir, **values)
        return replace(config, **overrides) if overrides else config
