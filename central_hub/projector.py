"""Projectors: read the hub's log behind the ack path and build its views.

A projector has a name, a cursor (the append index of the last event it has handled, kept
in the store) and handlers. :func:`run_projector` hands each batch of events after the
cursor to every handler and advances the cursor in the same transaction, so a crash
never loses or doubles an event. :func:`rebuild_projector` resets the projection and its
cursor and replays the whole log through the same code.

This issue's projectors (see :func:`standard_projectors`):

* ``node_stats``: events per node and day (the node's own date of the event, Asia/Shanghai);
* ``content``: canonical form, envelope schema, body schema (:mod:`protocol.events`) and
  legal transitions (:mod:`protocol.lifecycle`, over the hub's case projection). An odd
  event is flagged and raises a ``content_invalid`` alert; it is never refused.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

from protocol import lifecycle
from protocol.calendar import SHANGHAI
from protocol.canonical import parse_canonical
from protocol.envelope import check_envelope, parse_ts
from protocol.errors import ProtocolError

from . import alerts
from .records import StoredEvent
from .store import HubStore

try:  # event types arrive with the node engine's issue; checked when present
    from protocol import events as event_types
except ImportError:  # pragma: no cover
    event_types = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

Handler = Callable[[HubStore, Sequence[StoredEvent]], None]
Reset = Callable[[HubStore], None]


@dataclass(frozen=True)
class Projector:
    name: str
    handlers: tuple[Handler, ...]
    reset: Reset


def run_projector(store: HubStore, name: str, handlers: Sequence[Handler], batch: int = 1000,
                  time_budget: float | None = None) -> int:
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
        if time_budget is not None and time.monotonic() - started > time_budget:
            return handled


def rebuild_projector(store: HubStore, projector: Projector, batch: int = 1000) -> int:
    """Drop the projection and replay the whole log through it."""
    with store.transaction():
        projector.reset(store)
        store.set_cursor(projector.name, 0)
    return run_projector(store, projector.name, projector.handlers, batch)


# --------------------------------------------------------------------------- node stats


def _event_day(event: StoredEvent) -> str:
    for text in (event.ts, event.received_at):
        try:
            return parse_ts(text).astimezone(SHANGHAI).date().isoformat()  # type: ignore[arg-type]
        except (ProtocolError, TypeError):
            continue
    return "unknown"


def count_node_days(store: HubStore, events: Sequence[StoredEvent]) -> None:
    counts = Counter((e.node, _event_day(e)) for e in events)
    store.add_day_counts((node, day, n) for (node, day), n in counts.items())


# --------------------------------------------------------------------------- content


def _check_content(env_bytes: bytes, state_of: Callable[[str], dict | None]) -> tuple[dict | None, str | None]:
    """(envelope or None, problem or None) for one event."""
    try:
        env = parse_canonical(env_bytes)
        check_envelope(env)
    except ProtocolError as exc:
        return None, f"{exc.code}: {exc.message}"
    if event_types is not None:
        try:
            event_types.validate_body(env["type"], env["body"], env["case"])
        except ProtocolError as exc:
            return env, f"{exc.code}: {exc.message}"
    action = lifecycle.EVENT_ACTIONS.get(env["type"])
    if action is not None and env["case"] is not None:
        try:
            lifecycle.check_transition(state_of(env["case"]), action, env["body"].get("actor"),
                                       env["body"])
        except ProtocolError as exc:
            return env, f"{exc.code}: {exc.message}"
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            return env, f"transition_not_checkable: {type(exc).__name__}"
    return env, None


def check_event_content(store: HubStore, events: Sequence[StoredEvent]) -> None:
    cases = store.case_states(e.case_no for e in events if e.case_no)
    touched: dict[str, tuple[str, int]] = {}
    flags = []
    for event in events:
        env, problem = _check_content(event.canonical, cases.get)
        if env is not None and env.get("case"):
            try:
                state = lifecycle.apply(cases.get(env["case"]), env)
            except (KeyError, TypeError, ValueError, IndexError, ProtocolError):
                state = None   # a body the schema check has already flagged
            if state is not None:
                cases[env["case"]] = state
                touched[env["case"]] = (event.node, event.position)
        flags.append((event.position, problem is None, problem))
        if problem is not None:
            alerts.raise_sync_alert(
                store, alerts.CONTENT_INVALID, node=event.node, raised_at=event.received_at,
                seq=event.seq, case_no=event.case_no, level="yellow",
                content=f"节点 {event.node} 的事件 {event.seq} 内容不合规：{problem[:300]}",
                details={"problem": problem[:1000], "type": event.type}, dedupe="event")
    store.set_content_flags(flags)
    store.put_case_states((case, node, cases[case], position)
                          for case, (node, position) in touched.items())


def _reset_stats(store: HubStore) -> None:
    store.reset_day_counts()


def _reset_content(store: HubStore) -> None:
    store.reset_content_flags()
    store.reset_case_states()


def standard_projectors() -> tuple[Projector, ...]:
    return (Projector("node_stats", (count_node_days,), _reset_stats),
            Projector("content", (check_event_content,), _reset_content))


def run_all(store: HubStore, batch: int = 1000, time_budget: float | None = None) -> int:
    return sum(run_projector(store, p.name, p.handlers, batch, time_budget)
               for p in standard_projectors())
