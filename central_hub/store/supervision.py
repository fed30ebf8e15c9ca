"""SQL of electronic supervision at the hub (tables of migration ``supervision_0001``).

Functions take the :class:`~central_hub.store.sqlite.SqliteHubStore`; writes run inside the
caller's transaction when there is one (the supervision projector and the tick hold it).
Alerts live in the shared ``alerts`` table (never deleted, every state change in
``alert_history``); supervision alerts have ``item_type = 'supervision'`` and one row per
(case, rule, level).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

SUPERVISION = "supervision"
ALERT_COLUMNS = ("id, supervision_no, case_no, content, body, item_type, raised_at, "
                 "last_raised_at, occurrences, rule_id, alert_type, level, state, "
                 "state_changed_at, result, responsible_unit, responsible_person, node, seq, "
                 "details, dedupe_key, responsible_role, explain_due, escalation")
_NAMES = [c.strip() for c in ALERT_COLUMNS.split(",")]
OPEN_STATES = ("open", "answered")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _row(row: Sequence) -> dict:
    out = dict(zip(_NAMES, row))
    out["details"] = json.loads(out["details"] or "{}")
    return out


# --------------------------------------------------------------------------- events


def case_event_bytes(store, case_no: str) -> list[bytes]:
    """The canonical bytes of every stored event of a case (any node), in log order."""
    return [bytes(r[0]) for r in store.conn.execute(
        "SELECT canonical FROM events WHERE case_no = ? ORDER BY position", (case_no,))]


# --------------------------------------------------------------------------- cases


def case_row(store, case_no: str) -> dict | None:
    row = store.conn.execute(
        "SELECT case_no, node, item_code, ruleset_version, is_open, summary, next_check, "
        "evaluated_at, judged_as_of FROM supervision_cases WHERE case_no = ?",
        (case_no,)).fetchone()
    if row is None:
        return None
    keys = ("case_no", "node", "item_code", "ruleset_version", "is_open", "summary",
            "next_check", "evaluated_at", "judged_as_of")
    out = dict(zip(keys, row))
    out["summary"] = json.loads(out["summary"])
    return out


def put_case(store, *, case_no: str, node: str, item_code: str | None, ruleset_version: int,
             is_open: bool, summary: dict, next_check: str | None, evaluated_at: str,
             judged_as_of: str) -> None:
    store.conn.execute(
        "INSERT INTO supervision_cases (case_no, node, item_code, ruleset_version, is_open, "
        "summary, next_check, evaluated_at, judged_as_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (case_no) DO UPDATE SET node = excluded.node, "
        "item_code = excluded.item_code, ruleset_version = excluded.ruleset_version, "
        "is_open = excluded.is_open, summary = excluded.summary, "
        "next_check = excluded.next_check, evaluated_at = excluded.evaluated_at, "
        "judged_as_of = excluded.judged_as_of",
        (case_no, node, item_code, ruleset_version, int(is_open), _dumps(summary), next_check,
         evaluated_at, judged_as_of))


def set_next_check(store, rows: Iterable[tuple[str | None, str, str, str]]) -> None:
    """(next_check, evaluated_at, judged_as_of, case_no) rows."""
    store.conn.executemany(
        "UPDATE supervision_cases SET next_check = ?, evaluated_at = ?, judged_as_of = ? "
        "WHERE case_no = ?", list(rows))


def due_cases(store, node: str, through: str, limit: int) -> list[tuple[str, int]]:
    """(case_no, ruleset_version) of ``node``'s cases whose next check is on or before
    ``through`` (an ISO date), by the partial index (node, next_check)."""
    return store.conn.execute(
        "SELECT case_no, ruleset_version FROM supervision_cases "
        "WHERE node = ? AND next_check IS NOT NULL AND next_check <= ? "
        "ORDER BY next_check LIMIT ?", (node, through, limit)).fetchall()


def case_nodes(store) -> list[str]:
    return [r[0] for r in store.conn.execute(
        "SELECT DISTINCT node FROM supervision_cases WHERE next_check IS NOT NULL")]


def case_numbers(store, *, before_version: int | None = None, open_only: bool = False,
                 limit: int = 1_000_000) -> list[str]:
    sql, params = "SELECT case_no FROM supervision_cases WHERE 1 = 1", []
    if before_version is not None:
        sql += " AND ruleset_version < ?"
        params.append(before_version)
    if open_only:
        sql += " AND is_open = 1"
    sql += " ORDER BY case_no LIMIT ?"
    params.append(limit)
    return [r[0] for r in store.conn.execute(sql, params)]


def set_ruleset_version(store, case_nos: Sequence[str], version: int) -> None:
    store.conn.executemany("UPDATE supervision_cases SET ruleset_version = ? WHERE case_no = ?",
                           [(version, c) for c in case_nos])


def reset(store) -> None:
    """Forget the per-case cache (alerts stay: they are never deleted)."""
    store.conn.execute("DELETE FROM supervision_cases")


def case_count(store, *, open_only: bool = False) -> int:
    sql = "SELECT COUNT(*) FROM supervision_cases" + (" WHERE is_open = 1" if open_only else "")
    return store.conn.execute(sql).fetchone()[0]


# --------------------------------------------------------------------------- overdue records (T-04)


def put_overdue(store, case_no: str, unit: str | None, person: str | None,
                overdue_on: str | None) -> None:
    """Record (or, with ``overdue_on`` None, forget) a case's overdue record."""
    if overdue_on is None:
        store.conn.execute("DELETE FROM supervision_overdue WHERE case_no = ?", (case_no,))
        return
    store.conn.execute(
        "INSERT INTO supervision_overdue (case_no, unit, person, overdue_on) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (case_no) DO UPDATE SET unit = excluded.unit, "
        "person = excluded.person, overdue_on = excluded.overdue_on",
        (case_no, unit, person, overdue_on))


