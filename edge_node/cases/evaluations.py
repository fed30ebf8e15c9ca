"""好差评 at the centre's own terminal (大厅评价器, the QR code on the receipt).

A citizen who has just been served looks the case up at the self-service terminal with its
number and query code (``/kiosk/status``) and rates the stage they went through: 受理环节
once the case is accepted, 办结环节 once it is completed. :func:`give` checks the rules
and writes a row and a signed ``evaluation.given`` event in one transaction; nothing waits
on the network. At the hub the event becomes an evaluation of channel ``terminal`` (or
``qr``), with the same follow-up duty for a 差评 (level 4 or 5) as one given on the portal.

Rules (GB/T 39734, 国办发〔2019〕51号): five levels, 1 非常满意 … 5 非常不满意; one
evaluation per case and stage; a 差评 needs a reason (2-500 characters).
"""

from __future__ import annotations

from web.inputs import to_int

from ..errors import NotFound, ValidationError
from ..store import evaluations as sql

LEVELS = {1: "非常满意", 2: "满意", 3: "基本满意", 4: "不满意", 5: "非常不满意"}
BAD_LEVELS = (4, 5)
STAGES = {"accept": "受理环节", "complete": "办结环节"}
CHANNELS = ("terminal", "qr")
MAX_TEXT = 500


def open_stages(node, case_no: str) -> list[str]:
    """The stages of the case the citizen may still rate here, in order."""
    state = node.store.case(case_no)
    if state is None:
        return []
    reached = []
    if state.get("accepted_at"):
        reached.append("accept")
    if state.get("completed_at"):
        reached.append("complete")
    done = sql.given(node.store, case_no)
    return [stage for stage in reached if stage not in done]


def give(node, case_no: str, stage: str, level: str | int, text: str | None,
         channel: str = "terminal") -> int:
    """Record the citizen's rating of ``stage``; returns the event's seq. Raises
    ValidationError (field, rule, Chinese message) and writes nothing on bad input."""
    if node.store.case(case_no) is None:
        raise NotFound(f"no case {case_no}", zh="没有找到该办件")
    if stage not in STAGES:
        raise ValidationError("stage", "choice", "评价环节：请选择受理环节或办结环节")
    value = level if isinstance(level, int) else to_int(level, max_digits=2)
    if value not in LEVELS:
        raise ValidationError("level", "choice", "满意度：请选择非常满意到非常不满意中的一项")
    words = " ".join((text or "").split())
    if value in BAD_LEVELS and len(words) < 2:
        raise ValidationError("text", "required", "评价内容：不满意时请写明原因（至少 2 个字）")
    if len(words) > MAX_TEXT:
        raise ValidationError("text", "length", f"评价内容：最多 {MAX_TEXT} 个字")
    if channel not in CHANNELS:
        channel = "terminal"
    store = node.store
    with store.transaction():
        if stage not in open_stages(node, case_no):
            done = stage in sql.given(store, case_no)
            raise ValidationError(
                "stage", "once" if done else "not_reached",
                f"该办件的{STAGES[stage]}已评价过，每个环节只能评价一次" if done
                else f"该办件尚未到{STAGES[stage]}，暂不能评价")
        event = store.append_event("evaluation.given", None, {
            "case": case_no, "stage": stage, "level": value, "text": words or None,
            "channel": channel})
        sql.add(store, case_no, stage, value, words or None, event.ts, event.seq)
    return event.seq


def ratings(node, case_no: str) -> list[dict]:
    """The ratings given here for the case, for its page: stage, level, text, time."""
    return [{"stage": STAGES.get(stage, stage), "level": row["level"],
             "label": LEVELS.get(row["level"], ""), "bad": row["level"] in BAD_LEVELS,
             "text": row["text"], "at": row["at"]}
            for stage, row in sql.given(node.store, case_no).items()]
