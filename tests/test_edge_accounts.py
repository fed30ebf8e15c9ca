"""Account changes are events in the node's log, like every other change."""

import pytest

from edge_node.accounts import users
from edge_node.errors import PermissionDenied
from protocol.events import validate_body


def test_deactivation_and_reactivation_are_logged_and_take_effect(edge_node, edge_staff):
    clerk = edge_staff["clerk"]["id"]
    users.set_active(edge_node, clerk, False, actor=edge_staff["admin"])
    assert not edge_node.store.user(clerk)["active"]
    users.set_active(edge_node, clerk, True, actor=edge_staff["admin"])
    assert edge_node.store.user(clerk)["active"]
    events = [e for e in edge_node.store.iter_events() if e.type.startswith("user.")][-2:]
    assert [e.type for e in events] == ["user.deactivated", "user.reactivated"]
    for event in events:
        validate_body(event.type, event.body)
        assert event.body == {"user": clerk, "actor": edge_staff["admin"]}


def test_only_an_admin_may_deactivate(edge_node, edge_staff):
    before = edge_node.store.event_count()
    with pytest.raises(PermissionDenied):
        users.set_active(edge_node, edge_staff["clerk"]["id"], False, actor=edge_staff["head"])
    assert edge_node.store.event_count() == before
    assert edge_node.store.user(edge_staff["clerk"]["id"])["active"]
