"""Catalogue management: drafts, the review workflow, publication and version history.

Workflow of a draft (one item, new, changed or withdrawn)::

    draft ─submit─► legal_review ─pass─► secrecy_review ─pass─► centre_approval ─pass─► published
      ▲                  │                     │                       │
      └──── returned ◄───┴──────return─────────┴───────────────────────┘   (with reasons)

* departments (``dept_reviewer``) draft their own items, administrators any item;
* 法制办 (``legal_reviewer``), 保密局 (``secrecy_reviewer``) and the service centre
  (``centre_staff``) each pass or return; a return needs the reasons and sends the draft
  back to its drafter, who edits and submits again;
* the service centre's approval publishes at once: the next catalogue version, signed as
  a ``config.catalogue`` document, reaches the nodes on their next sync.

Every step is a review record (reviewer, role, time, opinion) and an audit entry. Every
published version of every item is kept (``catalogue_item_versions``) and comparable
(:func:`diff_items`). Item content is validated with :mod:`protocol.catalogue`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from protocol.catalogue import CatalogueError, validate_catalogue, validate_item
from protocol.config_docs import CONFIG_CATALOGUE

from ..accounts.service import can, may_edit_department
from ..config import HubConfig
from ..errors import HubError
from ..identity import HubIdentity
from ..orgs.service import OrgTree
from ..store import HubStore, StoreError
from ..store.records import Account, CatalogueItemRecord, DraftRecord, ReviewRecord
from ..sync.publication import publish_config

STATE_LABELS = {"draft": "起草中", "legal_review": "待法制审查", "secrecy_review": "待保密审查",
                "centre_approval": "待服务中心审批", "published": "已发布", "returned": "已退回",
                "abandoned": "已放弃"}
STAGES = {  # state -> (capability, label, next state)
    "legal_review": ("catalogue.legal_review", "法制审查（法制办）", "secrecy_review"),
    "secrecy_review": ("catalogue.secrecy_review", "保密审查（保密局）", "centre_approval"),
    "centre_approval": ("catalogue.approve", "服务中心审批", "published"),
}
OPEN_STATES = ("draft", "returned", "legal_review", "secrecy_review", "centre_approval")
EDITABLE_STATES = ("draft", "returned")
ACTION_LABELS = {"upsert": "新增或修改", "withdraw": "取消事项"}
MAX_OPINION = 1000


class CatalogueWorkflowError(HubError):
    code = "catalogue_invalid"

    def __init__(self, message: str, field: str = "__form__", status: int = 422) -> None:
        super().__init__(message, extra={"field": field})
        self.field = field
        self.status = status


# --------------------------------------------------------------------------- published state


def published_document(store: HubStore) -> dict | None:
    record = store.config(CONFIG_CATALOGUE)
    if record is None:
        return None
    return json.loads(record.canonical)["body"]["content"]


def seed_items(store: HubStore, content: dict, now: str, by: str = "init") -> None:
    """Record the items of a catalogue published outside the workflow (init, import)."""
    tree = OrgTree.load(store)
    version = content["version"]
    for item in content["items"]:
        current = store.catalogue_item(item["code"])
        store.put_catalogue_item(CatalogueItemRecord(
            item["code"], tree.department_of_item(item["code"]), item["name"], item,
            (current.item_version + 1) if current else 1, version, False),
            draft_id=None, published_at=now, published_by=by)


# --------------------------------------------------------------------------- drafts


def _validated(content: Any) -> dict:
    try:
        return validate_item(content)
    except CatalogueError as exc:
        raise CatalogueWorkflowError(exc.zh, field=exc.field or "__form__") from None


def _require_editor(store: HubStore, account: Account, department: str | None) -> None:
    if not can(account, "catalogue.draft") or not may_edit_department(store, account,
                                                                      department):
        raise CatalogueWorkflowError("您无权起草该部门的事项（部门审核员只能起草本部门事项）",
                                     status=403)


def start_draft(store: HubStore, account: Account, now: str, *, code: str,
                content: dict | None, action: str = "upsert", note: str = "",
                ip: str | None = None) -> DraftRecord:
    """A new draft of item ``code`` (``content`` None for a withdrawal)."""
    if action not in ACTION_LABELS:
        raise CatalogueWorkflowError("操作：只能新增、修改或取消事项", field="action")
    current = store.catalogue_item(code) if code else None
    tree = OrgTree.load(store)
    department = current.department if current else tree.department_of_item(code or "")
    _require_editor(store, account, department)
    if action == "upsert":
        content = _validated(content)
        if content["code"] != code:
            raise CatalogueWorkflowError("基本编码（code）与所起草的事项不符", field="code")
    else:
        content = None
    if action == "withdraw" and (current is None or current.withdrawn):
        raise CatalogueWorkflowError(f"事项 {code} 未发布，无需取消", field="code")
    if len(note) > MAX_OPINION:
        raise CatalogueWorkflowError(f"说明：最多 {MAX_OPINION} 个字符", field="note")
    with store.transaction():
        if store.drafts(states=OPEN_STATES, code=code):
            raise CatalogueWorkflowError(f"事项 {code} 已有未完成的草稿，请在该草稿上修改",
                                         field="code", status=409)
        base = current.item_version if current and not current.withdrawn else 0
        if current and current.withdrawn and action == "upsert":
            base = current.item_version
        draft_id = store.add_draft(code=code, department=department, action=action,
                                   content=content, base_version=base,
                                   created_by=account.username, now=now, note=note)
        store.audit(now, account.username, "catalogue.draft_created", code,
                    {"draft": draft_id, "action": action}, ip=ip,
                    before=current.content if current else None, after=content)
    draft = store.draft(draft_id)
    assert draft is not None
    return draft


def _draft(store: HubStore, draft_id: int) -> DraftRecord:
    draft = store.draft(draft_id)
    if draft is None:
        raise CatalogueWorkflowError(f"草稿 {draft_id} 不存在", status=404)
    return draft


def save_draft(store: HubStore, account: Account, now: str, draft_id: int, *,
               content: dict | None, note: str = "", ip: str | None = None) -> DraftRecord:
    draft = _draft(store, draft_id)
    _require_editor(store, account, draft.department)
    if draft.state not in EDITABLE_STATES:
        raise CatalogueWorkflowError(f"草稿当前状态为“{STATE_LABELS[draft.state]}”，不能修改",
                                     status=409)
    if draft.action == "upsert":
        content = _validated(content)
        if content["code"] != draft.code:
            raise CatalogueWorkflowError(f"基本编码（code）不能改变：本草稿为事项 {draft.code}",
                                         field="code")
    if len(note) > MAX_OPINION:
        raise CatalogueWorkflowError(f"说明：最多 {MAX_OPINION} 个字符", field="note")
    with store.transaction():
        store.update_draft(draft_id, content=content if draft.action == "upsert" else None,
                           note=note, now=now)
        store.audit(now, account.username, "catalogue.draft_saved", draft.code,
                    {"draft": draft_id}, ip=ip, before=draft.content, after=content)
    return _draft(store, draft_id)


def submit_draft(store: HubStore, account: Account, now: str, draft_id: int,
                 ip: str | None = None) -> DraftRecord:
    draft = _draft(store, draft_id)
    _require_editor(store, account, draft.department)
    if draft.state not in EDITABLE_STATES:
        raise CatalogueWorkflowError(f"草稿当前状态为“{STATE_LABELS[draft.state]}”，不能提交",
                                     status=409)
    with store.transaction():
        _set_state(store, draft, "legal_review", now)
        store.add_review(ReviewRecord(0, draft_id, draft.state, "submit", account.username,
                                      account.role, now, ""))
        store.audit(now, account.username, "catalogue.draft_submitted", draft.code,
                    {"draft": draft_id}, ip=ip, before={"state": draft.state},
                    after={"state": "legal_review"})
    return _draft(store, draft_id)


def abandon_draft(store: HubStore, account: Account, now: str, draft_id: int,
                  ip: str | None = None) -> DraftRecord:
    draft = _draft(store, draft_id)
    _require_editor(store, account, draft.department)
    if draft.state not in EDITABLE_STATES:
        raise CatalogueWorkflowError("只能放弃起草中或已退回的草稿", status=409)
    with store.transaction():
        _set_state(store, draft, "abandoned", now)
        store.audit(now, account.username, "catalogue.draft_abandoned", draft.code,
                    {"draft": draft_id}, ip=ip, before={"state": draft.state},
                    after={"state": "abandoned"})
    return _draft(store, draft_id)


def _set_state(store: HubStore, draft: DraftRecord, state: str, now: str,
               catalogue_version: int | None = None) -> None:
    try:
        store.set_draft_state(draft.id, draft.state, state, now, catalogue_version)
    except StoreError:
        raise CatalogueWorkflowError("草稿已被他人处理，请刷新页面", status=409) from None


def review_draft(store: HubStore, identity: HubIdentity, config: HubConfig, account: Account,
                 draft_id: int, decision: str, opinion: str,
                 ip: str | None = None) -> DraftRecord:
    """Pass or return a draft at its current stage; the last pass publishes."""
    draft = _draft(store, draft_id)
    stage = STAGES.get(draft.state)
    if stage is None:
        raise CatalogueWorkflowError(f"草稿当前状态为“{STATE_LABELS[draft.state]}”，无需审查",
                                     status=409)
    capability, label, next_state = stage
    if not can(account, capability):
        raise CatalogueWorkflowError(f"您的角色不能进行{label}", status=403)
    opinion = (opinion or "").strip()
    if decision not in ("pass", "return"):
        raise CatalogueWorkflowError("审查结论：请选择“通过”或“退回”", field="decision")
    if decision == "return" and not opinion:
        raise CatalogueWorkflowError("审查意见：退回时必须写明理由", field="opinion")
    if len(opinion) > MAX_OPINION:
        raise CatalogueWorkflowError(f"审查意见：最多 {MAX_OPINION} 个字符", field="opinion")
    now = config.now_ts()
    with store.transaction():
        if decision == "return":
            _set_state(store, draft, "returned", now)
        elif next_state == "published":
            version = _publish(store, identity, config, draft, account, now)
            _set_state(store, draft, "published", now, version)
        else:
            _set_state(store, draft, next_state, now)
        store.add_review(ReviewRecord(0, draft_id, draft.state, decision, account.username,
                                      account.role, now, opinion))
        store.audit(now, account.username, f"catalogue.review_{decision}", draft.code,
                    {"draft": draft_id, "stage": draft.state, "opinion": opinion}, ip=ip,
                    before={"state": draft.state},
                    after={"state": _draft(store, draft_id).state})
    return _draft(store, draft_id)


def _publish(store: HubStore, identity: HubIdentity, config: HubConfig, draft: DraftRecord,
             account: Account, now: str) -> int:
    current = store.catalogue_item(draft.code)
    current_version = current.item_version if current else 0
    if current_version != draft.base_version:
        raise CatalogueWorkflowError(
            f"事项 {draft.code} 在起草后已发布了新版本（第 {current_version} 版），"
            "请退回后基于新版本重新起草", status=409)
    document = published_document(store) or {"version": 0, "items": []}
    items = [item for item in document["items"] if item["code"] != draft.code]
    if draft.action == "upsert":
        position = next((i for i, item in enumerate(document["items"])
                         if item["code"] == draft.code), len(items))
        items.insert(position, draft.content)
    new_doc = {"version": document["version"] + 1, "published_at": now[:10], "items": items}
    try:
        validate_catalogue(new_doc)
    except CatalogueError as exc:
        raise CatalogueWorkflowError(f"发布后的目录未通过校验：{exc.zh}") from None
    doc = publish_config(store, identity, config, CONFIG_CATALOGUE, new_doc, account.username)
    store.put_catalogue_item(CatalogueItemRecord(
        draft.code, draft.department,
        draft.content["name"] if draft.content else (current.name if current else draft.code),
        draft.content, current_version + 1, doc.version, draft.action == "withdraw"),
        draft_id=draft.id, published_at=now, published_by=account.username)
    return doc.version


# --------------------------------------------------------------------------- comparing


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(_flatten(sub, f"{path}.{key}" if path else key))
        return out
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return {path: "；".join(str(v) for v in value)}
        out = {}
        for i, sub in enumerate(value):
            key = sub.get("id") or sub.get("code") or str(i + 1) if isinstance(sub, dict) else str(i + 1)
            out.update(_flatten(sub, f"{path}[{key}]"))
        return out
    return {path: value}


@dataclass(frozen=True)
class Difference:
    path: str
    before: Any
    after: Any


def diff_items(before: dict | None, after: dict | None) -> list[Difference]:
    a, b = _flatten(before or {}), _flatten(after or {})
    return [Difference(path, a.get(path), b.get(path))
            for path in sorted(set(a) | set(b)) if a.get(path) != b.get(path)]
