"""SQL of the hub's public face (issue #8): dashboard facts and aggregates, evaluations
(好差评), consultations and complaints, notices and their read receipts, API tokens and the
/api/v1 feeds. Tables of migration ``face_0001``.

Functions over a :class:`~central_hub.store.sqlite.SqliteHubStore` (its ``conn``,
``_lock`` and ``transaction()``), in the manner of :mod:`.disclosure`; a PostgreSQL port
provides the same functions. Scope arguments everywhere: ``nodes`` (None: any node),
``department`` (None: any; the items whose catalogue entry names the department), ``item``.
"""

from __future__ import annotations

import calendar
import json
from typing import Any, Iterable, Iterator, Sequence

from .sqlite import connect

OPEN_CLOCK_STATES = ("accepted", "suspended", "decided")
# literal, so that SQLite can use the partial index face_open_due
_OPEN_CLOCK_SQL = "state IN ('accepted', 'suspended', 'decided')"
METRICS = ("received", "accepted", "refused", "completed", "on_time", "late", "overdue",
           "fees", "evaluated", "bad")

_CASE_COLUMNS = ("case_no", "node", "item_code", "item_name", "item_type", "state",
                 "channel", "applicant_masked", "received_at", "accepted_at", "accepted_date",
                 "decision", "completed_at", "delivered_at", "closed_at", "due_date",
                 "due_confirmed", "fee_charged_fen", "fee_refunded_fen", "updated_at")


def _scope(nodes: Sequence[str] | None, department: str | None, item: str | None,
           alias: str = "") -> tuple[list[str], list]:
    a = f"{alias}." if alias else ""
    where, params = [], []
    if nodes is not None:
        where.append(f"{a}node IN ({', '.join('?' * len(nodes)) or 'NULL'})")
        params.extend(nodes)
    if department is not None:
        where.append(f"{a}item_code IN (SELECT code FROM catalogue_items WHERE department = ?)")
        params.append(department)
    if item is not None:
        where.append(f"{a}item_code = ?")
        params.append(item)
    return where, params


def _where(parts: list[str]) -> str:
    return f"WHERE {' AND '.join(parts)}" if parts else ""


# --------------------------------------------------------------------------- facts


def cases_for_facts(store, case_nos: Iterable[str]) -> list[dict]:
    wanted = sorted(set(case_nos))
    out = []
    cols = ("case_no", "node", "item_code", "state", "received_at", "accepted_date",
            "completed_at", "due_date", "fee_charged_fen", "fee_refunded_fen")
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        out += [dict(zip(cols, r)) for r in store.conn.execute(
            f"SELECT {', '.join(cols)} FROM cases WHERE case_no IN ({','.join('?' * len(chunk))})",
            chunk)]
    return out


def put_case_facts(store, facts: Sequence[tuple]) -> None:
    """(case_no, node, day, item_code, accepted, refused, completed, on_time, work_days,
    fees_fen, position) rows, then the daily aggregate of every (day, node) touched.
    Inside the projector's transaction."""
    if not facts:
        return
    conn = store.conn
    conn.executemany(
        "INSERT INTO face_cases (case_no, node, day, item_code, accepted, refused, completed, "
        "on_time, work_days, fees_fen, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (case_no) DO UPDATE SET node = excluded.node, day = excluded.day, "
        "item_code = excluded.item_code, accepted = excluded.accepted, "
        "refused = excluded.refused, completed = excluded.completed, "
        "on_time = excluded.on_time, work_days = excluded.work_days, "
        "fees_fen = excluded.fees_fen, position = excluded.position", list(facts))
    for day, node in sorted({(f[2], f[1]) for f in facts}):
        conn.execute("DELETE FROM face_daily WHERE day = ? AND node = ?", (day, node))
        conn.execute(
            "INSERT INTO face_daily (day, node, item_code, received, accepted, refused, "
            "completed, on_time, work_days_sum, work_days_n, fees_fen) "
            "SELECT day, node, item_code, COUNT(*), SUM(accepted), SUM(refused), "
            "SUM(completed), SUM(on_time), COALESCE(SUM(work_days), 0), COUNT(work_days), "
            "SUM(fees_fen) FROM face_cases WHERE day = ? AND node = ? GROUP BY item_code",
            (day, node))
    for month, node in sorted({(f[2][:7], f[1]) for f in facts}):
        _refresh_month(conn, month, node)


