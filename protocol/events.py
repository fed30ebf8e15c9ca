"""The registry of event types and the schemas of their bodies (shared by node and hub).

Every event a node writes has a ``type`` listed in :data:`EVENT_TYPES` and a ``body`` that
satisfies its schema. The node validates before it signs (so it never signs what the hub
would find malformed); the hub's projector validates after it stored an event, and an
event that fails becomes a supervision finding, never a refusal (SPEC.md section 6).

Bodies carry what supervision needs later: the actor's user id *and* role, the item code
and catalogue version, materials present and missing, fees in fen (charged and the
catalogue standard), and the deadline inputs and results, so that a case's projection is
derivable from its events alone (see :mod:`protocol.lifecycle`).

A schema is a small tree of :class:`Field` objects. Validation raises
:class:`EventBodyError` (code ``event_body_invalid``) whose ``field`` is the path of the
first bad value (``body.applicant.id_no``) and whose message names the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any

from .errors import ProtocolError

__all__ = ["EVENT_TYPES", "ROLES", "EventBodyError", "EventType", "is_known", "validate_body"]

ROLES = ("clerk", "handler", "reviewer", "approver", "head", "supervisor", "admin")
"""Staff roles: 受理 clerk, 承办 handler, 审核 reviewer, 批准 approver, 中心负责人 head,
监察 supervisor (read-only), 管理员 admin (accounts)."""

MAX_FEE_FEN = 100_000_000_00  # one hundred million yuan: a bound, not a tariff
MAX_DAYS = 3650

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_CODE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")


class EventBodyError(ProtocolError):
    """An event body breaks its type's schema; ``field`` is the path of the bad value."""

    code = "event_body_invalid"


@dataclass(frozen=True)
class Field:
    """One value of a schema.

    ``kind``: ``text``, ``int``, ``bool``, ``enum``, ``date`` (YYYY-MM-DD), ``id`` (1-64
    of A-Z a-z 0-9 _ . -), ``hex64``, ``object`` (``fields``), ``list`` (``of``).
    """

    kind: str
    required: bool = True
    nullable: bool = False
    max_len: int = 200
    min_len: int = 0
    minimum: int = 0
    maximum: int = 2**53 - 1
    choices: tuple[str, ...] = ()
    fields: Mapping[str, "Field"] = field(default_factory=dict)
    of: "Field | None" = None
    max_items: int = 200


def _text(max_len: int = 200, *, required: bool = True, min_len: int = 1,
          nullable: bool = False) -> Field:
    return Field("text", required=required, max_len=max_len, min_len=min_len, nullable=nullable)


def _int(minimum: int = 0, maximum: int = 2**53 - 1, *, required: bool = True,
         nullable: bool = False) -> Field:
    return Field("int", required=required, minimum=minimum, maximum=maximum, nullable=nullable)


def _enum(*choices: str, required: bool = True, nullable: bool = False) -> Field:
    return Field("enum", required=required, choices=choices, nullable=nullable)


def _obj(*, _optional: bool = False, _nullable: bool = False, **fields: Field) -> Field:
    return Field("object", required=not _optional, nullable=_nullable, fields=fields)


def _list(of: Field, max_items: int = 200, *, required: bool = True) -> Field:
    return Field("list", required=required, of=of, max_items=max_items)


def _date(*, required: bool = True, nullable: bool = False) -> Field:
    return Field("date", required=required, nullable=nullable)


def _id(*, required: bool = True, nullable: bool = False) -> Field:
    return Field("id", required=required, nullable=nullable)


ACTOR = _obj(id=_id(), role=_enum(*ROLES))
"""Who did it: the user id and the role they acted in."""

APPROVER = _obj(id=_id(), role=_enum(*ROLES))
"""Who approved it (the centre head for extensions, waivers, refunds, voiding)."""

