"""Electronic supervision on the node: the same rules as the hub, run locally.

Staff see their warnings (预警、黄牌、红牌) while the node is off-line: the node runs
:func:`protocol.supervision.evaluate_case` over a case's own events, judged as of the
node's clock (``as_of = now``: the node knows everything about its own cases), with the
rule set the county published (``config.rules``, applied by :func:`apply_rules` during a
pull; the defaults until one arrives), the catalogue item and the node's calendar. Nothing
is stored: findings are recomputed on demand, and the hub keeps the alerts of record.

Helpers other screens can call: :func:`case_warnings` (one case) and
:func:`local_warnings` (every open case, most serious first).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from protocol import lifecycle
from protocol.supervision import LEVEL_LABELS, RuleSet, SupervisionError, evaluate_case

log = logging.getLogger(__name__)

RULES_META = "supervision_rules"
RULES_VERSION_META = "supervision_rules_version"
LEVEL_RANK = {"red": 0, "yellow": 1, "warning": 2, "info": 3}
MAX_OPEN_CASES = 2000      # a township's open cases; beyond that the page shows the first


def apply_rules(node, doc) -> None:
    """Apply a verified ``config.rules`` document (inside the pull's transaction).
    An invalid document raises :class:`SupervisionError` (a ``ProtocolError``)."""
    ruleset = RuleSet.from_document(doc.content)
    node.store.set_meta(RULES_META, json.dumps(ruleset.to_document(), ensure_ascii=False,
                                               sort_keys=True))
    node.store.set_meta(RULES_VERSION_META, str(ruleset.version))
    log.info("applied supervision rules version %d", ruleset.version)


def current_rules(node) -> RuleSet:
    text = node.store.meta(RULES_META)
    if not text:
        return RuleSet()
    try:
        return RuleSet.from_document(json.loads(text))
    except (ValueError, SupervisionError):
        log.warning("stored supervision rules are unreadable; using the defaults")
        return RuleSet()


def _item(node, code: str | None) -> dict | None:
    if not code:
        return None
    try:
        catalogue = node.store.catalogue()
        found = catalogue.by_code(code) if catalogue is not None else None
    except Exception:  # noqa: BLE001 - judged with the case's own stamped data
        found = None
    return dict(found) if found is not None else None


def case_warnings(node, case_no: str, *, rules: RuleSet | None = None,
                  calendar: Any = None, now: Any = None) -> list[dict]:
    """The findings for one local case, as dicts with ``level_zh``, most serious first."""
    events = node.store.case_events(case_no)
    if not events:
        return []
    state = node.store.case(case_no) or {}
    item = _item(node, (state.get("item") or {}).get("code"))
    findings = evaluate_case(events, item, rules or current_rules(node),
                             calendar or node.store.calendar(), now or node.now())
    out = [{**f.to_dict(), "level_zh": LEVEL_LABELS[f.level]} for f in findings]
    out.sort(key=lambda f: (LEVEL_RANK.get(f["level"], 9), f["rule_id"]))
    return out


def local_warnings(node, *, min_level: str = "warning") -> list[dict]:
    """Findings of every open case at or above ``min_level``, most serious first."""
    rules, calendar, now = current_rules(node), node.store.calendar(), node.now()
    floor = LEVEL_RANK.get(min_level, 2)
    out = []
    for state in node.store.cases_in_states(tuple(lifecycle.OPEN_STATES),
                                            limit=MAX_OPEN_CASES):
        for finding in case_warnings(node, state["case"], rules=rules, calendar=calendar,
                                     now=now):
            if LEVEL_RANK.get(finding["level"], 9) <= floor:
                out.append({**finding, "item": (state.get("item") or {}).get("name"),
                            "state": state.get("state")})
    out.sort(key=lambda f: (LEVEL_RANK.get(f["level"], 9), f["case"] or "", f["rule_id"]))
    return out
