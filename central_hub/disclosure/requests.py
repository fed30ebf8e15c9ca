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

import re
import secrets
from datetime import date, datetime
from typing import Any, Mapping

from protocol import disclosure as rules
from protocol.calendar import Calendar, shanghai_date
from protocol.supervision.disclosure_rules import evaluate_request

from ..store import disclosure as sql
from .supervision import raise_finding

_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REQUEST_NO_RE = re.compile(r"^GK\d{8}-[2-9A-HJKMNP-Z]{8}$")
_PHONE_RE = re.compile(r"^[0-9+\-() ]{5,30}$")


def new_request_no(today: date) -> str:
    return f"GK{today:%Y%m%d}-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def normalise_request_no(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    text = text.strip().upper().replace(" ", "")
    return text if REQUEST_NO_RE.match(text) else None


def _field(form: Mapping, name: str, label: str, max_len: int, *, required: bool = True,
           multiline: bool = False) -> str:
    return rules._clean(form.get(name), name, label, max_len=max_len, required=required,
                        multiline=multiline)


def validate_application(form: Mapping[str, Any], bodies: Mapping[str, str]) -> dict:
    """The applicant's form, checked (Chinese messages). ``bodies``: code -> name."""
    body = form.get("body_code")
    if body not in bodies:
        raise rules.DisclosureError("body_code", "请选择受理申请的机关")
    applicant_type = form.get("applicant_type")
    if applicant_type not in rules.APPLICANT_TYPES:
        raise rules.DisclosureError("applicant_type", "请选择申请人类型")
    out = {
        "body_code": body, "body_name": bodies[body], "applicant_type": applicant_type,
        "applicant_name": _field(form, "applicant_name",
                                 "姓名" if applicant_type == "person" else "名称", 100),
        "applicant_id_no": _field(form, "applicant_id_no", "证件号码", 40, required=False),
        "contact": _field(form, "contact", "联系电话", 30),
        "address": _field(form, "address", "通信地址或电子邮箱", 200, required=False),
        "description": _field(form, "description", "所需政府信息的名称、文号或便于查询的其他特征性描述",
                              2000, multiline=True),
        "purpose": _field(form, "purpose", "用途说明", 500, required=False, multiline=True),
        "delivery": form.get("delivery") if form.get("delivery") in DELIVERY else "email",
    }
    if not _PHONE_RE.match(out["contact"]):
        raise rules.DisclosureError("contact", "联系电话格式不正确")
    return out


DELIVERY = {"email": "电子邮件", "post": "邮寄", "pickup": "当面领取", "online": "网上查看"}


def submit_request(store, calendar: Calendar, now: datetime, application: Mapping[str, Any],
                   *, channel: str, actor: str, submitted_on: date | None = None,
                   signed_for_on: date | None = None) -> dict:
    """Register a request; returns its row. The receipt date follows the channel:
    on-line the day the system received it (now); in person the day submitted; by
    registered post the day signed for."""
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
    from web.templating import mask_name
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
