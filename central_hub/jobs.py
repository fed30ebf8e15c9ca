"""Background work of the serve process: projector, verifier, supervision tick, nonce pruning.

Each job is a plain function tests call directly (:func:`run_background_once`). In the
serve process :class:`BackgroundJobs` runs a ``schedule.Scheduler`` instance (never the
module-level default) in a thread of its own with a store connection of its own, so a
projector run never holds up a request on the event loop (WAL: readers never wait; the
two connections take turns only to write, one projector batch at a time). Each run has a
time budget so one job does not starve the others; a job's error is logged and the job
retried on its next tick.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

import schedule

from .context import HubContext
from .projection.registry import run_all
from .store import open_store
from .supervision.service import tick
from .sync.auth import prune_nonces
from .sync.verifier import verify_pending

logger = logging.getLogger(__name__)


def _safe(name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception:
            logger.exception("background job %s failed; retrying on its next tick", name)
    return run


def build_scheduler(hub: HubContext) -> schedule.Scheduler:
    config = hub.config
    scheduler = schedule.Scheduler()
    budget = config.job_time_budget_seconds
    scheduler.every(config.projector_interval_seconds).seconds.do(
        _safe("projector", lambda: run_all(hub.store, time_budget=budget)))
    scheduler.every(config.verifier_interval_seconds).seconds.do(
        _safe("verifier", lambda: verify_pending(hub.store, config, time_budget=budget)))
    scheduler.every(10).minutes.do(_safe("nonce pruning", lambda: prune_nonces(hub.store, config)))
    scheduler.every(10).seconds.do(
        _safe("supervision tick", lambda: supervision_tick(hub, time_budget=budget)))
    return scheduler


def supervision_tick(hub: HubContext, time_budget: float | None = None):
    """Time-based supervision rules, silent nodes, escalation (docs/supervision.md)."""
    return tick(hub.store, hub.config.now(), time_budget=time_budget)


def run_background_once(hub: HubContext) -> None:
    """Everything the scheduler does, to completion (tests, ``central-hub`` commands)."""
    run_all(hub.store)
    verify_pending(hub.store, hub.config)
    prune_nonces(hub.store, hub.config)
    supervision_tick(hub)


class BackgroundJobs:
    """The serve process's jobs in their own thread, on their own store connection."""

    def __init__(self, hub: HubContext, tick: float = 0.25) -> None:
        self.hub, self.tick = hub, tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = self.hub.config
        store = open_store(config.db_path, config.now_ts())
        jobs_hub = HubContext(config=config, store=store, _identity=self.hub.identity)
        scheduler = build_scheduler(jobs_hub)

        def run() -> None:
            try:
                while not self._stop.is_set():
                    scheduler.run_pending()
                    self._stop.wait(self.tick)
            finally:
                store.close()

        self._thread = threading.Thread(target=run, name="hub-background-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for the job in hand to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
