"""Off-line transport: export file on the node, import at the hub, ack file back.

Tampering over a file is refused exactly as over HTTP, with the same codes and alerts."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from _field import URL, Hub, add_events, client, hub, node  # noqa: F401 (fixtures)
from central_hub.store.records import NODE_ACTIVE, NODE_QUARANTINED, NODE_REVOKED
from central_hub.sync.usb import import_export_file
from edge_node.sync.hub_link import HubRefused, HubUntrusted
from edge_node.node import init_node
from edge_node.sync.client import SyncClient
from edge_node.sync.usb import export_file, import_ack, request_key
from protocol.batch import encode_batch
from protocol.envelope import format_ts
from protocol.errors import ProtocolError
from protocol.usbfile import ExportFileError, ExportWriter


def _import(hub, path):
    with open(path, "rb") as fh:
        return import_export_file(hub.store, hub.ctx.identity, hub.config, fh)


def _write_ack(result, path):
    path.write_text(json.dumps(result.ack), "utf-8")
    return path


def _handmade(node, hub, batches, key=None, node_code=None) -> bytes:
    out = io.BytesIO()
    writer = ExportWriter(out, hub_encryption_key=hub.ctx.identity.encryption_public_hex,
                          node=node_code or node.code, signing_key=key or request_key(node),
                          created=format_ts(node.now()))
    for batch in batches:
        writer.add_batch(batch)
    writer.finish()
    return out.getvalue()


def test_export_import_ack_round_trip(hub, node, client, tmp_path):
    client.sync_once()
    add_events(node, 600)
    acked_before = node.store.acked_seq()
    path = tmp_path / "usb" / "xz-001.tsx"
    path.parent.mkdir()
    info = export_file(node, path, max_batch_events=250)
    assert info["events"] == 600 and info["batches"] == 3
    assert path.stat().st_mode & 0o077 == 0
    raw = path.read_bytes()
    assert "用户".encode() not in raw and b"user.created" not in raw   # encrypted
    assert node.store.acked_seq() == acked_before            # nothing marked by exporting
    result = _import(hub, path)
    assert result.error is None and result.stored == 600
    ack_path = _write_ack(result, tmp_path / "ack.json")
    applied = import_ack(node, ack_path)
    assert applied["newly"] == 600 and node.store.unacked_count() == 0
    hub.holds_prefix_of(node)
    assert hub.verify_chain(node.code) == node.store.chain_head().seq
    # a second export holds nothing new; importing it is a no-op with the same ack
    info = export_file(node, tmp_path / "again.tsx")
    assert info["events"] == 0
    again = _import(hub, tmp_path / "again.tsx")
    assert again.error is None and again.stored == 0


def test_the_commands(hub, node, client, tmp_path):
    from central_hub.cli import main as hub_main
    from edge_node.cli import main as node_main
    add_events(node, 5)
    node_dir = str(node.config.data_dir)
    file = str(tmp_path / "stick.tsx")
    runner = CliRunner()
    result = runner.invoke(node_main, ["export", node_dir, file])
    assert result.exit_code == 0, result.output
    hub.ctx.close()
    result = runner.invoke(hub_main, ["import", str(hub.path), file])
    assert result.exit_code == 0, result.output
    result = runner.invoke(node_main, ["import-ack", node_dir, file + ".ack.json"])
    assert result.exit_code == 0, result.output
    assert "县级平台已确认至第" in result.output
    assert node.store.unacked_count() == 0
    # the same file again: a replay, refused with its code
    result = runner.invoke(hub_main, ["import", str(hub.path), file])
    assert result.exit_code == 1 and "request_replayed" in result.output


def test_a_file_replayed_is_refused_with_an_alert(hub, node, client, tmp_path):
    add_events(node, 3)
    export_file(node, tmp_path / "f.tsx")
    assert _import(hub, tmp_path / "f.tsx").error is None
    with pytest.raises(ProtocolError) as err:
        _import(hub, tmp_path / "f.tsx")
    assert err.value.code == "request_replayed"
    assert hub.store.alerts(alert_type="request_replayed", node=node.code)


def test_an_edited_event_is_refused_as_chain_broken(hub, node, client):
    client.sync_once()
    add_events(node, 4)
    events = node.store.unacked_events()
    from protocol.envelope import sign_event
    # a clerk edits event 2 in place and re-signs it with the node key: the link breaks
    e = events[1]
    edited = sign_event(node.key, node=e.node, seq=e.seq, prev=e.prev, ts=e.ts, type=e.type,
                        case=e.case, body={**e.body, "name": "篡改"})
    data = _handmade(node, hub, [encode_batch([events[0], edited, *events[2:]], version=(1, 0))])
    result = import_export_file(hub.store, hub.ctx.identity, hub.config, io.BytesIO(data))
    assert result.error is not None and result.error.code == "chain_broken"
    assert hub.store.event_count(node.code) == node.store.acked_seq()
    assert hub.store.alerts(alert_type="chain_broken", node=node.code)
    assert json.loads(result.ack["document"])["body"]["error"]["code"] == "chain_broken"


def test_a_reordered_file_is_refused(hub, node, client):
    client.sync_once()
    add_events(node, 4)
    events = node.store.unacked_events()
    data = _handmade(node, hub, [encode_batch([events[1], events[0], *events[2:]])])
    result = import_export_file(hub.store, hub.ctx.identity, hub.config, io.BytesIO(data))
    assert result.error.code == "chain_reorder"
    # batches in the wrong order inside one file: the second starts beyond the head
    data = _handmade(node, hub, [encode_batch(events[2:]), encode_batch(events[:2])])
    result = import_export_file(hub.store, hub.ctx.identity, hub.config, io.BytesIO(data))
    assert result.error.code == "chain_gap"
    assert hub.store.event_count(node.code) == node.store.acked_seq()


def test_frames_cut_or_swapped_do_not_decrypt(hub, node, client, tmp_path):
    add_events(node, 300)
    export_file(node, tmp_path / "f.tsx")
    data = (tmp_path / "f.tsx").read_bytes()
    for bad, code in ((data[:-200], "file_truncated"),
                      (data[:300] + bytes([data[300] ^ 1]) + data[301:], "file_corrupt")):
        with pytest.raises(ExportFileError) as err:
            import_export_file(hub.store, hub.ctx.identity, hub.config, io.BytesIO(bad))
        assert err.value.code == code
    assert hub.store.event_count(node.code) == 0


def test_another_nodes_key_and_events_are_refused(hub, node, client, tmp_path):
    other, _ = init_node(tmp_path / "other", "XZ-002", "别镇", admin_password="lantern-ridge-7294")
    try:
        SyncClient(other, http=hub.client).enroll(URL, hub.token(other.code))
        add_events(node, 2)
        batch = encode_batch(node.store.unacked_events())
        # XZ-001's file signed with XZ-002's key
        data = _handmade(node, hub, [batch], key=other.key)
        with pytest.raises(ProtocolError) as err:
            import_export_file(hub.store, hub.ctx.identity, hub.config, io.BytesIO(data))
        assert err.value.code == "request_signature_invalid"
        assert hub.store.alerts(alert_type="request_forged", node=node.code)
        # XZ-001's events in XZ-002's (authentic) file
        data = _handmade(other, hub, [batch])
        result = import_export_file(hub.store, hub.ctx.identity, hub.config, io.BytesIO(data))
        assert result.error.code == "batch_wrong_node"
        assert hub.store.alerts(alert_type="foreign_events", node=other.code)
        assert hub.store.event_count(node.code) == 0
    finally:
        other.close()


def test_a_revoked_node_is_refused(hub, node, client, tmp_path):
    add_events(node, 2)
    export_file(node, tmp_path / "f.tsx")
    hub.store.set_node_status(node.code, NODE_REVOKED, "test", hub.config.now_ts())
    with pytest.raises(Exception) as err:
        _import(hub, tmp_path / "f.tsx")
    assert err.value.code == "node_revoked"
    assert hub.store.alerts(alert_type="revoked_key", node=node.code)


def test_a_fork_over_a_file_quarantines(hub, node, client, tmp_path):
    import shutil
    from edge_node.node import open_data_dir
    add_events(node, 3)
    client.sync_once()
    node.store.checkpoint()
    shutil.copytree(node.config.data_dir, tmp_path / "copy")
    add_events(node, 2)
    client.sync_once()
    copy = open_data_dir(tmp_path / "copy")
    try:
        add_events(copy, 2)                      # a diverging history at seqs the hub holds
        export_file(copy, tmp_path / "fork.tsx")
    finally:
        copy.close()
    result = _import(hub, tmp_path / "fork.tsx")
    assert result.error.code == "chain_fork"
    assert hub.store.node(node.code).status == "quarantined"
    assert hub.store.alerts(alert_type="chain_fork", node=node.code)


def test_a_file_for_another_hub_and_a_forged_ack_are_refused(hub, node, client, tmp_path):
    other_hub = Hub(tmp_path / "hub2")
    try:
        add_events(node, 2)
        export_file(node, tmp_path / "f.tsx")
        with pytest.raises(ExportFileError) as err:
            with open(tmp_path / "f.tsx", "rb") as fh:
                import_export_file(other_hub.store, other_hub.ctx.identity, other_hub.config, fh)
        assert err.value.code == "file_not_for_this_hub"
        # an ack signed by another hub's key is not applied
        other_hub.store.conn.execute("SELECT 1")
        from protocol.ack import Ack, sign_ack
        head = node.store.chain_head()
        forged = sign_ack(other_hub.ctx.identity.signing_key, "x",
                          Ack(node.code, head.seq, head.link, head.seq, hub.config.now_ts()))
        (tmp_path / "forged.json").write_text(json.dumps(forged.to_wire()))
        with pytest.raises(HubUntrusted):
            import_ack(node, tmp_path / "forged.json")
        assert node.store.acked_seq() == 0
    finally:
        other_hub.ctx.close()


def test_an_ack_from_a_hub_restored_from_backup_makes_the_node_resend(hub, node, client,
                                                                     tmp_path):
    add_events(node, 3)
    client.sync_once()
    acked = node.store.acked_seq()
    # the hub lost the node's last events: an ack file naming a lower head
    from protocol.ack import Ack, sign_ack
    events = {e.seq: e for e in node.store.iter_events()}
    low = acked - 2
    ack = sign_ack(hub.ctx.identity.signing_key, "hub",
                   Ack(node.code, low, events[low].link_hex, 0, hub.config.now_ts(),
                       {"code": "chain_gap", "message": "resend", "seq": low + 1}))
    (tmp_path / "ack.json").write_text(json.dumps(ack.to_wire()))
    import_ack(node, tmp_path / "ack.json")
    info = export_file(node, tmp_path / "resend.tsx")
    assert info["first_seq"] == low + 1 and info["events"] == 2


# --------------------------------------------------------------------------- the format

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_HUB_KEY = None


def _format_keys():
    global _HUB_KEY
    if _HUB_KEY is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from protocol.keys import PrivateKey
        hub = X25519PrivateKey.generate()
        pub = hub.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw).hex()
        _HUB_KEY = (hub, pub, PrivateKey.generate())
    return _HUB_KEY


def _write(records, chunk_size):
    hub, pub, key = _format_keys()
    out = io.BytesIO()
    writer = ExportWriter(out, hub_encryption_key=pub, node="N-1", signing_key=key,
                          created="2026-11-26T10:00:00.000+08:00", chunk_size=chunk_size)
    for data in records:
        writer.add_batch(data)
    writer.finish()
    return out.getvalue()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=5000), max_size=6), st.sampled_from([1024, 4096]))
def test_export_format_round_trips(records, chunk_size):
    from protocol.usbfile import open_export
    hub, _, key = _format_keys()
    data = _write(records, chunk_size)
    opened = open_export(io.BytesIO(data), [hub])
    opened.verify(key.public)
    assert [r.data for r in opened.records()] == records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_flipped_byte_is_refused(data):
    from protocol.usbfile import open_export
    hub, _, key = _format_keys()
    raw = bytearray(_write([b"batch-one" * 300, b"batch-two"], 1024))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ProtocolError):
        opened = open_export(io.BytesIO(bytes(raw)), [hub])
        opened.verify(key.public)
        list(opened.records())


def test_a_quarantined_nodes_file_is_refused_and_changes_nothing(hub, node, client, tmp_path):
    """Refused like a quarantined node's push (docs/security.md, section 5): no import
    recorded, no audit entry, no event stored; once the node is reinstated the very same
    file imports (it was not burnt as a replay)."""
    from central_hub.cli import main as hub_main
    add_events(node, 3)
    file = str(tmp_path / "stick.tsx")
    export_file(node, file)
    hub.store.set_node_status(node.code, NODE_QUARANTINED, "test", hub.config.now_ts())

    def snapshot():
        conn = hub.store.conn
        return (conn.execute("SELECT count(*) FROM audit_log").fetchone()[0],
                hub.store.node(node.code).acked_seq, len(hub.store.alerts(node=node.code)))

    before = snapshot()
    runner = CliRunner()
    result = runner.invoke(hub_main, ["import", str(hub.path), file])
    assert result.exit_code == 1 and "node_quarantined" in result.output
    assert "Traceback" not in result.output
    assert snapshot() == before
    hub.store.set_node_status(node.code, NODE_ACTIVE, None, hub.config.now_ts())
    result = runner.invoke(hub_main, ["import", str(hub.path), file])
    assert result.exit_code == 0, result.output
    assert hub.store.node(node.code).acked_seq == node.store.chain_head().seq
