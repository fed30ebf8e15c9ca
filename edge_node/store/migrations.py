"""The node database's schema as named migrations (sqlite-utils ``Migrations``).

RULE: a migration is never edited once it has shipped; a change is a new migration
appended below. ``_sqlite_migrations`` records what a database has applied, so
``Store.migrate()`` brings a database of any earlier level up to date (tested by
tests/test_edge_store.py at every level).
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATION_SET = "edge_node"
migrations = Migrations(MIGRATION_SET)


@migrations(name="0001_core")
def _core(db: Database) -> None:
    db.execute("""CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL)""")
    # The node's append-only signed event log. ``canonical`` and ``signature`` are the
    # exact bytes that travel; ``link`` is the link hash (hex) the next event names as prev.
    db.execute("""CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        case_no TEXT,
        canonical BLOB NOT NULL,
        signature BLOB NOT NULL,
        link TEXT NOT NULL,
        ts TEXT NOT NULL,
        acked INTEGER NOT NULL DEFAULT 0)""")
    db.execute("CREATE INDEX events_case ON events (case_no, seq) WHERE case_no IS NOT NULL")
    # The cases projection: ``data`` is protocol.lifecycle's state (JSON); the other
    # columns are copies for listing and indexing.
    db.execute("""CREATE TABLE cases (
        case_no TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        item_code TEXT NOT NULL,
        received_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        data TEXT NOT NULL)""")
    db.execute("""CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        roles TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created TEXT NOT NULL)""")


@migrations(name="0002_calendar_and_catalogue")
def _calendar_catalogue(db: Database) -> None:
    # The working-day calendar, one row per year with a holiday notice; its version is
    # meta 'calendar_version'.
    db.execute("""CREATE TABLE calendar_years (
        year INTEGER PRIMARY KEY,
        holidays TEXT NOT NULL,
        workdays TEXT NOT NULL,
        source TEXT NOT NULL)""")
    # The service catalogue in force (validated item JSON); version in meta.
    db.execute("""CREATE TABLE catalogue_items (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        data TEXT NOT NULL)""")


@migrations(name="0003_case_deadline_columns")
def _case_deadlines(db: Database) -> None:
    db.execute("ALTER TABLE cases ADD COLUMN due_date TEXT")
    db.execute("ALTER TABLE cases ADD COLUMN due_confirmed INTEGER")
    db.execute("""UPDATE cases SET
        due_date = json_extract(data, '$.deadline.due'),
        due_confirmed = json_extract(data, '$.deadline.confirmed')""")
    db.execute("CREATE INDEX cases_state_due ON cases (state, due_date)")
    db.execute("CREATE INDEX cases_received ON cases (received_at)")
