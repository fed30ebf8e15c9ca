"""The projector machinery every projection uses: a :class:`Projector` (a name, a cursor
in the store, handlers and a reset), :func:`run_projector` and :func:`rebuild_projector`.

The domains that own a projection (:mod:`central_hub.disclosure.projection`,
:mod:`central_hub.forwarding.service`, :mod:`central_hub.supervision.service`) import
this module; :mod:`.registry` imports them and lists the hub's projectors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from ..store import HubStore
from ..store.records import StoredEvent

Handler = Callable[[HubStore, Sequence[StoredEvent]], None]
Reset = Callable[[HubStore], None]


@dataclass(frozen=True)
class Projector:
    name: str
    handlers: tuple[Handler, ...]
    reset: Reset


Progress = Callable[[str, int], None]
"""Called after each batch with the projector's name and its cursor (the append index)."""


def run_projector(store: HubStore, name: str, handlers: Sequence[Handler], batch: int = 1000,
                  time_budget: float | None = None, progress: Progress | None = None) -> int:
    """Project the events after the cursor of ``name``; return how many were handled."""
    handled = 0
    started = time.monotonic()
    while True:
        events = store.events_after(store.cursor(name), batch)
        if not events:
            return handled
        with store.transaction():
            for handler in handlers:
                handler(store, events)
            store.set_cursor(name, events[-1].position)
        handled += len(events)
        if progress is not None:
            progress(name, events[-1].position)
        if time_budget is not None and time.monotonic() - started > time_budget:
            return handled


def rebuild_projector(store: HubStore, projector: Projector, batch: int = 1000,
                      progress: Progress | None = None) -> int:
    """Drop the projection and replay the whole log through it."""
    with store.transaction():
        projector.reset(store)
        store.set_cursor(projector.name, 0)
    return run_projector(store, projector.name, projector.handlers, batch, progress=progress)