def overdue_related(store, unit: str | None, person: str | None, since: str,
                    until: str) -> list[tuple[str, str | None, str | None, str]]:
    """(case_no, unit, person, overdue_on) of the records of ``unit`` or ``person`` whose
    first overdue day lies in [since, until]."""
    rows = store.conn.execute(
        "SELECT case_no, unit, person, overdue_on FROM supervision_overdue "
        "WHERE unit = ? AND overdue_on BETWEEN ? AND ? UNION "
        "SELECT case_no, unit, person, overdue_on FROM supervision_overdue "
        "WHERE person = ? AND overdue_on BETWEEN ? AND ?",
        (unit, since, until, person, since, until)).fetchall()
    return sorted(rows, key=lambda r: (r[3], r[0]))


# --------------------------------------------------------------------------- alerts


def case_alerts(store, case_no: str) -> list[dict]:
    return [_row(r) for r in store.conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE case_no = ? AND item_type = ? ORDER BY id",
        (case_no, SUPERVISION))]


def alert_by_key(store, case_no: str | None, rule_id: str, level: str) -> dict | None:
    row = store.conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE case_no IS ? AND rule_id = ? AND level = ? "
        "AND item_type = ? ORDER BY id LIMIT 1", (case_no, rule_id, level, SUPERVISION)).fetchone()
    return _row(row) if row else None


def open_alert_by_dedupe(store, key: str) -> dict | None:
    """The open (or answered) alert with ``key`` (partial index alerts_open_dedupe)."""
    row = store.conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE dedupe_key = ? "
        "AND state IN ('open', 'answered') ORDER BY id DESC LIMIT 1", (key,)).fetchone()
    return _row(row) if row else None


def latest_alert_by_dedupe(store, key: str) -> dict | None:
    """The newest alert with ``key`` in any state (index alerts_dedupe)."""
    row = store.conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE dedupe_key = ? ORDER BY id DESC LIMIT 1",
        (key,)).fetchone()
    return _row(row) if row else None


def alert_row(store, alert_id: int) -> dict | None:
    row = store.conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?",
                             (alert_id,)).fetchone()
    return _row(row) if row else None


def insert_alert(store, a: dict) -> int:
    """Insert a new supervision alert, give it its supervision number, record 'raised'."""
    cur = store.conn.execute(
        "INSERT INTO alerts (case_no, content, body, item_type, raised_at, last_raised_at, "
        "occurrences, rule_id, alert_type, level, state, state_changed_at, result, "
        "responsible_unit, responsible_person, node, seq, details, dedupe_key, "
        "responsible_role, explain_due, escalation) "
        "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, 'open', ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        (a["case_no"], a["content"], a.get("body"), a.get("item_type", SUPERVISION),
         a["raised_at"], a["raised_at"], a["rule_id"], a["alert_type"], a["level"],
         a["raised_at"], a.get("responsible_unit"), a.get("responsible_person"), a.get("node"),
         a.get("seq"), _dumps(a.get("details") or {}), a.get("dedupe_key"),
         a.get("responsible_role"), a.get("explain_due")))
    alert_id = cur.lastrowid
    number = f"JC{a['raised_at'][:10].replace('-', '')}-{alert_id:06d}"
    store.conn.execute("UPDATE alerts SET supervision_no = ? WHERE id = ?", (number, alert_id))
    add_history(store, alert_id, "open", a["raised_at"], "hub", a.get("note") or "raised")
    return alert_id


