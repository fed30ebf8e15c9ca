"""Domain rules of the public portal (公众门户): case look-up by number and query code,
evaluations (好差评, five levels of GB/T 39734 / 国办发〔2019〕51号), the follow-up of a
bad evaluation, consultations and complaints (诉求件). SQL in :mod:`central_hub.store.face`.

Settings (``face_settings``; screen ``/evaluations/settings``):

* ``evaluation.follow_up_days``: working days the handling unit has to answer a bad
  evaluation (default 5; 1..15, the range of local rules);
* ``interaction.due_days``: working days to answer a consultation or complaint (default 10).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from protocol.calendar import SHANGHAI, add_working_days
from protocol.envelope import parse_ts
from protocol.errors import ProtocolError
from protocol.lifecycle import STATE_LABELS
from web.inputs import ascii_digits, same_secret, to_int
from web.templating import mask_name

from ..errors import HubError
from ..store import face as sql

LEVELS = {1: "非常满意", 2: "满意", 3: "基本满意", 4: "不满意", 5: "非常不满意"}
BAD_LEVELS = (4, 5)
STAGES = {"accept": "受理环节", "complete": "办结环节"}
CHANNELS = {"pc": "网站", "mobile": "移动端", "qr": "二维码", "terminal": "大厅评价器",
            "phone": "电话", "sms": "短信"}
INTERACTION_KINDS = {"consult": "咨询", "complaint": "投诉"}
INTERACTION_STATES = {"open": "待办理", "in_progress": "办理中", "answered": "已答复",
                      "closed": "已办结"}
SETTINGS = {  # key: (label, default, minimum, maximum)
    "evaluation.follow_up_days": ("差评整改期限（工作日）", 5, 1, 15),
    "interaction.due_days": ("咨询投诉办理期限（工作日）", 10, 1, 30),
}
MAX_TEXT = 1000


class PortalError(HubError):
    """A portal input that cannot be accepted; ``field`` names the form field."""

    code = "portal_invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, extra={"field": field})
        self.field = field


def setting(store, key: str) -> int:
    label, default, lo, hi = SETTINGS[key]
    raw = sql.settings(store).get(key)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return min(max(value, lo), hi)


def verify_case(store, case_no: str, query_code: str) -> dict | None:
    """The projected case row if ``query_code`` is its code (constant-time compare)."""
    case_no = (case_no or "").strip()[:64]
    code = (query_code or "").strip()[:32]
    state = store.case_states([case_no]).get(case_no) if case_no else None
    expected = (state or {}).get("query_code") or ""
    # compare even when the case is unknown, so timing says nothing about existence
    ok = same_secret(code.ljust(32, "\0"), expected.ljust(32, "\0"))
    if not (state and expected and code and ok):
        return None
    return store.case(case_no)


def public_view(row: dict) -> dict:
    """What the portal shows of a case: nothing personal beyond the masked name."""
    return {"case_no": row["case_no"], "item_name": row["item_name"],
            "applicant": row["applicant_masked"] or "", "state": row["state"],
            "state_label": STATE_LABELS.get(row["state"], row["state"]),
            "received_at": row["received_at"], "accepted_date": row["accepted_date"],
            "due_date": row["due_date"], "completed_at": row["completed_at"],
            "delivered_at": row["delivered_at"]}


def open_stages(row: dict, evaluated: set[str]) -> list[str]:
    """Stages the citizen may still evaluate: acceptance once the case was accepted or
    refused, completion once it was completed; each once."""
    out = []
    if row["accepted_date"] or row["state"] == "refused" or row["accepted_at"]:
        out.append("accept")
    if row["completed_at"] or row["state"] in ("completed", "delivered"):
        out.append("complete")
    return [s for s in out if s not in evaluated]


def _level(raw: str, field: str) -> int:
    level = to_int(str(raw).strip(), max_digits=2)
    if level not in LEVELS:
        raise PortalError(field, "评价等级：请选择非常满意、满意、基本满意、不满意或非常不满意")
    return level


def _text(raw: str, field: str, label: str, *, required: bool, max_len: int = MAX_TEXT,
          min_len: int = 1) -> str:
    text = (raw or "").strip().replace("\r\n", "\n")
    if required and len(text) < min_len:
        raise PortalError(field, f"{label}：请填写（至少 {min_len} 个字）")
    if len(text) > max_len:
        raise PortalError(field, f"{label}：最多 {max_len} 个字（现有 {len(text)} 个）")
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise PortalError(field, f"{label}：含有不可见的控制字符")
    return text


@dataclass(frozen=True)
class Evaluated:
    id: int
    bad: bool
    unit: str | None
    follow_up_due: str | None


def record_node_evaluation(store, calendar, *, node: str, seq: int, body: dict,
                           ts: str) -> int | None:
    """Project an ``evaluation.given`` event (好差评 at a township centre's terminal) into
    ``evaluations``, with the portal's rules: once per case and stage (the first to arrive
    stands), a 差评 owned by the handling unit with a follow-up date. None when the stage
    already has an evaluation, or the body does not hold one (the content check has
    flagged it)."""
    case_no, stage, level = body.get("case"), body.get("stage"), body.get("level")
    if not isinstance(case_no, str) or stage not in STAGES or type(level) is not int \
            or level not in LEVELS:
        return None
    try:
        rated = parse_ts(ts).astimezone(SHANGHAI)
    except ProtocolError:
        return None
    row = store.case(case_no) or {}
    bad = level in BAD_LEVELS
    due = None
    if bad:
        days = setting(store, "evaluation.follow_up_days")
        due = (add_working_days(calendar, rated.date(), days) or rated.date()).isoformat()
    channel = body.get("channel") if body.get("channel") in CHANNELS else "terminal"
    return sql.add_evaluation(store, {
        "case_no": case_no, "stage": stage, "channel": channel, "level": level,
        "text": (body.get("text") or "")[:MAX_TEXT], "rated_at": ts,
        "day": rated.date().isoformat(), "area": node, "node": row.get("node") or node,
        "item_code": row.get("item_code"), "unit": handling_unit(store, node) if bad else None,
        "rater": "", "real_name": 0, "follow_up_due": due,
        "source_node": node, "source_seq": seq})


def handling_unit(store, node: str) -> str:
    """The unit that owns a bad evaluation: the org unit of the node that handled the case
    (the node code itself if the node has no unit yet)."""
    return store.node_org_units().get(node) or node


def evaluate(store, calendar, row: dict, *, stage: str, level: str, text: str, channel: str,
             rater: str, now_ts: str, today: date) -> Evaluated:
    if stage not in STAGES:
        raise PortalError("stage", "评价环节：请选择受理环节或办结环节")
    evaluated = {e["stage"] for e in sql.case_evaluations(store, row["case_no"])}
    if stage in evaluated:
        raise PortalError("stage", f"该办件的{STAGES[stage]}已评价过，每个环节只能评价一次")
    if stage not in open_stages(row, evaluated):
        raise PortalError("stage", f"该办件尚未到{STAGES[stage]}，暂不能评价")
    value = _level(level, "level")
    words = _text(text, "text", "评价内容", required=value in BAD_LEVELS, min_len=2)
    if channel not in CHANNELS:
        channel = "pc"
    bad = value in BAD_LEVELS
    unit = handling_unit(store, row["node"]) if bad else None
    due = None
    if bad:
        days = setting(store, "evaluation.follow_up_days")
        found = add_working_days(calendar, today, days)
        due = (found or today).isoformat()
    eval_id = sql.add_evaluation(store, {
        "case_no": row["case_no"], "stage": stage, "channel": channel, "level": value,
        "text": words, "rated_at": now_ts, "day": today.isoformat(), "area": row["node"],
        "node": row["node"], "item_code": row["item_code"], "unit": unit,
        "rater": (rater or "")[:50], "real_name": 0, "follow_up_due": due})
    if eval_id is None:
        raise PortalError("stage", f"该办件的{STAGES[stage]}已评价过，每个环节只能评价一次")
    return Evaluated(eval_id, bad, unit, due)


def answer_evaluation(store, eval_id: int, answer: str, *, by: str, now_ts: str) -> None:
    row = sql.evaluation(store, eval_id)
    if row is None or row["level"] not in BAD_LEVELS:
        raise PortalError("answer", "只有差评需要整改答复")
    if row["answer"]:
        raise PortalError("answer", "该差评已答复")
    text = _text(answer, "answer", "整改答复", required=True, min_len=4)
    sql.answer_evaluation(store, eval_id, text, now_ts, by)


def rate_follow_up(store, row: dict, eval_id: int, level: str, now_ts: str) -> None:
    record = sql.evaluation(store, eval_id)
    if record is None or record["case_no"] != row["case_no"]:
        raise PortalError("level", "没有这条评价")
    if not record["answer"]:
        raise PortalError("level", "办理单位尚未答复，答复后可评价整改结果")
    if record["follow_up_level"] is not None:
        raise PortalError("level", "整改结果已评价过")
    if not sql.rate_follow_up(store, eval_id, _level(level, "level"), now_ts):
        raise PortalError("level", "整改结果已评价过")


# --------------------------------------------------------------------------- 诉求件


def new_interaction_no(kind: str, today: date) -> str:
    prefix = "ZX" if kind == "consult" else "TS"
    return f"{prefix}{today:%Y%m%d}-{secrets.token_hex(5).upper()}"


def normalise_no(raw: str) -> str | None:
    text = (raw or "").strip().upper()[:40]
    if len(text) == 21 and text[:2] in ("ZX", "TS") and ascii_digits(text[2:10], 8) \
            and text[10] == "-" and all(c in "0123456789ABCDEF" for c in text[11:]):
        return text
    return None


def submit_interaction(store, calendar, *, form: dict, today: date, now_ts: str,
                       units: dict[str, str]) -> dict:
    kind = form.get("kind", "")
    if kind not in INTERACTION_KINDS:
        raise PortalError("kind", "类型：请选择咨询或投诉")
    subject = _text(form.get("subject", ""), "subject", "标题", required=True, max_len=100,
                    min_len=2)
    text = _text(form.get("text", ""), "text", "内容", required=True, min_len=5,
                 max_len=2000)
    name = _text(form.get("name", ""), "name", "姓名", required=True, max_len=50)
    contact = _text(form.get("contact", ""), "contact", "联系电话", required=True, max_len=20,
                    min_len=5)
    if not all(c in "0123456789-+ " for c in contact):
        raise PortalError("contact", "联系电话：只能填写数字、空格、+ 和 -")
    unit = (form.get("unit") or "").strip()
    if unit and unit not in units:
        raise PortalError("unit", "办理单位：请从列表中选择")
    case_no = (form.get("case_no") or "").strip()[:64] or None
    days = setting(store, "interaction.due_days")
    due = add_working_days(calendar, today, days) or today
    row = {"no": new_interaction_no(kind, today), "kind": kind, "subject": subject,
           "text": text, "name_masked": mask_name(name), "contact": contact,
           "case_no": case_no, "unit": unit or None, "received_at": now_ts,
           "due_date": due.isoformat(), "state": "open", "owner": units.get(unit)}
    sql.add_interaction(store, row, "portal")
    return row


def act_on_interaction(store, no: str, *, action: str, note: str, by: str, now_ts: str,
                       owner: str | None = None) -> None:
    row = sql.interaction(store, no)
    if row is None:
        raise PortalError("no", "没有这件诉求")
    if row["state"] == "closed":
        raise PortalError("action", "该诉求已办结")
    if action == "claim":
        sql.act_on_interaction(store, no, state="in_progress", at=now_ts, actor=by,
                               note=_text(note, "note", "说明", required=False, max_len=500),
                               owner=owner)
    elif action == "answer":
        text = _text(note, "note", "答复内容", required=True, min_len=4, max_len=2000)
        sql.act_on_interaction(store, no, state="answered", at=now_ts, actor=by, note=None,
                               answer=text, owner=owner)
    elif action == "close":
        if row["state"] != "answered":
            raise PortalError("action", "答复后才能办结")
        sql.act_on_interaction(store, no, state="closed", at=now_ts, actor=by,
                               note=_text(note, "note", "说明", required=False, max_len=500))
    else:
        raise PortalError("action", "操作：请选择受理、答复或办结")
