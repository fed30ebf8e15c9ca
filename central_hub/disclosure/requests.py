"""Requests for disclosure (依申请公开) at the hub: received on the portal or at a window.

A request is a row (``disclosure_requests``) whose state is the fold of its actions
(``disclosure_request_actions``, append-only) with :func:`protocol.disclosure.apply_request_action`;
every action is checked first with :func:`protocol.disclosure.check_request_action`.
Deadlines use the hub's calendar; findings (D-02..D-07) become alerts, on each action and
on :func:`supervise_open_requests` (a daily tick, or any staff page that lists requests).

Tracking numbers (``GK20260302-7KQ2M9XD``) carry 40 random bits, so one cannot guess
another applicant's number; the portal's status look-up is also rate limited.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any, Mapping

from protocol import disclosure as rules
from protocol.calendar import SHANGHAI, Calendar, shanghai_date
from protocol.envelope import parse_ts
from protocol.errors import ProtocolError
from protocol.supervision.disclosure_rules import evaluate_request
from web.templating import mask_name

from ..store import disclosure as sql
from .supervision import raise_finding

logger = logging.getLogger(__name__)

new_request_no = rules.new_request_no
normalise_request_no = rules.normalise_request_no
validate_application = rules.validate_request_application
DELIVERY = rules.REQUEST_DELIVERY


def submit_request(store, calendar: Calendar, now: datetime, application: Mapping[str, Any],
                   *, channel: str, actor: str, submitted_on: date | None = None,
                   signed_for_on: date | None = None, request_no: str | None = None) -> dict:
    """Register a request; returns its row. The receipt date follows the channel:
    on-line the day the system received it (now); in person the day submitted; by
    registered post the day signed for. ``request_no``: the number a township window gave
    it off-line (a request already registered under it is returned as it is)."""
    today = shanghai_date(now)
    received = rules.receipt_date(channel, submitted_on=submitted_on or today,
                                  signed_for_on=signed_for_on, system_received_on=today)
    if received > today:
        raise rules.DisclosureError("receipt_date", "收到日期不能晚于今天")
    action = rules.check_request_action(calendar, None, {"type": "receive",
                                                         "on": received.isoformat()})
    state = rules.apply_request_action(None, action)
    state["address"] = application.get("address", "")
    deadline = rules.request_deadline(calendar, state)
    at = now.isoformat(timespec="milliseconds")
    with store.transaction():
        if request_no is not None:
            existing = sql.request(store, request_no)
            if existing is not None:
                return existing
            number = request_no
        else:
            for _ in range(5):
                number = new_request_no(today)
                if sql.request(store, number) is None:
                    break
        row = {**{k: application.get(k, "") for k in (
                   "body_code", "body_name", "applicant_type", "applicant_name",
                   "applicant_id_no", "contact", "description", "purpose", "delivery")},
               "request_no": number, "channel": channel, "submitted_at": at,
               "received_on": received.isoformat(), "state": state["state"],
               "due_on": deadline.reply_due.isoformat() if deadline.reply_due else None,
               "replied_on": None, "reply_type": None, "reason_code": None, "data": state,
               "updated_at": at}
        sql.insert_request(store, row)
        sql.add_request_action(store, number, {**action, "channel": channel}, at, actor)
    return row


def receive_from_node(store, calendar: Calendar, *, node: str, env: Mapping[str, Any]
                      ) -> dict | None:
    """Register a request a township window took in off-line (a
    ``disclosure.request_received`` event): received in person on the day the event
    names, under the number the window gave the applicant. None for a body the rules
    refuse (the content check has flagged its schema; this is logged)."""
    body = env.get("body") or {}
    try:
        application = rules.validate_request_application(
            body, {body.get("body_code"): body.get("body_name")})
        number = rules.normalise_request_no(body.get("request"))
        if number is None:
            raise rules.DisclosureError("request", "申请编号格式不正确")
        now = parse_ts(env.get("ts")).astimezone(SHANGHAI)
        actor = (body.get("actor") or {}).get("id")
        return submit_request(store, calendar, now, application, channel="in_person",
                              actor=f"{node}/{actor}", request_no=number,
                              submitted_on=date.fromisoformat(body.get("submitted_on")))
    except (ProtocolError, ValueError, TypeError, AttributeError) as exc:
        logger.warning("window request from %s not registered: %s", node, exc)
        return None


def act(store, calendar: Calendar, now: datetime, request_no: str, action: Mapping[str, Any],
        *, actor: str) -> dict:
    """Apply one handling action (checked by the regulation's rules); returns the row."""
    row = sql.request(store, request_no)
    if row is None:
        raise rules.DisclosureError("request_no", f"申请 {request_no} 不存在")
    checked = rules.check_request_action(calendar, row["data"], {**action, "actor": actor})
    if date.fromisoformat(checked["on"]) > shanghai_date(now):
        raise rules.DisclosureError("on", "日期不能晚于今天")
    state = rules.apply_request_action(row["data"], checked)
    state["address"] = row["data"].get("address", "")
    deadline = rules.request_deadline(calendar, state)
    reply = state.get("reply") or {}
    at = now.isoformat(timespec="milliseconds")
    with store.transaction():
        sql.add_request_action(store, request_no, checked, at, actor)
        sql.update_request(store, request_no, state=state["state"],
                           due_on=deadline.reply_due.isoformat() if deadline.reply_due else None,
                           replied_on=reply.get("on"), reply_type=reply.get("type"),
                           reason_code=reply.get("reason_code"), data=state, updated_at=at)
        row = sql.request(store, request_no)
        assert row is not None
        _supervise(store, calendar, row, now)
    return row


def _supervise(store, calendar: Calendar, row: dict, now: datetime) -> int:
    findings = evaluate_request(row["request_no"], row["data"], calendar, shanghai_date(now))
    for finding in findings:
        raise_finding(store, finding, raised_at=now.isoformat(timespec="milliseconds"),
                      body=row["body_code"], unit=row["body_name"])
    return len(findings)


def supervise_open_requests(store, calendar: Calendar, now: datetime) -> int:
    """Judge every open request against its deadline (D-02 overdue, D-07 near)."""
    raised = 0
    offset = 0
    while True:
        _, rows = sql.requests(store, open_only=True, offset=offset, limit=500)
        if not rows:
            return raised
        with store.transaction():
            for row in rows:
                raised += _supervise(store, calendar, row, now)
        offset += len(rows)


def status_view(row: dict, calendar: Calendar) -> dict:
    """What the applicant sees by tracking number: no personal data beyond a masked name."""
    state = row["data"]
    deadline = rules.request_deadline(calendar, state)
    reply = state.get("reply") or {}
    return {
        "request_no": row["request_no"], "body_name": row["body_name"],
        "applicant": mask_name(row["applicant_name"]),
        "received_on": row["received_on"], "state": state["state"],
        "state_label": rules.REQUEST_STATES.get(state["state"], state["state"]),
        "reply_due": deadline.reply_due.isoformat() if deadline.reply_due else None,
        "extended": bool(state.get("extension")),
        "supplement": state.get("supplement"),
        "reply": {"on": reply.get("on"), "type": reply.get("type"),
                  "type_label": rules.REPLY_TYPES.get(reply.get("type") or "", ""),
                  "reason_label": rules.reason_label(reply.get("type"), reply.get("reason_code")),
                  "reason": reply.get("reason")} if reply else None,
    }
