"""Shared helpers of the tests of sync in the field (tests/test_field_*.py)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from central_hub.app import create_app as create_hub_app
from central_hub.operations.bootstrap import init_hub
from central_hub.config import HubConfig
from central_hub.sync.enrolment import issue_token
from central_hub.sync.epochs import issue_restore_token
from edge_node.node import init_node
from edge_node.sync.client import SyncClient
from protocol.chain import verify_chain
from protocol.envelope import decode_event
from protocol.keys import PublicKey

URL = "http://testserver"


class Hub:
    def __init__(self, path) -> None:
        init_hub(path, "县级平台")
        self.path = path
        self.config = HubConfig.load(path, background_jobs=False)
        self.app = create_hub_app(self.config)
        self.client = TestClient(self.app)
        self.ctx = self.app.state.hub
        self.store = self.ctx.store

    def token(self, code: str, ttl: float = 72.0) -> str:
        return issue_token(self.store, self.config, code, "测试镇", ttl)[0]

    def restore_token(self, code: str) -> str:
        return issue_restore_token(self.store, self.config, code)[0]

    def events(self, code: str) -> list:
        out, after = [], 0
        while True:
            batch = self.store.node_events(code, after, 1000)
            if not batch:
                return out
            out += batch
            after = batch[-1].seq

    def verify_chain(self, code: str) -> int:
        """Every stored event of ``code`` verifies, each with the key in force at its seq
        (node_keys: enrolment, rotations, restore epochs). Returns the head seq."""
        keys = self.store.node_keys(code)

        def key_at(seq: int) -> PublicKey:
            chosen = keys[0]
            for k in keys:
                if k.from_seq <= seq:
                    chosen = k
            return PublicKey.from_hex(chosen.public_key)

        head = None
        for stored in self.events(code):
            event = decode_event(bytes(stored.canonical), bytes(stored.signature))
            head = verify_chain([event], key_at(event.seq), after=head)
        return 0 if head is None else head.seq

    def assert_holds_exactly(self, node) -> None:
        """The hub holds every event of ``node``, byte for byte, and the chain verifies."""
        stored = self.events(node.code)
        assert [e.seq for e in stored] == list(range(1, node.store.chain_head().seq + 1))
        mine = {e.seq: (e.canonical, e.signature) for e in node.store.iter_events()}
        decoded = []
        for e in stored:
            assert (bytes(e.canonical), bytes(e.signature)) == mine[e.seq]
            decoded.append(decode_event(bytes(e.canonical), bytes(e.signature)))
        first = decoded[0].body["public_key"]
        verify_chain(decoded, PublicKey.from_hex(first))

    def holds_prefix_of(self, node) -> None:
        mine = {e.seq: (e.canonical, e.signature) for e in node.store.iter_events()}
        for stored in self.events(node.code):
            assert (bytes(stored.canonical), bytes(stored.signature)) == mine[stored.seq]


def add_events(node, n: int) -> None:
    for i in range(n):
        node.store.append_event("user.created", None, {
            "user": f"u{node.store.chain_head().seq}x{i}", "username": f"n{node.store.chain_head().seq}x{i}",
            "name": "用户", "roles": ["clerk"], "actor": None})


# Fixtures shared by the sync and field tests (import them by name into a test module).

@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path / "hub")
    yield hub
    hub.ctx.close()


@pytest.fixture
def node(tmp_path):
    node, _ = init_node(tmp_path / "node", "XZ-001", "青山镇便民服务中心",
                        admin_password="lantern-ridge-7294")
    yield node
    node.close()


@pytest.fixture
def client(hub, node):
    client = SyncClient(node, http=hub.client, max_batch_events=40)
    client.enroll(URL, hub.token(node.code))
    return client
