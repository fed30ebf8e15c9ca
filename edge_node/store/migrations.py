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


@migrations(name="0004_screens_indexes")
def _screens_indexes(db: Database) -> None:
    # Read-only look-ups of the staff screens (edge_node/store/queries.py). Virtual
    # generated columns cost no storage and need no change to save_case; their indexes
    # make the work queue, the overdue filters and the search by name or ID number
    # index range scans on 100,000 cases.
    # ``waiting_role``: whose turn it is (the role of the flow step due next; the clerk
    # for intake, supplements and delivery; the handler to end a special procedure).
    db.execute("""ALTER TABLE cases ADD COLUMN waiting_role TEXT GENERATED ALWAYS AS (
        CASE state
          WHEN 'received' THEN 'clerk'
          WHEN 'supplement_requested' THEN 'clerk'
          WHEN 'completed' THEN 'clerk'
          WHEN 'suspended' THEN 'handler'
          WHEN 'accepted' THEN json_extract(data, '$.flow[' ||
               json_extract(data, '$.next_step') || '].role')
          WHEN 'decided' THEN json_extract(data, '$.flow[' ||
               min(json_extract(data, '$.next_step'),
                   json_array_length(data, '$.flow') - 1) || '].role')
        END) VIRTUAL""")
    db.execute("ALTER TABLE cases ADD COLUMN applicant_name TEXT GENERATED ALWAYS AS "
               "(json_extract(data, '$.applicant.name')) VIRTUAL")
    db.execute("ALTER TABLE cases ADD COLUMN applicant_id_no TEXT GENERATED ALWAYS AS "
               "(json_extract(data, '$.applicant.id_no')) VIRTUAL")
    # The trailing counter of the case number: "000123" finds "…-000123".
    db.execute("ALTER TABLE cases ADD COLUMN case_counter INTEGER GENERATED ALWAYS AS "
               "(CAST(substr(case_no, length(rtrim(case_no, '0123456789')) + 1) AS INTEGER)) "
               "VIRTUAL")
    # Covering for the queue's counts and its sort (no table reads but the page shown).
    db.execute("CREATE INDEX cases_waiting ON cases "
               "(waiting_role, state, due_date, received_at)")
    db.execute("CREATE INDEX cases_counter ON cases (case_counter)")
    db.execute("CREATE INDEX cases_applicant_name ON cases (applicant_name)")
    db.execute("CREATE INDEX cases_applicant_id_no ON cases (applicant_id_no)")
    # The previous day each member of staff opened the work queue ("newly overdue").
    db.execute("""CREATE TABLE staff_visits (
        user_id TEXT PRIMARY KEY,
        day TEXT NOT NULL,
        previous_day TEXT)""")


@migrations(name="0005_sync_rounds")
def _sync_rounds(db: Database) -> None:
    # One row per sync round with the hub (edge_node.sync): what was sent and acknowledged,
    # bytes on the wire, and the error that stopped it. Pruned to the most recent rounds;
    # the sync state itself (pinned hub keys, clock offset, last ack) is in meta 'sync.*'.
    db.execute("""CREATE TABLE sync_rounds (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        pushed INTEGER NOT NULL DEFAULT 0,
        acked_seq INTEGER NOT NULL DEFAULT 0,
        bytes_sent INTEGER NOT NULL DEFAULT 0,
        bytes_received INTEGER NOT NULL DEFAULT 0,
        error_code TEXT,
        message_zh TEXT)""")


@migrations(name="0006_disclosure")
def _disclosure(db: Database) -> None:
    # Information disclosure (edge_node/disclosure/documents.py; SQL in store/disclosure.py).
    # ``data`` is protocol.disclosure.apply_document_event's projection (JSON).
    db.execute("""CREATE TABLE disclosure_docs (
        doc_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        title TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        data TEXT NOT NULL)""")
    db.execute("CREATE INDEX disclosure_docs_updated ON disclosure_docs (updated_at)")
    # Attachments, content-addressed: the file is DATA_DIR/attachments/ab/abcdef... (its
    # sha256). ``complete`` = 1 when every byte is on disk (a later chunked transport may
    # register a row first and fill the file in).
    db.execute("""CREATE TABLE disclosure_attachments (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        mime TEXT NOT NULL,
        size INTEGER NOT NULL,
        stored_at TEXT NOT NULL,
        complete INTEGER NOT NULL DEFAULT 1)""")


