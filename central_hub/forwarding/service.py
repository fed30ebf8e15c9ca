"""Cross-level routing at the hub (issue #11; docs/cross-level.md).

The hub routes but never writes in a node's log. The ``routing`` projector reads the log
behind the ack path and keeps each node's inbox entries (SQL in store/routing.py):

* ``case.forwarded`` → an entry of kind ``forwarded`` in the receiver's inbox, carrying
  the origin's events of the case (and the key that signed each);
* ``case.taken`` → that entry closes;
* ``case.result_returned`` → an entry of kind ``result`` in the origin's inbox;
* ``case.result_received`` → that entry closes;
* ``application.taken`` → the first take to arrive wins (hub append order) and the
  application leaves every inbox; a later take by another node is stored like any event,
  raises a ``duplicate_take`` alert and puts an entry of kind ``conflict`` in that node's
  inbox; ``application.handed_back`` closes it.

A node fetches ``GET /sync/v1/inbox?have=N`` (signed like every node request; the route
is in :mod:`central_hub.sync.views`). The document (kind ``inbox``, hub-signed, versions growing per node) is signed when asked for
and only when its content changed, so the projector needs no key.
"""

from __future__ import annotations

import json
import logging
from typing import Sequence

from protocol import routing as rules
from protocol.canonical import parse_canonical
from protocol.config_docs import INBOX, sign_config
from protocol.envelope import decode_event
from protocol.errors import ProtocolError

from ..projection.base import Projector, run_projector
from ..store import routing as sql
from ..store.records import StoredEvent
from ..supervision import alerts

logger = logging.getLogger(__name__)

PROJECTOR = "routing"
DUPLICATE_TAKE = "duplicate_take"
ROUTED_TYPES = frozenset({"case.forwarded", "case.taken", "case.result_returned",
                          "case.result_received", "application.taken",
                          "application.handed_back"})


# --------------------------------------------------------------------------- projector


def _wires(store, node: str, case_no: str, upto: int) -> list[dict]:
    out = []
    for seq, canonical, signature in sql.case_events(store, node, case_no, upto):
        key = sql.key_at(store, node, seq)
        if key is None:
            continue
        out.append({"canonical": canonical.decode("utf-8"), "signature": signature.hex(),
                    "key": key})
    return out


def route_events(store, events: Sequence[StoredEvent]) -> None:
    """The ``routing`` projector's handler (runs in the projector's transaction)."""
    for event in events:
        if event.type not in ROUTED_TYPES or not event.case_no:
            continue
        try:
            env = parse_canonical(event.canonical)
            body = env["body"]
            _route_one(store, event, env, body)
        except (ProtocolError, KeyError, TypeError, ValueError) as exc:
            # content problems are the content projector's findings; routing skips them
            logger.info("routing skipped %s#%s: %s", event.node, event.seq, exc)


def _route_one(store, event: StoredEvent, env: dict, body: dict) -> None:
    at, me = event.received_at, event.node
    ref = {"node": me, "seq": event.seq, "hash": event.link}
    if event.type == "case.forwarded":
        sql.put_entry(store, {
            "id": f"fwd-{me}-{event.seq}", "kind": "forwarded", "case": event.case_no,
            "placed_at": at, "origin": ref, "from": me, "steps": body["steps"],
            "opinion": body["opinion"],
            "events": _wires(store, me, event.case_no, event.seq)}, body["to"])
    elif event.type == "case.result_returned":
        sql.put_entry(store, {
            "id": f"res-{me}-{event.seq}", "kind": "result", "case": event.case_no,
            "placed_at": at, "origin": ref, "from": me, "decision": body.get("decision"),
            "events": _wires(store, me, event.case_no, event.seq)}, body["to"])
    elif event.type in ("case.taken", "case.result_received"):
        origin = body["origin"]
        prefix = "fwd" if event.type == "case.taken" else "res"
        sql.close_entry(store, f"{prefix}-{origin['node']}-{origin['seq']}", at, me)
        if sql.event_link(store, origin["node"], origin["seq"]) != origin["hash"]:
            alerts.raise_sync_alert(
                store, "origin_mismatch", node=me,
                raised_at=at, seq=event.seq, case_no=event.case_no, level="yellow",
                content=f"节点 {me} 的事件 {event.seq} 引用的来源事件 {origin['node']}#"
                        f"{origin['seq']} 与县级平台所存不一致", dedupe="event")
    elif event.type == "application.taken":
        _record_take(store, event, body, at)
    elif event.type == "application.handed_back":
        sql.close_entries(store, kind="conflict", application=body["application"], at=at,
                          by=me, node=me)


