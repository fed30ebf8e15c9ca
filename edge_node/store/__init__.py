"""The node's store: every SQL statement of the edge node lives in this package.

One :class:`Store` wraps one SQLite connection (sqlite-utils ``Database``) in WAL mode with
``synchronous=FULL``, so a committed transaction survives a power cut.

Threading: the web app calls the store synchronously from ``async def`` endpoints, i.e.
always from the event-loop thread, one call at a time; the connection is opened with
``check_same_thread=False`` only because the factory that opens it may run on another
thread than the loop (the TestClient portal, uvicorn). Never share a Store between threads
that run concurrently.

Write path: :meth:`Store.transaction` starts ``BEGIN IMMEDIATE`` (a write lock up front, so
a read never has to be upgraded and fail with SQLITE_BUSY_SNAPSHOT); nested blocks are
savepoints. :meth:`Store.append_event` reads the chain head, signs and inserts the event
inside the caller's transaction, so an event and the projection it changes commit together
or not at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from sqlite_utils import Database

from protocol import events as event_types
from protocol.calendar import Calendar, YearNotice
from protocol.catalogue import Catalogue, validate_catalogue
from protocol.chain import KEY_ROTATED, ChainHead
from protocol.envelope import SignedEvent, decode_event, decode_event_fast, format_ts, \
    sign_event
from protocol.errors import ChainError
from protocol.keys import PrivateKey, PublicKey
from web.sessions import SessionRecord

from ..errors import NodeError, NotFound, SetupError
from . import sync_state
from .migrations import migrations

__all__ = ["Store"]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def connect(path: str | Path) -> sqlite3.Connection:
    """Every SQLite connection of the node is opened here, in autocommit mode.

    ``isolation_level=None`` turns off the sqlite3 module's implicit ``BEGIN``: a statement
    outside :meth:`Store.transaction` commits on its own at once instead of opening a
    transaction that nobody commits (which would hold the write lock and turn every later
    ``transaction()`` into a savepoint, so nothing after it would be durable).
    """
    _create_owner_only(path)
    return sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                           timeout=10)


def _create_owner_only(path: str | Path) -> None:
    """A new database file is made readable by its owner only (0600) before SQLite opens
    it: it holds personal data, and SQLite gives its WAL and shared-memory files the
    database file's permissions."""
    try:
        os.close(os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class Store:
    """The node database. Build with :meth:`open`; see the module docstring."""

    def __init__(self, db: Database, *, node_code: str | None = None,
                 key: PrivateKey | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.node_code = node_code
        self.key = key
        self.clock = clock
        self._calendar: Calendar | None = None
        self._catalogue: Catalogue | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path: str | Path, *, node_code: str | None = None,
             key: PrivateKey | None = None, clock: Callable[[], datetime] | None = None,
             migrate: bool = True) -> "Store":
        """Open (creating if needed) the database at ``path`` and apply pending migrations."""
        try:
            conn = connect(path)
        except sqlite3.Error as exc:
            raise SetupError(f"cannot open database {path}: {exc}",
                             zh=f"无法打开数据库 {path}：{exc}") from None
        db = Database(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        store = cls(db, node_code=node_code, key=key, clock=clock)
        if migrate:
            store.migrate()
        return store

    def migrate(self, *, stop_before: str | None = None) -> None:
        migrations.apply(self.db, stop_before=stop_before)

    def applied_migrations(self) -> list[str]:
        return [m.name for m in migrations.applied(self.db)]

    def close(self) -> None:
        self.conn.close()

    def backup_to(self, path: str | Path) -> None:
        """A consistent copy of the whole database (SQLite online backup), taken while
        others may keep writing."""
        target = connect(path)
        try:
            self.conn.backup(target)
        finally:
            target.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Store"]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (a savepoint when already in a transaction).

        Anything raised inside rolls the block back and propagates.
        """
        conn = self.conn
        if conn.in_transaction:
            name = f"sp_{secrets.token_hex(6)}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                conn.execute(f"RELEASE SAVEPOINT {name}")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # ------------------------------------------------------------------ meta & counters

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                              (key, str(value)))

    def next_counter(self, name: str) -> int:
        """Increment and return the counter ``name`` (starts at 1, never decreases)."""
        with self.transaction():
            row = self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE "
                "SET value = CAST(value AS INTEGER) + 1 RETURNING value",
                (f"counter:{name}",)).fetchone()
            return int(row[0])

    # ------------------------------------------------------------------ event log

    def chain_head(self) -> ChainHead:
        row = self.conn.execute(
            "SELECT seq, link FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return ChainHead.genesis() if row is None else ChainHead(row[0], row[1])

    def append_event(self, type: str, case: str | None, body: dict, *,
                     at: datetime | None = None) -> SignedEvent:
        """Validate, sign and append one event; returns it.

        Runs inside the caller's transaction when there is one (the projection change and
        the event then commit together), else in its own. ``at`` defaults to the clock.
        Raises ``protocol.errors.ProtocolError`` (nothing written) for a body that breaks
        its schema or a protocol limit.
        """
        if self.key is None or self.node_code is None:
            raise SetupError("this store was opened without the node key",
                             zh="未加载节点密钥，不能写入事件")
        event_types.validate_body(type, body, case)
        moment = at if at is not None else self.clock()
        with self.transaction():
            head = self.chain_head()
            event = sign_event(self.key, node=self.node_code, seq=head.seq + 1,
                               prev=head.link, ts=format_ts(moment), type=type, case=case,
                               body=body)
            self.conn.execute(
                "INSERT INTO events (seq, type, case_no, canonical, signature, link, ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event.seq, type, case, event.canonical, event.signature, event.link_hex,
                 event.ts))
        return event

    def event_count(self) -> int:
        return self.chain_head().seq

    def acked_seq(self) -> int:
        """The highest seq the hub has acknowledged (0: none)."""
        return int(self.meta("acked_seq", "0"))

    def unacked_count(self) -> int:
        return self.chain_head().seq - self.acked_seq()

    def unacked_events(self, limit: int = 1000) -> list[SignedEvent]:
        """The oldest ``limit`` events the hub has not acknowledged, in seq order."""
        rows = self.conn.execute(
            "SELECT canonical, signature FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (self.acked_seq(), limit)).fetchall()
        return [decode_event_fast(bytes(c), bytes(s)) for c, s in rows]

    def mark_acked(self, seq: int, link: str) -> int:
        """Record that the hub durably holds every event up to ``seq``, whose link hash it
        reports as ``link``. Returns how many events became acknowledged.

        Raises NodeError if ``link`` is not our event's link (a hub on another chain) or
        ``seq`` is beyond our head. An ack at or below the current one changes nothing.
        """
        with self.transaction():
            row = self.conn.execute("SELECT link FROM events WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                raise NodeError(f"the hub acknowledged seq {seq}, beyond this node's log",
                                zh=f"中心确认的序号 {seq} 超出本节点日志")
            if row[0] != link:
                raise NodeError(f"the hub's link for seq {seq} differs from this node's",
                                zh=f"中心确认的第 {seq} 条事件与本节点不一致")
            current = self.acked_seq()
            if seq <= current:
                return 0
            self.conn.execute("UPDATE events SET acked = 1 WHERE seq > ? AND seq <= ?",
                              (current, seq))
            self.set_meta("acked_seq", str(seq))
            return seq - current

    def iter_events(self, after: int = 0, *, batch: int = 2000,
                    strict: bool = False) -> Iterator[SignedEvent]:
        """Every event after ``after`` in seq order, read in batches.

        ``strict`` decodes each with full canonical and envelope checks (audits).
        """
        decode = decode_event if strict else decode_event_fast
        last = after
        while True:
            rows = self.conn.execute(
                "SELECT seq, canonical, signature, link FROM events WHERE seq > ? "
                "ORDER BY seq LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            for seq, canonical, signature, link in rows:
                event = decode(bytes(canonical), bytes(signature))
                if event.link_hex != link or event.seq != seq:
                    raise ChainError(f"event {seq}: stored link or seq does not match its "
                                     "bytes", code="chain_broken", seq=seq)
                yield event
                last = seq

    def case_events(self, case_no: str) -> list[SignedEvent]:
        rows = self.conn.execute(
            "SELECT canonical, signature FROM events WHERE case_no = ? ORDER BY seq",
            (case_no,)).fetchall()
        return [decode_event_fast(bytes(c), bytes(s)) for c, s in rows]

    def event_types(self) -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT type, count(*) FROM events GROUP BY type ORDER BY type").fetchall())

    # ------------------------------------------------------------------ cases projection

    def case(self, case_no: str) -> dict | None:
        row = self.conn.execute("SELECT data FROM cases WHERE case_no = ?",
                                (case_no,)).fetchone()
        return None if row is None else json.loads(row[0])

    def save_case(self, state: dict) -> None:
        """Insert or replace the projection of one case (inside the event's transaction)."""
        deadline = state.get("deadline") or {}
        confirmed = deadline.get("confirmed")
        self.conn.execute(
            "INSERT INTO cases (case_no, state, item_code, received_at, updated_at, last_seq, "
            "data, due_date, due_confirmed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(case_no) DO UPDATE SET state = excluded.state, "
            "updated_at = excluded.updated_at, last_seq = excluded.last_seq, "
            "data = excluded.data, due_date = excluded.due_date, "
            "due_confirmed = excluded.due_confirmed",
            (state["case"], state["state"], state["item"]["code"], state["received_at"],
             state["updated_at"], state["last_seq"], _dumps(state), deadline.get("due"),
             None if confirmed is None else int(confirmed)))

    def case_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM cases").fetchone()[0]

    def cases_by_state(self) -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT state, count(*) FROM cases GROUP BY state ORDER BY state").fetchall())

    def case_numbers(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT case_no FROM cases ORDER BY case_no")]

    def cases_in_states(self, states: tuple[str, ...] | frozenset[str], *,
                        limit: int | None = None) -> list[dict]:
        marks = ",".join("?" * len(states))
        sql = f"SELECT data FROM cases WHERE state IN ({marks}) ORDER BY received_at"
        params: list[Any] = list(states)
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [json.loads(r[0]) for r in self.conn.execute(sql, params)]

    def overdue_count(self, today: date, states: frozenset[str]) -> int:
        marks = ",".join("?" * len(states))
        return self.conn.execute(
            f"SELECT count(*) FROM cases WHERE state IN ({marks}) AND due_date < ?",
            (*states, today.isoformat())).fetchone()[0]

    def recent_cases(self, limit: int = 20) -> list[dict]:
        return [json.loads(r[0]) for r in self.conn.execute(
            "SELECT data FROM cases ORDER BY received_at DESC LIMIT ?", (limit,))]

    def all_cases(self) -> Iterator[dict]:
        for (data,) in self.conn.execute("SELECT data FROM cases ORDER BY case_no"):
            yield json.loads(data)

    # ------------------------------------------------------------------ users

    def add_user(self, user: dict) -> None:
        try:
            with self.transaction():
                self.conn.execute(
                    "INSERT INTO users (id, username, name, roles, password_hash, active, "
                    "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (user["id"], user["username"], user["name"], ",".join(user["roles"]),
                     user["password_hash"], int(user.get("active", True)), user["created"]))
        except sqlite3.IntegrityError:
            raise NodeError(f"user {user['username']} exists",
                            zh=f"用户名“{user['username']}”已存在") from None

    @staticmethod
    def _user(row: sqlite3.Row | tuple | None) -> dict | None:
        if row is None:
            return None
        uid, username, name, roles, pw, active, created = row
        return {"id": uid, "username": username, "name": name,
                "roles": tuple(r for r in roles.split(",") if r), "password_hash": pw,
                "active": bool(active), "created": created}

    _USER_COLS = "id, username, name, roles, password_hash, active, created"

    def user(self, user_id: str) -> dict | None:
        return self._user(self.conn.execute(
            f"SELECT {self._USER_COLS} FROM users WHERE id = ?", (user_id,)).fetchone())

    def user_by_username(self, username: str) -> dict | None:
        return self._user(self.conn.execute(
            f"SELECT {self._USER_COLS} FROM users WHERE username = ?", (username,)).fetchone())

    def users(self) -> list[dict]:
        return [self._user(r) for r in self.conn.execute(
            f"SELECT {self._USER_COLS} FROM users ORDER BY created, username")]

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with self.transaction():
            cur = self.conn.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                                    (password_hash, user_id))
            if cur.rowcount != 1:
                raise NotFound(f"no user {user_id}", zh=f"用户 {user_id} 不存在")

    # ------------------------------------------------------------------ sessions

    def add_session(self, key: str, user_id: str, now: float) -> None:
        with self.transaction():
            self.conn.execute("INSERT INTO sessions (key, user_id, created_at, last_seen) "
                              "VALUES (?, ?, ?, ?)", (key, user_id, now, now))

    def session(self, key: str) -> SessionRecord | None:
        row = self.conn.execute("SELECT key, user_id, created_at, last_seen FROM sessions "
                                "WHERE key = ?", (key,)).fetchone()
        return SessionRecord(*row) if row else None

    def touch_session(self, key: str, now: float) -> None:
        with self.transaction():
            self.conn.execute("UPDATE sessions SET last_seen = ? WHERE key = ?", (now, key))

    def end_session(self, key: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM sessions WHERE key = ?", (key,))

    def end_user_sessions(self, user_id: str) -> int:
        """End every session of a user (password reset, deactivation); the number ended."""
        with self.transaction():
            return self.conn.execute("DELETE FROM sessions WHERE user_id = ?",
                                     (user_id,)).rowcount

    def prune_sessions(self, idle_before: float, created_before: float) -> int:
        with self.transaction():
            return self.conn.execute(
                "DELETE FROM sessions WHERE last_seen < ? OR created_at < ?",
                (idle_before, created_before)).rowcount

    # ------------------------------------------------------------------ calendar

    def calendar(self) -> Calendar:
        """The working-day calendar in force (cached until :meth:`save_calendar`)."""
        if self._calendar is None:
            version = int(self.meta("calendar_version", "0"))
            if version < 1:
                raise SetupError("the node has no calendar", zh="节点尚未载入工作日历")
            notices = {}
            for year, holidays, workdays, source in self.conn.execute(
                    "SELECT year, holidays, workdays, source FROM calendar_years"):
                notices[year] = YearNotice.from_entry(year, json.loads(holidays),
                                                      json.loads(workdays), source)
            self._calendar = Calendar(version, notices)
        return self._calendar

    def save_calendar(self, calendar: Calendar) -> None:
        """Replace the calendar table with ``calendar`` (inside the caller's transaction)."""
        with self.transaction():
            self.conn.execute("DELETE FROM calendar_years")
            self.conn.executemany(
                "INSERT INTO calendar_years (year, holidays, workdays, source) "
                "VALUES (?, ?, ?, ?)",
                [(n.year, _dumps(sorted(d.isoformat() for d in n.holidays)),
                  _dumps(sorted(d.isoformat() for d in n.workdays)), n.source)
                 for n in calendar.notices.values()])
            self.set_meta("calendar_version", str(calendar.version))
        self._calendar = None

    # ------------------------------------------------------------------ catalogue

    def catalogue(self) -> Catalogue | None:
        """The service catalogue in force (cached until :meth:`save_catalogue`)."""
        if self._catalogue is None:
            version = self.meta("catalogue_version")
            if version is None:
                return None
            items = [json.loads(r[0]) for r in self.conn.execute(
                "SELECT data FROM catalogue_items ORDER BY rowid")]
            self._catalogue = validate_catalogue(
                {"version": int(version), "published_at": self.meta("catalogue_published_at"),
                 "items": items})
        return self._catalogue

    def save_catalogue(self, catalogue: Catalogue, source: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM catalogue_items")
            self.conn.executemany(
                "INSERT INTO catalogue_items (code, name, data) VALUES (?, ?, ?)",
                [(it["code"], it["name"], _dumps(it)) for it in catalogue.items])
            self.set_meta("catalogue_version", str(catalogue.version))
            self.set_meta("catalogue_published_at", catalogue.published_at)
            self.set_meta("catalogue_source", source)
        self._catalogue = None

    # ------------------------------------------------------------------ size

    def database_bytes(self) -> int:
        """Bytes of the database file plus its WAL."""
        total = 0
        for row in self.conn.execute("PRAGMA database_list"):
            if row[1] == "main" and row[2]:
                for suffix in ("", "-wal"):
                    p = Path(row[2] + suffix)
                    if p.exists():
                        total += p.stat().st_size
        return total

    def checkpoint(self) -> None:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


    # ------------------------------------------------------------------ sync with the hub
    # (edge_node.sync; SQL in store/sync_state.py)

    def sync_state(self) -> dict[str, Any]:
        """The sync state (pinned hub keys, clock offset, last ack, last error, ...)."""
        return sync_state.read_state(self)

    def save_sync_state(self, **values: Any) -> None:
        """Set sync state fields in one transaction (None deletes a field)."""
        sync_state.write_state(self, values)

    def record_sync_round(self, round_: dict[str, Any]) -> None:
        sync_state.record_round(self, round_)

    def recent_sync_rounds(self, limit: int = 20) -> list[dict[str, Any]]:
        return sync_state.recent_rounds(self, limit)

    def events_from(self, first: int, limit: int = 1000) -> list[SignedEvent]:
        """Up to ``limit`` events from seq ``first`` on (resending after a hub's gap)."""
        return sync_state.events_from(self, first, limit)

    def append_key_rotation(self, new_key_hex: str) -> SignedEvent:
        """Append ``node.key_rotated`` naming ``new_key_hex``, signed by the current key.

        The body is checked here (``protocol.events`` has no schema for this type yet);
        the caller switches :attr:`key` to the new key once this commits.
        """
        if self.key is None or self.node_code is None:
            raise SetupError("this store was opened without the node key",
                             zh="未加载节点密钥，不能写入事件")
        PublicKey.from_hex(new_key_hex)
        with self.transaction():
            head = self.chain_head()
            event = sign_event(self.key, node=self.node_code, seq=head.seq + 1,
                               prev=head.link, ts=format_ts(self.clock()), type=KEY_ROTATED,
                               case=None, body={"new_key": new_key_hex})
            self.conn.execute(
                "INSERT INTO events (seq, type, case_no, canonical, signature, link, ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event.seq, KEY_ROTATED, None, event.canonical, event.signature,
                 event.link_hex, event.ts))
        return event