_SUMS = ("SUM(received), SUM(accepted), SUM(refused), SUM(completed), SUM(on_time), "
         "SUM(work_days_sum), SUM(work_days_n), SUM(fees_fen)")


def _refresh_month(conn, month: str, node: str | None = None) -> None:
    """face_monthly rows of ``month`` (and ``node``) from face_daily."""
    node_clause = "AND node = ?" if node is not None else ""
    params = [month + "-01", month + "-31"] + ([node] if node is not None else [])
    conn.execute(f"DELETE FROM face_monthly WHERE month = ? {node_clause}",
                 [month] + ([node] if node is not None else []))
    conn.execute(
        "INSERT INTO face_monthly (month, node, item_code, received, accepted, refused, "
        "completed, on_time, work_days_sum, work_days_n, fees_fen) "
        f"SELECT substr(day, 1, 7), node, item_code, {_SUMS} FROM face_daily "
        f"WHERE day BETWEEN ? AND ? {node_clause} GROUP BY node, item_code", params)


def reset_face_projection(store) -> None:
    for table in ("face_cases", "face_daily", "face_monthly", "notice_reads"):
        store.conn.execute(f"DELETE FROM {table}")


def add_notice_reads(store, rows: Sequence[tuple]) -> None:
    """(node, seq, notice_id, user, read_at) rows (idempotent; inside the projector's
    transaction)."""
    store.conn.executemany("INSERT OR IGNORE INTO notice_reads (node, seq, notice_id, user, "
                           "read_at) VALUES (?, ?, ?, ?, ?)", list(rows))


# --------------------------------------------------------------------------- dashboard


_TOTAL_NAMES = ("received", "accepted", "refused", "completed", "on_time", "work_days_sum",
                "work_days_n", "fees_fen")


def _segments(since: str, until: str) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """[since, until] as day ranges for face_daily and a range of whole months for
    face_monthly (None when no month is wholly inside)."""
    first = since[:7] if since[8:] == "01" else _next_month(since[:7])
    last_end = _month_end(until[:7])
    last = until[:7] if until == last_end else _prev_month(until[:7])
    if first > last:
        return [(since, until)], None
    days = []
    if since < first + "-01":
        days.append((since, _month_end(_prev_month(first))))
    if until > _month_end(last):
        days.append((_next_month(last) + "-01", until))
    return days, (first, last)


def _next_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y + (m == 12)}-{m % 12 + 1:02d}"


def _prev_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y - (m == 1)}-{(m - 2) % 12 + 1:02d}"