DEADLINE = _obj(
    limit_half_days=_int(0, 2 * MAX_DAYS),  # committed limit plus any extension
    due=_date(nullable=True),              # null while the clock is paused
    confirmed=Field("bool"),               # False: reaches a year the calendar lacks
    calendar_version=_int(1),
)
"""The deadline as the node computed it when the event was written (informative: the
hub recomputes it from the inputs with its own calendar)."""

APPLICANT = _obj(
    kind=_enum("person", "organisation"),
    name=_text(100),
    id_type=_enum("resident_id", "passport", "hk_macao_permit", "taiwan_permit",
                  "foreign_permanent", "uscc", "other"),
    id_no=_text(40),
    phone=_text(20, required=False),
)

MATERIAL = _obj(id=_id(), name=_text(200), required=Field("bool"), present=Field("bool"))

STEP = _obj(id=_id(), name=_text(50), role=_enum(*ROLES))

EVENT_SCHEMAS: dict[str, Field] = {
    # -- node and configuration
    "node.key_rotated": _obj(new_key=Field("hex64"), reason=_text(200, required=False)),
    "node.initialised": _obj(code=_id(), name=_text(100), public_key=Field("hex64"),
                             software=_text(40)),
    "calendar.applied": _obj(version=_int(1), fingerprint=Field("hex64"),
                             years=_list(_int(2000, 2100), 101), source=_text(100),
                             actor=_obj(_optional=True, _nullable=True, id=_id(),
                                        role=_enum(*ROLES))),
    "catalogue.applied": _obj(version=_int(1), fingerprint=Field("hex64"),
                              items=_int(0, 100_000), source=_text(100)),
    "deadline.recomputed": _obj(reason=_enum("calendar_changed"), calendar_version=_int(1),
                                previous=_obj(due=_date(nullable=True), confirmed=Field("bool")),
                                deadline=DEADLINE),
    "user.created": _obj(user=_id(), username=_text(40), name=_text(100),
                         roles=_list(_enum(*ROLES), len(ROLES)),
                         actor=_obj(_nullable=True, id=_id(), role=_enum(*ROLES))),
    "user.deactivated": _obj(user=_id(), actor=_obj(id=_id(), role=_enum(*ROLES))),
    "user.reactivated": _obj(user=_id(), actor=_obj(id=_id(), role=_enum(*ROLES))),
    "user.password_reset": _obj(user=_id(), via=_enum("cli", "admin"),
                                actor=_obj(_nullable=True, id=_id(), role=_enum(*ROLES))),
    # -- intake
    "case.received": _obj(
        actor=ACTOR, channel=_enum("window", "online", "mail"),
        item=_obj(code=_id(), name=_text(200), type_code=_text(2)),
        catalogue_version=_int(1),
        applicant=APPLICANT,
        materials=_list(MATERIAL),
        fee_standard_fen=_int(0, MAX_FEE_FEN),
        committed_half_days=_int(0, 2 * MAX_DAYS), statutory_half_days=_int(0, 2 * MAX_DAYS),
        flow=_list(STEP, 20),
        separate_accept_approve=Field("bool"),
        query_code=_text(12),
    ),
    "case.accepted": _obj(actor=ACTOR, materials=_list(MATERIAL), deadline=DEADLINE),
    "case.refused": _obj(actor=ACTOR, reason=_text(500)),
    "case.supplement_requested": _obj(actor=ACTOR, materials=_list(MATERIAL),
                                      missing=_list(_id(), 200), note=_text(500, required=False,
                                                                           min_len=0)),
    "case.resubmitted": _obj(actor=ACTOR, materials=_list(MATERIAL)),
    # -- handling
    "case.step_completed": _obj(actor=ACTOR, step=_id(), outcome=_enum("pass", "return"),
                                opinion=_text(1000)),
    "case.decided": _obj(actor=ACTOR, step=_id(), outcome=_enum("approve", "reject"),
                         reason=_text(1000)),
    "case.extended": _obj(actor=ACTOR, approver=APPROVER, days=_int(1, MAX_DAYS),
                          reason=_text(500), deadline=DEADLINE),
    "case.suspended": _obj(actor=ACTOR, reason=_text(500),
                           procedure=_enum("hearing", "tendering", "auction", "inspection",
                                           "testing", "quarantine", "appraisal",
                                           "expert_review", "public_notice", "other"),
                           deadline=DEADLINE),
    "case.resumed": _obj(actor=ACTOR, reason=_text(500), deadline=DEADLINE),
    "case.completed": _obj(actor=ACTOR, result=_text(200, required=False)),
    "case.delivered": _obj(actor=ACTOR, method=_enum("window", "mail", "electronic"),
                           recipient=_text(100)),
    "case.withdrawn": _obj(actor=ACTOR, reason=_text(500)),
    "case.voided": _obj(actor=ACTOR, approver=APPROVER, reason=_text(500)),
    # -- fees (fen)
    "fee.charged": _obj(actor=ACTOR, approver=APPROVER, amount_fen=_int(0, MAX_FEE_FEN),
                        standard_fen=_int(0, MAX_FEE_FEN), receipt_no=_text(40, required=False)),
    "fee.waived": _obj(actor=ACTOR, approver=APPROVER, amount_fen=_int(0, MAX_FEE_FEN),
                       standard_fen=_int(0, MAX_FEE_FEN), reason=_text(500)),
    "fee.refunded": _obj(actor=ACTOR, approver=APPROVER, amount_fen=_int(1, MAX_FEE_FEN),
                         reason=_text(500)),
    # -- information disclosure (政府信息公开; rules and code tables in protocol/disclosure.py,
    #    which the node applies before writing). ``doc`` is the node-unique document id;
    #    a correction is a new drafted version, reviewed, then ``disclosure.corrected``.
    "disclosure.drafted": _obj(
        actor=ACTOR, doc=_id(), version=_int(1, 10_000),
        meta=_obj(title=_text(200), summary=_text(500, min_len=0),
                  text=_text(6000, min_len=0), made_on=_date(), body_code=_id(),
                  body_name=_text(100), doc_no=_text(50, min_len=0), topic=_text(4),
                  genre=_text(4), grouping=_text(4), entry=_text(32, min_len=0),
                  keywords=_list(_text(20), 10), methods=_list(_text(20), 5),
                  scope=_text(20), time_limit=_text(100), office=_text(100),
                  person=_text(50),
                  attachments=_list(_obj(sha256=Field("hex64"), name=_text(120),
                                         mime=_enum("application/pdf", "image/png",
                                                    "image/jpeg"),
                                         size=_int(1, 10 * 1024 * 1024)), 10))),
    "disclosure.reviewed": _obj(actor=ACTOR, doc=_id(), version=_int(1, 10_000),
                                outcome=_enum("pass", "fail"), opinion=_text(1000),
                                reviewer_name=_text(100)),
    "disclosure.published": _obj(actor=ACTOR, doc=_id(), version=_int(1, 10_000),
                                 index_no=_text(64), published_on=_date(), due_on=_date(),
                                 days_late=_int(0, MAX_DAYS)),
    "disclosure.corrected": _obj(actor=ACTOR, doc=_id(), version=_int(1, 10_000),
                                 reason=_text(500), published_on=_date(), due_on=_date(),
                                 days_late=_int(0, MAX_DAYS)),
    "disclosure.withdrawn": _obj(actor=ACTOR, doc=_id(), reason=_text(500),
                                 withdrawn_on=_date()),
    "disclosure.repealed": _obj(actor=ACTOR, doc=_id(), reason=_text(500),
                                repealed_on=_date()),
    # -- a request for disclosure (依申请公开) taken in at a township window, off-line; the
    #    hub registers it under ``request`` (the number on the applicant's receipt)
    "disclosure.request_received": _obj(
        actor=ACTOR, request=_text(20), submitted_on=_date(), body_code=_id(),
        body_name=_text(100),
        applicant_type=_enum("person", "company", "research", "public_interest",
                             "legal_service", "other_org"),
        applicant_name=_text(100), applicant_id_no=_text(40, min_len=0),
        contact=_text(30), address=_text(200, min_len=0), description=_text(2000),
        purpose=_text(500, min_len=0), delivery=_enum("email", "post", "pickup", "online")),
    # -- notices from the county (config.notices): a member of staff read one (issue #8)
    "notice.read": _obj(actor=ACTOR, notice=_int(1), version=_int(1)),
    # -- 好差评 at the centre's own terminal (hall tablet / QR code at the window): the
    # citizen rates a stage of their case after proving it with the query code. Not a
    # case event (the case's lifecycle and supervision do not fold it): ``case`` names it.
    "evaluation.given": _obj(case=_id(), stage=_enum("accept", "complete"),
                             level=_int(1, 5), text=_text(500, required=False, nullable=True),
                             channel=_enum("terminal", "qr")),
}


