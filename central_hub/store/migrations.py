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
    ("0002_hub_core", """
CREATE TABLE org_units (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL
        CHECK (kind IN ('county', 'department', 'township', 'village', 'community')),
    parent TEXT REFERENCES org_units(code),
    area_code TEXT NOT NULL,
    item_prefix TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX org_units_parent ON org_units (parent);
CREATE UNIQUE INDEX org_units_item_prefix ON org_units (item_prefix)
    WHERE item_prefix IS NOT NULL;

ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN org_unit TEXT;
ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN org_unit TEXT;

ALTER TABLE audit_log ADD COLUMN ip TEXT;
ALTER TABLE audit_log ADD COLUMN before TEXT;
ALTER TABLE audit_log ADD COLUMN after TEXT;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE TRIGGER audit_never_deleted BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_never_rewritten BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE catalogue_items (
    code TEXT PRIMARY KEY,
    department TEXT REFERENCES org_units(code),
    name TEXT NOT NULL,
    content TEXT,
    item_version INTEGER NOT NULL,
    catalogue_version INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE catalogue_item_versions (
    code TEXT NOT NULL,
    item_version INTEGER NOT NULL,
    catalogue_version INTEGER NOT NULL,
    content TEXT,
    draft_id INTEGER,
    published_at TEXT NOT NULL,
    published_by TEXT,
    PRIMARY KEY (code, item_version)
);
CREATE TRIGGER catalogue_item_versions_kept BEFORE DELETE ON catalogue_item_versions
BEGIN SELECT RAISE(ABORT, 'catalogue versions are kept'); END;

CREATE TABLE catalogue_drafts (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL,
    department TEXT,
    action TEXT NOT NULL CHECK (action IN ('upsert', 'withdraw')),
    content TEXT,
    base_version INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('draft', 'legal_review', 'secrecy_review',
        'centre_approval', 'published', 'returned', 'abandoned')),
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    catalogue_version INTEGER
);
CREATE INDEX catalogue_drafts_code ON catalogue_drafts (code, state);

CREATE TABLE catalogue_reviews (
    id INTEGER PRIMARY KEY,
    draft_id INTEGER NOT NULL REFERENCES catalogue_drafts(id),
    stage TEXT NOT NULL,
    decision TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    role TEXT NOT NULL,
    at TEXT NOT NULL,
    opinion TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER catalogue_reviews_never_deleted BEFORE DELETE ON catalogue_reviews
BEGIN SELECT RAISE(ABORT, 'review records are never deleted'); END;

CREATE TABLE cases (
    case_no TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    item_code TEXT,
    item_name TEXT,
    item_type TEXT,
    state TEXT NOT NULL,
    channel TEXT,
    applicant_masked TEXT,
    catalogue_version INTEGER,
    received_at TEXT,
    accepted_at TEXT,
    accepted_date TEXT,
    decision TEXT,
    completed_at TEXT,
    delivered_at TEXT,
    closed_at TEXT,
    limit_half_days INTEGER,
    due_date TEXT,
    due_confirmed INTEGER,
    calendar_version INTEGER,
    paused INTEGER NOT NULL DEFAULT 0,
    extensions INTEGER NOT NULL DEFAULT 0,
    fee_standard_fen INTEGER NOT NULL DEFAULT 0,
    fee_status TEXT NOT NULL DEFAULT 'none',
    fee_charged_fen INTEGER NOT NULL DEFAULT 0,
    fee_refunded_fen INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT
);
CREATE INDEX cases_node ON cases (node, state);
CREATE INDEX cases_item ON cases (item_code);
CREATE INDEX cases_open_due ON cases (due_date) WHERE accepted_date IS NOT NULL;

CREATE TABLE case_steps (
    case_no TEXT NOT NULL,
    idx INTEGER NOT NULL,
    step TEXT,
    role TEXT,
    actor TEXT,
    outcome TEXT,
    at TEXT,
    PRIMARY KEY (case_no, idx)
) WITHOUT ROWID;

CREATE TABLE case_fees (
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    case_no TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_fen INTEGER,
    standard_fen INTEGER,
    actor TEXT,
    approver TEXT,
    at TEXT,
    PRIMARY KEY (node, seq)
) WITHOUT ROWID;
CREATE INDEX case_fees_case ON case_fees (case_no);

CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY,
    case_no TEXT NOT NULL,
    channel TEXT,
    level INTEGER,
    text TEXT,
    rated_at TEXT,
    area TEXT
);

CREATE TABLE case_deadline_changes (
    id INTEGER PRIMARY KEY,
    case_no TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    before_due TEXT,
    before_confirmed INTEGER,
    after_due TEXT,
    after_confirmed INTEGER,
    calendar_before INTEGER,
    calendar_after INTEGER NOT NULL,
    actor TEXT
);
CREATE INDEX case_deadline_changes_case ON case_deadline_changes (case_no);
CREATE TRIGGER case_deadline_changes_kept BEFORE DELETE ON case_deadline_changes
BEGIN SELECT RAISE(ABORT, 'deadline changes are never deleted'); END;
"""),
    # Information disclosure (central_hub/disclosure/, SQL in store/disclosure.py).
    ("disclosure_0001", """
CREATE TABLE disclosure_docs (
    doc_id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    state TEXT NOT NULL,
    body_code TEXT,
    body_name TEXT,
    title TEXT,
    made_on TEXT,
    published_on TEXT,
    first_published_on TEXT,
    due_on TEXT,
    days_late INTEGER,
    index_no TEXT,
    doc_no TEXT,
    topic TEXT,
    genre TEXT,
    grouping TEXT,
    entry TEXT,
    office TEXT,
    person TEXT,
    repealed_on TEXT,
    withdrawn_on TEXT,
    data TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX disclosure_docs_public ON disclosure_docs (state, published_on);
CREATE INDEX disclosure_docs_body ON disclosure_docs (body_code, published_on);

CREATE VIRTUAL TABLE disclosure_fts USING fts5(doc_id UNINDEXED, bigrams, unigrams,
    tokenize = 'unicode61');

CREATE TABLE disclosure_doc_attachments (
    doc_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (doc_id, sha256)
) WITHOUT ROWID;
CREATE INDEX disclosure_doc_attachments_sha ON disclosure_doc_attachments (sha256);

CREATE TABLE attachment_blobs (
    sha256 TEXT PRIMARY KEY,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    received_bytes INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE disclosure_ratings (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    useful INTEGER NOT NULL CHECK (useful IN (0, 1)),
    comment TEXT NOT NULL DEFAULT '',
    rated_at TEXT NOT NULL
);
CREATE INDEX disclosure_ratings_doc ON disclosure_ratings (doc_id);

CREATE TABLE disclosure_catalogue (
    body_code TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    topic TEXT,
    genre TEXT,
    period TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    PRIMARY KEY (body_code, code)
);

CREATE TABLE disclosure_requests (
    request_no TEXT PRIMARY KEY,
    body_code TEXT NOT NULL,
    body_name TEXT NOT NULL,
    channel TEXT NOT NULL,
    applicant_type TEXT NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_id_no TEXT NOT NULL DEFAULT '',
    contact TEXT NOT NULL,
    description TEXT NOT NULL,
    purpose TEXT NOT NULL DEFAULT '',
    delivery TEXT NOT NULL DEFAULT '',
    submitted_at TEXT NOT NULL,
    received_on TEXT NOT NULL,
    state TEXT NOT NULL,
    due_on TEXT,
    replied_on TEXT,
    reply_type TEXT,
    reason_code TEXT,
    data TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX disclosure_requests_body ON disclosure_requests (body_code, received_on);
CREATE INDEX disclosure_requests_open ON disclosure_requests (state, due_on);

CREATE TABLE disclosure_request_actions (
    id INTEGER PRIMARY KEY,
    request_no TEXT NOT NULL REFERENCES disclosure_requests(request_no),
    type TEXT NOT NULL,
    on_date TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX disclosure_request_actions_no ON disclosure_request_actions (request_no, id);
CREATE TRIGGER disclosure_request_actions_kept BEFORE DELETE ON disclosure_request_actions
BEGIN SELECT RAISE(ABORT, 'request actions are never deleted'); END;
CREATE TRIGGER disclosure_request_actions_fixed BEFORE UPDATE ON disclosure_request_actions
BEGIN SELECT RAISE(ABORT, 'request actions are never rewritten'); END;

CREATE TABLE disclosure_appeals (
    id INTEGER PRIMARY KEY,
    body_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL
);
CREATE INDEX disclosure_appeals_body ON disclosure_appeals (body_code, year);

CREATE TABLE disclosure_report_texts (
    body_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    section TEXT NOT NULL,
    text TEXT NOT NULL,
    updated_by TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (body_code, year, section)
);
"""),
    # The public face (issue #8: dashboards, portal, notices, /api/v1; SQL in store/face.py).
    ("face_0001", """
CREATE TABLE face_cases (
    case_no TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    day TEXT NOT NULL,
    item_code TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    on_time INTEGER NOT NULL,
    work_days INTEGER,
    fees_fen INTEGER NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX face_cases_day ON face_cases (day, node);
CREATE INDEX face_cases_node_day ON face_cases (node, day);
CREATE INDEX face_cases_position ON face_cases (position);
CREATE INDEX face_open_due ON cases (due_date, node)
    WHERE state IN ('accepted', 'suspended', 'decided');

CREATE TABLE face_daily (
    day TEXT NOT NULL,
    node TEXT NOT NULL,
    item_code TEXT NOT NULL,
    received INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    on_time INTEGER NOT NULL,
    work_days_sum INTEGER NOT NULL,
    work_days_n INTEGER NOT NULL,
    fees_fen INTEGER NOT NULL,
    PRIMARY KEY (day, node, item_code)
) WITHOUT ROWID;
CREATE TABLE face_monthly (
    month TEXT NOT NULL,
    node TEXT NOT NULL,
    item_code TEXT NOT NULL,
    received INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    on_time INTEGER NOT NULL,
    work_days_sum INTEGER NOT NULL,
    work_days_n INTEGER NOT NULL,
    fees_fen INTEGER NOT NULL,
    PRIMARY KEY (month, node, item_code)
) WITHOUT ROWID;

ALTER TABLE evaluations ADD COLUMN stage TEXT;
ALTER TABLE evaluations ADD COLUMN node TEXT;
ALTER TABLE evaluations ADD COLUMN item_code TEXT;
ALTER TABLE evaluations ADD COLUMN unit TEXT;
ALTER TABLE evaluations ADD COLUMN rater TEXT;
ALTER TABLE evaluations ADD COLUMN real_name INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evaluations ADD COLUMN follow_up_due TEXT;
ALTER TABLE evaluations ADD COLUMN answer TEXT;
ALTER TABLE evaluations ADD COLUMN answered_at TEXT;
ALTER TABLE evaluations ADD COLUMN answered_by TEXT;
ALTER TABLE evaluations ADD COLUMN follow_up_level INTEGER;
ALTER TABLE evaluations ADD COLUMN follow_up_rated_at TEXT;
ALTER TABLE evaluations ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evaluations ADD COLUMN day TEXT;
CREATE UNIQUE INDEX evaluations_case_stage ON evaluations (case_no, stage);
CREATE INDEX evaluations_rev ON evaluations (rev);
CREATE INDEX evaluations_day ON evaluations (day, node);

CREATE TABLE face_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT
);

CREATE TABLE interactions (
    no TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    name_masked TEXT,
    contact TEXT,
    case_no TEXT,
    unit TEXT,
    received_at TEXT NOT NULL,
    due_date TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    answer TEXT,
    answered_at TEXT,
    answered_by TEXT
);
CREATE INDEX interactions_open ON interactions (state, due_date);
CREATE TABLE interaction_actions (
    id INTEGER PRIMARY KEY,
    no TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    note TEXT
);
CREATE TRIGGER interaction_actions_kept BEFORE DELETE ON interaction_actions
BEGIN SELECT RAISE(ABORT, 'interaction actions are never deleted'); END;

CREATE TABLE notices (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    audience TEXT NOT NULL,
    published_at TEXT NOT NULL,
    published_by TEXT NOT NULL,
    config_version INTEGER
);
CREATE TABLE notice_reads (
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    notice_id INTEGER NOT NULL,
    user TEXT NOT NULL,
    read_at TEXT NOT NULL,
    PRIMARY KEY (node, seq)
) WITHOUT ROWID;
CREATE INDEX notice_reads_notice ON notice_reads (notice_id, node);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    revoked_at TEXT,
    last_used_at TEXT
);
"""),
    ("field_0001", """
-- Sync in the field (docs/sync-field.md): export files imported, restore tokens and
-- epochs, chunked attachment uploads.
CREATE TABLE usb_imports (
    file_id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    stored INTEGER NOT NULL DEFAULT 0,
    acked_seq INTEGER,
    error_code TEXT
);

CREATE TABLE restore_tokens (
    token_hash TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_by_key TEXT
);

CREATE TABLE node_epochs (
    node TEXT NOT NULL REFERENCES nodes(code),
    epoch INTEGER NOT NULL,
    from_seq INTEGER NOT NULL,
    public_key TEXT NOT NULL,
    statement TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (node, epoch)
);

CREATE TABLE attachment_uploads (
    sha256 TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    chunks TEXT NOT NULL,
    started_at TEXT NOT NULL
);

CREATE TABLE attachment_chunks (
    sha256 TEXT NOT NULL,
    idx INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (sha256, idx)
);
"""),
]


