"""The hub's supervision alert service.

* **Raising** (:func:`supervision_projector`): a projector behind the ack path. For every
  case whose events arrive it runs :func:`protocol.supervision.evaluate_case` over all the
  case's stored events, judged **as of the node's last sync** (``caught_up_at``: what the
  hub cannot know yet, it does not judge), upserts one alert per (case, rule, level) and
  marks superseded, with the reason, the alerts the new evaluation no longer confirms.
  It stores per case a JSON summary and ``next_check``
  (:func:`protocol.supervision.next_change_date`) in an indexed column.
* **Tick** (:func:`tick`): per node, only cases whose ``next_check`` has come *and* lies on
  or before the node's last sync day are evaluated again (time rules only); nodes silent
  longer than the configured working days get an alert of their own (``S-01``); alerts
  left unanswered past their explanation deadline escalate by one grade (C → B → A).
* **Duty** (:func:`answer`, :func:`close`, :func:`escalate`): the responsible side
  answers with an explanation, a supervisor closes or escalates; every step is in the
  alert history. Nothing is ever deleted.
* **Versions** (:func:`publish_rules`, :func:`reevaluate`): rule sets are published as
  ``config.rules`` documents; each case keeps the version it was first judged under, and
  judging old cases under another version is an explicit, recorded action.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Sequence

from protocol.calendar import SHANGHAI, Calendar, add_working_days, working_days_between
from protocol.canonical import parse_canonical
from protocol.config_docs import CONFIG_RULES
from protocol.envelope import format_ts, parse_ts
from protocol.errors import ProtocolError
from protocol.supervision import (CASE_RULE_IDS, LEVEL_LABELS, ROUTES, RULES, TIME_RULE_IDS,
                                  CaseFacts, EvalContext, Finding, OverdueRecord, RuleSet,
                                  SupervisionError, case_facts, evaluate_case, evaluate_repeats,
                                  evaluate_time, next_change_date, superseded)

from ..calendar.service import CalendarCache
from ..errors import HubError
from ..orgs.service import OrgTree
from ..projection.base import Projector
from ..store import HubStore
from ..store import supervision as sql
from ..store.records import StoredEvent
from ..sync.publication import publish_config

logger = logging.getLogger(__name__)

SILENT_RULE = "S-01"
SILENT_ZH = "节点长时间未同步"
FOLLOW_UP_RULE = "E-01"      # 差评 not followed up by its date (portal settings)
FOLLOW_UP_ZH = "差评整改逾期"
INTERACTION_RULE = "E-02"    # consultation or complaint not answered by its date
INTERACTION_ZH = "诉求件办理逾期"
STATES_ZH = {"open": "待说明", "answered": "已说明", "closed": "已办结", "superseded": "已撤销（被后续事件否定）"}
GRADE_UP = {"C": "B", "B": "A", "A": "A"}
DUTIES = {"A": "department_head", "B": "deputy_in_charge", "C": "section_chief"}
"""Risk grade -> the org unit duty whose named holder answers for the alert."""

DEFAULT_SETTINGS: dict[str, Any] = {
    "explain_days": 3,        # working days to answer an alert with an explanation
    "max_escalation": 2,      # automatic escalations (C -> B -> A)
    "silence_days": 3,        # working days without contact before S-01
    "grades": {               # quarterly grade: minimum on-time % and maximum red cards
        "excellent": {"on_time_pct": 98, "max_red": 0},
        "good": {"on_time_pct": 95, "max_red": 1},
        "pass": {"on_time_pct": 90, "max_red": 3},
    },
}
GRADE_ZH = {"excellent": "优秀", "good": "良好", "pass": "合格", "fail": "不合格"}


# --------------------------------------------------------------------------- settings


def check_settings(content: Any) -> dict:
    """Validate hub-only supervision settings; HubError names the field."""
    if not isinstance(content, dict):
        raise HubError("settings must be an object", code="settings_invalid")
    out = json.loads(json.dumps(DEFAULT_SETTINGS))
    for key, value in content.items():
        if key not in DEFAULT_SETTINGS:
            raise HubError(f"未知设置项 {key}", code="settings_invalid", extra={"field": key})
        if key == "grades":
            if not isinstance(value, dict):
                raise HubError("grades 须为对象", code="settings_invalid", extra={"field": key})
            for grade, limits in value.items():
                if grade not in out["grades"] or not isinstance(limits, dict):
                    raise HubError(f"未知等级 {grade}", code="settings_invalid",
                                   extra={"field": f"grades.{grade}"})
                for name, number in limits.items():
                    if name not in ("on_time_pct", "max_red") or type(number) is not int \
                            or not 0 <= number <= 100_000 \
                            or (name == "on_time_pct" and number > 100):
                        raise HubError(f"grades.{grade}.{name} 须为合理的整数",
                                       code="settings_invalid",
                                       extra={"field": f"grades.{grade}.{name}"})
                    out["grades"][grade][name] = number
        else:
            if type(value) is not int or not 0 <= value <= 60:
                raise HubError(f"{key} 须为 0 至 60 的整数", code="settings_invalid",
                               extra={"field": key})
            out[key] = value
    return out


def current_settings(store: HubStore) -> dict:
    found = sql.settings(store)
    return check_settings(found[1]) if found else json.loads(json.dumps(DEFAULT_SETTINGS))


def save_settings(store: HubStore, content: dict, at: str, by: str) -> int:
    checked = check_settings(content)
    with store.transaction():
        version = sql.add_settings(store, checked, at, by)
        store.audit(at, by, "supervision.settings", str(version), checked)
    return version


# --------------------------------------------------------------------------- rule sets


class RuleBook:
    """The published rule sets, by version (version 0: the defaults, before any
    publication). Parsed once per projector run or tick."""

    def __init__(self, store: HubStore) -> None:
        self.sets: dict[int, RuleSet] = {}
        self.published: list[tuple[int, str]] = []
        for version, canonical, published_at in sql.config_versions(store, CONFIG_RULES):
            try:
                content = parse_canonical(canonical)["body"]["content"]
                self.sets[version] = RuleSet.from_document(content)
                self.published.append((version, published_at))
            except (ProtocolError, KeyError, TypeError, ValueError):
                logger.warning("config.rules version %s is unreadable; ignored", version)
        if not self.sets:
            self.sets[0] = RuleSet()

    @property
    def latest_version(self) -> int:
        return max(self.sets)

    def get(self, version: int) -> RuleSet:
        return self.sets.get(version) or self.sets[self.latest_version]

    def in_force_at(self, ts: datetime | None) -> int:
        """The version in force at ``ts`` (the newest published at or before it)."""
        if ts is None or not self.published:
            return self.latest_version
        best = None
        for version, published_at in self.published:
            try:
                if parse_ts(published_at) <= ts:
                    best = version
            except ProtocolError:
                continue
        return best if best is not None else min(self.sets)


def publish_rules(store: HubStore, identity, config, rules: RuleSet | dict,
                  published_by: str) -> int:
    """Check and publish a rule set as a signed ``config.rules`` document for nodes."""
    try:
        ruleset = rules if isinstance(rules, RuleSet) else RuleSet.from_document(rules)
    except SupervisionError as exc:
        raise HubError(f"规则配置无效：{exc.to_dict().get('zh', exc)}", code="rules_invalid",
                       extra={"field": exc.to_dict().get("field")}) from None
    latest = store.config(CONFIG_RULES)
    if latest is not None and ruleset.version <= latest.version:
        raise HubError(f"规则版本 {ruleset.version} 须大于已发布的版本 {latest.version}",
                       code="config_version_invalid", extra={"field": "version"})
    doc = publish_config(store, identity, config, CONFIG_RULES, ruleset.to_document(),
                         published_by=published_by)
    return doc.version


# --------------------------------------------------------------------------- evaluation


@dataclass
class Context:
    """What one projector run or tick reads once."""

    store: HubStore
    now: datetime
    calendars: CalendarCache = field(default_factory=CalendarCache)
    _book: RuleBook | None = None
    _items: dict = field(default_factory=dict)
    _nodes: dict = field(default_factory=dict)
    _units: dict | None = None
    _settings: dict | None = None
    _roster: tuple | None = None

    @property
    def book(self) -> RuleBook:
        if self._book is None:
            self._book = RuleBook(self.store)
        return self._book

    @property
    def calendar(self) -> Calendar:
        return self.calendars.get(self.store)

    @property
    def settings(self) -> dict:
        if self._settings is None:
            self._settings = current_settings(self.store)
        return self._settings

    def item(self, code: str | None, catalogue_version: int | None) -> dict | None:
        if not code:
            return None
        key = (code, catalogue_version)
        if key not in self._items:
            found = None
            try:
                versions = self.store.item_versions(code)
            except Exception:  # noqa: BLE001 - an unknown item is judged without it
                versions = []
            for version in versions:
                if version.content is not None and (
                        catalogue_version is None or version.catalogue_version <= catalogue_version):
                    found = version.content
            if found is None:
                record = self.store.catalogue_item(code)
                found = record.content if record is not None else None
            self._items[key] = found
        return self._items[key]

    def node_as_of(self, node: str) -> datetime:
        """The node's last sync (what the hub can vouch for), never later than now."""
        if node not in self._nodes:
            record = self.store.node(node)
            moment = None
            if record is not None:
                for text in (record.caught_up_at, record.last_seen):
                    if text:
                        try:
                            moment = parse_ts(text).astimezone(SHANGHAI)
                            break
                        except ProtocolError:
                            continue
            self._nodes[node] = min(moment or self.now, self.now)
        return self._nodes[node]

    def duty_holder(self, node: str | None, grade: str) -> str | None:
        """The named holder of the grade's duty (A 部门主要负责人, B 分管负责人, C 股（科）室负责人)
        in the node's org unit, else in the nearest unit above it that names one."""
        if self._roster is None:
            self._roster = (sql.duty_roster(self.store), OrgTree.load(self.store),
                            self.store.node_org_units())
        roster, tree, node_units = self._roster
        duty = DUTIES.get(grade, DUTIES["C"])
        for unit in reversed(tree.path(node_units.get(node or ""))):
            holder = roster.get(unit.code, {}).get(duty)
            if holder:
                return holder
        return None

    def unit_of(self, node: str | None) -> str | None:
        if self._units is None:
            names = {u.code: u.name for u in self.store.org_units()}
            self._units = {n: names.get(u, u) if u else None
                           for n, u in self.store.node_org_units().items()}
        if node is None:
            return None
        return self._units.get(node) or node