def add_history(store, alert_id: int, state: str, at: str, by: str | None,
                note: str | None) -> None:
    store.conn.execute("INSERT INTO alert_history (alert_id, state, changed_at, changed_by, "
                       "note) VALUES (?, ?, ?, ?, ?)", (alert_id, state, at, by, note))


def touch_alert(store, alert_id: int, at: str) -> None:
    store.conn.execute("UPDATE alerts SET last_raised_at = ? WHERE id = ?", (at, alert_id))


def set_alert_state(store, alert_id: int, state: str, at: str, by: str | None, note: str | None,
                    *, result: str | None = None, explain_due: str | None = None,
                    escalation: int | None = None, responsible_role: str | None = None,
                    responsible_person: str | None = None) -> None:
    """Change an alert's state (and optionally its duty fields), recording the history."""
    store.conn.execute(
        "UPDATE alerts SET state = ?, state_changed_at = ?, result = COALESCE(?, result), "
        "explain_due = COALESCE(?, explain_due), escalation = COALESCE(?, escalation), "
        "responsible_role = COALESCE(?, responsible_role), "
        "responsible_person = COALESCE(?, responsible_person) WHERE id = ?",
        (state, at, result, explain_due, escalation, responsible_role, responsible_person,
         alert_id))
    add_history(store, alert_id, state, at, by, note)


def overdue_unanswered(store, today: str, limit: int = 10_000) -> list[dict]:
    return [_row(r) for r in store.conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'open' AND item_type = ? "
        "AND explain_due IS NOT NULL AND explain_due < ? ORDER BY id LIMIT ?",
        (SUPERVISION, today, limit))]


def list_alerts(store, *, states: Sequence[str] | None = None, level: str | None = None,
                rule: str | None = None, node: str | None = None, nodes: Sequence[str] | None = None,
                unit: str | None = None, raised_before: str | None = None,
                case_no: str | None = None, person: str | None = None, offset: int = 0,
                limit: int = 200, item_type: str | None = SUPERVISION
                ) -> tuple[int, list[dict]]:
    """(total, page) of supervision alerts (``item_type`` None: every alert), oldest first."""
    where, params = ["1 = 1"], []
    if item_type is not None:
        where.append("item_type = ?")
        params.append(item_type)
    if states:
        where.append(f"state IN ({', '.join('?' * len(states))})")
        params.extend(states)
    for column, value in (("level", level), ("rule_id", rule), ("node", node),
                          ("responsible_unit", unit), ("case_no", case_no),
                          ("responsible_person", person)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if nodes is not None:
        where.append(f"node IN ({', '.join('?' * len(nodes)) or 'NULL'})")
        params.extend(nodes)
    if raised_before:
        where.append("raised_at < ?")
        params.append(raised_before)
    clause = " AND ".join(where)
    total = store.conn.execute(f"SELECT COUNT(*) FROM alerts WHERE {clause}", params).fetchone()[0]
    rows = store.conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE {clause} "
                              "ORDER BY raised_at, id LIMIT ? OFFSET ?",
                              (*params, limit, offset)).fetchall()
    return total, [_row(r) for r in rows]


def open_counts(store) -> list[tuple[str, str | None, int]]:
    """(level, responsible unit, count) of open and answered supervision alerts."""
    return store.conn.execute(
        "SELECT level, responsible_unit, COUNT(*) FROM alerts WHERE item_type = ? "
        "AND state IN ('open', 'answered') GROUP BY level, responsible_unit "
        "ORDER BY level, responsible_unit", (SUPERVISION,)).fetchall()


def alerts_between(store, start: str, end: str) -> list[dict]:
    """Supervision alerts raised in [start, end) (ISO timestamps or dates)."""
    return [_row(r) for r in store.conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE item_type = ? AND raised_at >= ? "
        "AND raised_at < ? ORDER BY id", (SUPERVISION, start, end))]


def history(store, alert_id: int) -> list[dict]:
    return [dict(zip(("state", "changed_at", "changed_by", "note"), r))
            for r in store.conn.execute(
                "SELECT state, changed_at, changed_by, note FROM alert_history "
                "WHERE alert_id = ? ORDER BY id", (alert_id,))]


def completed_cases_between(store, start: str, end: str) -> list[tuple]:
    """(case_no, node, item_code, due_date, completed_at, decision) of projected cases
    closed in [start, end): the base of the on-time rate."""
    return store.conn.execute(
        "SELECT case_no, node, item_code, due_date, COALESCE(completed_at, closed_at), "
        "accepted_date FROM cases WHERE COALESCE(completed_at, closed_at) >= ? "
        "AND COALESCE(completed_at, closed_at) < ? AND accepted_date IS NOT NULL",
        (start, end)).fetchall()


def item_departments(store) -> dict[str, str | None]:
    return dict(store.conn.execute("SELECT code, department FROM catalogue_items"))