# -- cross-level handling (issue #11; protocol/routing.py, docs/cross-level.md). A case
#    moves between nodes by events: the sender forwards naming the receiver; the
#    receiver takes it naming the origin event (node, seq, link hash); the decision is
#    returned the same way. The case number stays the one the first node gave it.
ORIGIN_REF = _obj(node=_id(), seq=_int(1), hash=Field("hex64"))
"""A reference to one event of another node's log: its node, seq and link hash."""

_DEADLINE_OR_NULL = Field("object", nullable=True, fields=DEADLINE.fields)
_DECISION = Field("object", nullable=True, fields={
    "step": _id(), "outcome": _enum("approve", "reject"), "reason": _text(1000)})

EVENT_SCHEMAS.update({
    "case.forwarded": _obj(actor=ACTOR, to=_id(), steps=_list(_id(), 20),
                           opinion=_text(1000), materials=_list(MATERIAL)),
    "case.taken": _obj(
        actor=ACTOR, origin=ORIGIN_REF,
        snapshot=_obj(
            item=_obj(code=_id(), name=_text(200), type_code=_text(2)),
            catalogue_version=_int(1), channel=_enum("window", "online", "mail"),
            applicant=APPLICANT, materials=_list(MATERIAL),
            fee_standard_fen=_int(0, MAX_FEE_FEN),
            committed_half_days=_int(0, 2 * MAX_DAYS),
            statutory_half_days=_int(0, 2 * MAX_DAYS),
            flow=_list(STEP, 20), separate_accept_approve=Field("bool"),
            query_code=_text(12), received_at=_text(40), accepted_date=_date(nullable=True),
            deadline=_DEADLINE_OR_NULL, next_step=_int(0, 20),
            extension_days=_int(0, MAX_DAYS))),
    "case.result_returned": _obj(actor=ACTOR, to=_id(), origin=ORIGIN_REF,
                                 decision=_DECISION, opinion=_text(1000, required=False)),
    "case.result_received": _obj(actor=ACTOR, origin=ORIGIN_REF, decision=_DECISION,
                                 next_step=_int(0, 20)),
    "application.taken": _obj(actor=ACTOR, application=_id(), digest=Field("hex64")),
    "application.handed_back": _obj(application=_id(), winner=ORIGIN_REF,
                                    reason=_text(500)),
})


