"""Read-only look-ups of the staff screens: the work queue and the case search.

Functions take the :class:`~edge_node.store.Store`; they use the indexed columns of
migration ``0004_screens_indexes`` (``waiting_role``, ``due_date``, ``applicant_name``,
``applicant_id_no``), so each is one or a few index range scans even on 100,000 cases.
Two small writes live here too: :func:`record_visit` (one row per member of staff,
changed at most once a day; the work queue needs it to tell what is *newly* overdue) and
:func:`set_user_active` (the accounts page).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Iterable

QUEUE_FILTERS = ("all", "near", "overdue", "newly", "supplement")

_ID_RE = re.compile(r"^([0-9]{15}|[0-9]{17}[0-9X])$")


@dataclass(frozen=True)
class QueueWindow:
    """The dates that split the queue: ``today``; ``near_until`` (the last due date still
    "nearing" the deadline); ``newly_from`` (the first due date whose case counts as
    *newly* overdue)."""

    today: date
    near_until: date
    newly_from: date


def _roles_clause(roles: Iterable[str] | None) -> tuple[str, list]:
    if roles is None:
        return "waiting_role IS NOT NULL", []
    roles = list(roles)
    if not roles:
        return "0", []
    return f"waiting_role IN ({','.join('?' * len(roles))})", roles


def _filter_clause(kind: str, window: QueueWindow) -> tuple[str, list]:
    today = window.today.isoformat()
    if kind == "supplement":
        return "state = 'supplement_requested'", []
    base = "state IN ('received', 'accepted', 'decided', 'suspended', 'completed')"
    running = "state IN ('accepted', 'decided')"      # the clock runs (not paused, not done)
    if kind == "near":
        return (running + " AND due_date >= ? AND due_date <= ?",
                [today, window.near_until.isoformat()])
    if kind == "overdue":
        return running + " AND due_date < ?", [today]
    if kind == "newly":
        return (running + " AND due_date < ? AND due_date >= ?",
                [today, window.newly_from.isoformat()])
    return base, []


def work_queue(store, roles: Iterable[str] | None, window: QueueWindow, *,
               kind: str = "all", limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    """Cases waiting for one of ``roles`` (None: every role), soonest due first (cases
    without a due date last), and how many there are in all."""
    where_roles, params = _roles_clause(roles)
    where_kind, kind_params = _filter_clause(kind, window)
    where = f"{where_roles} AND {where_kind}"
    args = params + kind_params
    total = store.conn.execute(f"SELECT count(*) FROM cases WHERE {where}", args).fetchone()[0]
    rows = store.conn.execute(
        f"SELECT data FROM cases WHERE {where} "
        "ORDER BY due_date IS NULL, due_date, received_at LIMIT ? OFFSET ?",
        args + [limit, offset]).fetchall()
    return [json.loads(r[0]) for r in rows], total


def queue_counts(store, roles: Iterable[str] | None, window: QueueWindow) -> dict[str, int]:
    """How many cases each queue filter shows (one indexed count each)."""
    roles = None if roles is None else list(roles)
    out = {}
    for kind in QUEUE_FILTERS:
        where_roles, params = _roles_clause(roles)
        where_kind, kind_params = _filter_clause(kind, window)
        out[kind] = store.conn.execute(
            f"SELECT count(*) FROM cases WHERE {where_roles} AND {where_kind}",
            params + kind_params).fetchone()[0]
    return out


def record_visit(store, user_id: str, day: date) -> date | None:
    """Note that ``user_id`` opened the work queue on ``day``; return the previous day
    they did (None for a first visit). Writes only when the day changes."""
    row = store.conn.execute("SELECT day, previous_day FROM staff_visits WHERE user_id = ?",
                             (user_id,)).fetchone()
    today = day.isoformat()
    if row is None:
        with store.transaction():
            store.conn.execute("INSERT INTO staff_visits (user_id, day, previous_day) "
                               "VALUES (?, ?, NULL)", (user_id, today))
        return None
    last, previous = row
    if last == today:
        return date.fromisoformat(previous) if previous else None
    with store.transaction():
        store.conn.execute("UPDATE staff_visits SET day = ?, previous_day = ? "
                           "WHERE user_id = ?", (today, last, user_id))
    return date.fromisoformat(last) if last < today else None


def classify_search(text: str) -> str:
    """What a search box entry looks like: ``id`` (a full ID number), ``case`` (a case
    number or its start), ``counter`` (the last digits of a case number), ``id_prefix``
    (7+ digits) or ``name``."""
    q = text.strip().upper()
    if _ID_RE.match(q):
        return "id"
    if q.isascii() and q.isdigit():
        return "counter" if len(q) <= 6 else "id_prefix"
    if "-" in q and q.isascii():
        return "case"
    return "name"


def _prefix_range(prefix: str) -> tuple[str, str]:
    return prefix, prefix + "\U0010ffff"


def search_cases(store, text: str, *, limit: int = 20, offset: int = 0
                 ) -> tuple[list[dict], int, str]:
    """Cases matching a number, an applicant's name or an ID number (newest first).

    Returns ``(cases, total, kind)``; ``kind`` as :func:`classify_search`. Names and
    numbers match from their start (index range scans); a short run of digits matches
    the end of case numbers (``000123`` finds ``…-000123``).
    """
    q = " ".join(text.split())
    kind = classify_search(q)
    if kind == "id":
        where, args = "applicant_id_no = ?", [q.upper()]
    elif kind == "id_prefix":
        lo, hi = _prefix_range(q)
        where, args = "applicant_id_no >= ? AND applicant_id_no < ?", [lo, hi]
    elif kind == "counter":
        where, args = "case_counter = ?", [int(q)]
    elif kind == "case":
        lo, hi = _prefix_range(q.upper())
        where, args = "case_no >= ? AND case_no < ?", [lo, hi]
    else:
        lo, hi = _prefix_range(q)
        where, args = "applicant_name >= ? AND applicant_name < ?", [lo, hi]
    total = store.conn.execute(f"SELECT count(*) FROM cases WHERE {where}", args).fetchone()[0]
    rows = store.conn.execute(
        f"SELECT data FROM cases WHERE {where} ORDER BY received_at DESC LIMIT ? OFFSET ?",
        args + [limit, offset]).fetchall()
    return [json.loads(r[0]) for r in rows], total, kind


def set_user_active(store, user_id: str, active: bool) -> None:
    """Deactivate or reactivate an account (the caller checks who may)."""
    with store.transaction():
        store.conn.execute("UPDATE users SET active = ? WHERE id = ?", (int(active), user_id))


def active_admin_count(store) -> int:
    return store.conn.execute(
        "SELECT count(*) FROM users WHERE active = 1 AND (',' || roles || ',') "
        "LIKE '%,admin,%'").fetchone()[0]
