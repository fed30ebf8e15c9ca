"""The node store: migrations, the event log API for sync, identity numbers, events."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from protocol.envelope import GENESIS
from protocol.events import EventBodyError, validate_body

from edge_node.cases.applicants import resident_id_check_char, resident_id_ok, validate_applicant
from edge_node.errors import NodeError, ValidationError
from edge_node.store import Store
from edge_node.store.migrations import migrations


def _schema(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master "
                            "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").fetchall()
        return {(t, n): " ".join((s or "").split()) for t, n, s in rows}
    finally:
        conn.close()


NAMES = [m.name for m in migrations._migrations]


@pytest.mark.parametrize("level", range(len(NAMES)))
def test_upgrade_from_every_earlier_level(tmp_path, level):
    fresh = tmp_path / "fresh.db"
    Store.open(fresh).close()
    old = tmp_path / "old.db"
    db = Database(sqlite3.connect(old))
    migrations.apply(db, stop_before=NAMES[level])
    if level >= 1:  # a database with a case in it
        db["cases"].insert({"case_no": "X-20260101-000001", "state": "accepted",
                            "item_code": "A", "received_at": "t", "updated_at": "t",
                            "last_seq": 2, "data": '{"deadline": {"due": "2026-01-20", '
                                                   '"confirmed": true}}'})
    db.conn.close()
    store = Store.open(old)
    assert store.applied_migrations() == NAMES
    if level >= 1:
        row = store.conn.execute("SELECT due_date, due_confirmed FROM cases").fetchone()
        if level <= NAMES.index("0003_case_deadline_columns"):
            assert row == ("2026-01-20", 1)
    store.close()
    assert _schema(old) == _schema(fresh)


def test_wal_and_synchronous_full(edge_node):
    conn = edge_node.store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_key_file_is_private(edge_node):
    assert (edge_node.config.key_path.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize("id_no,ok", [
    ("11010519491231002X", True), ("11010519491231002x", True),
    ("110105194912310021", False), ("11010519491331002X", False),
    ("1101051949123100", False), ("01010519491231002X", False), ("", False),
])
def test_gb11643(id_no, ok):
    assert resident_id_ok(id_no) is ok


def test_check_char_round_trip():
    for body in ("44030419900101123", "51010819851212001", "23010219720606057"):
        assert resident_id_ok(body + resident_id_check_char(body))


def test_applicant_normalised():
    out = validate_applicant({"name": " 张  三 ", "id_no": "11010519491231002x",
                              "phone": "138 0013 8000"})
    assert out == {"kind": "person", "name": "张 三", "id_type": "resident_id",
                   "id_no": "11010519491231002X", "phone": "13800138000"}
    with pytest.raises(ValidationError) as info:
        validate_applicant({"kind": "organisation", "name": "某公司", "id_no": "123"})
    assert info.value.field == "applicant.id_no" and info.value.rule == "gb32100"


def test_unacked_and_mark_acked(edge_node):
    store = edge_node.store
    head = store.chain_head()
    assert head.seq >= 4 and store.acked_seq() == 0
    events = store.unacked_events(limit=2)
    assert [e.seq for e in events] == [1, 2] and events[0].prev == GENESIS
    with pytest.raises(NodeError):
        store.mark_acked(2, "0" * 64)
    assert store.mark_acked(2, events[1].link_hex) == 2
    assert store.acked_seq() == 2 and store.unacked_count() == head.seq - 2
    assert store.mark_acked(1, events[0].link_hex) == 0
    assert [e.seq for e in store.unacked_events(limit=1)] == [3]
    with pytest.raises(NodeError):
        store.mark_acked(head.seq + 1, "0" * 64)


def test_append_event_refuses_bad_body_and_writes_nothing(edge_node):
    before = edge_node.store.chain_head()
    with pytest.raises(EventBodyError) as info:
        edge_node.store.append_event("case.refused", "X-1", {"actor": {"id": "u1",
                                                                      "role": "clerk"}})
    assert info.value.field == "body.reason"
    assert edge_node.store.chain_head() == before


def test_transaction_rolls_back_event_and_projection(edge_node):
    before = edge_node.store.chain_head()
    with pytest.raises(RuntimeError):
        with edge_node.store.transaction():
            edge_node.store.append_event("calendar.applied", None, {
                "version": 9, "fingerprint": "a" * 64, "years": [2026], "source": "t"})
            raise RuntimeError("power cut")
    assert edge_node.store.chain_head() == before


@pytest.mark.parametrize("body,field", [
    ({"actor": {"id": "u1", "role": "king"}, "reason": "x"}, "body.actor.role"),
    ({"actor": {"id": "u1", "role": "clerk"}, "reason": ""}, "body.reason"),
    ({"actor": {"id": "u1", "role": "clerk"}, "reason": "x", "extra": 1}, "body.extra"),
    ({"actor": {"id": "u 1", "role": "clerk"}, "reason": "x"}, "body.actor.id"),
    ({"actor": {"id": "u1", "role": "clerk"}, "reason": "x" * 501}, "body.reason"),
])
def test_event_schema_names_the_field(body, field):
    with pytest.raises(EventBodyError) as info:
        validate_body("case.withdrawn", body, "X-1")
    assert info.value.field == field and field in str(info.value)


def test_unknown_event_type_and_missing_case():
    with pytest.raises(EventBodyError):
        validate_body("case.teleported", {}, "X-1")
    with pytest.raises(EventBodyError) as info:
        validate_body("case.withdrawn", {"actor": {"id": "u", "role": "clerk"},
                                         "reason": "x"}, None)
    assert info.value.field == "case"


def _sample_bodies() -> list[tuple[str, dict, str]]:
    """(type, body, case) of the events of simulated cases along every sample item's flow."""
    from datetime import timedelta

    from central_hub.sync.simulated_node import SimulatedNode, _sample_item, append_case
    node = SimulatedNode("XZ-900")
    out = []
    for index in range(38):
        for event in append_case(node, f"XZ-900-{index:011d}", _sample_item(None, index),
                                 gap=timedelta(hours=2)):
            out.append((event.env["type"], event.env["body"], event.env["case"]))
    return out


