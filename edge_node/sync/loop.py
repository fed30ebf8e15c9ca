"""The background sync loop ``edge-node serve`` runs (see :mod:`edge_node.sync.client`).

:class:`SyncService` is a ``schedule.Scheduler`` instance in a background thread with its
*own* node (own SQLite connection), calling ``sync_once`` every ``sync_interval`` seconds,
with capped exponential back-off and jitter while rounds fail.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable

import schedule

from ..node import open_node
from .client import RoundReport, SyncClient
from .hub_link import SyncError
from .keys import recover_key_rotation

log = logging.getLogger(__name__)


class SyncService:
    """Background sync for ``edge-node serve`` (see module docs).

    ``run_now(wait)`` asks for a round at once and waits up to ``wait`` seconds for it
    (the /sync page's button). The thread opens its own node with ``open_node(config)``.
    """

    def __init__(self, config, *, http_factory: Callable[[], Any] | None = None,
                 interval: float | None = None, backoff_base: float = 5.0,
                 backoff_cap: float = 600.0, rng: Callable[[], float] = random.random,
                 client_options: dict | None = None) -> None:
        self.config = config
        self.http_factory = http_factory   # None: the client's own, with the node's pins
        self.interval = max(1.0, float(interval or config.sync_interval))
        self.backoff_base = backoff_base
        self.backoff_cap = max(backoff_cap, self.interval)
        self.rng = rng
        self.client_options = client_options or {}
        self.failures = 0
        self.rounds = 0
        self.last_report: RoundReport | None = None
        self.last_error: SyncError | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- control

    def start(self) -> "SyncService":
        self._thread = threading.Thread(target=self._main, name="edge-node-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_now(self, wait: float = 0.0) -> bool:
        """Trigger a round; True when one finished within ``wait`` seconds."""
        with self._done:
            target = self.rounds + 1
        self._wake.set()
        deadline = time.monotonic() + wait
        with self._done:
            while self.rounds < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
        return True

    def next_delay(self) -> float:
        """Seconds until the next round: the interval, or capped exponential back-off
        with jitter (50-100 %) after failures."""
        if self.failures == 0:
            return self.interval
        raw = min(self.backoff_cap, self.backoff_base * 2 ** (self.failures - 1))
        if self.last_error is not None and not self.last_error.network:
            raw = max(raw, min(self.backoff_cap, 60.0))   # refusals: no hammering
        return max(1.0, raw * (0.5 + 0.5 * self.rng()))

    # -- the thread

    def _main(self) -> None:
        try:
            node = open_node(self.config)
        except Exception:
            log.exception("sync service cannot open the node")
            return
        http = self.http_factory() if self.http_factory is not None else None
        client = SyncClient(node, http, **self.client_options)
        scheduler = schedule.Scheduler()
        try:
            recover_key_rotation(node)
            self._round(client)
            while not self._stop.is_set():
                if not scheduler.jobs:   # each job is one round; the next gets a new delay
                    scheduler.every(self.next_delay()).seconds.do(self._scheduled, client)
                idle = scheduler.idle_seconds or 0.0
                if self._wake.wait(timeout=min(max(idle, 0.05), 1.0)):
                    self._wake.clear()
                    if self._stop.is_set():
                        break
                    scheduler.clear()
                    self._round(client)
                else:
                    scheduler.run_pending()
        finally:
            scheduler.clear()
            try:
                client.close()
                if http is not None:
                    http.close()
            finally:
                node.close()

    def _scheduled(self, client: SyncClient):
        self._round(client)
        return schedule.CancelJob

    def _round(self, client: SyncClient) -> None:
        """One round: call sync_once; log and count failures (they lengthen the delay)."""
        try:
            self.last_report = client.sync_once()
            self.failures = 0
            self.last_error = None
        except SyncError as exc:
            self.failures += 1
            self.last_error = exc
            log.warning("sync round stopped: %s (%s); next attempt in about %.0f s "
                        "(failure %d)", exc, exc.code, self.next_delay(), self.failures)
        except Exception:     # a bug must not kill the thread: log it and back off
            log.exception("sync round failed")
            self.failures += 1
            self.last_error = None
        finally:
            with self._done:
                self.rounds += 1
                self._done.notify_all()
