"""Background work of the serve process: projector, verifier, nonce pruning.

Each job is a plain function tests call directly (:func:`run_background_once`). In the
serve process a ``schedule.Scheduler`` instance (never the module-level default) holds
the jobs and an asyncio task on the app's event loop calls ``run_pending()``, so jobs use
the app's one store connection on its own thread. Each run has a time budget so the
event loop stays responsive; a job's error is logged and the job retried on its next
tick.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import schedule

from .context import HubContext
from .node_auth import prune_nonces
from .projector import run_all
from .verifier import verify_pending

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
    from .supervision.service import tick
    return tick(hub.store, hub.config.now(), time_budget=time_budget)


def run_background_once(hub: HubContext) -> None:
    """Everything the scheduler does, to completion (tests, ``central-hub`` commands)."""
    run_all(hub.store)
    verify_pending(hub.store, hub.config)
    prune_nonces(hub.store, hub.config)
    supervision_tick(hub)


async def run_scheduler(scheduler: schedule.Scheduler, stop: asyncio.Event,
                        tick: float = 0.5) -> None:
    while not stop.is_set():
        scheduler.run_pending()
        try:
            await asyncio.wait_for(stop.wait(), timeout=tick)
        except TimeoutError:
            pass