_BODIES = _sample_bodies()


def _mutate(value, data, st):
    """``value`` with one member somewhere replaced, removed or added."""
    import copy
    value = copy.deepcopy(value)
    target = value
    while True:
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        child = target[key]
        if isinstance(child, (dict, list)) and child and data.draw(st.booleans()):
            target = child
            continue
        action = data.draw(st.sampled_from(["replace", "remove", "add"]))
        scalar = data.draw(st.one_of(st.none(), st.booleans(), st.integers(-3, 2**54),
                                     st.text(max_size=3), st.sampled_from(["", " ", "x" * 5000,
                                     "2026-01-01", "a" * 64, "clerk", "approve"]),
                                     st.just([]), st.just({})))
        if action == "replace":
            target[key] = scalar
        elif action == "remove" and isinstance(target, dict):
            del target[key]
        elif isinstance(target, dict):
            target[data.draw(st.sampled_from(["extra", "note", "actor", "reason"]))] = scalar
        else:
            target.append(scalar)
        break
    return value


def test_fast_schema_check_agrees_with_the_field_by_field_check():
    """validate_body's fast path passes exactly the bodies the path-naming check passes."""
    from hypothesis import given, settings, strategies as st

    from protocol.events import EVENT_TYPES, _check, _ok

    @settings(max_examples=400, deadline=None)
    @given(st.sampled_from(_BODIES), st.data())
    def check(sample, data):
        type_, body, _ = sample
        body = _mutate(body, data, st) if data.draw(st.booleans()) else body
        schema = EVENT_TYPES[type_].schema
        try:
            _check(schema, body, "body")
            slow = True
        except EventBodyError:
            slow = False
        assert _ok(schema, body) is slow

    check()
    assert len({t for t, _, _ in _BODIES}) >= 7     # received ... delivered, and a fee