# Cross-level handling (issue #11, docs/cross-level.md; SQL in store/routing.py). Appended
# outside the list literal so that other migrations can be added to it independently.
MIGRATIONS.append(("routing_0001", """
-- One row per inbox entry the hub places for a node: a forwarded case, a returned
-- result, an on-line application, a double take to hand back. ``state``: open (offered),
-- closed (taken or withdrawn). ``entry`` is the JSON the inbox document carries.
CREATE TABLE inbox_entries (
    id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    kind TEXT NOT NULL,
    case_no TEXT,
    application TEXT,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    placed_at TEXT NOT NULL,
    closed_at TEXT,
    closed_by TEXT,
    entry TEXT NOT NULL
);
CREATE INDEX inbox_entries_node ON inbox_entries (node, state);

-- Each node's inbox documents, hub-signed (kind "inbox"), versions growing per node.
CREATE TABLE inbox_docs (
    node TEXT NOT NULL,
    version INTEGER NOT NULL,
    canonical BLOB NOT NULL,
    signature BLOB NOT NULL,
    published_at TEXT NOT NULL,
    PRIMARY KEY (node, version)
);

-- On-line applications from the portal (网上申请). ``tracking_no`` is what the citizen
-- keeps; ``query_code`` protects the status page; ``application`` is the canonical JSON
-- the inbox carries (its SHA-256 is what a take names).
CREATE TABLE online_applications (
    tracking_no TEXT PRIMARY KEY,
    query_code TEXT NOT NULL,
    item_code TEXT NOT NULL,
    item_name TEXT NOT NULL,
    place TEXT NOT NULL,
    node TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    digest TEXT NOT NULL,
    application TEXT NOT NULL,
    taken_node TEXT,
    taken_seq INTEGER,
    taken_link TEXT,
    taken_position INTEGER,
    case_no TEXT
);

-- Every take of an application the hub has seen, first to arrive first (position).
CREATE TABLE application_takes (
    position INTEGER PRIMARY KEY,
    tracking_no TEXT NOT NULL,
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    link TEXT NOT NULL,
    case_no TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('won', 'lost'))
);

-- Uploaded materials of on-line applications, content-addressed (files under
-- DATA_DIR/applications/ab/abcdef...).
CREATE TABLE application_files (
    sha256 TEXT PRIMARY KEY,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    stored_at TEXT NOT NULL
);
"""))