def _record_take(store, event: StoredEvent, body: dict, at: str) -> None:
    tracking = body["application"]
    app = sql.application(store, tracking)
    if app is None:
        return   # not an application of this hub: the content projector's concern
    if app["taken_node"] is None:
        sql.set_winner(store, tracking, event.node, event.seq, event.link, event.position,
                       event.case_no)
        sql.add_take(store, event.position, tracking, event.node, event.seq, event.link,
                     event.case_no, "won")
        sql.close_entries(store, kind="application", application=tracking, at=at,
                          by=event.node)
        return
    if (app["taken_node"], app["case_no"]) == (event.node, event.case_no):
        return
    winner = {"node": app["taken_node"], "seq": app["taken_seq"], "hash": app["taken_link"]}
    sql.add_take(store, event.position, tracking, event.node, event.seq, event.link,
                 event.case_no, "lost")
    sql.put_entry(store, {
        "id": f"dup-{event.node}-{event.seq}", "kind": "conflict", "application": tracking,
        "case": event.case_no, "placed_at": at, "winner": winner,
        "loser": {"node": event.node, "seq": event.seq, "hash": event.link}}, event.node)
    alerts.raise_sync_alert(
        store, DUPLICATE_TAKE, node=event.node, raised_at=at, seq=event.seq,
        case_no=event.case_no, level="yellow", dedupe="event",
        content=f"网上申请 {tracking} 被两个节点接收：{app['taken_node']} 先到，"
                f"{event.node}（办件 {event.case_no}）须交回",
        details={"application": tracking, "winner": winner, "loser_case": event.case_no})


def routing_projector() -> Projector:
    return Projector(PROJECTOR, (route_events,), sql.reset_routing)


def run_routing(store, time_budget: float | None = 0.5) -> int:
    return run_projector(store, PROJECTOR, (route_events,), time_budget=time_budget)


# --------------------------------------------------------------------------- documents


def directory(store) -> dict[str, str]:
    """Item-code letters → the node of that county department (the first by code)."""
    out: dict[str, str] = {}
    for node, unit_code in sorted(store.node_org_units().items()):
        unit = store.org_unit(unit_code) if unit_code else None
        if unit is not None and unit.item_prefix and unit.kind == "department":
            out.setdefault(unit.item_prefix, node)
    return out


INBOX_BUDGET_BYTES = 3 * 1024 * 1024
"""Entries beyond this (or beyond MAX_ENTRIES) wait for a later version: a signed document
is at most 4 MiB (SPEC section 7)."""


def inbox_content(store, node: str) -> dict:
    """The node's open entries, oldest first, within the document's bounds."""
    content = rules.empty_inbox(node)
    content["directory"] = directory(store)
    used = len(json.dumps(content, ensure_ascii=False))
    for entry in sql.open_entries(store, node)[:rules.MAX_ENTRIES]:
        size = len(json.dumps(entry, ensure_ascii=False).encode("utf-8"))
        if used + size > INBOX_BUDGET_BYTES:
            break
        content["entries"].append(entry)
        used += size
    return content


def inbox_document(store, identity, config, node: str) -> tuple[int, bytes, bytes]:
    """The newest inbox document of ``node``, signing a new version if its content changed."""
    content = inbox_content(store, node)
    latest = sql.latest_inbox_doc(store, node)
    if latest is not None:
        old = json.loads(latest[1])["body"]["content"]
        if old == content:
            return latest
    version = (latest[0] if latest else 0) + 1
    now = config.now_ts()
    doc = sign_config(identity.signing_key, issuer=identity.name, issued_at=now, kind=INBOX,
                      version=version, content=content)
    sql.add_inbox_doc(store, node, version, doc.document.canonical, doc.document.signature,
                      now)
    return version, doc.document.canonical, doc.document.signature


def decode_stored(event: StoredEvent):
    return decode_event(event.canonical, event.signature)
