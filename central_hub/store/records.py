"""Plain records the hub's store reads and writes (the bottom of the hub's import graph).

Times are RFC 3339 strings with milliseconds and offset (hub time, Asia/Shanghai), as in
the protocol; they sort correctly as text because the hub always writes +08:00.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NODE_ACTIVE = "active"
NODE_QUARANTINED = "quarantined"
NODE_REVOKED = "revoked"
NODE_STATUSES = (NODE_ACTIVE, NODE_QUARANTINED, NODE_REVOKED)

VERIFY_PENDING = 0
VERIFY_OK = 1
VERIFY_BAD = -1


@dataclass(frozen=True, slots=True)
class NodeRecord:
    code: str
    name: str
    public_key: str            # hex of the key in force at acked_seq + 1
    status: str
    status_reason: str | None
    status_changed_at: str | None
    enrolled_at: str
    acked_seq: int
    acked_link: str
    last_seen: str | None
    skew_ms: int | None        # request ts minus hub time, after the node's own correction
    clock_skew_ms: int | None  # the node's own clock minus hub time (uncorrected)
    last_event_ts: str | None  # node time of the newest acknowledged event
    reported_head: int | None  # the node's own head seq, as it last reported it
    caught_up_at: str | None   # last time the hub held everything the node reported


@dataclass(frozen=True, slots=True)
class NodeKey:
    node: str
    public_key: str
    from_seq: int              # first seq signed by this key
    added_at: str


@dataclass(frozen=True, slots=True)
class EnrolToken:
    token_hash: str
    node: str
    name: str
    created_at: str
    expires_at: str
    used_at: str | None
    used_by_key: str | None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An authenticated event on its way into the log."""

    seq: int
    type: str | None
    case_no: str | None
    ts: str | None
    canonical: bytes
    signature: bytes
    link: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: int              # hub-wide append index
    node: str
    seq: int
    type: str | None
    case_no: str | None
    ts: str | None
    canonical: bytes
    signature: bytes
    link: str
    received_at: str
    verified: int              # VERIFY_PENDING / VERIFY_OK / VERIFY_BAD


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    kind: str
    version: int
    canonical: bytes           # the signed document's canonical bytes
    signature: bytes
    published_at: str
    published_by: str | None


@dataclass(frozen=True, slots=True)
class KeyStatementRecord:
    seq: int
    canonical: bytes
    signature: bytes
    issued_at: str


@dataclass(frozen=True, slots=True)
class NodeDayStats:
    node: str
    day: str                   # YYYY-MM-DD in Asia/Shanghai, by hub receipt time
    events: int


@dataclass(slots=True)
class AlertRecord:
    """An alert (预警), with the fields of GB/T 39046 table 11 and the hub's own.

    Supervision (电子监察) extends this record with its own ``alert_type`` values and rules;
    the ``details`` object carries what a rule needs beyond the standard's fields.
    Alerts are never deleted: every change of ``state`` is recorded in the alert history.
    """

    alert_type: str                        # 预警类型: chain_fork, signature_invalid ...
    content: str                           # 预警内容 (Chinese, for supervisors)
    rule_id: str                           # 规则: the rule that raised it
    raised_at: str                         # 预警时间
    level: str = "red"                     # 预警级别: warning / yellow / red
    state: str = "open"                    # 状态: open / answered / closed / superseded
    state_changed_at: str | None = None
    case_no: str | None = None             # 办件编号
    supervision_no: str | None = None      # 监察编号 (assigned by the store)
    body: str | None = None                # 实施主体 / 被监察单位 (org unit)
    item_type: str | None = None           # 事项类型
    result: str | None = None              # 处理结果
    responsible_unit: str | None = None    # 责任单位
    responsible_person: str | None = None  # 责任人
    node: str | None = None
    seq: int | None = None
    details: dict = field(default_factory=dict)
    dedupe_key: str | None = None          # an open alert with the same key is counted, not repeated
    occurrences: int = 1
    last_raised_at: str | None = None
    id: int | None = None


# --------------------------------------------------------------------------- hub core


ORG_KINDS = ("county", "department", "township", "village", "community")


@dataclass(frozen=True, slots=True)
class OrgUnit:
    """An org unit: the county, its departments and townships, villages and communities."""

    code: str                  # area code (GB/T 2260 style) or, for a department, county-LETTERS
    name: str
    kind: str                  # one of ORG_KINDS
    parent: str | None
    area_code: str             # the area the unit serves (a department: its county's)
    item_prefix: str | None    # a department's letters in item codes (MZ in MZ-QR-0001)
    created_at: str


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    role: str
    display_name: str
    org_unit: str | None
    active: bool
    session_epoch: int
    created_at: str
    password_hash: str = field(repr=False, default="")
    totp_enabled: bool = False


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    target: str | None
    details: dict
    ip: str | None
    before: object
    after: object


@dataclass(frozen=True, slots=True)
class CatalogueItemRecord:
    """The published state of one item (``content`` None once withdrawn)."""

    code: str
    department: str | None
    name: str
    content: dict | None
    item_version: int
    catalogue_version: int
    withdrawn: bool


@dataclass(frozen=True, slots=True)
class ItemVersion:
    code: str
    item_version: int
    catalogue_version: int
    content: dict | None
    draft_id: int | None
    published_at: str
    published_by: str | None


@dataclass(frozen=True, slots=True)
class DraftRecord:
    id: int
    code: str
    department: str | None
    action: str                # upsert / withdraw
    content: dict | None
    base_version: int          # the item version it was drafted from (0: a new item)
    state: str
    note: str
    created_by: str
    created_at: str
    updated_at: str
    catalogue_version: int | None


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    id: int
    draft_id: int
    stage: str
    decision: str
    reviewer: str
    role: str
    at: str
    opinion: str


@dataclass(frozen=True, slots=True)
class DeadlineChange:
    id: int
    case_no: str
    at: str
    reason: str
    before_due: str | None
    before_confirmed: bool | None
    after_due: str | None
    after_confirmed: bool
    calendar_before: int | None
    calendar_after: int
    actor: str | None
