"""Information disclosure (政府信息公开) at a township node, off-line.

Domain functions in the manner of :mod:`edge_node.cases.handling`: each takes the
:class:`~edge_node.node.Node` and the ``actor``, checks the rules of
:mod:`protocol.disclosure`, then writes ONE event and the document's projection in one
SQLite transaction (``disclosure.*`` events sync to the hub like case events).

The flow: :func:`draft` (a new document or a new version of one) → :func:`review`
(保密审查, by a reviewer other than the drafter, recorded by name) → :func:`publish`
(索引号 allocated, due date and lateness recorded) or, for a published document,
:func:`correct` (the reviewed new version replaces the public one; history kept) →
:func:`withdraw` / :func:`repeal` (normative documents). Nothing is ever deleted.

Attachments (:func:`store_attachment`) are stored content-addressed under
``DATA_DIR/attachments/<sha256[:2]>/<sha256>`` after their type (magic bytes: PDF, PNG,
JPEG) and size are checked; events reference them by sha256, name, type and size. The
attachment transport (a later issue) sends the files by hash.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from protocol import disclosure as rules
from protocol.calendar import shanghai_date, working_days_between
from protocol.envelope import decode_event_fast, format_ts

from ..accounts import users
from ..errors import NotFound, TransitionError, ValidationError
from ..store import disclosure as sql

DRAFT_ROLES = ("clerk", "handler", "reviewer", "approver", "head")
REVIEW_ROLES = ("reviewer", "head")
PUBLISH_ROLES = ("approver", "head")
WITHDRAW_ROLES = ("head",)
STATE_LABELS = {"draft": "草稿", "published": "已公开", "withdrawn": "已撤回"}


def _invalid(exc: rules.DisclosureError) -> ValidationError:
    return ValidationError(exc.field or "meta", "disclosure", exc.zh)


def body_of(node) -> tuple[str, str]:
    """The publishing body of this node: settings ``disclosure_body_code`` / ``_name``
    (the township government's org code), else the node's code and name."""
    settings = node.config.settings or {}
    return (settings.get("disclosure_body_code") or node.code,
            settings.get("disclosure_body_name") or node.config.name)


# --------------------------------------------------------------------------- attachments


def attachments_dir(node) -> Path:
    return Path(node.config.data_dir) / "attachments"


def attachment_path(node, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise NotFound("bad attachment hash", zh="附件不存在")
    return attachments_dir(node) / sha256[:2] / sha256


def store_attachment(node, name: Any, data: bytes, *,
                     max_bytes: int = rules.MAX_ATTACHMENT_BYTES) -> dict:
    """Check and store one file; returns its reference ``{sha256, name, mime, size}``."""
    try:
        checked = rules.check_attachment(name, data, max_bytes=max_bytes)
    except rules.DisclosureError as exc:
        raise _invalid(exc) from None
    sha = hashlib.sha256(data).hexdigest()
    path = attachment_path(node, sha)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    with node.store.transaction():
        sql.add_attachment(node.store, sha, checked.name, checked.mime, checked.size,
                           format_ts(node.now()))
    return {"sha256": sha, "name": checked.name, "mime": checked.mime, "size": checked.size}


# --------------------------------------------------------------------------- helpers


def _load(node, doc_id: str) -> dict:
    state = sql.document(node.store, doc_id)
    if state is None:
        raise NotFound(f"no document {doc_id}", zh=f"公开文件 {doc_id} 不存在")
    return state


def _write(node, state: dict | None, type_: str, body: dict, moment: datetime) -> dict:
    event = node.store.append_event(type_, None, body, at=moment)
    new = rules.apply_document_event(state, event.env)
    assert new is not None
    sql.save_document(node.store, new, event.seq)
    return new


def _actor(actor: Mapping) -> dict:
    return {"id": actor["id"], "role": actor["role"]}


def _reason(text: Any, label: str, max_len: int = 500) -> str:
    if not isinstance(text, str) or len(text.strip()) < 2:
        raise ValidationError("reason", "required", f"请填写{label}")
    if len(text.strip()) > max_len:
        raise ValidationError("reason", "max_length", f"{label}不能超过 {max_len} 个字")
    return text.strip()


def _drafter(state: dict, version: int) -> str | None:
    for line in state["history"]:
        if line["type"] == "disclosure.drafted" and line["version"] == version:
            return line["actor"]
    return None


def _timing(node, meta: Mapping, moment: datetime) -> tuple[str, str, int]:
    cal = node.store.calendar()
    made = rules.parse_date(meta["made_on"], "made_on", "生成日期")
    today = shanghai_date(moment)
    due = rules.proactive_due(cal, made)
    late = max(0, working_days_between(cal, due, today))
    return today.isoformat(), due.isoformat(), late


# --------------------------------------------------------------------------- actions


def draft(node, actor: Mapping, meta: Mapping[str, Any], *, doc_id: str | None = None) -> dict:
    """Draft a new document (``doc_id`` None) or a new version of one (before its first
    publication, or a correction of a published one). Returns the projection."""
    users.require_role(node, actor, DRAFT_ROLES)
    code, name = body_of(node)
    meta = {"body_code": code, "body_name": name, **meta}
    try:
        checked = rules.validate_document(meta)
    except rules.DisclosureError as exc:
        raise _invalid(exc) from None
    for ref in checked["attachments"]:
        if sql.attachment(node.store, ref["sha256"]) is None:
            raise ValidationError("attachments", "missing", f"附件“{ref['name']}”尚未上传到本节点")
    moment = node.now()
    with node.store.transaction():
        if doc_id is None:
            state = None
            doc_id = f"{node.code}-D{node.store.next_counter('disclosure_doc'):06d}"
            version = 1
        else:
            state = _load(node, doc_id)
            if state["state"] == "withdrawn":
                raise TransitionError("withdrawn", zh="已撤回的文件不能再修改", action="draft")
            version = max(int(v) for v in state["versions"]) + 1
        return _write(node, state, "disclosure.drafted",
                      {"actor": _actor(actor), "doc": doc_id, "version": version,
                       "meta": checked}, moment)


def review(node, actor: Mapping, doc_id: str, outcome: str, opinion: str) -> dict:
    """Confidentiality review (保密审查) of the newest drafted version."""
    user = users.require_role(node, actor, REVIEW_ROLES)
    if outcome not in ("pass", "fail"):
        raise ValidationError("outcome", "choice", "请选择审查结论")
    opinion = _reason(opinion, "审查意见", 1000)
    moment = node.now()
    with node.store.transaction():
        state = _load(node, doc_id)
        draft_ = state.get("draft")
        if state["state"] == "withdrawn" or draft_ is None:
            raise TransitionError("nothing to review", zh="没有待审查的版本", action="review")
        version = draft_["version"]
        published = state.get("published") or {}
        if published.get("version") == version or str(version) in state["reviews"]:
            raise TransitionError("already reviewed", zh=f"第 {version} 版已审查", action="review")
        if _drafter(state, version) == actor["id"]:
            raise TransitionError("self review", zh="保密审查须由起草人以外的人员进行",
                                  action="review")
        return _write(node, state, "disclosure.reviewed",
                      {"actor": _actor(actor), "doc": doc_id, "version": version,
                       "outcome": outcome, "opinion": opinion,
                       "reviewer_name": user["name"][:100]}, moment)


def _reviewed_draft(state: dict, action: str) -> dict:
    draft_ = state.get("draft")
    if draft_ is None:
        raise TransitionError("no draft", zh="没有可公开的版本", action=action)
    review_ = state["reviews"].get(str(draft_["version"]))
    if not review_ or review_["outcome"] != "pass":
        raise TransitionError("not reviewed", zh="该版本尚未通过保密审查，不能公开", action=action)
    return draft_


def publish(node, actor: Mapping, doc_id: str) -> dict:
    """Publish a reviewed draft: allocate its 索引号; record the due date and lateness."""
    users.require_role(node, actor, PUBLISH_ROLES)
    moment = node.now()
    with node.store.transaction():
        state = _load(node, doc_id)
        if state["state"] != "draft":
            raise TransitionError("not a draft", zh="只有草稿可以公开；已公开的文件请用“更正”",
                                  action="publish")
        draft_ = _reviewed_draft(state, "publish")
        published_on, due_on, late = _timing(node, draft_["meta"], moment)
        body_code = draft_["meta"]["body_code"]
        year = int(published_on[:4])
        seq = node.store.next_counter(f"disclosure_index:{body_code}:{year}")
        index_no = rules.format_index_no(body_code, year, seq)
        return _write(node, state, "disclosure.published",
                      {"actor": _actor(actor), "doc": doc_id, "version": draft_["version"],
                       "index_no": index_no, "published_on": published_on, "due_on": due_on,
                       "days_late": late}, moment)


def correct(node, actor: Mapping, doc_id: str, reason: str) -> dict:
    """Replace the public version of a published document with its reviewed new version."""
    users.require_role(node, actor, PUBLISH_ROLES)
    reason = _reason(reason, "更正理由")
    moment = node.now()
    with node.store.transaction():
        state = _load(node, doc_id)
        if state["state"] != "published":
            raise TransitionError("not published", zh="只有已公开的文件可以更正", action="correct")
        draft_ = _reviewed_draft(state, "correct")
        if draft_["version"] <= state["published"]["version"]:
            raise TransitionError("no new version", zh="请先起草更正后的新版本并通过保密审查",
                                  action="correct")
        published_on, due_on, late = _timing(node, draft_["meta"], moment)
        return _write(node, state, "disclosure.corrected",
                      {"actor": _actor(actor), "doc": doc_id, "version": draft_["version"],
                       "reason": reason, "published_on": published_on, "due_on": due_on,
                       "days_late": late}, moment)


def withdraw(node, actor: Mapping, doc_id: str, reason: str) -> dict:
    users.require_role(node, actor, WITHDRAW_ROLES)
    reason = _reason(reason, "撤回理由")
    moment = node.now()
    with node.store.transaction():
        state = _load(node, doc_id)
        if state["state"] != "published":
            raise TransitionError("not published", zh="只有已公开的文件可以撤回", action="withdraw")
        return _write(node, state, "disclosure.withdrawn",
                      {"actor": _actor(actor), "doc": doc_id, "reason": reason,
                       "withdrawn_on": shanghai_date(moment).isoformat()}, moment)


def repeal(node, actor: Mapping, doc_id: str, repealed_on: str, reason: str) -> dict:
    """Record that a rule or normative document (规章、行政规范性文件) was repealed."""
    users.require_role(node, actor, WITHDRAW_ROLES)
    reason = _reason(reason, "废止依据")
    try:
        day = rules.parse_date(repealed_on, "repealed_on", "废止日期")
    except rules.DisclosureError as exc:
        raise _invalid(exc) from None
    moment = node.now()
    with node.store.transaction():
        state = _load(node, doc_id)
        meta = (state.get("published") or {}).get("meta") or {}
        if state["state"] != "published" or meta.get("genre") not in (rules.GENRE_RULE,
                                                                       rules.GENRE_NORMATIVE):
            raise TransitionError("not normative", zh="只有已公开的规章或行政规范性文件可以登记废止",
                                  action="repeal")
        if state.get("repealed_on"):
            raise TransitionError("repealed", zh="该文件已登记废止", action="repeal")
        if day < rules.parse_date(meta["made_on"], "made_on", "生成日期"):
            raise ValidationError("repealed_on", "range", "废止日期不能早于文件生成日期")
        return _write(node, state, "disclosure.repealed",
                      {"actor": _actor(actor), "doc": doc_id, "reason": reason,
                       "repealed_on": day.isoformat()}, moment)


def document(node, doc_id: str) -> dict:
    return _load(node, doc_id)


def documents(node, *, state: str | None = None, limit: int = 200, offset: int = 0) -> list[dict]:
    return sql.documents(node.store, state=state, limit=limit, offset=offset)


def rebuild_matches(node, doc_id: str) -> bool:
    """The stored projection equals the fold of the document's events."""
    state = None
    for canonical, signature in sql.document_events(node.store, doc_id):
        state = rules.apply_document_event(state, decode_event_fast(canonical, signature).env)
    return state == sql.document(node.store, doc_id)
