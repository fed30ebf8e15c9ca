"""Mixed versions: the hub accepts nodes one minor protocol version behind (1.0 batches
carry no prev elision), end to end through the node's own client, and refuses others."""

from __future__ import annotations

import json

import pytest

from _field import URL, Hub, add_events
from edge_node.sync.hub_link import HubRefused
from edge_node.node import init_node, open_data_dir
from edge_node.sync.client import SyncClient
from edge_node.sync.usb import export_file, import_ack, push_version
from protocol.batch import FLAG_PREV_ELIDED, batch_version


@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path / "hub")
    yield hub
    hub.ctx.close()


def _old_node(tmp_path, version: str):
    node, _ = init_node(tmp_path / "old", "XZ-010", "老版本镇", admin_password="lantern-ridge-7294")
    node.close()
    path = tmp_path / "old" / "node.json"
    info = json.loads(path.read_text("utf-8"))
    info["settings"]["protocol_version"] = version
    path.write_text(json.dumps(info, ensure_ascii=False), "utf-8")
    return open_data_dir(tmp_path / "old")


def test_a_node_one_minor_behind_syncs_end_to_end(hub, tmp_path):
    node = _old_node(tmp_path, "1.0")
    try:
        assert push_version(node) == (1, 0)
        sent = []
        real = hub.client.request

        def spy(method, url, **kwargs):
            if "/push" in url:
                sent.append((kwargs["content"], kwargs["headers"]))
            return real(method, url, **kwargs)

        hub.client.request = spy
        client = SyncClient(node, http=hub.client, max_batch_events=20)
        client.enroll(URL, hub.token(node.code))
        add_events(node, 45)
        assert client.sync_until_acknowledged().complete
        assert sent and all(batch_version(body) == (1, 0) for body, _ in sent)
        assert all(headers["X-Protocol-Version"] == "1.0" for _, headers in sent)
        import zlib
        for body, _ in sent:          # no record of a 1.0 batch elides prev
            assert zlib.decompress(body[10:], -15)[0] & FLAG_PREV_ELIDED == 0
        assert hub.verify_chain(node.code) == node.store.chain_head().seq
        hub.holds_prefix_of(node)
        # and over a file as well
        add_events(node, 3)
        export_file(node, tmp_path / "old.tsx")
        from central_hub.sync.usb import import_export_file
        with open(tmp_path / "old.tsx", "rb") as fh:
            result = import_export_file(hub.store, hub.ctx.identity, hub.config, fh)
        (tmp_path / "ack.json").write_text(json.dumps(result.ack))
        import_ack(node, tmp_path / "ack.json")
        assert node.store.unacked_count() == 0
    finally:
        node.close()


@pytest.mark.parametrize("version", ["0.9", "1.2"])
def test_a_node_further_away_is_refused(hub, tmp_path, version):
    node = _old_node(tmp_path, "1.0")
    try:
        client = SyncClient(node, http=hub.client)
        client.enroll(URL, hub.token(node.code))
        add_events(node, 2)
        client.link.protocol_version = tuple(int(p) for p in version.split("."))
        with pytest.raises(HubRefused) as err:
            client.push()
        assert err.value.code == "version_unsupported"
        assert hub.store.event_count(node.code) == 0
    finally:
        node.close()
