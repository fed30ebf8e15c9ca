"""Cross-level handling (issue #11): forwarding, inboxes and origin references. Pure.

Every handling point is a node; the hub routes but never writes in a node's log. A case
moves by events (docs/cross-level.md has the whole story):

1. the sending node appends ``case.forwarded`` naming the receiver (``to``) and the steps
   it asks for (the run of county-level steps that follows in the item's flow);
2. the hub places the case in the receiver's *inbox*, a hub-signed configuration document
   of kind ``inbox`` per node (:data:`INBOX_FORMAT`), with the origin's events of the case
   and the key that signed each (vouched for by the hub's signature on the document);
3. the receiver verifies those events (:func:`open_foreign_events`) and appends
   ``case.taken`` naming the origin event by an :func:`origin_ref` — node, seq and link
   hash (SPEC section 3.2) — with a snapshot of the case to continue from;
4. the decision comes back the same way: ``case.result_returned`` on the receiver, an
   inbox entry of kind ``result`` for the origin, ``case.result_received`` there.

On-line applications are inbox entries too (kind ``application``); a node takes one with
``application.taken`` (and a ``case.received`` of channel ``online``). Takes happen
off-line, so two nodes may take one application: the hub keeps both events; the first to
arrive (lowest hub append position) wins; the other node gets an entry of kind
``conflict`` and records ``application.handed_back``.

Nothing here does I/O. The apps call these functions with events and catalogue items.
"""

from __future__ import annotations

import hashlib
from datetime import date
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .calendar import Calendar, working_days_between
from .canonical import canonical_bytes
from .envelope import SignedEvent, open_event, parse_ts
from .errors import ProtocolError
from .keys import PublicKey

__all__ = [
    "ENTRY_KINDS", "INBOX_FORMAT", "RoutingError", "application_digest", "county_run",
    "empty_inbox", "find_ref", "held_periods", "judge_sides", "open_foreign_events", "origin_ref",
    "return_index", "side_shares", "side_working_days", "snapshot_of", "step_levels",
    "validate_inbox",
]

INBOX_FORMAT = "inbox/1"
ENTRY_KINDS = ("forwarded", "result", "application", "conflict")
ENTRY_LABELS = {"forwarded": "上报转办件", "result": "办理结果回传", "application": "网上申请",
                "conflict": "重复接收（须交回）"}
MAX_ENTRIES = 500
SIDES = ("township", "county")


class RoutingError(ProtocolError):
    """An inbox document, a foreign event or a reference that does not hold together."""

    code = "routing_invalid"


# --------------------------------------------------------------------------- references


def origin_ref(event: SignedEvent) -> dict:
    """``{"node", "seq", "hash"}``: the reference another node's event carries to ``event``.
    ``hash`` is the event's link hash (SHA-256 of canonical bytes || signature), so a
    reference commits to the signature too."""
    return {"node": event.node, "seq": event.seq, "hash": event.link_hex}


def event_wire(event: SignedEvent, key_hex: str) -> dict:
    """One foreign event as an inbox carries it: bytes, signature and the signing key."""
    return {"canonical": event.canonical.decode("utf-8"), "signature": event.signature.hex(),
            "key": key_hex}


def open_foreign_events(wires: Sequence[Mapping], *, node: str, case: str) -> list[SignedEvent]:
    """Verify each event of ``wires`` with the key named beside it (SPEC 4.4) and check it
    belongs to ``node`` and ``case``, in ascending seq. The keys are trusted because the
    hub signed the inbox document that carries them."""
    out: list[SignedEvent] = []
    for i, wire in enumerate(wires):
        try:
            key = PublicKey.from_hex(wire["key"])
            event = open_event(wire["canonical"].encode("utf-8"),
                               bytes.fromhex(wire["signature"]), key)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RoutingError(f"events[{i}]: not a signed event ({type(exc).__name__})",
                               field=f"events[{i}]") from None
        if event.node != node or event.case != case:
            raise RoutingError(f"events[{i}]: event of {event.node}/{event.case}, expected "
                               f"{node}/{case}", field=f"events[{i}]")
        if out and event.seq <= out[-1].seq:
            raise RoutingError(f"events[{i}]: seq {event.seq} is not ascending",
                               field=f"events[{i}]")
        out.append(event)
    return out


def find_ref(events: Iterable[SignedEvent], ref: Mapping) -> SignedEvent:
    """The event ``ref`` names, its link hash checked; RoutingError if absent or different."""
    for event in events:
        if event.node == ref.get("node") and event.seq == ref.get("seq"):
            if event.link_hex != ref.get("hash"):
                raise RoutingError(f"{ref['node']}#{ref['seq']}: hash does not match",
                                   field="origin.hash")
            return event
    raise RoutingError(f"{ref.get('node')}#{ref.get('seq')}: not among the events",
                       field="origin")


def application_digest(application: Mapping) -> str:
    """SHA-256 (hex) of an on-line application's canonical bytes: what a take names."""
    return hashlib.sha256(canonical_bytes(dict(application))).hexdigest()


# --------------------------------------------------------------------------- flow levels


def step_levels(item: Mapping) -> dict[str, str]:
    """``{step id: "township" | "county"}`` from a catalogue item's flow."""
    return {s["id"]: s.get("level", "township") for s in item["flow"]}


def county_run(item: Mapping, flow: Sequence[Mapping], start: int) -> list[str]:
    """The ids of the contiguous county-level steps from ``flow[start]`` on (empty if the
    step at ``start`` is done at the township)."""
    levels = step_levels(item)
    out = []
    for step in flow[start:]:
        if levels.get(step["id"]) != "county":
            break
        out.append(step["id"])
    return out