def _events(store: HubStore, case_no: str) -> list[dict]:
    """The case's stored envelopes. The bytes were authenticated on the ack path and their
    canonical form is checked by the content projector (an odd one is a finding there), so
    plain ``json.loads`` reads them here: a third of the tick's cost otherwise."""
    out = []
    for canonical in sql.case_event_bytes(store, case_no):
        try:
            env = json.loads(canonical)
        except ValueError:
            try:
                env = parse_canonical(canonical)
            except ProtocolError:
                continue
        if isinstance(env, dict):
            out.append(env)
    return out


def _summary(facts: CaseFacts, findings: Sequence[Finding]) -> dict:
    due = next((f.details.get("due") for f in findings if isinstance(f.details, dict)
                and f.details.get("due")), None)
    return {"state": facts.state, "item": facts.item_code,
            "accepted": facts.accepted.day.isoformat() if facts.accepted and facts.accepted.day
            else None,
            "closed": facts.closed_on.isoformat() if facts.closed_on else None,
            "due": due, "findings": sorted({f.rule_id for f in findings})}


def _explain_due(ctx: Context, day: date, days: int) -> str:
    try:
        found = add_working_days(ctx.calendar, day, days)
    except (ProtocolError, ValueError):
        found = None
    return (found or day + timedelta(days=days + days // 5 * 2)).isoformat()


def _alert_fields(ctx: Context, finding: Finding, item: dict | None, node: str,
                  raised_at: str) -> dict:
    route = finding.details.get("route") or {}
    grade = route.get("grade", "C")
    actor = (finding.responsible or {}).get("id")
    # A and B go to the named head / deputy; C to the member of staff who acted, else the
    # named section chief
    person = (actor or ctx.duty_holder(node, grade)) if grade == "C" \
        else (ctx.duty_holder(node, grade) or actor)
    role = f"{grade}:{ROUTES.get(grade, ROUTES['C'])[1]}"
    return {
        "case_no": finding.case, "content": finding.message_zh[:2000],
        "body": (item or {}).get("body", {}).get("name") if isinstance((item or {}).get("body"), dict)
        else node,
        "raised_at": raised_at, "rule_id": finding.rule_id, "alert_type": finding.alert_type,
        "level": finding.level, "responsible_unit": ctx.unit_of(node),
        "responsible_person": person, "responsible_role": role, "node": finding.node or node,
        "seq": finding.seq,
        "details": {**finding.details, "rule_version": finding.rule_version,
                    "ruleset_version": finding.ruleset_version, "basis": finding.basis,
                    "step": finding.step, "responsible": finding.responsible},
        "dedupe_key": f"sup:{finding.case}:{finding.rule_id}:{finding.level}",
        "explain_due": _explain_due(ctx, ctx.now.date(), ctx.settings["explain_days"]),
    }


def _store_findings(ctx: Context, case_no: str, node: str, item: dict | None,
                    findings: Sequence[Finding], scope: Iterable[str], reason: str) -> dict:
    """Upsert alerts for ``findings``; supersede the case's open alerts of rules in
    ``scope`` the findings no longer confirm. Returns counts."""
    store, now_ts = ctx.store, format_ts(ctx.now)
    raised = reopened = 0
    for finding in findings:
        existing = sql.alert_by_key(store, finding.case, finding.rule_id, finding.level)
        if existing is None:
            sql.insert_alert(store, _alert_fields(ctx, finding, item, node, now_ts))
            raised += 1
        elif existing["state"] == "superseded":
            sql.set_alert_state(store, existing["id"], "open", now_ts, "hub",
                                "再次确认：后续事件重新满足该规则",
                                explain_due=_explain_due(ctx, ctx.now.date(),
                                                         ctx.settings["explain_days"]))
            reopened += 1
        elif existing["state"] in sql.OPEN_STATES:
            sql.touch_alert(store, existing["id"], now_ts)
    old = [(a["case_no"], a["rule_id"], a["level"]) for a in sql.case_alerts(store, case_no)
           if a["state"] in sql.OPEN_STATES]
    stale = superseded(old, findings, rule_ids=scope)
    for key in stale:
        existing = sql.alert_by_key(store, *key)
        if existing is not None and existing["state"] in sql.OPEN_STATES:
            sql.set_alert_state(store, existing["id"], "superseded", now_ts, "hub", reason,
                                result=reason)
    return {"raised": raised, "reopened": reopened, "superseded": len(stale)}


@dataclass
class Judgement:
    """One evaluation of a stored case at the hub."""

    case_no: str
    node: str
    facts: CaseFacts
    item: dict | None
    rules: RuleSet
    ruleset_version: int
    as_of: datetime
    findings: list[Finding]


def judge_case(ctx: Context, case_no: str, *,
               ruleset_version: int | None = None) -> Judgement | None:
    """Every per-case finding for a stored case, judged as of its node's last sync, with
    the rule set pinned on the case (or in force at its acceptance) and the item at its
    catalogue version. None if the hub holds no readable event of the case."""
    events = _events(ctx.store, case_no)
    if not events:
        return None
    facts = case_facts(events)
    node = facts.node or events[0].get("node") or ""
    if ruleset_version is None:
        row = sql.case_row(ctx.store, case_no)
        if row is not None:
            ruleset_version = row["ruleset_version"]
        else:
            moment = (facts.accepted or facts.received)
            ruleset_version = ctx.book.in_force_at(moment.ts if moment else None)
    rules = ctx.book.get(ruleset_version)
    item = ctx.item(facts.item_code, facts.catalogue_version)
    as_of = ctx.node_as_of(node)
    findings = evaluate_case(events, item, rules, ctx.calendar, as_of, EvalContext(),
                             facts=facts)
    return Judgement(case_no, node, facts, item, rules, ruleset_version, as_of, findings)


def evaluate_stored_case(ctx: Context, case_no: str, *, ruleset_version: int | None = None,
                         reason: str | None = None) -> dict:
    """Evaluate one case from its stored events (all rules) and store the outcome."""
    store = ctx.store
    judged = judge_case(ctx, case_no, ruleset_version=ruleset_version)
    if judged is None:
        return {"raised": 0, "reopened": 0, "superseded": 0}
    facts, node, item, rules = judged.facts, judged.node, judged.item, judged.rules
    ruleset_version, as_of, findings = judged.ruleset_version, judged.as_of, judged.findings
    counts = _store_findings(ctx, case_no, node, item, findings, CASE_RULE_IDS,
                             reason or f"依据节点 {node} 截至 {format_ts(as_of)} 同步的事件重新判定，"
                                       "该预警不再成立")
    _repeats(ctx, case_no, node, rules, findings, as_of)
    next_day = next_change_date(facts, item, rules, ctx.calendar, after=as_of.date())
    sql.put_case(store, case_no=case_no, node=node, item_code=facts.item_code,
                 ruleset_version=ruleset_version, is_open=facts.is_open,
                 summary=_summary(facts, findings),
                 next_check=next_day.isoformat() if next_day else None,
                 evaluated_at=format_ts(ctx.now), judged_as_of=as_of.date().isoformat())
    return counts


def _repeats(ctx: Context, case_no: str, node: str, rules: RuleSet,
             findings: Sequence[Finding], as_of: datetime) -> None:
    """T-04 (重复超期): keep the case's overdue record, then judge the repeats among the
    records of its unit (the node's responsible unit) and of its responsible person."""
    store = ctx.store
    overdue = next((f for f in findings if f.rule_id == "T-02"
                    and isinstance(f.details.get("due"), str)), None)
    if overdue is None:
        sql.put_overdue(store, case_no, None, None, None)
        return
    try:
        overdue_on = date.fromisoformat(overdue.details["due"]) + timedelta(days=1)
    except ValueError:
        return
    unit = ctx.unit_of(node)
    person = (overdue.responsible or {}).get("id")
    sql.put_overdue(store, case_no, unit, person, overdue_on.isoformat())
    period = timedelta(days=rules.repeat_period_days)
    rows = sql.overdue_related(store, unit, person, (overdue_on - period).isoformat(),
                               (overdue_on + period).isoformat())
    records = [OverdueRecord(c, date.fromisoformat(d), u, p) for c, u, p, d in rows]
    hits = evaluate_repeats(records, rules, as_of)
    now_ts = format_ts(ctx.now)
    for finding in hits:
        existing = sql.alert_by_key(store, finding.case, finding.rule_id, finding.level)
        if existing is None:
            fields = _alert_fields(ctx, finding, None, node, now_ts)
            fields["responsible_unit"] = unit
            sql.insert_alert(store, fields)
        elif existing["state"] == "superseded":
            sql.set_alert_state(store, existing["id"], "open", now_ts, "hub",
                                "再次确认：重复超期")


def supervision_projector(clock=None):
    """The ``supervision`` projector (runs behind the ack path, like the others)."""
    def raise_from_events(store: HubStore, events: Sequence[StoredEvent]) -> None:
        cases = sorted({e.case_no for e in events if e.case_no})
        if not cases:
            return
        # hub time of the batch's arrival (stamped by the ack path), so a rebuild gives
        # the same times; the clock is used only when no event carries one
        arrivals = []
        for event in events:
            try:
                arrivals.append(parse_ts(event.received_at).astimezone(SHANGHAI))
            except (ProtocolError, TypeError):
                continue
        now = max(arrivals) if arrivals else _now(clock)
        ctx = Context(store, now)
        for case_no in cases:
            try:
                evaluate_stored_case(ctx, case_no)
            except (SupervisionError, HubError, ProtocolError):
                logger.exception("supervision could not evaluate case %s", case_no)

    def reset(store: HubStore) -> None:
        sql.reset(store)

    return Projector("supervision", (raise_from_events,), reset)


def _now(clock=None) -> datetime:
    if clock is not None:
        return clock().astimezone(SHANGHAI)
    return datetime.now(SHANGHAI)


# --------------------------------------------------------------------------- the tick


@dataclass
class TickReport:
    examined: int = 0
    raised: int = 0
    superseded: int = 0
    escalated: int = 0
    silent_nodes: int = 0
    citizen_overdue: int = 0
    seconds: float = 0.0
    complete: bool = True

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def tick(store: HubStore, now: datetime, *, limit_per_node: int = 100_000,
         calendars: CalendarCache | None = None,
         time_budget: float | None = None) -> TickReport:
    """The periodic tick: time rules for cases whose date has come, silent nodes,
    escalation of unanswered alerts. Incremental: a case is looked at only when its
    ``next_check`` has come and the node's last sync has reached it. With
    ``time_budget`` (seconds) it stops examining cases when the budget is spent; the rest
    stay due and the next run takes them (``report.complete`` is False then)."""
    started = time.perf_counter()
    ctx = Context(store, now.astimezone(SHANGHAI), calendars or CalendarCache())
    report = TickReport()
    today = ctx.now.date()
    with store.transaction():
        for node in sorted(n.code for n in store.nodes()):
            as_of = ctx.node_as_of(node)
            through = min(today, as_of.date()).isoformat()
            due = sql.due_cases(store, node, through, limit_per_node)
            updates = []
            for case_no, version in due:
                if time_budget is not None and time.perf_counter() - started > time_budget:
                    report.complete = False
                    break
                report.examined += 1
                events = _events(store, case_no)
                if not events:
                    updates.append((None, format_ts(ctx.now), as_of.date().isoformat(), case_no))
                    continue
                facts = case_facts(events)
                rules = ctx.book.get(version)
                item = ctx.item(facts.item_code, facts.catalogue_version)
                findings = evaluate_time(facts, item, rules, ctx.calendar, as_of)
                counts = _store_findings(
                    ctx, case_no, node, item, findings, TIME_RULE_IDS,
                    f"截至 {as_of.date().isoformat()} 的时效判定已变化（办结、进入下一级别或被后续事件否定）")
                report.raised += counts["raised"] + counts["reopened"]
                report.superseded += counts["superseded"]
                _repeats(ctx, case_no, node, rules, findings, as_of)
                nxt = next_change_date(facts, item, rules, ctx.calendar, after=as_of.date())
                updates.append((nxt.isoformat() if nxt else None, format_ts(ctx.now),
                                as_of.date().isoformat(), case_no))
            sql.set_next_check(store, updates)
        report.silent_nodes = _check_silent_nodes(ctx)
        report.citizen_overdue = _check_citizen_deadlines(ctx)
        report.escalated = _escalate_unanswered(ctx)
    report.seconds = time.perf_counter() - started
    return report


def _check_silent_nodes(ctx: Context) -> int:
    store, now_ts = ctx.store, format_ts(ctx.now)
    limit = ctx.settings["silence_days"]
    silent = 0
    for node in store.nodes():
        if node.status != "active":
            continue     # a quarantined or revoked node has alerts of its own
        key = f"sup:silent:{node.code}"
        existing = sql.latest_alert_by_dedupe(store, key)
        last = None
        for text in (node.last_seen, node.enrolled_at):
            if text:
                try:
                    last = parse_ts(text).astimezone(SHANGHAI)
                    break
                except ProtocolError:
                    continue
        if last is None:
            continue
        try:
            quiet = working_days_between(ctx.calendar, last.date(), ctx.now.date())
        except (ProtocolError, ValueError):
            quiet = (ctx.now.date() - last.date()).days
        if quiet >= limit and limit > 0:
            silent += 1
            # a new silence: no alert yet, or the last one ended before the node was last
            # heard from (superseded then, or closed by a supervisor during an earlier
            # silence); never a second alert for the same silence
            if existing is None or existing["state"] == "superseded" or (
                    existing["state"] == "closed"
                    and parse_ts(existing["raised_at"]) < last):
                sql.insert_alert(store, {
                    "case_no": None, "rule_id": SILENT_RULE, "alert_type": "integrity",
                    "level": "yellow", "raised_at": now_ts, "node": node.code,
                    "content": f"节点 {node.code}（{node.name}）已 {quiet} 个工作日未与县级平台同步"
                               f"（最后联系 {node.last_seen or '无'}），其办件的时效暂无法判定。",
                    "responsible_unit": ctx.unit_of(node.code),
                    "responsible_role": "B:" + ROUTES["B"][1],
                    "responsible_person": ctx.duty_holder(node.code, "B"),
                    "details": {"last_seen": node.last_seen, "working_days": quiet,
                                "threshold": limit, "route": {"grade": "B"}},
                    "dedupe_key": key,
                    "explain_due": _explain_due(ctx, ctx.now.date(), ctx.settings["explain_days"])})
        elif existing is not None and existing["state"] in sql.OPEN_STATES:
            sql.set_alert_state(store, existing["id"], "superseded", now_ts, "hub",
                                f"节点已于 {node.last_seen} 恢复同步",
                                result=f"节点已于 {node.last_seen} 恢复同步")
    return silent


def _check_citizen_deadlines(ctx: Context) -> int:
    """E-01 and E-02: a 差评 not followed up, or a consultation or complaint not answered, by
    its date gets one yellow alert for its unit (dedupe per evaluation / per number); the
    alert is superseded, never deleted, once the answer is recorded."""
    store, now_ts, today = ctx.store, format_ts(ctx.now), ctx.now.date().isoformat()
    explain_due = _explain_due(ctx, ctx.now.date(), ctx.settings["explain_days"])
    overdue = 0
    for row in sql.overdue_follow_ups(store, today):
        overdue += 1
        key = f"sup:follow_up:{row['id']}"
        if sql.latest_alert_by_dedupe(store, key) is not None:
            continue     # one alert per evaluation / request, even once a supervisor closed it
        level = "非常不满意" if row["level"] == 5 else "不满意"
        sql.insert_alert(store, {
            "case_no": row["case_no"], "rule_id": FOLLOW_UP_RULE, "alert_type": "timeliness",
            "level": "yellow", "raised_at": now_ts, "node": row["node"],
            "content": f"办件 {row['case_no']} 的差评（{level}，{(row['rated_at'] or '')[:10]}）"
                       f"整改期限 {row['due']} 已过，尚未回复整改情况。",
            "responsible_unit": row["unit"] or ctx.unit_of(row["node"]),
            "responsible_role": "C:" + ROUTES["C"][1],
            "responsible_person": ctx.duty_holder(row["node"], "C"),
            "details": {"evaluation": row["id"], "due": row["due"], "route": {"grade": "C"}},
            "dedupe_key": key, "explain_due": explain_due})
    for row in sql.overdue_interactions(store, today):
        overdue += 1
        key = f"sup:interaction:{row['no']}"
        if sql.latest_alert_by_dedupe(store, key) is not None:
            continue     # one alert per evaluation / request, even once a supervisor closed it
        kind = "投诉" if row["kind"] == "complaint" else "咨询"
        sql.insert_alert(store, {
            "case_no": row["case_no"], "rule_id": INTERACTION_RULE, "alert_type": "timeliness",
            "level": "yellow", "raised_at": now_ts, "node": None,
            "content": f"{kind} {row['no']}（{row['subject'][:60]}）办理期限 {row['due']} 已过，"
                       f"尚未答复。",
            "responsible_unit": row["owner"] or row["unit"],
            "responsible_role": "C:" + ROUTES["C"][1],
            "details": {"interaction": row["no"], "due": row["due"], "route": {"grade": "C"}},
            "dedupe_key": key, "explain_due": explain_due})
    for alert in sql.open_alerts_of_rule(store, FOLLOW_UP_RULE):
        answered = sql.follow_up_answered_at(store, alert["details"].get("evaluation") or 0)
        if answered:
            note = f"已于 {answered[:16].replace('T', ' ')} 回复整改情况"
            sql.set_alert_state(store, alert["id"], "superseded", now_ts, "hub", note,
                                result=note)
    for alert in sql.open_alerts_of_rule(store, INTERACTION_RULE):
        found = sql.interaction_state(store, alert["details"].get("interaction") or "")
        if found is not None and found[0] in ("answered", "closed"):
            note = f"已于 {(found[1] or now_ts)[:16].replace('T', ' ')} 答复"
            sql.set_alert_state(store, alert["id"], "superseded", now_ts, "hub", note,
                                result=note)
    return overdue


def _escalate_unanswered(ctx: Context) -> int:
    store, now_ts = ctx.store, format_ts(ctx.now)
    cap = ctx.settings["max_escalation"]
    done = 0
    for alert in sql.overdue_unanswered(store, ctx.now.date().isoformat()):
        if alert["escalation"] >= cap:
            continue
        done += 1
        _raise_grade(ctx, alert, now_ts, "hub",
                     f"逾期未说明（说明期限 {alert['explain_due']}），自动升级")
    return done


def _raise_grade(ctx: Context, alert: dict, at: str, by: str, note: str) -> None:
    grade = (alert.get("responsible_role") or "C:").split(":")[0] or "C"
    up = GRADE_UP.get(grade, "A")
    holder = ctx.duty_holder(alert.get("node"), up)
    sql.set_alert_state(ctx.store, alert["id"], "open", at, by,
                        f"{note}：转{ROUTES[up][1]}"
                        f"{f'（{holder}）' if holder else ''}（第 {alert['escalation'] + 1} 次升级）",
                        escalation=alert["escalation"] + 1,
                        responsible_role=f"{up}:{ROUTES[up][1]}", responsible_person=holder,
                        explain_due=_explain_due(ctx, ctx.now.date(),
                                                 ctx.settings["explain_days"]))


# --------------------------------------------------------------------------- answers and decisions


class AlertActionError(HubError):
    code = "alert_action_invalid"


def _open_alert(store: HubStore, alert_id: int, states: Sequence[str]) -> dict:
    alert = sql.alert_row(store, alert_id)
    if alert is None or alert["item_type"] != sql.SUPERVISION:
        raise AlertActionError("没有该监察预警", code="alert_unknown")
    if alert["state"] not in states:
        raise AlertActionError(f"预警当前状态为“{STATES_ZH.get(alert['state'])}”，不能进行此操作",
                               extra={"field": "state"})
    return alert


def _text(value: str, field_name: str, label: str) -> str:
    value = (value or "").strip()
    if len(value) < 2:
        raise AlertActionError(f"{label}：请至少填写 2 个字", extra={"field": field_name})
    if len(value) > 2000:
        raise AlertActionError(f"{label}：最多 2000 个字", extra={"field": field_name})
    return value


def answer(store: HubStore, alert_id: int, explanation: str, by: str, now: datetime) -> None:
    """The responsible side explains (an open alert becomes answered)."""
    text = _text(explanation, "explanation", "情况说明")
    with store.transaction():
        _open_alert(store, alert_id, ("open",))
        sql.set_alert_state(store, alert_id, "answered", format_ts(now), by, f"情况说明：{text}")


def close(store: HubStore, alert_id: int, decision: str, by: str, now: datetime) -> None:
    """A supervisor closes an alert with a result (处理结果)."""
    text = _text(decision, "decision", "处理意见")
    with store.transaction():
        _open_alert(store, alert_id, sql.OPEN_STATES)
        sql.set_alert_state(store, alert_id, "closed", format_ts(now), by, f"办结：{text}",
                            result=text)


def escalate(store: HubStore, alert_id: int, note: str, by: str, now: datetime) -> None:
    """A supervisor escalates an alert to the next grade (its answer is not accepted)."""
    text = _text(note, "decision", "升级理由")
    with store.transaction():
        alert = _open_alert(store, alert_id, sql.OPEN_STATES)
        _raise_grade(Context(store, now.astimezone(SHANGHAI)), alert, format_ts(now), by,
                     f"监察人员升级：{text}")


# --------------------------------------------------------------------------- re-evaluation


def reevaluate(store: HubStore, *, to_version: int | None, by: str, now: datetime,
               scope: str = "open", note: str | None = None,
               calendars: CalendarCache | None = None) -> dict:
    """Judge old cases under another rule set version: an explicit, recorded action.
    Past alerts are kept; those the new judgement no longer confirms are superseded with
    the reason. ``scope``: "open" (open cases) or "all"."""
    ctx = Context(store, now.astimezone(SHANGHAI), calendars or CalendarCache())
    version = ctx.book.latest_version if to_version is None else to_version
    if version not in ctx.book.sets:
        raise HubError(f"规则版本 {version} 未发布", code="rules_unknown",
                       extra={"field": "version"})
    if scope not in ("open", "all"):
        raise HubError("范围须为 open 或 all", code="scope_invalid", extra={"field": "scope"})
    with store.transaction():
        cases = sql.case_numbers(store, open_only=scope == "open")
        totals = {"cases": len(cases), "raised": 0, "superseded": 0}
        for case_no in cases:
            counts = evaluate_stored_case(ctx, case_no, ruleset_version=version,
                                          reason=f"按规则版本 {version} 重新判定（{by} 执行），"
                                                 "该预警不再成立")
            totals["raised"] += counts["raised"] + counts["reopened"]
            totals["superseded"] += counts["superseded"]
        run_id = sql.add_reevaluation(store, at=format_ts(now), by=by, to_version=version,
                                      scope=scope, cases=len(cases), note=note)
        store.audit(format_ts(now), by, "supervision.reevaluate", str(version),
                    {**totals, "scope": scope, "run": run_id})
    return {**totals, "version": version, "run": run_id}


def level_label(level: str) -> str:
    return LEVEL_LABELS.get(level, level)


def rule_label(rule_id: str) -> str:
    if rule_id == SILENT_RULE:
        return SILENT_ZH
    rule = RULES.get(rule_id)
    return rule.name_zh if rule is not None else rule_id