@migrations(name="0007_inbox")
def _inbox(db: Database) -> None:
    # The node's inbox (edge_node/cases/inbox.py; SQL in store/inbox.py): entries of the hub's
    # signed "inbox" document — cases forwarded here, results returned, on-line
    # applications, double takes to hand back. ``data`` is the entry as the hub sent it
    # (verified); ``status``: waiting, taken, done, gone (no longer offered), invalid.
    db.execute("""CREATE TABLE inbox_entries (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        case_no TEXT,
        application TEXT,
        placed_at TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        status TEXT NOT NULL,
        taken_case TEXT,
        note TEXT,
        updated_at TEXT NOT NULL,
        data TEXT NOT NULL)""")
    db.execute("CREATE INDEX inbox_entries_status ON inbox_entries (status, placed_at)")


@migrations(name="field_0001_attachment_uploads")
def _field_attachment_uploads(db: Database) -> None:
    # Sync in the field (edge_node/sync/attachments.py, docs/sync-field.md): which
    # attachments the hub has confirmed whole. A row appears when an upload starts;
    # ``state`` is pending / done / refused (a limit the hub applies, with its code).
    db.execute("""CREATE TABLE attachment_uploads (
        sha256 TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        updated_at TEXT NOT NULL)""")


@migrations(name="face_0001_notices")
def _face_notices(db: Database) -> None:
    # Notices and internal messages from the county (edge_node/notices/board.py, docs/hub-face.md):
    # the current config.notices document's entries addressed to this node, and who read
    # which (each reading is also a signed notice.read event that syncs to the hub).
    db.execute("""CREATE TABLE notices (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        published_at TEXT NOT NULL,
        version INTEGER NOT NULL,
        received_at TEXT NOT NULL)""")
    db.execute("""CREATE TABLE notice_reads (
        notice_id INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        read_at TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (notice_id, user_id))""")


@migrations(name="face_0002_evaluations_given")
def _face_evaluations_given(db: Database) -> None:
    # 好差评 given at this centre's terminal (edge_node/cases/evaluations.py): once per case and
    # stage; each is also a signed evaluation.given event that syncs to the hub.
    db.execute("""CREATE TABLE evaluations_given (
        case_no TEXT NOT NULL,
        stage TEXT NOT NULL,
        level INTEGER NOT NULL,
        text TEXT,
        at TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (case_no, stage))""")


@migrations(name="disclosure_0002_window_requests")
def _disclosure_window_requests(db: Database) -> None:
    # Requests for disclosure (依申请公开) taken in at this window off-line
    # (edge_node/disclosure/applications.py): each is also a signed disclosure.request_received
    # event; the hub registers it and handles the reply.
    db.execute("""CREATE TABLE disclosure_requests_received (
        request_no TEXT PRIMARY KEY,
        received_on TEXT NOT NULL,
        reply_due TEXT,
        applicant_type TEXT NOT NULL,
        applicant_name TEXT NOT NULL,
        contact TEXT NOT NULL,
        description TEXT NOT NULL,
        delivery TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        seq INTEGER NOT NULL)""")


@migrations(name="auth_0001_sessions")
def _auth_sessions(db: Database) -> None:
    # Server-side session records (web/sessions.py): one row per signed-in session, keyed
    # by the SHA-256 of the id in the cookie. Logging out, a password reset or a
    # deactivation deletes rows; the idle timeout and the absolute lifetime expire them.
    db.execute("""CREATE TABLE sessions (
        key TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_seen REAL NOT NULL)""")
    db.execute("CREATE INDEX sessions_user ON sessions (user_id)")