# Electronic supervision (issue #9, docs/supervision.md; SQL in store/supervision.py).
MIGRATIONS.append(("supervision_0001", """
-- The alert record gains what supervision needs: the role the alert is routed to (risk
-- grade + role when no person is known), the deadline for an explanation and the number
-- of escalations so far.
ALTER TABLE alerts ADD COLUMN responsible_role TEXT;
ALTER TABLE alerts ADD COLUMN explain_due TEXT;
ALTER TABLE alerts ADD COLUMN escalation INTEGER NOT NULL DEFAULT 0;
CREATE INDEX alerts_case_rule ON alerts (case_no, rule_id, level);
CREATE INDEX alerts_open_explain_due ON alerts (explain_due) WHERE state = 'open';

-- One row per case supervision has looked at: the rule set it is judged under (pinned at
-- first sight), a JSON summary of its facts, and the next date its time-based findings
-- can change (the tick looks only at rows whose date has come).
CREATE TABLE supervision_cases (
    case_no TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    item_code TEXT,
    ruleset_version INTEGER NOT NULL,
    is_open INTEGER NOT NULL DEFAULT 1,
    summary TEXT NOT NULL DEFAULT '{}',
    next_check TEXT,
    evaluated_at TEXT,
    judged_as_of TEXT
);
CREATE INDEX supervision_cases_next ON supervision_cases (node, next_check)
    WHERE next_check IS NOT NULL;

-- Explicit re-evaluations of old cases under another rule set version (never implicit).
CREATE TABLE supervision_reevaluations (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    by TEXT NOT NULL,
    to_version INTEGER NOT NULL,
    scope TEXT NOT NULL,
    cases INTEGER NOT NULL,
    note TEXT
);
CREATE TRIGGER supervision_reevaluations_never_deleted BEFORE DELETE
    ON supervision_reevaluations
BEGIN SELECT RAISE(ABORT, 're-evaluations are never deleted'); END;

-- Hub-only supervision settings (grade thresholds, explanation days, silence), versioned.
CREATE TABLE supervision_settings (
    version INTEGER PRIMARY KEY,
    content TEXT NOT NULL,
    set_at TEXT NOT NULL,
    set_by TEXT
);
"""))


