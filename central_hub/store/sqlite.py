"""The hub's store on SQLite (sqlite-utils): the only module of the hub that holds SQL.

One connection per store instance, opened by :func:`connect` in WAL mode with
``synchronous=FULL`` so an acknowledged event survives a power cut, and in autocommit mode
(``isolation_level=None``): the sqlite3 module never opens a transaction by itself, so a
statement outside :meth:`SqliteHubStore.transaction` can never leave the write lock held
and later commits turned into savepoints of a transaction nobody commits.

The web app uses one store per app instance from ``async`` endpoints on the event-loop
thread; no transaction spans an ``await``, so requests never interleave inside one. The
connection is opened with ``check_same_thread=False`` only because Starlette's TestClient
runs the app on a thread of its own. The background jobs (:mod:`central_hub.jobs`) run on
a thread with a store of their own; exports read on a read-only connection of their own.

Write transactions start with ``BEGIN IMMEDIATE`` (WAL: a read that turns into a write
would fail with SQLITE_BUSY_SNAPSHOT instead of waiting); nested ``transaction()`` blocks
use savepoints.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import sqlite_utils

from ..records import (
    Account,
    AlertRecord,
    AuditEntry,
    CatalogueItemRecord,
    DeadlineChange,
    DraftRecord,
    ItemVersion,
    OrgUnit,
    ReviewRecord,
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
from web.sessions import SessionRecord

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


def connect(path: str | Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Every SQLite connection of the hub is opened here, in autocommit mode.

    ``isolation_level=None`` turns off the sqlite3 module's implicit ``BEGIN``: a statement
    outside :meth:`SqliteHubStore.transaction` is committed on its own at once, never left
    in a transaction that nobody commits (which would hold the write lock and make every
    later ``transaction()`` a savepoint inside it, so nothing written would be durable).
    """
    if read_only:
        return sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True,
                               check_same_thread=False, isolation_level=None, timeout=30)
    try:   # a new database holds personal data: owner only (SQLite copies this to WAL/SHM)
        os.close(os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    return sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                           timeout=30)


def snapshot_summary(path: str | Path) -> tuple[int, int, dict[str, int]]:
    """Of a database copy: its last log position, its event count, each node's acked seq."""
    conn = connect(path, read_only=True)
    try:
        last, count = conn.execute(
            "SELECT COALESCE(MAX(position), 0), COUNT(*) FROM events").fetchone()
        heads = dict(conn.execute("SELECT code, acked_seq FROM nodes").fetchall())
    finally:
        conn.close()
    return last, count, heads