def _month_end(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{month}-{calendar.monthrange(y, m)[1]:02d}"


def totals(store, *, since: str, until: str, nodes=None, department=None, item=None,
           group: str | None = None) -> list[dict]:
    """Sums for cases received in [since, until] (whole months from ``face_monthly``, the
    rest from ``face_daily``); ``group`` one of None, "node", "item_code", "day", "month"."""
    where, params = _scope(nodes, department, item)
    if group == "day":
        days, months = [(since, until)], None
    else:
        days, months = _segments(since, until)
    out: dict[str, list[int]] = {}

    width = 2 if group == "node_item" else 1

    def add(rows) -> None:
        for row in rows:
            k = tuple(row[:2]) if width == 2 else row[0]
            values = row[width:]
            acc = out.setdefault(k, [0] * len(_TOTAL_NAMES))
            for i, v in enumerate(values):
                acc[i] += v or 0

    day_key = {"node": "node", "item_code": "item_code", "day": "day",
               "month": "substr(day, 1, 7)", "node_item": "node, item_code",
               None: "''"}[group]
    for a, b in days:
        add(store.conn.execute(
            f"SELECT {day_key}, {_SUMS} FROM face_daily "
            f"{_where(['day BETWEEN ? AND ?', *where])} GROUP BY {day_key}", [a, b, *params]))
    if months is not None:
        month_key = {"node": "node", "item_code": "item_code", "month": "month",
                     "node_item": "node, item_code", None: "''"}[group]
        add(store.conn.execute(
            f"SELECT {month_key}, {_SUMS} FROM face_monthly "
            f"{_where(['month BETWEEN ? AND ?', *where])} GROUP BY {month_key}",
            [months[0], months[1], *params]))
    return [{"key": k, **dict(zip(_TOTAL_NAMES, v))} for k, v in sorted(out.items())]


def overdue_now(store, *, today: str, nodes=None, department=None, item=None,
                group: str | None = None) -> dict[str, int]:
    """Open cases past their due date today, counted per ``group`` ("" for the total)."""
    counts = overdue_by_node_item(store, today=today, nodes=nodes, department=department,
                                  item=item)
    out: dict[str, int] = {}
    for (node, item_code), n in counts.items():
        k = {"node": node, "item_code": item_code, None: ""}[group]
        out[k] = out.get(k, 0) + n
    return out


def overdue_by_node_item(store, *, today: str, nodes=None, department=None,
                         item=None) -> dict[tuple[str, str], int]:
    """Open cases past their due date, per (node, item): one pass over the covering
    partial index ``face_open_due``."""
    where, params = _scope(nodes, department, item)
    where = [_OPEN_CLOCK_SQL, "due_date < ?", *where]
    return {(n, i or ""): c for n, i, c in store.conn.execute(
        f"SELECT node, item_code, COUNT(*) FROM cases {_where(where)} GROUP BY 1, 2",
        [today, *params])}


def evaluation_counts(store, *, since: str, until: str, nodes=None, department=None,
                      item=None, group: str | None = None) -> dict[str, dict[int, int]]:
    where, params = _scope(nodes, department, item)
    where = ["day BETWEEN ? AND ?", *where]
    key = {"node": "node", "item_code": "item_code", "node_item": "node, item_code",
           None: "''"}[group]
    out: dict = {}
    for row in store.conn.execute(
            f"SELECT {key}, level, COUNT(*) FROM evaluations {_where(where)} "
            f"GROUP BY {key}, level", [since, until, *params]):
        k = (row[0], row[1] or "") if group == "node_item" else row[0]
        out.setdefault(k, {})[row[-2]] = row[-1]
    return out


def _drill_source(metric: str, *, since: str, until: str, today: str, nodes, department,
                  item) -> tuple[str, str, list, str, str, bool]:
    """(FROM, WHERE, params, key 1, key 2, descending) of the rows behind one figure; the
    keys are the walk order (an index covers them), key 2 being the case number."""
    if metric == "overdue":
        where, params = _scope(nodes, department, item, "c")
        return ("cases c", _where([_OPEN_CLOCK_SQL.replace("state", "c.state"),
                                   "c.due_date < ?", *where]), [today, *params],
                "c.due_date", "c.case_no", False)
    if metric in ("evaluated", "bad"):
        where, params = _scope(nodes, department, item, "e")
        where = ["e.day BETWEEN ? AND ?", *where]
        if metric == "bad":
            where.append("e.level >= 4")
        return ("evaluations e", _where(where), [since, until, *params], "e.day",
                "e.case_no", True)
    where, params = _scope(nodes, department, item, "f")
    where = ["f.day BETWEEN ? AND ?", *where]
    condition = {"received": None, "accepted": "f.accepted = 1", "refused": "f.refused = 1",
                 "completed": "f.completed = 1", "on_time": "f.on_time = 1",
                 "late": "f.completed = 1 AND f.on_time = 0", "fees": "f.fees_fen > 0"}[metric]
    if condition:
        where.append(condition)
    return "face_cases f", _where(where), [since, until, *params], "f.day", "f.case_no", True


_FROM_TOTALS = {"received": lambda t: t["received"], "accepted": lambda t: t["accepted"],
                "refused": lambda t: t["refused"], "completed": lambda t: t["completed"],
                "on_time": lambda t: t["on_time"],
                "late": lambda t: t["completed"] - t["on_time"]}


def drill_down(store, metric: str, *, since: str, until: str, today: str, nodes=None,
               department=None, item=None, offset: int = 0,
               limit: int = 50) -> tuple[int, list[dict]]:
    """(total, one page) of the cases behind a figure: newest first (overdue: the longest
    overdue first). The page is chosen on the index, then joined to ``cases``."""
    source, where, params, k1, k2, desc = _drill_source(
        metric, since=since, until=until, today=today, nodes=nodes, department=department,
        item=item)
    if metric in _FROM_TOTALS:     # the aggregates already hold this count
        sums = totals(store, since=since, until=until, nodes=nodes, department=department,
                      item=item)
        sums = sums[0] if sums else {n: 0 for n in _TOTAL_NAMES}
        total = _FROM_TOTALS[metric](sums)
    else:
        total = store.conn.execute(f"SELECT COUNT(*) FROM {source} {where}",
                                   params).fetchone()[0]
    if limit <= 0:
        return total, []
    order = "DESC" if desc else "ASC"
    cols = ", ".join(f"c.{c}" for c in _CASE_COLUMNS)
    rows = store.conn.execute(
        f"SELECT {cols} FROM (SELECT {k2} AS case_no, {k1} AS k1 FROM {source} {where} "
        f"ORDER BY {k1} {order}, {k2} {order} LIMIT ? OFFSET ?) x "
        f"JOIN cases c ON c.case_no = x.case_no ORDER BY x.k1 {order}, x.case_no {order}",
        [*params, limit, offset]).fetchall()
    return total, [dict(zip(_CASE_COLUMNS, r)) for r in rows]


def iter_drill_down(store, metric: str, *, since: str, until: str, today: str, nodes=None,
                    department=None, item=None, chunk: int = 2000) -> Iterator[dict]:
    """Every case behind a figure, ``chunk`` rows at a time by keyset on the walk order
    (no cursor stays open between chunks; memory stays flat), on a read-only connection
    of its own: exports run on a worker thread."""
    source, where, params, k1, k2, _ = _drill_source(
        metric, since=since, until=until, today=today, nodes=nodes, department=department,
        item=item)
    glue = " AND " if where else "WHERE "
    cols = ", ".join(f"c.{c}" for c in _CASE_COLUMNS)
    conn = connect(store.path, read_only=True)
    after: tuple = ("", "")
    try:
        while True:
            rows = conn.execute(
                f"SELECT {cols}, x.k1 FROM (SELECT {k2} AS case_no, {k1} AS k1 FROM {source} "
                f"{where}{glue}({k1}, {k2}) > (?, ?) ORDER BY {k1}, {k2} LIMIT ?) x "
                "JOIN cases c ON c.case_no = x.case_no ORDER BY x.k1, x.case_no",
                [*params, *after, chunk]).fetchall()
            if not rows:
                return
            for r in rows:
                yield dict(zip(_CASE_COLUMNS, r))
            after = (rows[-1][-1], rows[-1][0])
    finally:
        conn.close()


def config_version(store, kind: str) -> int:
    return store.conn.execute("SELECT COALESCE(MAX(version), 0) FROM config_documents "
                              "WHERE kind = ?", (kind,)).fetchone()[0]


def node_freshness(store) -> dict[str, dict]:
    """Per node: name, last contact, time it last held everything it reported, head."""
    return {code: {"name": name, "last_seen": seen, "caught_up_at": caught, "acked_seq": acked,
                   "reported_head": head, "status": status}
            for code, name, seen, caught, acked, head, status in store.conn.execute(
                "SELECT code, name, last_seen, caught_up_at, acked_seq, reported_head, status "
                "FROM nodes")}


# --------------------------------------------------------------------------- settings


def settings(store) -> dict[str, str]:
    return dict(store.conn.execute("SELECT key, value FROM face_settings").fetchall())


def set_setting(store, key: str, value: str, now: str, by: str | None) -> None:
    with store.transaction():
        store.conn.execute(
            "INSERT INTO face_settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            (key, value, now, by))


# --------------------------------------------------------------------------- evaluations

_EVAL_COLUMNS = ("id", "case_no", "stage", "channel", "level", "text", "rated_at", "day",
                 "area", "node", "item_code", "unit", "rater", "real_name", "follow_up_due",
                 "answer", "answered_at", "answered_by", "follow_up_level",
                 "follow_up_rated_at", "rev")


def _next_rev(store) -> int:
    return store.conn.execute("SELECT COALESCE(MAX(rev), 0) + 1 FROM evaluations").fetchone()[0]


def add_evaluation(store, row: dict) -> int | None:
    """Store one evaluation; None if the case already has one for that stage (or, for one
    from a node's event, ``source_node``/``source_seq``, that event is already in)."""
    with store.transaction():
        if store.conn.execute("SELECT 1 FROM evaluations WHERE case_no = ? AND stage = ?",
                              (row["case_no"], row["stage"])).fetchone():
            return None
        row = {**row, "rev": _next_rev(store)}
        cols = [c for c in (*_EVAL_COLUMNS, "source_node", "source_seq")
                if c != "id" and c in row]
        cur = store.conn.execute(
            f"INSERT OR IGNORE INTO evaluations ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})", [row[c] for c in cols])
        return cur.lastrowid if cur.rowcount == 1 else None


def evaluation(store, eval_id: int) -> dict | None:
    row = store.conn.execute(f"SELECT {', '.join(_EVAL_COLUMNS)} FROM evaluations WHERE id = ?",
                             (eval_id,)).fetchone()
    return dict(zip(_EVAL_COLUMNS, row)) if row else None


def case_evaluations(store, case_no: str) -> list[dict]:
    return [dict(zip(_EVAL_COLUMNS, r)) for r in store.conn.execute(
        f"SELECT {', '.join(_EVAL_COLUMNS)} FROM evaluations WHERE case_no = ? ORDER BY id",
        (case_no,))]


def evaluations(store, *, nodes=None, department=None, bad_only: bool = False,
                open_only: bool = False, offset: int = 0,
                limit: int = 50) -> tuple[int, list[dict]]:
    where, params = _scope(nodes, department, None)
    if bad_only:
        where.append("level >= 4")
    if open_only:
        where.append("level >= 4 AND answer IS NULL")
    clause = _where(where)
    total = store.conn.execute(f"SELECT COUNT(*) FROM evaluations {clause}", params).fetchone()[0]
    rows = store.conn.execute(
        f"SELECT {', '.join(_EVAL_COLUMNS)} FROM evaluations {clause} ORDER BY id DESC "
        "LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()
    return total, [dict(zip(_EVAL_COLUMNS, r)) for r in rows]


def answer_evaluation(store, eval_id: int, answer: str, at: str, by: str) -> bool:
    with store.transaction():
        cur = store.conn.execute(
            "UPDATE evaluations SET answer = ?, answered_at = ?, answered_by = ?, rev = ? "
            "WHERE id = ? AND level >= 4", (answer, at, by, _next_rev(store), eval_id))
        return cur.rowcount == 1


def rate_follow_up(store, eval_id: int, level: int, at: str) -> bool:
    with store.transaction():
        cur = store.conn.execute(
            "UPDATE evaluations SET follow_up_level = ?, follow_up_rated_at = ?, rev = ? "
            "WHERE id = ? AND answer IS NOT NULL AND follow_up_level IS NULL",
            (level, at, _next_rev(store), eval_id))
        return cur.rowcount == 1


# --------------------------------------------------------------------------- interactions

_INTERACTION_COLUMNS = ("no", "kind", "subject", "text", "name_masked", "contact", "case_no",
                        "unit", "received_at", "due_date", "state", "owner", "answer",
                        "answered_at", "answered_by")


def add_interaction(store, row: dict, actor: str) -> None:
    with store.transaction():
        store.conn.execute(
            f"INSERT INTO interactions ({', '.join(_INTERACTION_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_INTERACTION_COLUMNS))})",
            [row.get(c) for c in _INTERACTION_COLUMNS])
        store.conn.execute("INSERT INTO interaction_actions (no, at, actor, action, note) "
                           "VALUES (?, ?, ?, 'received', NULL)",
                           (row["no"], row["received_at"], actor))


def interaction(store, no: str) -> dict | None:
    row = store.conn.execute(
        f"SELECT {', '.join(_INTERACTION_COLUMNS)} FROM interactions WHERE no = ?",
        (no,)).fetchone()
    return dict(zip(_INTERACTION_COLUMNS, row)) if row else None


def interaction_actions(store, no: str) -> list[tuple]:
    return store.conn.execute("SELECT at, actor, action, note FROM interaction_actions "
                              "WHERE no = ? ORDER BY id", (no,)).fetchall()


def interactions(store, *, units: Sequence[str] | None = None, state: str | None = None,
                 offset: int = 0, limit: int = 50) -> tuple[int, list[dict]]:
    where, params = [], []
    if units is not None:
        where.append(f"unit IN ({', '.join('?' * len(units)) or 'NULL'})")
        params.extend(units)
    if state:
        where.append("state = ?")
        params.append(state)
    clause = _where(where)
    total = store.conn.execute(f"SELECT COUNT(*) FROM interactions {clause}",
                               params).fetchone()[0]
    rows = store.conn.execute(
        f"SELECT {', '.join(_INTERACTION_COLUMNS)} FROM interactions {clause} "
        "ORDER BY received_at DESC LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()
    return total, [dict(zip(_INTERACTION_COLUMNS, r)) for r in rows]


def act_on_interaction(store, no: str, *, state: str, at: str, actor: str, note: str | None,
                       answer: str | None = None, owner: str | None = None) -> None:
    with store.transaction():
        store.conn.execute(
            "UPDATE interactions SET state = ?, answer = COALESCE(?, answer), "
            "answered_at = CASE WHEN ? IS NULL THEN answered_at ELSE ? END, "
            "answered_by = CASE WHEN ? IS NULL THEN answered_by ELSE ? END, "
            "owner = COALESCE(?, owner) WHERE no = ?",
            (state, answer, answer, at, answer, actor, owner, no))
        store.conn.execute("INSERT INTO interaction_actions (no, at, actor, action, note) "
                           "VALUES (?, ?, ?, ?, ?)", (no, at, actor, state, note))


# --------------------------------------------------------------------------- notices

_NOTICE_COLUMNS = ("id", "kind", "title", "body", "audience", "published_at", "published_by",
                   "config_version")


def _notice(row: Sequence) -> dict:
    out = dict(zip(_NOTICE_COLUMNS, row))
    out["audience"] = json.loads(out["audience"])
    return out


def add_notice(store, *, kind: str, title: str, body: str, audience: Any, at: str,
               by: str) -> int:
    cur = store.conn.execute(
        "INSERT INTO notices (kind, title, body, audience, published_at, published_by) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (kind, title, body, json.dumps(audience, ensure_ascii=False), at, by))
    return cur.lastrowid


def set_notice_version(store, notice_id: int, version: int) -> None:
    store.conn.execute("UPDATE notices SET config_version = ? WHERE id = ?",
                       (version, notice_id))


def notices(store, limit: int = 500) -> list[dict]:
    return [_notice(r) for r in store.conn.execute(
        f"SELECT {', '.join(_NOTICE_COLUMNS)} FROM notices ORDER BY id DESC LIMIT ?", (limit,))]


def notice(store, notice_id: int) -> dict | None:
    row = store.conn.execute(f"SELECT {', '.join(_NOTICE_COLUMNS)} FROM notices WHERE id = ?",
                             (notice_id,)).fetchone()
    return _notice(row) if row else None


def notice_reads(store, notice_id: int | None = None) -> list[tuple]:
    """(notice_id, node, user, first read_at) per reader."""
    clause, params = ("WHERE notice_id = ?", [notice_id]) if notice_id is not None else ("", [])
    return store.conn.execute(
        f"SELECT notice_id, node, user, MIN(read_at) FROM notice_reads {clause} "
        "GROUP BY notice_id, node, user ORDER BY notice_id, node, user", params).fetchall()


# --------------------------------------------------------------------------- API tokens


def add_api_token(store, *, name: str, token_hash: str, scopes: Sequence[str], at: str,
                  by: str | None) -> int:
    with store.transaction():
        return store.conn.execute(
            "INSERT INTO api_tokens (name, token_hash, scopes, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?)", (name, token_hash, " ".join(scopes), at, by)).lastrowid


def api_token(store, token_hash: str) -> dict | None:
    row = store.conn.execute(
        "SELECT id, name, scopes, revoked_at FROM api_tokens WHERE token_hash = ?",
        (token_hash,)).fetchone()
    if row is None:
        return None
    return {"id": row[0], "name": row[1], "scopes": frozenset(row[2].split()),
            "revoked_at": row[3]}


def api_tokens(store) -> list[dict]:
    cols = ("id", "name", "scopes", "created_at", "created_by", "revoked_at", "last_used_at")
    return [dict(zip(cols, r)) for r in store.conn.execute(
        f"SELECT {', '.join(cols)} FROM api_tokens ORDER BY id")]


def revoke_api_token(store, token_id: int, at: str) -> bool:
    with store.transaction():
        return store.conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND "
                                  "revoked_at IS NULL", (at, token_id)).rowcount == 1


def touch_api_token(store, token_id: int, at: str) -> None:
    with store.transaction():
        store.conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (at, token_id))


# --------------------------------------------------------------------------- feeds


def case_feed(store, after: int, limit: int) -> list[tuple[int, dict]]:
    cols = ", ".join(f"c.{c}" for c in _CASE_COLUMNS)
    n = len(_CASE_COLUMNS)
    return [(r[0], {**dict(zip(_CASE_COLUMNS, r[1:n + 1])), "department": r[n + 1]})
            for r in store.conn.execute(
        f"SELECT f.position, {cols}, ci.department FROM face_cases f "
        "JOIN cases c ON c.case_no = f.case_no "
        "LEFT JOIN catalogue_items ci ON ci.code = c.item_code "
        "WHERE f.position > ? ORDER BY f.position LIMIT ?", (after, limit))]


def case_row(store, case_no: str) -> dict | None:
    cols = ", ".join(f"c.{c}" for c in _CASE_COLUMNS)
    row = store.conn.execute(f"SELECT {cols} FROM cases c WHERE c.case_no = ?",
                             (case_no,)).fetchone()
    return dict(zip(_CASE_COLUMNS, row)) if row else None


def event_feed(store, after: int, limit: int) -> list[tuple]:
    return store.conn.execute(
        "SELECT position, node, seq, type, case_no, ts, canonical, signature, received_at "
        "FROM events WHERE position > ? ORDER BY position LIMIT ?", (after, limit)).fetchall()


def evaluation_feed(store, after: int, limit: int) -> list[dict]:
    return [dict(zip(_EVAL_COLUMNS, r)) for r in store.conn.execute(
        f"SELECT {', '.join(_EVAL_COLUMNS)} FROM evaluations WHERE rev > ? ORDER BY rev "
        "LIMIT ?", (after, limit))]


# --------------------------------------------------------------------------- bulk (benchmarks)


def bulk_put_projected(store, cases: Sequence[tuple], columns: Sequence[str],
                       states: Sequence[tuple], facts: Sequence[tuple],
                       evaluations: Sequence[dict] = ()) -> None:
    """Write already-projected rows in bulk (scripts/benchmarks/hub_face.py builds a county
    of a million cases this way; the projector's cost is measured by hub-core). ``states``
    are hub_cases (case_no, node, state JSON, position); ``facts`` face_cases rows. The
    daily aggregate is refreshed by :func:`refresh_all_daily`."""
    with store.transaction():
        conn = store.conn
        conn.executemany(f"INSERT INTO cases ({', '.join(columns)}) VALUES "
                         f"({', '.join('?' * len(columns))})", cases)
        conn.executemany("INSERT INTO hub_cases (case_no, node, state, position) "
                         "VALUES (?, ?, ?, ?)", states)
        conn.executemany("INSERT INTO face_cases (case_no, node, day, item_code, accepted, "
                         "refused, completed, on_time, work_days, fees_fen, position) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", facts)
        if evaluations:
            cols = [c for c in _EVAL_COLUMNS if c != "id"]
            conn.executemany(f"INSERT INTO evaluations ({', '.join(cols)}) VALUES "
                             f"({', '.join('?' * len(cols))})",
                             [[e.get(c) for c in cols] for e in evaluations])


def refresh_all_daily(store) -> None:
    with store.transaction():
        store.conn.execute("DELETE FROM face_daily")
        store.conn.execute(
            "INSERT INTO face_daily (day, node, item_code, received, accepted, refused, "
            "completed, on_time, work_days_sum, work_days_n, fees_fen) "
            "SELECT day, node, item_code, COUNT(*), SUM(accepted), SUM(refused), "
            "SUM(completed), SUM(on_time), COALESCE(SUM(work_days), 0), COUNT(work_days), "
            "SUM(fees_fen) FROM face_cases GROUP BY day, node, item_code")
        store.conn.execute("DELETE FROM face_monthly")
        store.conn.execute(
            "INSERT INTO face_monthly (month, node, item_code, received, accepted, refused, "
            "completed, on_time, work_days_sum, work_days_n, fees_fen) "
            f"SELECT substr(day, 1, 7), node, item_code, {_SUMS} FROM face_daily "
            "GROUP BY substr(day, 1, 7), node, item_code")
        store.conn.execute("ANALYZE")