# Repeat overdue (T-04) at the hub: one record per overdue case (issue #9).
MIGRATIONS.append(("supervision_0002", """
CREATE TABLE supervision_overdue (
    case_no TEXT PRIMARY KEY,
    unit TEXT,
    person TEXT,
    overdue_on TEXT NOT NULL
);
CREATE INDEX supervision_overdue_unit ON supervision_overdue (unit, overdue_on);
CREATE INDEX supervision_overdue_person ON supervision_overdue (person, overdue_on);
"""))


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


# The public face (issue #8, docs/hub-face.md): overdue counts per (node, item) from the
# partial index alone.
MIGRATIONS.append(("face_0002_overdue_index", """
DROP INDEX face_open_due;
CREATE INDEX face_open_due ON cases (due_date, node, item_code)
    WHERE state IN ('accepted', 'suspended', 'decided');
-- drill-down pages and exports walk a period in (day, case_no) order
CREATE INDEX face_cases_day_case ON face_cases (day, case_no);
-- evaluation counts per node and item from the index alone
DROP INDEX evaluations_day;
CREATE INDEX evaluations_day ON evaluations (day, node, item_code, level, case_no);
"""))

# Supervision of citizens' deadlines (E-01 差评整改逾期, E-02 诉求件办理逾期): the tick finds
# unanswered bad evaluations past their date, and its open alerts of a rule, on indexes.
MIGRATIONS.append(("supervision_0003_citizen_deadlines", """
CREATE INDEX evaluations_follow_up_open ON evaluations (follow_up_due)
    WHERE level >= 4 AND answer IS NULL;
CREATE INDEX alerts_open_rule ON alerts (rule_id) WHERE state IN ('open', 'answered');
-- once raised for an evaluation or a request, never again (whatever became of the alert)
CREATE INDEX alerts_dedupe ON alerts (dedupe_key);
"""))

