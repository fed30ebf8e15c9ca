"""Named schema migrations of the hub's SQLite store.

Each migration has a name and runs once; the names applied are recorded in
``_migrations``. Never edit or reorder a migration that has shipped: add a new one.
The statements are plain SQL that a PostgreSQL port can translate one for one
(``BLOB`` -> ``bytea``, ``INTEGER PRIMARY KEY`` -> ``bigint generated always as identity``).
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[tuple[str, str]] = [
    ("0001_sync_core", """
CREATE TABLE nodes (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'quarantined', 'revoked')),
    status_reason TEXT,
    status_changed_at TEXT,
    enrolled_at TEXT NOT NULL,
    acked_seq INTEGER NOT NULL DEFAULT 0,
    acked_link TEXT NOT NULL,
    last_seen TEXT,
    skew_ms INTEGER,
    clock_skew_ms INTEGER,
    last_event_ts TEXT,
    reported_head INTEGER,
    caught_up_at TEXT
);

CREATE TABLE node_keys (
    node TEXT NOT NULL REFERENCES nodes(code),
    public_key TEXT NOT NULL,
    from_seq INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (node, from_seq)
);

CREATE TABLE enrol_tokens (
    token_hash TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_by_key TEXT
);

CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT,
    case_no TEXT,
    ts TEXT,
    canonical BLOB NOT NULL,
    signature BLOB NOT NULL,
    link TEXT NOT NULL,
    received_at TEXT NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0,
    content_ok INTEGER,
    content_notes TEXT,
    UNIQUE (node, seq)
);
CREATE INDEX events_unverified ON events (position) WHERE verified = 0;
CREATE INDEX events_case ON events (case_no) WHERE case_no IS NOT NULL;
CREATE TRIGGER events_never_deleted BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are never deleted'); END;
CREATE TRIGGER events_never_rewritten BEFORE UPDATE OF node, seq, canonical, signature, link
    ON events
BEGIN SELECT RAISE(ABORT, 'stored events are never rewritten'); END;

CREATE TABLE nonces (
    node TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (node, nonce)
) WITHOUT ROWID;
CREATE INDEX nonces_seen_at ON nonces (seen_at);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    supervision_no TEXT UNIQUE,
    case_no TEXT,
    content TEXT NOT NULL,
    body TEXT,
    item_type TEXT,
    raised_at TEXT NOT NULL,
    last_raised_at TEXT NOT NULL,
    occurrences INTEGER NOT NULL DEFAULT 1,
    rule_id TEXT NOT NULL,
    alert_type TEXT NOT NULL,
    level TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'answered', 'closed', 'superseded')),
    state_changed_at TEXT NOT NULL,
    result TEXT,
    responsible_unit TEXT,
    responsible_person TEXT,
    node TEXT,
    seq INTEGER,
    details TEXT NOT NULL DEFAULT '{}',
    dedupe_key TEXT
);
CREATE INDEX alerts_open_dedupe ON alerts (dedupe_key) WHERE state IN ('open', 'answered');
CREATE INDEX alerts_node ON alerts (node, raised_at);
CREATE TRIGGER alerts_never_deleted BEFORE DELETE ON alerts
BEGIN SELECT RAISE(ABORT, 'alerts are never deleted'); END;

CREATE TABLE alert_history (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    state TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    changed_by TEXT,
    note TEXT
);
CREATE TRIGGER alert_history_never_deleted BEFORE DELETE ON alert_history
BEGIN SELECT RAISE(ABORT, 'alert history is never deleted'); END;

CREATE TABLE config_documents (
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    canonical BLOB NOT NULL,
    signature BLOB NOT NULL,
    published_at TEXT NOT NULL,
    published_by TEXT,
    PRIMARY KEY (kind, version)
);

CREATE TABLE hub_key_statements (
    seq INTEGER PRIMARY KEY,
    canonical BLOB NOT NULL,
    signature BLOB NOT NULL,
    issued_at TEXT NOT NULL
);

CREATE TABLE projector_cursors (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);

CREATE TABLE node_day_stats (
    node TEXT NOT NULL,
    day TEXT NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (node, day)
);

CREATE TABLE hub_cases (
    case_no TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    state TEXT NOT NULL,
    position INTEGER NOT NULL
);

CREATE TABLE users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
"""),
]


def apply_migrations(conn: sqlite3.Connection, now: str) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied."""
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
                 "applied_at TEXT NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, now))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (triggers contain ';' inside BEGIN ... END)."""
    out, buffer = [], ""
    for line in sql.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out