@dataclass(frozen=True)
class EventType:
    name: str
    schema: Field
    case_required: bool


EVENT_TYPES: dict[str, EventType] = {
    name: EventType(name, schema, name.startswith(("case.", "fee.", "deadline.", "application.")))
    for name, schema in EVENT_SCHEMAS.items()
}


def is_known(type_: str) -> bool:
    return type_ in EVENT_TYPES


def _fail(path: str, rule: str) -> None:
    raise EventBodyError(f"{path}: {rule}", field=path)


def _check(spec: Field, value: Any, path: str) -> None:
    if value is None:
        if not spec.nullable:
            _fail(path, "must not be null")
        return
    kind = spec.kind
    if kind == "text":
        if not isinstance(value, str):
            _fail(path, f"must be text, got {type(value).__name__}")
        if spec.min_len and not value.strip():
            _fail(path, "must not be empty")
        if len(value) > spec.max_len:
            _fail(path, f"must be at most {spec.max_len} characters (got {len(value)})")
    elif kind == "int":
        if type(value) is not int:
            _fail(path, f"must be an integer, got {type(value).__name__}")
        if not spec.minimum <= value <= spec.maximum:
            _fail(path, f"must be from {spec.minimum} to {spec.maximum} (got {value})")
    elif kind == "bool":
        if not isinstance(value, bool):
            _fail(path, f"must be true or false, got {type(value).__name__}")
    elif kind == "enum":
        if value not in spec.choices:
            _fail(path, f"must be one of {', '.join(spec.choices)} (got {value!r})")
    elif kind == "date":
        if not isinstance(value, str) or not _DATE_RE.match(value):
            _fail(path, "must be a date written YYYY-MM-DD")
    elif kind == "id":
        if not isinstance(value, str) or not _ID_RE.match(value):
            _fail(path, "must be 1-64 characters of A-Z a-z 0-9 _ . -")
    elif kind == "hex64":
        if not isinstance(value, str) or not _HEX_RE.match(value):
            _fail(path, "must be 64 lower-case hexadecimal characters")
    elif kind == "object":
        if not isinstance(value, dict):
            _fail(path, f"must be an object, got {type(value).__name__}")
        for name, sub in spec.fields.items():
            if name in value:
                _check(sub, value[name], f"{path}.{name}")
            elif sub.required:
                _fail(f"{path}.{name}", "is required")
        extra = sorted(set(value) - set(spec.fields))
        if extra:
            _fail(f"{path}.{extra[0]}", "is not a field of this event")
    elif kind == "list":
        if not isinstance(value, list):
            _fail(path, f"must be a list, got {type(value).__name__}")
        if len(value) > spec.max_items:
            _fail(path, f"must have at most {spec.max_items} elements (got {len(value)})")
        for i, item in enumerate(value):
            _check(spec.of, item, f"{path}[{i}]")
    else:  # pragma: no cover - a schema bug
        raise AssertionError(f"unknown field kind {kind}")