# --------------------------------------------------------------------------- settings, re-evaluation


def settings(store) -> tuple[int, dict] | None:
    row = store.conn.execute("SELECT version, content FROM supervision_settings "
                             "ORDER BY version DESC LIMIT 1").fetchone()
    return (row[0], json.loads(row[1])) if row else None


def add_settings(store, content: dict, at: str, by: str | None) -> int:
    current = settings(store)
    version = (current[0] if current else 0) + 1
    store.conn.execute("INSERT INTO supervision_settings (version, content, set_at, set_by) "
                       "VALUES (?, ?, ?, ?)", (version, _dumps(content), at, by))
    return version


def add_reevaluation(store, *, at: str, by: str, to_version: int, scope: str, cases: int,
                     note: str | None) -> int:
    return store.conn.execute(
        "INSERT INTO supervision_reevaluations (at, by, to_version, scope, cases, note) "
        "VALUES (?, ?, ?, ?, ?, ?)", (at, by, to_version, scope, cases, note)).lastrowid


def reevaluations(store) -> list[dict]:
    keys = ("id", "at", "by", "to_version", "scope", "cases", "note")
    return [dict(zip(keys, r)) for r in store.conn.execute(
        "SELECT id, at, by, to_version, scope, cases, note FROM supervision_reevaluations "
        "ORDER BY id DESC")]


def config_versions(store, kind: str) -> list[tuple[int, bytes, str]]:
    """(version, canonical, published_at) of every published document of ``kind``."""
    return [(r[0], bytes(r[1]), r[2]) for r in store.conn.execute(
        "SELECT version, canonical, published_at FROM config_documents WHERE kind = ? "
        "ORDER BY version", (kind,))]


# --------------------------------------------------------------------------- citizen deadlines


def overdue_follow_ups(store, today: str, limit: int = 10_000) -> list[dict]:
    """差评 not answered by their follow-up date (``follow_up_due`` before ``today``)."""
    rows = store.conn.execute(
        "SELECT id, case_no, node, unit, level, rated_at, follow_up_due FROM evaluations "
        "WHERE level >= 4 AND answer IS NULL AND follow_up_due IS NOT NULL "
        "AND follow_up_due < ? ORDER BY follow_up_due, id LIMIT ?", (today, limit)).fetchall()
    return [dict(zip(("id", "case_no", "node", "unit", "level", "rated_at", "due"), r))
            for r in rows]


def overdue_interactions(store, today: str, limit: int = 10_000) -> list[dict]:
    """Consultations and complaints still open or in progress after their due date."""
    rows = store.conn.execute(
        "SELECT no, kind, subject, case_no, unit, owner, received_at, due_date FROM interactions "
        "WHERE state IN ('open', 'in_progress') AND due_date < ? ORDER BY due_date, no LIMIT ?",
        (today, limit)).fetchall()
    return [dict(zip(("no", "kind", "subject", "case_no", "unit", "owner", "received_at",
                      "due"), r)) for r in rows]


def open_alerts_of_rule(store, rule_id: str) -> list[dict]:
    rows = store.conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE rule_id = ? AND state IN ('open', 'answered') "
        "ORDER BY id", (rule_id,)).fetchall()
    return [_row(r) for r in rows]


def follow_up_answered_at(store, eval_id: int) -> str | None:
    row = store.conn.execute("SELECT answered_at FROM evaluations WHERE id = ?",
                             (eval_id,)).fetchone()
    return row[0] if row else None


def interaction_state(store, no: str) -> tuple[str, str | None] | None:
    row = store.conn.execute("SELECT state, answered_at FROM interactions WHERE no = ?",
                             (no,)).fetchone()
    return (row[0], row[1]) if row else None


# --------------------------------------------------------------------------- duty roster


def duty_roster(store) -> dict[str, dict[str, str]]:
    """``{org_unit: {duty: username}}`` for every unit with a named holder."""
    out: dict[str, dict[str, str]] = {}
    for unit, duty, username in store.conn.execute(
            "SELECT org_unit, duty, username FROM org_unit_duties ORDER BY org_unit, duty"):
        out.setdefault(unit, {})[duty] = username
    return out


def set_duty(store, org_unit: str, duty: str, username: str | None, at: str) -> None:
    """Name (or, with None, clear) the holder of ``duty`` in ``org_unit``."""
    if username is None:
        store.conn.execute("DELETE FROM org_unit_duties WHERE org_unit = ? AND duty = ?",
                           (org_unit, duty))
        return
    store.conn.execute(
        "INSERT INTO org_unit_duties (org_unit, duty, username, set_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (org_unit, duty) DO UPDATE SET username = excluded.username, "
        "set_at = excluded.set_at", (org_unit, duty, username, at))
