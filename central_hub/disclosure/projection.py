"""The ``disclosure`` projector: documents folded from synced ``disclosure.*`` events.

Each event is folded with :func:`protocol.disclosure.apply_document_event` (the node's
own fold) into ``disclosure_docs``; published documents get a search row
(:func:`protocol.disclosure.fts_document_terms`). The hub recomputes the due date and
lateness with its own calendar (the node's figures are informative) and raises D-01
(late) and D-06 (no passing confidentiality review) alerts. An odd event is skipped here
(the ``content`` projector flags it); nothing is refused.

A document's hub id is the node's id when it starts with the node's code (as every node
writes it), else ``NODE.ID``, so one node cannot overwrite another's documents.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Sequence

from protocol.calendar import working_days_between
from protocol.disclosure import apply_document_event, fts_document_terms, proactive_due
from protocol.supervision.disclosure_rules import evaluate_document

from ..calendar.service import CalendarCache
from ..projection.base import Projector
from ..store import disclosure as sql
from ..store.records import StoredEvent
from .requests import receive_from_node
from .supervision import raise_finding

logger = logging.getLogger(__name__)
NAME = "disclosure"


def hub_doc_id(node: str, doc: str) -> str:
    return doc if doc.startswith(f"{node}-") else f"{node}.{doc}"


def _row(doc_id: str, node: str, state: dict, position: int, calendar) -> dict:
    published = state.get("published") or {}
    meta = published.get("meta") or (state.get("draft") or {}).get("meta") or {}
    due_on = days_late = None
    try:
        if published and meta.get("made_on") and published.get("published_on"):
            due = proactive_due(calendar, date.fromisoformat(meta["made_on"]))
            on = date.fromisoformat(published["published_on"])
            due_on, days_late = due.isoformat(), max(0, working_days_between(calendar, due, on))
    except (ValueError, TypeError):
        due_on = days_late = None
    withdrawn = state.get("withdrawn") or {}
    text = lambda key: meta.get(key) if isinstance(meta.get(key), str) else None  # noqa: E731
    return {
        "doc_id": doc_id, "node": node, "state": state.get("state"),
        "body_code": text("body_code"), "body_name": text("body_name"),
        "title": text("title"), "made_on": text("made_on"),
        "published_on": published.get("published_on"),
        "first_published_on": published.get("first_published_on"),
        "due_on": due_on, "days_late": days_late, "index_no": published.get("index_no"),
        "doc_no": text("doc_no"), "topic": text("topic"), "genre": text("genre"),
        "grouping": text("grouping"), "entry": text("entry") or None,
        "office": text("office"), "person": text("person"),
        "repealed_on": state.get("repealed_on"), "withdrawn_on": withdrawn.get("on"),
        "data": state, "position": position,
    }


def make_disclosure_handler(calendars: CalendarCache):
    def project_disclosures(store, events: Sequence[StoredEvent]) -> None:
        wanted = [e for e in events if (e.type or "").startswith("disclosure.")]
        if not wanted:
            return
        for event in wanted:
            if event.type == "disclosure.request_received":   # a township window's
                try:
                    env = json.loads(event.canonical)
                except ValueError:
                    continue
                receive_from_node(store, calendars.get(store), node=event.node, env=env)
        parsed = []
        for event in wanted:
            try:
                env = json.loads(event.canonical)
                doc = env["body"]["doc"]
                if not isinstance(doc, str) or not doc:
                    continue
            except (ValueError, KeyError, TypeError):
                continue
            parsed.append((event, env, hub_doc_id(event.node, doc)))
        states = sql.document_states(store, (d for _, _, d in parsed))
        touched: dict[str, tuple[StoredEvent, str]] = {}
        for event, env, doc_id in parsed:
            try:
                state = apply_document_event(states.get(doc_id), env)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            if state is None:
                continue
            states[doc_id] = state
            touched[doc_id] = (event, env["type"])
        calendar = calendars.get(store)
        for doc_id, (event, type_) in touched.items():
            state = states[doc_id]
            row = _row(doc_id, event.node, state, event.position, calendar)
            meta = (state.get("published") or {}).get("meta") or {}
            attachments = [a for a in meta.get("attachments") or []
                           if isinstance(a, dict) and isinstance(a.get("sha256"), str)]
            keywords = " ".join(k for k in meta.get("keywords") or [] if isinstance(k, str))
            fts = fts_document_terms(str(meta.get("title") or ""), str(meta.get("summary") or ""),
                                     keywords, str(meta.get("text") or ""),
                                     str(meta.get("doc_no") or ""))
            sql.put_document(store, row, attachments, fts)
            if type_ in ("disclosure.published", "disclosure.corrected"):
                try:
                    findings = evaluate_document({**state, "doc": doc_id}, calendar)
                except (KeyError, TypeError, ValueError):
                    findings = []
                for finding in findings:
                    raise_finding(store, finding, raised_at=event.received_at,
                                  body=row["body_code"], unit=row["office"] or row["body_name"],
                                  person=row["person"], node=event.node, seq=event.seq)

    return project_disclosures


def reset_disclosures(store) -> None:
    sql.reset_documents(store)


def disclosure_projector(calendars: CalendarCache | None = None) -> Projector:
    """The projector to add to :func:`central_hub.projection.registry.standard_projectors`."""
    return Projector(NAME, (make_disclosure_handler(calendars or CalendarCache()),),
                     reset_disclosures)