def file_integrity(path: str | Path) -> str:
    """SQLite's ``integrity_check`` of a database file (``"ok"`` when sound)."""
    conn = connect(path, read_only=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


class SqliteHubStore:
    """:class:`central_hub.store.interface.HubStore` on one SQLite file."""

    def __init__(self, path: str | Path, now: str) -> None:
        self.path = str(path)
        conn = connect(self.path)
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

    def record_skew(self, code: str, skew_ms: int, clock_skew_ms: int) -> None:
        """The skew of an authentic request the hub refused (outside its window): only the
        skew is recorded, not the contact, the reported head or the caught-up mark."""
        self._write("UPDATE nodes SET skew_ms = ?, clock_skew_ms = ? WHERE code = ?",
                    (skew_ms, clock_skew_ms, code))

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

    # ------------------------------------------------------------------ org units

    def add_org_unit(self, unit: OrgUnit) -> None:
        self._write("INSERT INTO org_units (code, name, kind, parent, area_code, item_prefix, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (unit.code, unit.name, unit.kind, unit.parent, unit.area_code,
                     unit.item_prefix, unit.created_at))

    def update_org_unit(self, code: str, name: str, item_prefix: str | None) -> None:
        self._write("UPDATE org_units SET name = ?, item_prefix = ? WHERE code = ?",
                    (name, item_prefix, code))

    def org_unit(self, code: str) -> OrgUnit | None:
        row = self._one("SELECT code, name, kind, parent, area_code, item_prefix, created_at "
                        "FROM org_units WHERE code = ?", (code,))
        return OrgUnit(*row) if row else None

    def org_units(self) -> list[OrgUnit]:
        return [OrgUnit(*r) for r in self._all(
            "SELECT code, name, kind, parent, area_code, item_prefix, created_at FROM org_units "
            "ORDER BY code")]

    def set_node_org_unit(self, code: str, org_unit: str | None) -> None:
        self._write("UPDATE nodes SET org_unit = ? WHERE code = ?", (org_unit, code))

    def node_org_units(self) -> dict[str, str | None]:
        return dict(self._all("SELECT code, org_unit FROM nodes"))

    # ------------------------------------------------------------------ accounts

    _ACCOUNT_COLUMNS = ("username, role, display_name, org_unit, active, session_epoch, "
                        "created_at, password_hash, totp_secret IS NOT NULL")

    def add_user(self, username: str, password_hash: str, role: str, now: str,
                 display_name: str = "", org_unit: str | None = None) -> None:
        self._write("INSERT INTO users (username, password_hash, role, created_at, "
                    "display_name, org_unit) VALUES (?, ?, ?, ?, ?, ?)",
                    (username, password_hash, role, now, display_name, org_unit))

    def user(self, username: str) -> tuple[str, str] | None:
        row = self._one("SELECT password_hash, role FROM users WHERE username = ?", (username,))
        return (row[0], row[1]) if row else None

    @staticmethod
    def _account(row: Sequence) -> Account:
        username, role, display_name, org_unit, active, epoch, created_at, hashed, totp = row
        return Account(username, role, display_name, org_unit, bool(active), epoch, created_at,
                       hashed, bool(totp))

    def account(self, username: str) -> Account | None:
        row = self._one(f"SELECT {self._ACCOUNT_COLUMNS} FROM users WHERE username = ?",
                        (username,))
        return self._account(row) if row else None

    def accounts(self) -> list[Account]:
        return [self._account(r) for r in self._all(
            f"SELECT {self._ACCOUNT_COLUMNS} FROM users ORDER BY username")]

    def update_account(self, username: str, *, role: str, display_name: str,
                       org_unit: str | None, active: bool) -> None:
        """Change an account; a change of role, unit or activity ends its sessions."""
        self._write("UPDATE users SET session_epoch = session_epoch + "
                    "(role != ? OR COALESCE(org_unit, '') != COALESCE(?, '') OR active != ?), "
                    "role = ?, display_name = ?, org_unit = ?, active = ? WHERE username = ?",
                    (role, org_unit, int(active), role, display_name, org_unit, int(active),
                     username))

    def set_password(self, username: str, password_hash: str) -> None:
        """A new password ends the account's sessions."""
        self._write("UPDATE users SET password_hash = ?, session_epoch = session_epoch + 1 "
                    "WHERE username = ?", (password_hash, username))

    # ------------------------------------------------------------------ sessions

    def add_session(self, key: str, username: str, now: float) -> None:
        self._write("INSERT INTO sessions (key, username, created_at, last_seen) "
                    "VALUES (?, ?, ?, ?)", (key, username, now, now))

    def session(self, key: str) -> SessionRecord | None:
        row = self._one("SELECT key, username, created_at, last_seen FROM sessions "
                        "WHERE key = ?", (key,))
        return SessionRecord(*row) if row else None

    def touch_session(self, key: str, now: float) -> None:
        self._write("UPDATE sessions SET last_seen = ? WHERE key = ?", (now, key))

    def end_session(self, key: str) -> None:
        self._write("DELETE FROM sessions WHERE key = ?", (key,))

    def end_sessions(self, username: str) -> int:
        """End every session of an account; the number ended."""
        return self._write("DELETE FROM sessions WHERE username = ?", (username,)).rowcount

    def prune_sessions(self, idle_before: float, created_before: float) -> int:
        return self._write("DELETE FROM sessions WHERE last_seen < ? OR created_at < ?",
                           (idle_before, created_before)).rowcount

    # ------------------------------------------------------------------ TOTP second factor

    def totp(self, username: str) -> tuple[str | None, str | None, int] | None:
        """(secret, pending secret, last used time step) of an account; None: no account."""
        row = self._one("SELECT totp_secret, totp_pending, totp_last_step FROM users "
                        "WHERE username = ?", (username,))
        return (row[0], row[1], row[2]) if row else None

    def set_totp_pending(self, username: str, secret: str | None) -> None:
        self._write("UPDATE users SET totp_pending = ? WHERE username = ?", (secret, username))

    def enable_totp(self, username: str, secret: str, step: int) -> None:
        self._write("UPDATE users SET totp_secret = ?, totp_pending = NULL, totp_last_step = ? "
                    "WHERE username = ?", (secret, step, username))

    def clear_totp(self, username: str) -> None:
        self._write("UPDATE users SET totp_secret = NULL, totp_pending = NULL, "
                    "totp_last_step = 0 WHERE username = ?", (username,))

    def use_totp_step(self, username: str, step: int) -> bool:
        """Record that the code of time ``step`` was used; False when it (or a later one)
        already was (a code is good once)."""
        return self._write("UPDATE users SET totp_last_step = ? "
                           "WHERE username = ? AND totp_last_step < ?",
                           (step, username, step)).rowcount == 1

    # ------------------------------------------------------------------ audit (append-only)

    def audit(self, at: str, actor: str, action: str, target: str | None,
              details: dict | None = None, *, ip: str | None = None,
              before: object = None, after: object = None) -> None:
        def dump(value: object) -> str | None:
            return None if value is None else json.dumps(value, ensure_ascii=False,
                                                         sort_keys=True)
        self._write("INSERT INTO audit_log (at, actor, action, target, details, ip, before, "
                    "after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (at, actor, action, target, dump(details or {}), ip, dump(before),
                     dump(after)))

    @staticmethod
    def _audit_where(actor: str | None, action: str | None, since: str | None,
                     until: str | None) -> tuple[str, list]:
        where, params = [], []
        if actor:
            where.append("actor = ?")
            params.append(actor)
        if action:
            where.append("action LIKE ?")
            params.append(action.replace("%", "") + "%")
        if since:
            where.append("at >= ?")
            params.append(since)
        if until:
            where.append("at < ?")
            params.append(until)
        return (f"WHERE {' AND '.join(where)}" if where else ""), params

    def audit_entries(self, *, actor: str | None = None, action: str | None = None,
                      since: str | None = None, until: str | None = None, offset: int = 0,
                      limit: int = 100, newest_first: bool = True) -> list[AuditEntry]:
        clause, params = self._audit_where(actor, action, since, until)
        order = "DESC" if newest_first else "ASC"
        rows = self._all(f"SELECT id, at, actor, action, target, details, ip, before, after "
                         f"FROM audit_log {clause} ORDER BY id {order} LIMIT ? OFFSET ?",
                         (*params, limit, offset))
        return [AuditEntry(i, at, who, what, target, json.loads(details or "{}"), ip,
                           None if before is None else json.loads(before),
                           None if after is None else json.loads(after))
                for i, at, who, what, target, details, ip, before, after in rows]

    def audit_count(self, *, actor: str | None = None, action: str | None = None,
                    since: str | None = None, until: str | None = None) -> int:
        clause, params = self._audit_where(actor, action, since, until)
        return self._one(f"SELECT COUNT(*) FROM audit_log {clause}", params)[0]

    # ------------------------------------------------------------------ catalogue

    @staticmethod
    def _loads(text: str | None) -> dict | None:
        return None if text is None else json.loads(text)

    @staticmethod
    def _dumps(value: object) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    def catalogue_items(self, *, department: str | None = None,
                        include_withdrawn: bool = False) -> list[CatalogueItemRecord]:
        where, params = [], []
        if department is not None:
            where.append("department = ?")
            params.append(department)
        if not include_withdrawn:
            where.append("withdrawn = 0")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return [CatalogueItemRecord(c, d, n, self._loads(content), iv, cv, bool(w))
                for c, d, n, content, iv, cv, w in self._all(
                    "SELECT code, department, name, content, item_version, catalogue_version, "
                    f"withdrawn FROM catalogue_items {clause} ORDER BY code", params)]

    def catalogue_item(self, code: str) -> CatalogueItemRecord | None:
        row = self._one("SELECT code, department, name, content, item_version, "
                        "catalogue_version, withdrawn FROM catalogue_items WHERE code = ?",
                        (code,))
        if row is None:
            return None
        c, d, n, content, iv, cv, w = row
        return CatalogueItemRecord(c, d, n, self._loads(content), iv, cv, bool(w))

    def put_catalogue_item(self, record: CatalogueItemRecord, *, draft_id: int | None,
                           published_at: str, published_by: str | None) -> None:
        """The item's new published state and a kept copy of this version."""
        with self.transaction():
            content = self._dumps(record.content)
            self.conn.execute(
                "INSERT INTO catalogue_items (code, department, name, content, item_version, "
                "catalogue_version, withdrawn) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (code) DO UPDATE SET department = excluded.department, "
                "name = excluded.name, content = excluded.content, "
                "item_version = excluded.item_version, "
                "catalogue_version = excluded.catalogue_version, withdrawn = excluded.withdrawn",
                (record.code, record.department, record.name, content, record.item_version,
                 record.catalogue_version, int(record.withdrawn)))
            self.conn.execute(
                "INSERT INTO catalogue_item_versions (code, item_version, catalogue_version, "
                "content, draft_id, published_at, published_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.code, record.item_version, record.catalogue_version, content, draft_id,
                 published_at, published_by))

    def item_versions(self, code: str) -> list[ItemVersion]:
        return [ItemVersion(c, iv, cv, self._loads(content), d, at, by)
                for c, iv, cv, content, d, at, by in self._all(
                    "SELECT code, item_version, catalogue_version, content, draft_id, "
                    "published_at, published_by FROM catalogue_item_versions WHERE code = ? "
                    "ORDER BY item_version", (code,))]

    _DRAFT_COLUMNS = ("id, code, department, action, content, base_version, state, note, "
                      "created_by, created_at, updated_at, catalogue_version")

    def _draft(self, row: Sequence) -> DraftRecord:
        values = list(row)
        values[4] = self._loads(values[4])
        return DraftRecord(*values)

    def add_draft(self, *, code: str, department: str | None, action: str,
                  content: dict | None, base_version: int, created_by: str, now: str,
                  note: str = "") -> int:
        cur = self._write(
            "INSERT INTO catalogue_drafts (code, department, action, content, base_version, "
            "state, note, created_by, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?)",
            (code, department, action, self._dumps(content), base_version, note, created_by,
             now, now))
        return cur.lastrowid

    def draft(self, draft_id: int) -> DraftRecord | None:
        row = self._one(f"SELECT {self._DRAFT_COLUMNS} FROM catalogue_drafts WHERE id = ?",
                        (draft_id,))
        return self._draft(row) if row else None

    def drafts(self, *, states: Sequence[str] | None = None, code: str | None = None,
               department: str | None = None, limit: int = 500) -> list[DraftRecord]:
        where, params = [], []
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params.extend(states)
        if code is not None:
            where.append("code = ?")
            params.append(code)
        if department is not None:
            where.append("department = ?")
            params.append(department)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return [self._draft(r) for r in self._all(
            f"SELECT {self._DRAFT_COLUMNS} FROM catalogue_drafts {clause} "
            "ORDER BY id DESC LIMIT ?", (*params, limit))]

    def update_draft(self, draft_id: int, *, content: dict | None, note: str,
                     now: str) -> None:
        self._write("UPDATE catalogue_drafts SET content = ?, note = ?, updated_at = ? "
                    "WHERE id = ?", (self._dumps(content), note, now, draft_id))

    def set_draft_state(self, draft_id: int, expected: str, state: str, now: str,
                        catalogue_version: int | None = None) -> None:
        cur = self._write("UPDATE catalogue_drafts SET state = ?, updated_at = ?, "
                          "catalogue_version = COALESCE(?, catalogue_version) "
                          "WHERE id = ? AND state = ?",
                          (state, now, catalogue_version, draft_id, expected))
        if cur.rowcount != 1:
            raise StoreError(f"draft {draft_id} is no longer in state {expected}")

    def add_review(self, review: ReviewRecord) -> None:
        self._write("INSERT INTO catalogue_reviews (draft_id, stage, decision, reviewer, role, "
                    "at, opinion) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (review.draft_id, review.stage, review.decision, review.reviewer,
                     review.role, review.at, review.opinion))

    def reviews(self, draft_id: int) -> list[ReviewRecord]:
        return [ReviewRecord(*r) for r in self._all(
            "SELECT id, draft_id, stage, decision, reviewer, role, at, opinion "
            "FROM catalogue_reviews WHERE draft_id = ? ORDER BY id", (draft_id,))]

    # ------------------------------------------------------------------ case projection

    CASE_COLUMNS = (
        "case_no", "node", "item_code", "item_name", "item_type", "state", "channel",
        "applicant_masked", "catalogue_version", "received_at", "accepted_at",
        "accepted_date", "decision", "completed_at", "delivered_at", "closed_at",
        "limit_half_days", "due_date", "due_confirmed", "calendar_version", "paused",
        "extensions", "fee_standard_fen", "fee_status", "fee_charged_fen",
        "fee_refunded_fen", "events", "last_seq", "updated_at")

    def put_cases(self, rows: Iterable[dict], steps: dict[str, list[tuple]],
                  fees: Iterable[tuple]) -> None:
        """Replace the projected rows of the cases given; append fee rows (idempotent)."""
        cols = self.CASE_COLUMNS
        marks = ", ".join("?" * len(cols))
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        with self.transaction():
            self.conn.executemany(
                f"INSERT INTO cases ({', '.join(cols)}) VALUES ({marks}) "
                f"ON CONFLICT (case_no) DO UPDATE SET {updates}",
                [tuple(row[c] for c in cols) for row in rows])
            for case_no, case_steps in steps.items():
                self.conn.execute("DELETE FROM case_steps WHERE case_no = ?", (case_no,))
                self.conn.executemany(
                    "INSERT INTO case_steps (case_no, idx, step, role, actor, outcome, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(case_no, i, *step) for i, step in enumerate(case_steps)])
            self.conn.executemany(
                "INSERT OR REPLACE INTO case_fees (node, seq, case_no, kind, amount_fen, "
                "standard_fen, actor, approver, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                list(fees))

    def reset_cases(self) -> None:
        with self.transaction():
            for table in ("cases", "case_steps", "case_fees"):
                self.conn.execute(f"DELETE FROM {table}")

    def _case_scope(self, nodes: Sequence[str] | None,
                    department: str | None) -> tuple[list[str], list]:
        where, params = [], []
        if nodes is not None:
            where.append(f"node IN ({', '.join('?' * len(nodes)) or 'NULL'})")
            params.extend(nodes)
        if department is not None:
            where.append("item_code IN (SELECT code FROM catalogue_items WHERE department = ?)")
            params.append(department)
        return where, params

    def cases(self, *, nodes: Sequence[str] | None = None, department: str | None = None,
              state: str | None = None, text: str | None = None, offset: int = 0,
              limit: int = 50) -> tuple[int, list[dict]]:
        """(total, page of rows) of the projected cases in scope, newest first."""
        where, params = self._case_scope(nodes, department)
        if state:
            where.append("state = ?")
            params.append(state)
        if text:
            where.append("(case_no LIKE ? OR item_name LIKE ? OR item_code LIKE ?)")
            like = "%" + text.replace("%", "").replace("_", "") + "%"
            params.extend([like, like, like])
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        total = self._one(f"SELECT COUNT(*) FROM cases {clause}", params)[0]
        rows = self._all(f"SELECT {', '.join(self.CASE_COLUMNS)} FROM cases {clause} "
                         "ORDER BY received_at DESC, case_no LIMIT ? OFFSET ?",
                         (*params, limit, offset))
        return total, [dict(zip(self.CASE_COLUMNS, r)) for r in rows]

    def case(self, case_no: str) -> dict | None:
        row = self._one(f"SELECT {', '.join(self.CASE_COLUMNS)} FROM cases WHERE case_no = ?",
                        (case_no,))
        return dict(zip(self.CASE_COLUMNS, row)) if row else None

    def case_steps(self, case_no: str) -> list[tuple]:
        return self._all("SELECT idx, step, role, actor, outcome, at FROM case_steps "
                         "WHERE case_no = ? ORDER BY idx", (case_no,))

    def case_fees(self, case_no: str) -> list[tuple]:
        return self._all("SELECT seq, kind, amount_fen, standard_fen, actor, approver, at "
                         "FROM case_fees WHERE case_no = ? ORDER BY seq", (case_no,))

    def cases_to_recompute(self, first_changed: str, last_changed: str,
                           after_case: str = "", limit: int = 1000) -> list[tuple[str, dict, dict]]:
        """Accepted cases whose counting window may cover a changed date:
        (case_no, lifecycle state, projected row), in case_no order after ``after_case``."""
        rows = self._all(
            f"SELECT c.{', c.'.join(self.CASE_COLUMNS)}, h.state FROM cases c "
            "JOIN hub_cases h ON h.case_no = c.case_no "
            "WHERE c.accepted_date IS NOT NULL AND c.accepted_date < ? "
            "AND (c.due_date IS NULL OR c.due_date >= ? OR c.due_confirmed = 0) "
            "AND c.case_no > ? "
            "ORDER BY c.case_no LIMIT ?", (last_changed, first_changed, after_case, limit))
        n = len(self.CASE_COLUMNS)
        return [(r[0], json.loads(r[n]), dict(zip(self.CASE_COLUMNS, r[:n]))) for r in rows]

    def set_case_deadlines(self, rows: Iterable[tuple]) -> None:
        """(limit_half_days, due_date, due_confirmed, calendar_version, paused, case_no)."""
        with self.transaction():
            self.conn.executemany(
                "UPDATE cases SET limit_half_days = ?, due_date = ?, due_confirmed = ?, "
                "calendar_version = ?, paused = ? WHERE case_no = ?", list(rows))

    def add_deadline_changes(self, changes: Iterable[tuple]) -> None:
        """(case_no, at, reason, before_due, before_confirmed, after_due, after_confirmed,
        calendar_before, calendar_after, actor) rows."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO case_deadline_changes (case_no, at, reason, before_due, "
                "before_confirmed, after_due, after_confirmed, calendar_before, "
                "calendar_after, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(changes))

    def deadline_changes(self, case_no: str | None = None, limit: int = 1000) -> list[DeadlineChange]:
        clause, params = ("WHERE case_no = ?", [case_no]) if case_no else ("", [])
        return [DeadlineChange(i, c, at, reason, bd, None if bc is None else bool(bc), ad,
                               bool(ac), cb, ca, actor)
                for i, c, at, reason, bd, bc, ad, ac, cb, ca, actor in self._all(
                    "SELECT id, case_no, at, reason, before_due, before_confirmed, after_due, "
                    "after_confirmed, calendar_before, calendar_after, actor "
                    f"FROM case_deadline_changes {clause} ORDER BY id LIMIT ?",
                    (*params, limit))]

    def case_count(self) -> int:
        return self._one("SELECT COUNT(*) FROM cases")[0]

    def projection_digest(self) -> dict[str, str]:
        """SHA-256 per projected table over its rows in key order (rebuild comparisons)."""
        import hashlib
        out = {}
        for table, order in (("cases", "case_no"), ("case_steps", "case_no, idx"),
                             ("case_fees", "node, seq"), ("hub_cases", "case_no"),
                             ("node_day_stats", "node, day")):
            digest = hashlib.sha256()
            count = 0
            for row in self.conn.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                digest.update(repr(row).encode("utf-8"))
                count += 1
            out[table] = f"{count}:{digest.hexdigest()}"
        return out

    # ------------------------------------------------------------------ backup

    def backup_to(self, path: str | Path) -> None:
        """A consistent copy of the whole database, taken while others keep writing (WAL)."""
        target = connect(path)
        try:
            self.conn.backup(target, pages=-1)
        finally:
            target.close()

    def integrity_check(self) -> str:
        return self._one("PRAGMA integrity_check")[0]

    def stamp_calendar_version(self, version: int) -> None:
        """Every accepted case's deadline now stands under calendar ``version``."""
        self._write("UPDATE cases SET calendar_version = ? WHERE accepted_date IS NOT NULL",
                    (version,))