# 好差评 given at a township centre's own terminal (evaluation.given node events,
# docs/hub-face.md): the event that brought each such evaluation, so projecting it again
# (a rebuild) never adds it twice.
MIGRATIONS.append(("face_0003_terminal_evaluations", """
ALTER TABLE evaluations ADD COLUMN source_node TEXT;
ALTER TABLE evaluations ADD COLUMN source_seq INTEGER;
CREATE UNIQUE INDEX evaluations_source ON evaluations (source_node, source_seq)
    WHERE source_node IS NOT NULL;
"""))

# Named duty holders of each org unit (docs/supervision.md, "Duty"): the 部门主要负责人 (A),
# 分管负责人 (B) and 股（科）室负责人 (C) a risk-graded alert goes to by name.
MIGRATIONS.append(("supervision_0004_duty_roster", """
CREATE TABLE org_unit_duties (
    org_unit TEXT NOT NULL,
    duty TEXT NOT NULL CHECK (duty IN ('department_head', 'deputy_in_charge', 'section_chief')),
    username TEXT NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (org_unit, duty)
);
"""))

# Separation of the three administrators (三权分立, GB/T 22239-2019 level 3; docs/security.md):
# the single ``admin`` role becomes the system administrator (系统管理员, as it was already
# labelled), which no longer manages accounts or reads the audit log. Its sessions end; the
# change is written to the audit log. The security and audit administrators are created
# afterwards with ``central-hub user add`` (the CLI and the server warn until they exist).
MIGRATIONS.append(("accounts_0001_separate_administrators", """
INSERT INTO audit_log (at, actor, action, target, details, before, after)
    SELECT strftime('%Y-%m-%dT%H:%M:%S.000+08:00', 'now', '+8 hours'), 'migration',
           'account.role_migrated', username,
           '{"reason": "三权分立：admin 角色改为系统管理员（system_admin）"}',
           '{"role": "admin"}', '{"role": "system_admin"}'
    FROM users WHERE role = 'admin';
UPDATE users SET role = 'system_admin', session_epoch = session_epoch + 1 WHERE role = 'admin';
"""))

# Sign-in hardening (docs/security.md): server-side session records (a logout ends that
# session on the server; idle and absolute limits), and TOTP second factors of accounts.
MIGRATIONS.append(("auth_0001_sessions_totp", """
CREATE TABLE sessions (
    key TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE INDEX sessions_username ON sessions (username);
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_pending TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
"""))
