"""SQL of information disclosure at the hub (tables of migration ``disclosure_0001``).

Functions over a :class:`~central_hub.store.sqlite.SqliteHubStore` (its ``conn`` and
``transaction()``); a PostgreSQL port provides the same functions. Callers hold the
transaction for multi-statement writes (the projector does; single writes open their own).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from protocol.disclosure import fts_document_terms, fts_query


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------- documents

_DOC_COLUMNS = ("doc_id", "node", "state", "body_code", "body_name", "title", "made_on",
                "published_on", "first_published_on", "due_on", "days_late", "index_no",
                "doc_no", "topic", "genre", "grouping", "entry", "office", "person",
                "repealed_on", "withdrawn_on", "data", "position")


def _doc(row: Sequence) -> dict:
    out = dict(zip(_DOC_COLUMNS, row))
    out["data"] = json.loads(out["data"])
    return out


def document_states(store, doc_ids: Iterable[str]) -> dict[str, dict]:
    ids = sorted(set(doc_ids))
    out: dict[str, dict] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for doc_id, data in store.conn.execute(
                f"SELECT doc_id, data FROM disclosure_docs WHERE doc_id IN ({marks})", chunk):
            out[doc_id] = json.loads(data)
    return out


def put_document(store, row: dict, attachments: list[dict], fts_text: tuple[str, str]) -> None:
    """Insert or replace one document's projection, attachments and search row
    (inside the caller's transaction)."""
    values = [row.get(c) for c in _DOC_COLUMNS]
    values[_DOC_COLUMNS.index("data")] = _dumps(row["data"])
    marks = ",".join("?" * len(_DOC_COLUMNS))
    updates = ", ".join(f"{c} = excluded.{c}" for c in _DOC_COLUMNS[1:])
    conn = store.conn
    conn.execute(f"INSERT INTO disclosure_docs ({', '.join(_DOC_COLUMNS)}) VALUES ({marks}) "
                 f"ON CONFLICT(doc_id) DO UPDATE SET {updates}", values)
    conn.execute("DELETE FROM disclosure_doc_attachments WHERE doc_id = ?", (row["doc_id"],))
    conn.executemany(
        "INSERT OR IGNORE INTO disclosure_doc_attachments (doc_id, sha256, name, mime, size) "
        "VALUES (?, ?, ?, ?, ?)",
        [(row["doc_id"], a["sha256"], a["name"], a["mime"], a["size"]) for a in attachments])
    conn.execute("DELETE FROM disclosure_fts WHERE doc_id = ?", (row["doc_id"],))
    if row["state"] == "published":
        conn.execute("INSERT INTO disclosure_fts (doc_id, bigrams, unigrams) VALUES (?, ?, ?)",
                     (row["doc_id"], *fts_text))


def reset_documents(store) -> None:
    store.conn.execute("DELETE FROM disclosure_docs")
    store.conn.execute("DELETE FROM disclosure_doc_attachments")
    store.conn.execute("DELETE FROM disclosure_fts")


def document(store, doc_id: str) -> dict | None:
    row = store.conn.execute(f"SELECT {', '.join(_DOC_COLUMNS)} FROM disclosure_docs "
                             "WHERE doc_id = ?", (doc_id,)).fetchone()
    return _doc(row) if row else None


def search_documents(store, *, text: str | None = None, body: str | None = None,
                     topic: str | None = None, genre: str | None = None,
                     grouping: str | None = None, date_from: str | None = None,
                     date_to: str | None = None, states: Sequence[str] = ("published",),
                     offset: int = 0, limit: int = 20) -> tuple[int, list[dict]]:
    """Published documents matching the filters, newest first (or best match first when
    searching text). Returns (total, page)."""
    where, params = [f"d.state IN ({','.join('?' * len(states))})"], list(states)
    join = ""
    order = "d.published_on DESC, d.doc_id DESC"
    if text:
        match = fts_query(text)
        if match is None:
            return 0, []
        join = "JOIN disclosure_fts f ON f.doc_id = d.doc_id"
        where.append("disclosure_fts MATCH ?")
        params.append(match)
        order = "bm25(disclosure_fts), d.published_on DESC"
    for column, value in (("body_code", body), ("topic", topic), ("genre", genre),
                          ("grouping", grouping)):
        if value:
            where.append(f"d.{column} = ?")
            params.append(value)
    if date_from:
        where.append("d.published_on >= ?")
        params.append(date_from)
    if date_to:
        where.append("d.published_on <= ?")
        params.append(date_to)
    clause = " AND ".join(where)
    total = store.conn.execute(f"SELECT count(*) FROM disclosure_docs d {join} WHERE {clause}",
                               params).fetchone()[0]
    if limit == 0:
        return total, []
    cols = ", ".join(f"d.{c}" for c in _DOC_COLUMNS)
    rows = store.conn.execute(f"SELECT {cols} FROM disclosure_docs d {join} WHERE {clause} "
                              f"ORDER BY {order} LIMIT ? OFFSET ?", [*params, limit, offset])
    return total, [_doc(r) for r in rows]


def documents_for_report(store, body_code: str | None) -> list[dict]:
    sql = ("SELECT doc_id, body_code, genre, made_on, published_on, first_published_on, "
           "repealed_on, state, entry, days_late, topic FROM disclosure_docs "
           "WHERE published_on IS NOT NULL")
    params: list[Any] = []
    if body_code:
        sql += " AND body_code = ?"
        params.append(body_code)
    keys = ("doc_id", "body_code", "genre", "made_on", "published_on", "first_published_on",
            "repealed_on", "state", "entry", "days_late", "topic")
    return [dict(zip(keys, r)) for r in store.conn.execute(sql, params)]


def bodies(store) -> list[tuple[str, str]]:
    """(code, name) of every body that published something or received a request."""
    rows = store.conn.execute(
        "SELECT body_code, max(body_name) FROM (SELECT body_code, body_name FROM disclosure_docs "
        "WHERE body_code IS NOT NULL UNION ALL SELECT body_code, body_name FROM "
        "disclosure_requests) GROUP BY body_code ORDER BY body_code").fetchall()
    return [(c, n or c) for c, n in rows]


def counts_by(store, column: str, year: int | None = None) -> list[tuple[str, str, int]]:
    """(body_code, value of ``column``, documents published) per year or overall."""
    if column not in ("topic", "genre", "grouping", "year"):
        raise ValueError(column)
    expr = "substr(published_on, 1, 4)" if column == "year" else column
    sql = (f"SELECT body_code, {expr}, count(*) FROM disclosure_docs WHERE state = 'published'"
           " AND published_on IS NOT NULL")
    params: list[Any] = []
    if year is not None:
        sql += " AND substr(published_on, 1, 4) = ?"
        params.append(str(year))
    sql += " GROUP BY 1, 2 ORDER BY 1, 2"
    return [tuple(r) for r in store.conn.execute(sql, params)]


def late_documents(store, limit: int = 200) -> list[dict]:
    rows = store.conn.execute(
        f"SELECT {', '.join(_DOC_COLUMNS)} FROM disclosure_docs WHERE days_late > 0 "
        "ORDER BY published_on DESC LIMIT ?", (limit,))
    return [_doc(r) for r in rows]


# --------------------------------------------------------------------------- attachments


def attachment_refs(store, sha256: str) -> list[dict]:
    keys = ("doc_id", "sha256", "name", "mime", "size")
    return [dict(zip(keys, r)) for r in store.conn.execute(
        "SELECT doc_id, sha256, name, mime, size FROM disclosure_doc_attachments "
        "WHERE sha256 = ?", (sha256,))]


def blob(store, sha256: str) -> dict | None:
    row = store.conn.execute("SELECT sha256, mime, size, received_bytes, complete, updated_at "
                             "FROM attachment_blobs WHERE sha256 = ?", (sha256,)).fetchone()
    keys = ("sha256", "mime", "size", "received_bytes", "complete", "updated_at")
    return dict(zip(keys, row)) if row else None


def put_blob(store, sha256: str, mime: str, size: int, received: int, complete: bool,
             at: str) -> None:
    with store.transaction():
        store.conn.execute(
            "INSERT INTO attachment_blobs (sha256, mime, size, received_bytes, complete, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(sha256) DO UPDATE SET "
            "received_bytes = excluded.received_bytes, complete = excluded.complete, "
            "updated_at = excluded.updated_at", (sha256, mime, size, received, int(complete), at))


def complete_blobs(store, hashes: Iterable[str]) -> set[str]:
    hashes = sorted(set(hashes))
    if not hashes:
        return set()
    marks = ",".join("?" * len(hashes))
    return {r[0] for r in store.conn.execute(
        f"SELECT sha256 FROM attachment_blobs WHERE complete = 1 AND sha256 IN ({marks})",
        hashes)}


def missing_blobs(store, limit: int = 1000) -> list[str]:
    """Hashes referenced by a document whose bytes have not arrived (the transport's
    to-do list)."""
    return [r[0] for r in store.conn.execute(
        "SELECT DISTINCT a.sha256 FROM disclosure_doc_attachments a LEFT JOIN attachment_blobs b"
        " ON b.sha256 = a.sha256 WHERE b.complete IS NULL OR b.complete = 0 LIMIT ?", (limit,))]


# --------------------------------------------------------------------------- ratings


def add_rating(store, doc_id: str, useful: bool, comment: str, at: str) -> None:
    with store.transaction():
        store.conn.execute("INSERT INTO disclosure_ratings (doc_id, useful, comment, rated_at) "
                           "VALUES (?, ?, ?, ?)", (doc_id, int(useful), comment, at))


def rating_summary(store, doc_id: str) -> dict:
    useful, total = store.conn.execute(
        "SELECT coalesce(sum(useful), 0), count(*) FROM disclosure_ratings WHERE doc_id = ?",
        (doc_id,)).fetchone()
    return {"useful": useful, "not_useful": total - useful, "total": total}


def ratings(store, doc_id: str | None = None, limit: int = 200) -> list[dict]:
    sql = ("SELECT r.doc_id, d.title, d.body_code, r.useful, r.comment, r.rated_at FROM "
           "disclosure_ratings r LEFT JOIN disclosure_docs d ON d.doc_id = r.doc_id")
    params: list[Any] = []
    if doc_id:
        sql += " WHERE r.doc_id = ?"
        params.append(doc_id)
    sql += " ORDER BY r.id DESC LIMIT ?"
    keys = ("doc_id", "title", "body_code", "useful", "comment", "rated_at")
    return [dict(zip(keys, r)) for r in store.conn.execute(sql, [*params, limit])]


def rating_counts(store) -> list[tuple[str, int, int]]:
    """(body_code, useful, not useful) over all ratings."""
    return [tuple(r) for r in store.conn.execute(
        "SELECT d.body_code, sum(r.useful), count(*) - sum(r.useful) FROM disclosure_ratings r "
        "JOIN disclosure_docs d ON d.doc_id = r.doc_id GROUP BY d.body_code ORDER BY 1")]


# --------------------------------------------------------------------------- catalogue


def add_catalogue_entry(store, entry: dict, at: str, by: str | None) -> None:
    with store.transaction():
        store.conn.execute(
            "INSERT INTO disclosure_catalogue (body_code, code, name, topic, genre, period, "
            "created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(body_code, code)"
            " DO UPDATE SET name = excluded.name, topic = excluded.topic, genre = excluded.genre,"
            " period = excluded.period",
            (entry["body_code"], entry["code"], entry["name"], entry.get("topic"),
             entry.get("genre"), entry["period"], at, by))


def catalogue_entries(store, body_code: str | None = None) -> list[dict]:
    sql = "SELECT body_code, code, name, topic, genre, period FROM disclosure_catalogue"
    params: list[Any] = []
    if body_code:
        sql += " WHERE body_code = ?"
        params.append(body_code)
    keys = ("body_code", "code", "name", "topic", "genre", "period")
    return [dict(zip(keys, r)) for r in store.conn.execute(sql + " ORDER BY 1, 2", params)]


# --------------------------------------------------------------------------- requests

_REQ_COLUMNS = ("request_no", "body_code", "body_name", "channel", "applicant_type",
                "applicant_name", "applicant_id_no", "contact", "description", "purpose",
                "delivery", "submitted_at", "received_on", "state", "due_on", "replied_on",
                "reply_type", "reason_code", "data", "updated_at")


def _req(row: Sequence) -> dict:
    out = dict(zip(_REQ_COLUMNS, row))
    out["data"] = json.loads(out["data"])
    return out


def insert_request(store, row: dict) -> None:
    values = [row.get(c) for c in _REQ_COLUMNS]
    values[_REQ_COLUMNS.index("data")] = _dumps(row["data"])
    store.conn.execute(f"INSERT INTO disclosure_requests ({', '.join(_REQ_COLUMNS)}) VALUES "
                       f"({','.join('?' * len(_REQ_COLUMNS))})", values)


def update_request(store, request_no: str, *, state: str, due_on: str | None,
                   replied_on: str | None, reply_type: str | None, reason_code: str | None,
                   data: dict, updated_at: str) -> None:
    store.conn.execute(
        "UPDATE disclosure_requests SET state = ?, due_on = ?, replied_on = ?, reply_type = ?, "
        "reason_code = ?, data = ?, updated_at = ? WHERE request_no = ?",
        (state, due_on, replied_on, reply_type, reason_code, _dumps(data), updated_at,
         request_no))


def add_request_action(store, request_no: str, action: dict, at: str, actor: str) -> None:
    store.conn.execute(
        "INSERT INTO disclosure_request_actions (request_no, type, on_date, at, actor, data) "
        "VALUES (?, ?, ?, ?, ?, ?)", (request_no, action["type"], action["on"], at, actor,
                                      _dumps(action)))


def request(store, request_no: str) -> dict | None:
    row = store.conn.execute(f"SELECT {', '.join(_REQ_COLUMNS)} FROM disclosure_requests "
                             "WHERE request_no = ?", (request_no,)).fetchone()
    return _req(row) if row else None


def request_actions(store, request_no: str) -> list[dict]:
    keys = ("id", "type", "on_date", "at", "actor", "data")
    out = []
    for r in store.conn.execute("SELECT id, type, on_date, at, actor, data FROM "
                                "disclosure_request_actions WHERE request_no = ? ORDER BY id",
                                (request_no,)):
        item = dict(zip(keys, r))
        item["data"] = json.loads(item["data"])
        out.append(item)
    return out


def requests(store, *, body_code: str | None = None, state: str | None = None,
             open_only: bool = False, bodies: Sequence[str] | None = None, offset: int = 0,
             limit: int = 50) -> tuple[int, list[dict]]:
    """``bodies``: only the requests to these bodies (None: every body; empty: none)."""
    where, params = ["1 = 1"], []
    if bodies is not None:
        where.append(f"body_code IN ({', '.join('?' * len(bodies))})" if bodies else "0 = 1")
        params.extend(bodies)
    if body_code:
        where.append("body_code = ?")
        params.append(body_code)
    if state:
        where.append("state = ?")
        params.append(state)
    if open_only:
        where.append("state != 'replied'")
    clause = " AND ".join(where)
    total = store.conn.execute(f"SELECT count(*) FROM disclosure_requests WHERE {clause}",
                               params).fetchone()[0]
    rows = store.conn.execute(f"SELECT {', '.join(_REQ_COLUMNS)} FROM disclosure_requests "
                              f"WHERE {clause} ORDER BY received_on DESC, request_no DESC "
                              "LIMIT ? OFFSET ?", [*params, limit, offset])
    return total, [_req(r) for r in rows]


def requests_for_report(store, body_code: str | None) -> list[dict]:
    sql = ("SELECT request_no, applicant_type, received_on, replied_on, reply_type, reason_code "
           "FROM disclosure_requests")
    params: list[Any] = []
    if body_code:
        sql += " WHERE body_code = ?"
        params.append(body_code)
    keys = ("request_no", "applicant_type", "received_on", "reply_on", "reply_type",
            "reason_code")
    return [dict(zip(keys, r)) for r in store.conn.execute(sql, params)]


# --------------------------------------------------------------------------- appeals, texts


def add_appeal(store, body_code: str, year: int, kind: str, outcome: str, note: str,
               by: str, at: str) -> int:
    with store.transaction():
        cur = store.conn.execute(
            "INSERT INTO disclosure_appeals (body_code, year, kind, outcome, note, entered_by, "
            "entered_at) VALUES (?, ?, ?, ?, ?, ?, ?)", (body_code, year, kind, outcome, note,
                                                         by, at))
        return int(cur.lastrowid)


def appeals(store, body_code: str | None, year: int | None = None) -> list[dict]:
    sql = ("SELECT id, body_code, year, kind, outcome, note, entered_by, entered_at FROM "
           "disclosure_appeals WHERE 1 = 1")
    params: list[Any] = []
    if body_code:
        sql += " AND body_code = ?"
        params.append(body_code)
    if year is not None:
        sql += " AND year = ?"
        params.append(year)
    keys = ("id", "body_code", "year", "kind", "outcome", "note", "entered_by", "entered_at")
    return [dict(zip(keys, r)) for r in store.conn.execute(sql + " ORDER BY id", params)]


def set_report_text(store, body_code: str, year: int, section: str, text: str, by: str,
                    at: str) -> None:
    with store.transaction():
        store.conn.execute(
            "INSERT INTO disclosure_report_texts (body_code, year, section, text, updated_by, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(body_code, year, section) DO "
            "UPDATE SET text = excluded.text, updated_by = excluded.updated_by, "
            "updated_at = excluded.updated_at", (body_code, year, section, text, by, at))


def report_texts(store, body_code: str, year: int) -> dict[str, str]:
    return dict(store.conn.execute(
        "SELECT section, text FROM disclosure_report_texts WHERE body_code = ? AND year = ?",
        (body_code, year)).fetchall())


# --------------------------------------------------------------------------- case data


def case_decisions(store, body_code: str | None, year: int) -> dict[str, int]:
    """Licensing (01), penalty (02) and enforcement (03) decisions of the year, from the
    hub's case projection: cases of the body's nodes or of its catalogue items."""
    where = ["c.decision IS NOT NULL",
             "substr(COALESCE(c.completed_at, c.closed_at, c.updated_at), 1, 4) = ?",
             "c.item_type IN ('01', '02', '03')"]
    params: list[Any] = [str(year)]
    if body_code:
        where.append("(c.node = ? OR n.org_unit = ? OR i.department = ?)")
        params += [body_code] * 3
    rows = store.conn.execute(
        "SELECT c.item_type, count(*) FROM cases c LEFT JOIN nodes n ON n.code = c.node "
        "LEFT JOIN catalogue_items i ON i.code = c.item_code WHERE " + " AND ".join(where) +
        " GROUP BY c.item_type", params).fetchall()
    names = {"01": "license", "02": "penalty", "03": "enforcement"}
    return {names[t]: n for t, n in rows}


def case_fees_fen(store, body_code: str | None, year: int) -> int:
    where = ["substr(f.at, 1, 4) = ?"]
    params: list[Any] = [str(year)]
    if body_code:
        where.append("(c.node = ? OR n.org_unit = ? OR i.department = ?)")
        params += [body_code] * 3
    row = store.conn.execute(
        "SELECT coalesce(sum(CASE f.kind WHEN 'charged' THEN f.amount_fen WHEN 'refunded' THEN "
        "-f.amount_fen ELSE 0 END), 0) FROM case_fees f JOIN cases c ON c.case_no = f.case_no "
        "LEFT JOIN nodes n ON n.code = c.node LEFT JOIN catalogue_items i ON i.code = c.item_code"
        " WHERE " + " AND ".join(where), params).fetchone()
    return int(row[0] or 0)