def return_index(flow: Sequence[Mapping], steps: Sequence[str]) -> int:
    """The flow index the origin continues at once the forwarded ``steps`` are done."""
    ids = [s["id"] for s in flow]
    return max(ids.index(s) for s in steps) + 1 if steps else 0


def snapshot_of(state: Mapping) -> dict:
    """What a receiving node's ``case.taken`` carries to continue the case without the
    origin's log (its projection then equals the fold of its own log)."""
    keys = ("item", "catalogue_version", "channel", "applicant", "materials",
            "fee_standard_fen", "committed_half_days", "statutory_half_days", "flow",
            "separate_accept_approve", "query_code", "accepted_date", "deadline", "next_step",
            "extension_days")
    snap = {k: state.get(k) for k in keys}
    snap["received_at"] = state["received_at"]
    snap["extension_days"] = snap["extension_days"] or 0
    return snap


# --------------------------------------------------------------------------- inbox


def empty_inbox(node: str) -> dict:
    return {"format": INBOX_FORMAT, "node": node, "entries": [], "directory": {}}


def validate_inbox(content: Any, node: str) -> dict:
    """Check the shape of an inbox document's content for ``node``; return it.

    ``{"format": "inbox/1", "node", "entries": [...], "directory": {item prefix: node}}``;
    each entry has ``id``, ``kind`` (:data:`ENTRY_KINDS`), ``placed_at`` and the kind's own
    members (docs/cross-level.md)."""
    if not isinstance(content, dict) or content.get("format") != INBOX_FORMAT:
        raise RoutingError("inbox: format must be inbox/1", field="format")
    if content.get("node") != node:
        raise RoutingError(f"inbox: for node {content.get('node')!r}, not {node}",
                           field="node")
    entries = content.get("entries")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise RoutingError("inbox: entries must be a list of at most 500", field="entries")
    need = {"forwarded": ("case", "origin", "events", "steps"),
            "result": ("case", "origin", "events"),
            "application": ("application", "digest"),
            "conflict": ("application", "case", "winner")}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("kind") not in ENTRY_KINDS \
                or not isinstance(entry.get("id"), str):
            raise RoutingError(f"entries[{i}]: id and kind required", field=f"entries[{i}]")
        for key in need[entry["kind"]] + ("placed_at",):
            if key not in entry:
                raise RoutingError(f"entries[{i}].{key} is required",
                                   field=f"entries[{i}].{key}")
    if not isinstance(content.get("directory", {}), dict):
        raise RoutingError("inbox: directory must be an object", field="directory")
    return content


# --------------------------------------------------------------------------- time per side


def held_periods(events: Iterable[Mapping]) -> dict[str, list[tuple[str, str | None]]]:
    """Who held the case when, from its events (envelopes of every node, in causal order).

    ``township``: from receipt to forwarding, and from taking the result back to the end;
    ``county``: from ``case.taken`` to ``case.result_returned``; ``transit``: forwarded but
    not yet taken, or returned but not yet received (time on the wire or in an inbox,
    counted against neither side). Open periods end in None."""
    out: dict[str, list[list]] = {"township": [], "county": [], "transit": []}
    current: str | None = None

    def switch(side: str | None, ts: str) -> None:
        nonlocal current
        if current is not None:
            out[current][-1][1] = ts
        if side is not None:
            out[side].append([ts, None])
        current = side

    for env in events:
        type_, ts = env.get("type"), env.get("ts")
        if type_ == "case.received" and current is None:
            switch("township", ts)
        elif type_ == "case.forwarded":
            switch("transit", ts)
        elif type_ == "case.taken":
            switch("county", ts)
        elif type_ == "case.result_returned":
            switch("transit", ts)
        elif type_ == "case.result_received":
            switch("township", ts)
        elif type_ in ("case.completed", "case.refused", "case.withdrawn", "case.voided") \
                and current == "township":
            switch(None, ts)
    return {k: [(a, b) for a, b in v] for k, v in out.items()}


def side_working_days(periods: Sequence[tuple[str, str | None]], calendar: Calendar,
                      today: date) -> int:
    """Working days a side held the case (a period's start day not counted, art. 82)."""
    total = 0
    for start, end in periods:
        a = parse_ts(start).date()
        b = parse_ts(end).date() if end else today
        total += max(0, working_days_between(calendar, a, b))
    return total


def side_shares(item: Mapping) -> dict[str, int]:
    """Per side, the share (percent) of the time limit its steps carry in the catalogue.
    Supervision judges each side on its own share: ``held working days`` against
    ``limit × share / 100`` (rounded up)."""
    shares = {side: 0 for side in SIDES}
    for step in item["flow"]:
        shares[step.get("level", "township")] += int(step.get("share_pct", 0))
    return shares


def judge_sides(events: Iterable[Mapping], item: Mapping, calendar: Calendar, today: date,
                limit_half_days: int) -> list[dict]:
    """Each side judged on its own share of the limit: ``[{"side", "held_days",
    "allowed_days", "over"}]`` for the sides that held the case. ``allowed_days`` is
    ``limit × share / 100`` working days, a part day rounded up (never flags early, like
    T-05); time in transit counts against neither side."""
    periods = held_periods(events)
    shares = side_shares(item)
    out = []
    for side in SIDES:
        if not periods[side]:
            continue
        held = side_working_days(periods[side], calendar, today)
        allowed = -(-limit_half_days * shares[side] // 200)   # half days → days, ceiling
        out.append({"side": side, "held_days": held, "allowed_days": allowed,
                    "over": held > allowed})
    return out
