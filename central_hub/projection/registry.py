"""The hub's projectors (:func:`standard_projectors`): read the log behind the ack path and
build its views. The machinery (:class:`~.base.Projector`, :func:`~.base.run_projector`,
:func:`~.base.rebuild_projector`) is in :mod:`.base`, which the domains' projections import.

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
from collections import Counter
from typing import Callable, Sequence

from protocol import lifecycle
from protocol.calendar import SHANGHAI
from protocol.canonical import parse_canonical
from protocol.envelope import check_envelope, parse_ts
from protocol.errors import ProtocolError
from web.templating import mask_name

from ..calendar.service import CalendarCache
from ..dashboard.facts import make_face_handler, reset_face
from ..disclosure.projection import disclosure_projector
from ..forwarding.service import routing_projector
from ..store import HubStore
from ..store.records import StoredEvent
from ..supervision import alerts
from ..supervision.service import supervision_projector
from .base import Handler, Progress, Projector, rebuild_projector, run_projector

try:  # event types arrive with the node engine's issue; checked when present
    from protocol import events as event_types
except ImportError:  # pragma: no cover
    event_types = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)


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


def _case_row(state: dict, node: str, calendar) -> dict:
    """The flat row of the ``cases`` table for one case's lifecycle state."""
    deadline = None
    if state.get("accepted_date"):
        try:
            deadline = lifecycle.case_deadline(state, calendar)
        except (ProtocolError, KeyError, TypeError, ValueError):
            deadline = None
    fee = state.get("fee") or {}
    item = state.get("item") or {}
    applicant = state.get("applicant") or {}
    return {
        "case_no": state["case"], "node": node, "item_code": item.get("code"),
        "item_name": item.get("name"), "item_type": item.get("type_code"),
        "state": state["state"], "channel": state.get("channel"),
        "applicant_masked": mask_name(applicant.get("name")),
        "catalogue_version": state.get("catalogue_version"),
        "received_at": state.get("received_at"), "accepted_at": state.get("accepted_at"),
        "accepted_date": state.get("accepted_date"), "decision": state.get("decision"),
        "completed_at": state.get("completed_at"), "delivered_at": state.get("delivered_at"),
        "closed_at": state.get("closed_at"),
        "limit_half_days": None if deadline is None else deadline.limit_half_days,
        "due_date": None if deadline is None or deadline.due is None
        else deadline.due.isoformat(),
        "due_confirmed": None if deadline is None else int(deadline.confirmed),
        "calendar_version": None if deadline is None else deadline.calendar_version,
        "paused": int(deadline is not None and deadline.due is None),
        "extensions": state.get("extensions", 0),
        "fee_standard_fen": state.get("fee_standard_fen") or 0,
        "fee_status": fee.get("status", "none"), "fee_charged_fen": fee.get("charged_fen", 0),
        "fee_refunded_fen": fee.get("refunded_fen", 0), "events": state.get("events", 0),
        "last_seq": state.get("last_seq", 0), "updated_at": state.get("updated_at"),
    }


_FEE_KINDS = {"fee.charged": "charged", "fee.waived": "waived", "fee.refunded": "refunded"}


def _fee_row(event: StoredEvent, env: dict) -> tuple | None:
    body = env.get("body")
    if not isinstance(body, dict):
        return None

    def who(value: object) -> str | None:
        return value.get("id") if isinstance(value, dict) and isinstance(value.get("id"), str) \
            else None

    amount, standard = body.get("amount_fen"), body.get("standard_fen")
    return (event.node, event.seq, env["case"], _FEE_KINDS[env["type"]],
            amount if type(amount) is int else None,
            standard if type(standard) is int else None,
            who(body.get("actor")), who(body.get("approver")), env.get("ts"))


def make_content_handler(calendars: CalendarCache) -> Handler:
    """The ``content`` projector's handler: checks each event's content (flagging, never
    refusing) and folds case events with :mod:`protocol.lifecycle` into ``hub_cases``
    (the lifecycle state) and the flat ``cases``, ``case_steps`` and ``case_fees``."""

    def check_event_content(store: HubStore, events: Sequence[StoredEvent]) -> None:
        cases = store.case_states(e.case_no for e in events if e.case_no)
        touched: dict[str, tuple[str, int]] = {}
        flags = []
        fees = []
        for event in events:
            env, problem = _check_content(event.canonical, cases.get)
            if env is not None and env.get("case"):
                try:
                    state = lifecycle.apply(cases.get(env["case"]), env)
                except (KeyError, TypeError, ValueError, IndexError, AttributeError,
                        ProtocolError):
                    state = None   # a body the schema check has already flagged
                if state is not None:
                    cases[env["case"]] = state
                    touched[env["case"]] = (event.node, event.position)
                if env.get("type") in _FEE_KINDS:
                    row = _fee_row(event, env)
                    if row is not None:
                        fees.append(row)
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
        if touched or fees:
            calendar = calendars.get(store)
            rows, steps = [], {}
            for case, (node, _) in touched.items():
                state = cases[case]
                try:
                    rows.append(_case_row(state, node, calendar))
                except (KeyError, TypeError, AttributeError):
                    continue
                steps[case] = [(s.get("step"), s.get("role"), s.get("by"), s.get("outcome"),
                                s.get("at")) for s in state.get("steps", [])
                               if isinstance(s, dict)]
            store.put_cases(rows, steps, fees)

    return check_event_content


def _reset_stats(store: HubStore) -> None:
    store.reset_day_counts()


def _reset_content(store: HubStore) -> None:
    store.reset_content_flags()
    store.reset_case_states()
    store.reset_cases()


def standard_projectors(calendars: CalendarCache | None = None) -> tuple[Projector, ...]:
    """The hub's projectors; ``calendars`` caches the parsed calendar across batches."""
    calendars = calendars or CalendarCache()
    handler = make_content_handler(calendars)

    def reset_content(store: HubStore) -> None:
        _reset_content(store)
        reset_face(store)
    # the dashboard facts (issue #8) follow the case rows in the same transaction
    return (Projector("node_stats", (count_node_days,), _reset_stats),
            Projector("content", (handler, make_face_handler(calendars)), reset_content),
            disclosure_projector(calendars),
            routing_projector(),        # cross-level inboxes (docs/cross-level.md)
            supervision_projector())    # docs/supervision.md


def rebuild_all(store: HubStore, batch: int = 1000, progress: Progress | None = None) -> int:
    """Drop every projection and replay the whole log (``central-hub rebuild``)."""
    calendars = CalendarCache()
    handled = 0
    for projector in standard_projectors(calendars):
        handled = max(handled, rebuild_projector(store, projector, batch, progress))
    return handled


def run_all(store: HubStore, batch: int = 1000, time_budget: float | None = None) -> int:
    return sum(run_projector(store, p.name, p.handlers, batch, time_budget)
               for p in standard_projectors())