def _ok(spec: Field, value: Any) -> bool:
    """True if :func:`_check` would pass ``value``: the same rules without building a path
    per field (half the cost of projecting an event). A False goes through
    :func:`_check` for the message."""
    if value is None:
        return spec.nullable
    kind = spec.kind
    if kind == "text":
        return isinstance(value, str) and not (spec.min_len and not value.strip()) \
            and len(value) <= spec.max_len
    if kind == "int":
        return type(value) is int and spec.minimum <= value <= spec.maximum
    if kind == "object":
        if not isinstance(value, dict):
            return False
        fields = spec.fields
        for name, sub in fields.items():
            if name in value:
                if not _ok(sub, value[name]):
                    return False
            elif sub.required:
                return False
        return all(name in fields for name in value)
    if kind == "list":
        return isinstance(value, list) and len(value) <= spec.max_items \
            and all(_ok(spec.of, item) for item in value)
    if kind == "enum":
        return value in spec.choices
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and _DATE_RE.match(value) is not None
    if kind == "id":
        return isinstance(value, str) and _ID_RE.match(value) is not None
    if kind == "hex64":
        return isinstance(value, str) and _HEX_RE.match(value) is not None
    return False   # an unknown kind: _check says it is a schema bug


def validate_body(type_: str, body: Any, case: str | None = None) -> None:
    """Raise :class:`EventBodyError` unless ``body`` fits the schema of ``type_``.

    ``case`` is checked for presence: case, fee and deadline events belong to a case.
    """
    event_type = EVENT_TYPES.get(type_)
    if event_type is None:
        raise EventBodyError(f"type: {type_!r} is not a known event type", field="type",
                             code="event_type_unknown")
    if event_type.case_required and not case:
        raise EventBodyError(f"case: events of type {type_} belong to a case", field="case")
    if not _ok(event_type.schema, body):
        _check(event_type.schema, body, "body")
