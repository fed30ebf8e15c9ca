"""The node's inbox and cross-level handling (issue #11; docs/cross-level.md).

The hub places cases forwarded to this node, results returned to it, on-line applications
for it, and double takes to hand back, in a hub-signed document of kind ``inbox`` that the
node pulls like configuration (``SyncClient.pull_inbox``, in the sync round). Applying it
(:func:`apply_inbox`) verifies every foreign event against the key the hub vouches for,
records the entries, and hands back at once any application another node took first.

Staff work the inbox off-line, like everything else:

* :func:`forward_case` — 上报/转办: the township forwards an accepted case whose next steps
  are county-level, with its opinion and the materials, naming the receiving node;
* :func:`take_forwarded` — the county node takes it (``case.taken``, naming the origin);
* :func:`return_result` — 结果回传: the county node returns the decision;
* :func:`receive_result` — the township takes the result back and goes on to deliver;
* :func:`take_application` — 网上申请 预审: take an on-line application and accept, refuse
  or ask for a supplement as at the window (a ``case.received`` of channel ``online``).

Every write is one transaction: the event, the projection and the entry's status.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Mapping

from protocol import lifecycle, routing
from protocol.envelope import format_ts, parse_ts
from protocol.errors import ProtocolError

from ..accounts import users
from ..errors import NotFound, TransitionError, ValidationError
from ..store import inbox as sql
from . import catalogue as node_catalogue
from . import handling as cases

log = logging.getLogger(__name__)

INBOX_PATH = "/sync/v1/inbox"
META_VERSION = "inbox.version"
META_DIRECTORY = "inbox.directory"
STATUS_LABELS = {"waiting": "待接收", "taken": "已接收", "done": "已处理", "gone": "已撤回",
                 "invalid": "校验未通过"}


def apply_inbox(node, content: Mapping, version: int) -> dict:
    """Apply a verified inbox document: record its entries, hand back double takes.
    Returns counts. An entry whose events do not verify is kept as ``invalid`` and
    logged; it never stops the others."""
    content = routing.validate_inbox(content, node.code)
    now = format_ts(node.now())
    counts = {"offered": 0, "invalid": 0, "handed_back": 0}
    with node.store.transaction():
        offered = set()
        for entry in content["entries"]:
            offered.add(entry["id"])
            try:
                _check_entry(entry)
            except (ProtocolError, KeyError, TypeError, ValueError) as exc:
                log.warning("inbox entry %s does not verify: %s", entry.get("id"), exc)
                sql.upsert_offered(node.store, entry, now, status="invalid",
                                   note=str(exc)[:300])
                counts["invalid"] += 1
                continue
            sql.upsert_offered(node.store, entry, now)
            counts["offered"] += 1
            if entry["kind"] == "conflict":
                if _hand_back(node, entry, now):
                    counts["handed_back"] += 1
        sql.mark_gone_except(node.store, offered, now)
        node.store.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?), (?, ?) ON CONFLICT(key) "
            "DO UPDATE SET value = excluded.value",
            (META_VERSION, str(version), META_DIRECTORY,
             _json(content.get("directory") or {})))
    return counts


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _check_entry(entry: Mapping) -> None:
    if entry["kind"] in ("forwarded", "result"):
        events = routing.open_foreign_events(entry["events"], node=entry["origin"]["node"],
                                             case=entry["case"])
        routing.find_ref(events, entry["origin"])


def _hand_back(node, entry: Mapping, now: str) -> bool:
    """Record ``application.handed_back`` on our duplicate case (once)."""
    mine = sql.entry(node.store, entry["id"])
    if mine is not None and mine["status"] == "done":
        return False
    case_no = entry["case"]
    state = node.store.case(case_no)
    if state is None or state["state"] == "handed_back":
        sql.set_status(node.store, entry["id"], "done", now)
        return False
    winner = entry["winner"]
    body = {"application": entry["application"], "winner": dict(winner),
            "reason": f"该网上申请已由节点 {winner['node']} 先行接收（其第 {winner['seq']} 号事件），"
                      "本节点的重复接收予以交回"}
    _write(node, state, "hand_back", case_no, body, node.now())
    sql.set_status(node.store, entry["id"], "done", now,
                   note=f"已交回：由 {winner['node']} 办理")
    return True


# --------------------------------------------------------------------------- helpers


def _write(node, state, action: str, case_no: str, body: dict, moment: datetime) -> dict:
    event = node.store.append_event(lifecycle.ACTION_EVENTS[action], case_no, body, at=moment)
    new = lifecycle.apply(state, event.env)
    node.store.save_case(new)
    return new


def _check(state, action: str, actor: Mapping, body: Mapping) -> None:
    try:
        lifecycle.check_transition(state, action, actor, body)
    except lifecycle.TransitionError as exc:
        raise TransitionError(str(exc), zh=exc.zh, action=exc.action) from None


def _actor(actor: Mapping) -> dict:
    return {"id": actor["id"], "role": actor["role"]}


def _waiting(node, entry_id: str, kind: str) -> dict:
    entry = sql.entry(node.store, entry_id)
    if entry is None or entry["kind"] != kind:
        raise NotFound(f"no inbox entry {entry_id}", zh="收件箱中没有该条目")
    if entry["status"] != "waiting":
        raise ValidationError("entry", "not_waiting",
                              f"该条目状态为“{STATUS_LABELS.get(entry['status'])}”，不能再接收")
    return entry


def directory(node) -> dict:
    return json.loads(node.store.meta(META_DIRECTORY, "{}") or "{}")


def receiver_for(node, item_code: str) -> str | None:
    """The node the hub's directory names for an item's county steps (by its department
    letters, ``MZ`` in ``MZ-QR-0001``)."""
    return directory(node).get(item_code.split("-")[0])


def age_days(entry: Mapping, now: datetime) -> float:
    try:
        return max(0.0, (now - parse_ts(entry["placed_at"])).total_seconds() / 86400)
    except (ProtocolError, ValueError, TypeError):
        return 0.0


def inbox_entries(node, statuses=("waiting",)) -> list[dict]:
    now = node.now()
    out = []
    for entry in sql.entries(node.store, statuses=statuses):
        entry["age_days"] = age_days(entry, now)
        entry["kind_label"] = routing.ENTRY_LABELS[entry["kind"]]
        entry["status_label"] = STATUS_LABELS.get(entry["status"], entry["status"])
        out.append(entry)
    return out


# --------------------------------------------------------------------------- forwarding


def forward_case(node, actor: Mapping, case_no: str, *, opinion: str,
                 to: str | None = None) -> dict:
    """上报/转办: forward an accepted case whose next steps are county-level."""
    actor = _actor(actor)
    users.require_role(node, actor, None)
    opinion = cases._reason(opinion, "opinion", "上报意见", 1000)
    moment = node.now()
    with node.store.transaction():
        state = cases._load(node, case_no)
        if state["state"] != "accepted":
            raise ValidationError("state", "not_accepted", "只有办理中的办件才能上报")
        item = node_catalogue.item(node, state["item"]["code"])
        steps = routing.county_run(item, state["flow"], state["next_step"])
        if not steps:
            raise ValidationError("step", "not_county",
                                  "下一环节在本级办理，不需要上报；请先办理本级环节")
        to = (to or receiver_for(node, item["code"]) or "").strip()
        if not to:
            raise ValidationError("to", "required", "请填写接收上报的县级节点编码")
        if to == node.code:
            raise ValidationError("to", "self", "不能上报给本节点")
        body = {"actor": actor, "to": to, "steps": steps, "opinion": opinion,
                "materials": [dict(m) for m in state["materials"]]}
        _check(state, "forward", actor, body)
        return _write(node, state, "forward", case_no, body, moment)


def take_forwarded(node, actor: Mapping, entry_id: str) -> dict:
    """Take a case forwarded to this node: ``case.taken`` naming the origin event."""
    actor = _actor(actor)
    users.require_role(node, actor, None)
    moment = node.now()
    with node.store.transaction():
        entry = _waiting(node, entry_id, "forwarded")
        data = entry["data"]
        events = routing.open_foreign_events(data["events"], node=data["origin"]["node"],
                                             case=data["case"])
        routing.find_ref(events, data["origin"])
        origin_state = lifecycle.project(e.env for e in events).get(data["case"])
        if origin_state is None or origin_state["state"] != "forwarded":
            raise ValidationError("entry", "not_forwarded", "该办件在来源节点不是“已上报”状态")
        if node.store.case(data["case"]) is not None:
            raise ValidationError("entry", "duplicate", f"本节点已有办件 {data['case']}")
        body = {"actor": actor, "origin": dict(data["origin"]),
                "snapshot": routing.snapshot_of(origin_state)}
        _check(None, "take", actor, body)
        state = _write(node, None, "take", data["case"], body, moment)
        sql.set_status(node.store, entry_id, "taken", format_ts(moment),
                       taken_case=data["case"])
        return state


def return_result(node, actor: Mapping, case_no: str, *, opinion: str | None = None) -> dict:
    """结果回传: return the decision of a case taken from another node."""
    actor = _actor(actor)
    users.require_role(node, actor, None)
    moment = node.now()
    with node.store.transaction():
        state = cases._load(node, case_no)
        origin = state.get("origin")
        if not origin:
            raise ValidationError("case", "not_taken", "该办件不是由其他节点上报的，无需回传")
        item = node_catalogue.item(node, state["item"]["code"])
        if routing.county_run(item, state["flow"], state["next_step"]):
            raise ValidationError("step", "county_steps_left", "本级环节尚未办完，不能回传结果")
        decision = None
        if state.get("decision"):
            decision = {"step": lifecycle.decision_step(state)["id"],
                        "outcome": state["decision"], "reason": state["decision_reason"]}
        body = {"actor": actor, "to": origin["node"], "origin": dict(origin),
                "decision": decision}
        if opinion and opinion.strip():
            body["opinion"] = cases._reason(opinion, "opinion", "回传说明", 1000)
        _check(state, "return_result", actor, body)
        return _write(node, state, "return_result", case_no, body, moment)


def receive_result(node, actor: Mapping, entry_id: str) -> dict:
    """Take a returned result back: the case goes on from the step after the county's."""
    actor = _actor(actor)
    users.require_role(node, actor, None)
    moment = node.now()
    with node.store.transaction():
        entry = _waiting(node, entry_id, "result")
        data = entry["data"]
        events = routing.open_foreign_events(data["events"], node=data["origin"]["node"],
                                             case=data["case"])
        returned = routing.find_ref(events, data["origin"])
        if returned.type != "case.result_returned" or returned.body.get("to") != node.code:
            raise ValidationError("entry", "not_for_us", "该回传结果不是发给本节点的")
        state = cases._load(node, data["case"])
        forwarded = [e for e in node.store.case_events(data["case"])
                     if e.type == "case.forwarded"]
        if not forwarded or returned.body["origin"]["seq"] != forwarded[-1].seq:
            raise ValidationError("entry", "stale", "该回传结果不是对本节点最近一次上报的答复")
        body = {"actor": actor, "origin": routing.origin_ref(returned),
                "decision": returned.body.get("decision"),
                "next_step": routing.return_index(state["flow"], forwarded[-1].body["steps"])}
        _check(state, "receive_result", actor, body)
        new = _write(node, state, "receive_result", data["case"], body, moment)
        sql.set_status(node.store, entry_id, "taken", format_ts(moment),
                       taken_case=data["case"])
        return new


# --------------------------------------------------------------------------- applications


def take_application(node, actor: Mapping, entry_id: str, *, outcome: str,
                     materials, reason: str | None = None, note: str | None = None,
                     applicant: Mapping | None = None) -> dict:
    """预审: take an on-line application and record the window outcome (accept, refuse,
    supplement) as a case of channel ``online``, with ``application.taken`` naming it."""
    actor = _actor(actor)
    moment = node.now()
    with node.store.transaction():
        entry = _waiting(node, entry_id, "application")
        data = entry["data"]
        state = cases.intake(node, actor, item_code=data["item"]["code"],
                             applicant=applicant or data["applicant"], materials=materials,
                             outcome=outcome, reason=reason, note=note, channel="online")
        body = {"actor": actor, "application": data["application"], "digest": data["digest"]}
        event = node.store.append_event("application.taken", state["case"], body, at=moment)
        state = lifecycle.apply(state, event.env)
        node.store.save_case(state)
        sql.set_status(node.store, entry_id, "taken", format_ts(moment),
                       taken_case=state["case"])
        return state
