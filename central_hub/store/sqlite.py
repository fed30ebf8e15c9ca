"""The hub's store on SQLite (sqlite-utils): the only module of the hub that holds SQL.

One connection per store instance, opened in WAL mode with ``synchronous=FULL`` so an
acknowledged event survives a power cut. The web app uses one store per app instance and
calls it from ``async`` endpoints on the event-loop thread, so requests never interleave
inside a transaction; the connection is opened with ``check_same_thread=False`` only
because Starlette's TestClient runs the app on a thread of its own. Background jobs run on
the same event loop (see :mod:`central_hub.jobs`). Other threads must open their own store.

Write transactions start with ``BEGIN IMMEDIATE`` (WAL: a read that turns into a write
would fail with SQLITE_BUSY_SNAPSHOT instead of waiting); nested ``transaction()`` blocks
use savepoints.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import sqlite_utils

from ..records import (
    AlertRecord,
    ConfigRecord,
    EnrolToken,
    KeyStatementRecord,
    NewEvent,
    NodeDayStats,
    NodeKey,
    NodeRecord,
    StoredEvent,
    VERIFY_PENDING,
)
from .interface import StoreError
from .migrations import apply_migrations

_NODE_COLUMNS = ("code, name, public_key, status, status_reason, status_changed_at, "
                 "enrolled_at, acked_seq, acked_link, last_seen, skew_ms, clock_skew_ms, "
                 "last_event_ts, reported_head, caught_up_at")
_EVENT_COLUMNS = ("position, node, seq, type, case_no, ts, canonical, signature, link, "
                  "received_at, verified")
_ALERT_COLUMNS = ("id, supervision_no, case_no, content, body, item_type, raised_at, "
                  "last_raised_at, occurrences, rule_id, alert_type, level, state, "
                  "state_changed_at, result, responsible_unit, responsible_person, node, seq, "
                  "details, dedupe_key")
_OPEN_STATES = ("open", "answered")


def _node(row: Sequence) -> NodeRecord:
    return NodeRecord(*row)


def _event(row: Sequence) -> StoredEvent:
    (position, node, seq, type_, case_no, ts, canonical, signature, link, received_at,
     verified) = row
    return StoredEvent(position, node, seq, type_, case_no, ts, bytes(canonical),
                       bytes(signature), link, received_at, verified)


def _alert(row: Sequence) -> AlertRecord:
    (id_, supervision_no, case_no, content, body, item_type, raised_at, last_raised_at,
     occurrences, rule_id, alert_type, level, state, state_changed_at, result,
     responsible_unit, responsible_person, node, seq, details, dedupe_key) = row
    return AlertRecord(alert_type=alert_type, content=content, rule_id=rule_id,
                       raised_at=raised_at, level=level, state=state,
                       state_changed_at=state_changed_at, case_no=case_no,
                       supervision_no=supervision_no, body=body, item_type=item_type,
                       result=result, responsible_unit=responsible_unit,
                       responsible_person=responsible_person, node=node, seq=seq,
                       details=json.loads(details), dedupe_key=dedupe_key,
                       occurrences=occurrences, last_raised_at=last_raised_at, id=id_)


class SqliteHubStore:
    """:class:`central_hub.store.interface.HubStore` on one SQLite file."""

    def __init__(self, path: str | Path, now: str) -> None:
        self.path = str(path)
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self.db = sqlite_utils.Database(conn)
        conn.execute("PRAGMA page_size=16384")     # takes effect on a new database only
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self._lock = threading.RLock()
        apply_migrations(conn, now)

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work (nested blocks become savepoints)."""
        with self._lock:
            if self.conn.in_transaction:
                with self.db.atomic():
                    yield
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def _one(self, sql: str, params: Sequence = ()) -> tuple | None:
        return self.conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence = ()) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def _write(self, sql: str, params: Sequence = ()) -> sqlite3.Cursor:
        with self.transaction():
            return self.conn.execute(sql, params)

    # ------------------------------------------------------------------ enrolment

    def add_enrol_token(self, token: EnrolToken) -> None:
        self._write("INSERT INTO enrol_tokens (token_hash, node, name, created_at, expires_at, "
                    "used_at, used_by_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (token.token_hash, token.node, token.name, token.created_at,
                     token.expires_at, token.used_at, token.used_by_key))

    def enrol_token(self, token_hash: str) -> EnrolToken | None:
        row = self._one("SELECT token_hash, node, name, created_at, expires_at, used_at, "
                        "used_by_key FROM enrol_tokens WHERE token_hash = ?", (token_hash,))
        return EnrolToken(*row) if row else None

    def enrol_node(self, token_hash: str, code: str, name: str, public_key: str,
                   genesis_link: str, now: str) -> NodeRecord:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE enrol_tokens SET used_at = ?, used_by_key = ? "
                "WHERE token_hash = ? AND used_at IS NULL", (now, public_key, token_hash))
            if cur.rowcount != 1:
                raise StoreError("enrolment token is already used")
            self.conn.execute(
                "INSERT INTO nodes (code, name, public_key, enrolled_at, acked_seq, acked_link)"
                " VALUES (?, ?, ?, ?, 0, ?)", (code, name, public_key, now, genesis_link))
            self.conn.execute("INSERT INTO node_keys (node, public_key, from_seq, added_at) "
                              "VALUES (?, ?, 1, ?)", (code, public_key, now))
        node = self.node(code)
        assert node is not None
        return node

    # ------------------------------------------------------------------ nodes

    def node(self, code: str) -> NodeRecord | None:
        row = self._one(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE code = ?", (code,))
        return _node(row) if row else None

    def nodes(self) -> list[NodeRecord]:
        return [_node(r) for r in self._all(f"SELECT {_NODE_COLUMNS} FROM nodes ORDER BY code")]

    def set_node_status(self, code: str, status: str, reason: str | None, now: str) -> None:
        self._write("UPDATE nodes SET status = ?, status_reason = ?, status_changed_at = ? "
                    "WHERE code = ?", (status, reason, now, code))

    def record_contact(self, code: str, seen_at: str, skew_ms: int, clock_skew_ms: int,
                       reported_head: int | None = None) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE nodes SET last_seen = ?, skew_ms = ?, clock_skew_ms = ?, "
                "reported_head = COALESCE(?, reported_head) WHERE code = ?",
                (seen_at, skew_ms, clock_skew_ms, reported_head, code))
            self.mark_caught_up(code, seen_at)

    def mark_caught_up(self, code: str, at: str) -> None:
        """Stamp the node as holding everything it reported, if it does."""
        self._write("UPDATE nodes SET caught_up_at = ? WHERE code = ? "
                    "AND acked_seq >= COALESCE(reported_head, 0)", (at, code))

    def node_keys(self, code: str) -> list[NodeKey]:
        return [NodeKey(*r) for r in self._all(
            "SELECT node, public_key, from_seq, added_at FROM node_keys WHERE node = ? "
            "ORDER BY from_seq", (code,))]

    # ------------------------------------------------------------------ nonces

    def use_nonce(self, node: str, nonce: str, seen_at: str) -> bool:
        """Record a nonce; False if this node already used it."""
        try:
            self._write("INSERT INTO nonces (node, nonce, seen_at) VALUES (?, ?, ?)",
                        (node, nonce, seen_at))
        except sqlite3.IntegrityError:
            return False
        return True

    def prune_nonces(self, before: str) -> int:
        return self._write("DELETE FROM nonces WHERE seen_at < ?", (before,)).rowcount

    # ------------------------------------------------------------------ events

    def stored_events(self, node: str, first: int, last: int) -> dict[int, tuple[bytes, bytes]]:
        """seq -> (canonical, signature) for the node's stored events in [first, last]."""
        return {seq: (bytes(c), bytes(s)) for seq, c, s in self._all(
            "SELECT seq, canonical, signature FROM events WHERE node = ? AND seq BETWEEN ? AND ?",
            (node, first, last))}

    def append_events(self, node: str, events: Sequence[NewEvent], received_at: str,
                      new_keys: Sequence[tuple[str, int]] = ()) -> None:
        """Append an authenticated run and advance the node's head, atomically.

        ``new_keys`` are (public key hex, first seq) of keys rotated to inside the run.
        """
        if not events:
            return
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO events (node, seq, type, case_no, ts, canonical, signature, link, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(node, e.seq, e.type, e.case_no, e.ts, e.canonical, e.signature, e.link,
                  received_at) for e in events])
            last = events[-1]
            cur = self.conn.execute(
                "UPDATE nodes SET acked_seq = ?, acked_link = ?, last_event_ts = ? "
                "WHERE code = ? AND acked_seq = ?",
                (last.seq, last.link, last.ts, node, events[0].seq - 1))
            if cur.rowcount != 1:
                raise StoreError(f"node {node} head moved during append")
            for key, from_seq in new_keys:
                self.conn.execute(
                    "INSERT INTO node_keys (node, public_key, from_seq, added_at) "
                    "VALUES (?, ?, ?, ?)", (node, key, from_seq, received_at))
                self.conn.execute("UPDATE nodes SET public_key = ? WHERE code = ?", (key, node))

    def events_after(self, position: int, limit: int) -> list[StoredEvent]:
        return [_event(r) for r in self._all(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (position, limit))]

    def unverified_events(self, limit: int) -> list[StoredEvent]:
        return [_event(r) for r in self._all(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE verified = ? ORDER BY position LIMIT ?",
            (VERIFY_PENDING, limit))]

    def node_events(self, node: str, after_seq: int = 0, limit: int = 1000) -> list[StoredEvent]:
        return [_event(r) for r in self._all(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE node = ? AND seq > ? ORDER BY seq "
            "LIMIT ?", (node, after_seq, limit))]

    def set_verified(self, results: Iterable[tuple[int, int]]) -> None:
        with self.transaction():
            self.conn.executemany("UPDATE events SET verified = ? WHERE position = ?",
                                  [(state, position) for position, state in results])

    def set_content_flags(self, flags: Iterable[tuple[int, bool, str | None]]) -> None:
        with self.transaction():
            self.conn.executemany(
                "UPDATE events SET content_ok = ?, content_notes = ? WHERE position = ?",
                [(1 if ok else 0, notes, position) for position, ok, notes in flags])

    def reset_content_flags(self) -> None:
        self._write("UPDATE events SET content_ok = NULL, content_notes = NULL")

    def content_flags(self, node: str) -> dict[int, tuple[int | None, str | None]]:
        return {seq: (ok, notes) for seq, ok, notes in self._all(
            "SELECT seq, content_ok, content_notes FROM events WHERE node = ?", (node,))}

    def last_position(self) -> int:
        row = self._one("SELECT MAX(position) FROM events")
        return row[0] or 0

    def event_count(self, node: str | None = None) -> int:
        if node is None:
            return self._one("SELECT COUNT(*) FROM events")[0]
        return self._one("SELECT COUNT(*) FROM events WHERE node = ?", (node,))[0]

    def verification_counts(self) -> dict[int, int]:
        return dict(self._all("SELECT verified, COUNT(*) FROM events GROUP BY verified"))

    # ------------------------------------------------------------------ projections

    def cursor(self, name: str) -> int:
        row = self._one("SELECT position FROM projector_cursors WHERE name = ?", (name,))
        return row[0] if row else 0

    def set_cursor(self, name: str, position: int) -> None:
        self._write("INSERT INTO projector_cursors (name, position) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    (name, position))

    def add_day_counts(self, counts: Iterable[tuple[str, str, int]]) -> None:
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO node_day_stats (node, day, events) VALUES (?, ?, ?) "
                "ON CONFLICT (node, day) DO UPDATE SET events = events + excluded.events",
                list(counts))

    def reset_day_counts(self) -> None:
        self._write("DELETE FROM node_day_stats")

    def day_counts(self, since_day: str) -> list[NodeDayStats]:
        return [NodeDayStats(*r) for r in self._all(
            "SELECT node, day, events FROM node_day_stats WHERE day >= ? ORDER BY node, day",
            (since_day,))]

    def case_states(self, case_nos: Iterable[str]) -> dict[str, dict]:
        wanted = sorted(set(case_nos))
        out: dict[str, dict] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            marks = ", ".join("?" * len(chunk))
            for case_no, state in self._all(
                    f"SELECT case_no, state FROM hub_cases WHERE case_no IN ({marks})", chunk):
                out[case_no] = json.loads(state)
        return out

    def put_case_states(self, states: Iterable[tuple[str, str, dict, int]]) -> None:
        """(case_no, node, state, position) rows, replacing earlier states."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO hub_cases (case_no, node, state, position) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (case_no) DO UPDATE SET node = excluded.node, "
                "state = excluded.state, position = excluded.position",
                [(c, n, json.dumps(s, ensure_ascii=False, sort_keys=True), p)
                 for c, n, s, p in states])

    def reset_case_states(self) -> None:
        self._write("DELETE FROM hub_cases")

    # ------------------------------------------------------------------ alerts

    def raise_alert(self, alert: AlertRecord) -> AlertRecord:
        """Store an alert; an open alert with the same ``dedupe_key`` is counted instead."""
        with self.transaction():
            if alert.dedupe_key is not None:
                row = self._one(
                    "SELECT id FROM alerts WHERE dedupe_key = ? AND state IN (?, ?) "
                    "ORDER BY id DESC LIMIT 1", (alert.dedupe_key, *_OPEN_STATES))
                if row:
                    self.conn.execute(
                        "UPDATE alerts SET occurrences = occurrences + 1, last_raised_at = ? "
                        "WHERE id = ?", (alert.raised_at, row[0]))
                    return self.alert(row[0])  # type: ignore[return-value]
            cur = self.conn.execute(
                "INSERT INTO alerts (case_no, content, body, item_type, raised_at, "
                "last_raised_at, occurrences, rule_id, alert_type, level, state, "
                "state_changed_at, result, responsible_unit, responsible_person, node, seq, "
                "details, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?)",
                (alert.case_no, alert.content, alert.body, alert.item_type, alert.raised_at,
                 alert.raised_at, alert.rule_id, alert.alert_type, alert.level, alert.state,
                 alert.raised_at, alert.result, alert.responsible_unit,
                 alert.responsible_person, alert.node, alert.seq,
                 json.dumps(alert.details, ensure_ascii=False, sort_keys=True),
                 alert.dedupe_key))
            alert_id = cur.lastrowid
            number = alert.supervision_no or f"JC{alert.raised_at[:10].replace('-', '')}-{alert_id:06d}"
            self.conn.execute("UPDATE alerts SET supervision_no = ? WHERE id = ?",
                              (number, alert_id))
            self.conn.execute("INSERT INTO alert_history (alert_id, state, changed_at, "
                              "changed_by, note) VALUES (?, ?, ?, 'hub', 'raised')",
                              (alert_id, alert.state, alert.raised_at))
        return self.alert(alert_id)  # type: ignore[return-value]

    def alert(self, alert_id: int) -> AlertRecord | None:
        row = self._one(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,))
        return _alert(row) if row else None

    def alerts(self, *, node: str | None = None, alert_type: str | None = None,
               state: str | None = None, limit: int = 1000) -> list[AlertRecord]:
        where, params = [], []
        for column, value in (("node", node), ("alert_type", alert_type), ("state", state)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return [_alert(r) for r in self._all(
            f"SELECT {_ALERT_COLUMNS} FROM alerts {clause} ORDER BY id LIMIT ?",
            (*params, limit))]

    def change_alert_state(self, alert_id: int, state: str, at: str, by: str,
                           note: str | None = None, result: str | None = None) -> None:
        with self.transaction():
            self.conn.execute("UPDATE alerts SET state = ?, state_changed_at = ?, "
                              "result = COALESCE(?, result) WHERE id = ?",
                              (state, at, result, alert_id))
            self.conn.execute("INSERT INTO alert_history (alert_id, state, changed_at, "
                              "changed_by, note) VALUES (?, ?, ?, ?, ?)",
                              (alert_id, state, at, by, note))

    def alert_history(self, alert_id: int) -> list[tuple[str, str, str | None, str | None]]:
        return self._all("SELECT state, changed_at, changed_by, note FROM alert_history "
                         "WHERE alert_id = ? ORDER BY id", (alert_id,))

    # ------------------------------------------------------------------ configuration

    def add_config(self, record: ConfigRecord) -> None:
        self._write("INSERT INTO config_documents (kind, version, canonical, signature, "
                    "published_at, published_by) VALUES (?, ?, ?, ?, ?, ?)",
                    (record.kind, record.version, record.canonical, record.signature,
                     record.published_at, record.published_by))

    def config(self, kind: str, version: int | None = None) -> ConfigRecord | None:
        if version is None:
            row = self._one("SELECT kind, version, canonical, signature, published_at, "
                            "published_by FROM config_documents WHERE kind = ? "
                            "ORDER BY version DESC LIMIT 1", (kind,))
        else:
            row = self._one("SELECT kind, version, canonical, signature, published_at, "
                            "published_by FROM config_documents WHERE kind = ? AND version = ?",
                            (kind, version))
        return self._config(row) if row else None

    @staticmethod
    def _config(row: Sequence) -> ConfigRecord:
        kind, version, canonical, signature, published_at, published_by = row
        return ConfigRecord(kind, version, bytes(canonical), bytes(signature), published_at,
                            published_by)

    def latest_configs(self) -> list[ConfigRecord]:
        return [self._config(r) for r in self._all(
            "SELECT kind, version, canonical, signature, published_at, published_by "
            "FROM config_documents c WHERE version = (SELECT MAX(version) FROM "
            "config_documents WHERE kind = c.kind) ORDER BY kind")]

    def replace_config_signature(self, kind: str, version: int, canonical: bytes,
                                 signature: bytes) -> None:
        """Re-signed by a new hub key: same kind, version and content."""
        self._write("UPDATE config_documents SET canonical = ?, signature = ? "
                    "WHERE kind = ? AND version = ?", (canonical, signature, kind, version))

    # ------------------------------------------------------------------ hub keys

    def add_key_statement(self, record: KeyStatementRecord) -> None:
        self._write("INSERT INTO hub_key_statements (seq, canonical, signature, issued_at) "
                    "VALUES (?, ?, ?, ?)",
                    (record.seq, record.canonical, record.signature, record.issued_at))

    def key_statements(self) -> list[KeyStatementRecord]:
        return [KeyStatementRecord(seq, bytes(c), bytes(s), at) for seq, c, s, at in self._all(
            "SELECT seq, canonical, signature, issued_at FROM hub_key_statements ORDER BY seq")]

    # ------------------------------------------------------------------ users and audit

    def add_user(self, username: str, password_hash: str, role: str, now: str) -> None:
        self._write("INSERT INTO users (username, password_hash, role, created_at) "
                    "VALUES (?, ?, ?, ?)", (username, password_hash, role, now))

    def user(self, username: str) -> tuple[str, str] | None:
        row = self._one("SELECT password_hash, role FROM users WHERE username = ?", (username,))
        return (row[0], row[1]) if row else None

    def audit(self, at: str, actor: str, action: str, target: str | None,
              details: dict | None = None) -> None:
        self._write("INSERT INTO audit_log (at, actor, action, target, details) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (at, actor, action, target,
                     json.dumps(details or {}, ensure_ascii=False, sort_keys=True)))
