"""Disclosure findings (:mod:`protocol.supervision.disclosure_rules`) stored as alerts.

An alert's ``dedupe_key`` is ``rule:subject``: while it is open, raising it again counts an
occurrence instead of a new alert (a projector rebuild or a daily tick repeats findings).
The responsible unit and person are the document's 责任处室 and 责任人, or the body
handling a request.
"""

from __future__ import annotations

from protocol.supervision.disclosure_rules import DisclosureFinding

from ..store.records import AlertRecord

ALERT_TYPE = "disclosure"


def raise_finding(store, finding: DisclosureFinding, *, raised_at: str, body: str | None,
                  unit: str | None = None, person: str | None = None,
                  node: str | None = None, seq: int | None = None) -> AlertRecord:
    rule = finding.rule
    return store.raise_alert(AlertRecord(
        alert_type=ALERT_TYPE, content=finding.content_zh, rule_id=finding.rule_id,
        raised_at=raised_at, level=finding.level, body=body, item_type="disclosure",
        responsible_unit=unit or body, responsible_person=person, node=node, seq=seq,
        details={**finding.details, "subject": finding.subject, "rule_version": rule.version,
                 "rule_name": rule.name_zh, "basis": rule.basis},
        dedupe_key=f"{finding.rule_id}:{finding.subject}"))


def disclosure_alerts(store, limit: int = 500) -> list[AlertRecord]:
    return store.alerts(alert_type=ALERT_TYPE, limit=limit)
