"""Requests for disclosure (依申请公开) taken in at the township window, off-line.

An applicant who comes to the centre hands in a request; the clerk types it in and hands
back a receipt (回执) with the tracking number, the date it counts as received (in person:
the day submitted) and the statutory reply date (20 working days, art. 33). The request is
a signed ``disclosure.request_received`` event; with the next sync the hub registers it
under the same number, and it is handled and answered there like one received on the
portal. The applicant follows it on the portal with the number. Nothing waits on the
network.
"""

from __future__ import annotations

from typing import Any, Mapping

from protocol import disclosure as rules
from protocol.calendar import shanghai_date
from protocol.envelope import format_ts

from ..errors import ValidationError
from ..store import disclosure_requests as sql
from .documents import body_of

REGISTER_ROLES = ("clerk", "handler", "reviewer", "approver", "head")


def register(node, actor: Mapping[str, str], form: Mapping[str, Any]) -> dict:
    """Take in one request; returns its row (number, dates). Raises ValidationError
    (field, Chinese message) and writes nothing on bad input."""
    code, name = body_of(node)
    try:
        application = rules.validate_request_application({**form, "body_code": code},
                                                         {code: name})
    except rules.DisclosureError as exc:
        raise ValidationError(exc.field or "form", "disclosure_request", exc.zh) from None
    moment = node.now()
    today = shanghai_date(moment)
    calendar = node.store.calendar()
    state = rules.apply_request_action(None, rules.check_request_action(
        calendar, None, {"type": "receive", "on": today.isoformat()}))
    deadline = rules.request_deadline(calendar, state)
    store = node.store
    with store.transaction():
        for _ in range(5):
            number = rules.new_request_no(today)
            if sql.get(store, number) is None:
                break
        event = store.append_event("disclosure.request_received", None, {
            "actor": {"id": actor["id"], "role": actor["role"]}, "request": number,
            "submitted_on": today.isoformat(), **application}, at=moment)
        row = {"request_no": number, "received_on": today.isoformat(),
               "reply_due": deadline.reply_due.isoformat() if deadline.reply_due else None,
               "applicant_type": application["applicant_type"],
               "applicant_name": application["applicant_name"],
               "contact": application["contact"], "description": application["description"],
               "delivery": application["delivery"], "actor": actor["id"],
               "at": format_ts(moment), "seq": event.seq}
        sql.add(store, row)
    return {**row, "body_name": name}


def received(node, limit: int = 200) -> list[dict]:
    return sql.latest(node.store, limit)


def receipt(node, request_no: str) -> dict | None:
    row = sql.get(node.store, request_no)
    return None if row is None else {**row, "body_name": body_of(node)[1]}
