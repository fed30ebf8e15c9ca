"""Attachments: content-addressed, sent in chunks after the events (never blocking them),
resumed after a break, a corrupt chunk sent again, size and type limits refused clearly."""

from __future__ import annotations

import hashlib
import io
import json
import os

import pytest

from _field import URL, Hub
from central_hub.jobs import run_background_once
from central_hub.store import disclosure as hub_disclosure
from edge_node.disclosure import documents as nd
from edge_node.sync.hub_link import HubRefused
from edge_node.sync.client import SyncClient
from protocol.attachments import CHUNK_SIZE, build_manifest

PDF = b"%PDF-1.4\n" + os.urandom(3 * CHUNK_SIZE + 1000) + b"\n%%EOF\n"


@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path / "hub")
    yield hub
    hub.ctx.close()


@pytest.fixture
def client(hub, edge_node):
    client = SyncClient(edge_node, http=hub.client)
    client.enroll(URL, hub.token(edge_node.code))
    return client


def _publish(node, staff, refs):
    state = nd.draft(node, staff["clerk"], {
        "title": "关于调整最低生活保障标准的通知", "text": "正文", "made_on": "2026-02-10",
        "topic": "16", "genre": "02", "grouping": "06", "office": "社会事务办",
        "person": "李主任", "attachments": refs})
    nd.review(node, staff["reviewer"], state["doc"], "pass", "不涉密，同意公开")
    return nd.publish(node, staff["head"], state["doc"])


def test_chunks_resume_after_a_break_and_a_corrupt_chunk_is_sent_again(
        hub, edge_node, edge_staff, client):
    ref = nd.store_attachment(edge_node, "扫描件.pdf", PDF)
    sha = ref["sha256"]
    doc = _publish(edge_node, edge_staff, [ref])
    # round 1: the events go; the hub has not projected the document yet, so the
    # attachment waits (attachment_unreferenced) without failing the round
    report = client.sync_once()
    assert edge_node.store.unacked_count() == 0
    assert report.attachments.pending == 1 and not report.attachments.completed
    run_background_once(hub.ctx)
    assert hub_disclosure.missing_blobs(hub.store) == [sha]

    real = hub.client.request
    calls = {"chunks": 0, "corrupted": False}

    def flaky(method, url, **kwargs):
        if "/chunks/" in url:
            calls["chunks"] += 1
            if calls["chunks"] == 3:
                raise OSError("the line dropped")         # a break after two chunks
        answer = real(method, url, **kwargs)
        if url.endswith("/chunks/1") and not calls["corrupted"]:
            calls["corrupted"] = True                     # chunk 0 damaged on the hub's disk
            part = hub.path / "attachments" / sha[:2] / (sha + ".part")
            data = bytearray(part.read_bytes())
            data[100] ^= 0xFF
            part.write_bytes(bytes(data))
        return answer

    hub.client.request = flaky
    report = client.sync_once()                  # events fine; attachment phase breaks
    assert report.attachments.error is not None and report.attachments.error.network
    held = hub.store.conn.execute("SELECT count(*) FROM attachment_chunks").fetchone()[0]
    assert held == 2
    report = client.sync_once()                  # resumes: only the missing chunks
    hub.client.request = real
    assert report.attachments.completed == [sha], report.attachments
    assert report.attachments.sent_chunks == 2   # chunk 2, then chunk 0 again (3 was kept)
    assert calls["corrupted"]
    assert hub_disclosure.missing_blobs(hub.store) == []
    download = hub.client.get(f"/gk/doc/{doc['doc']}/attachments/{sha}")
    assert download.status_code == 200 and download.content == PDF
    # nothing more to send
    assert client.sync_once().attachments.sent_chunks == 0


def test_limits_are_refused_with_clear_codes(hub, edge_node, edge_staff, client):
    client.sync_once()
    big = build_manifest(PDF)
    cases = [
        ({**big, "size": 11 * 1024 * 1024, "chunks": ["0" * 64] * 176}, "attachment_too_large",
         413),
        ({**big, "mime": "application/x-msdownload"}, "attachment_type_refused", 415),
        (big, "attachment_unreferenced", 409),
    ]
    for manifest, code, status in cases:
        with pytest.raises(HubRefused) as err:
            client.link.request("PUT", f"/sync/v1/attachments/{big['sha256']}",
                                json.dumps(manifest).encode(), content_type="application/json")
        assert err.value.code == code and err.value.http_status == status


def test_attachments_travel_in_the_export_file(hub, edge_node, edge_staff, client, tmp_path):
    from central_hub.sync.usb import import_export_file
    from edge_node.sync.usb import export_file, import_ack
    client.sync_once()
    ref = nd.store_attachment(edge_node, "扫描件.pdf", PDF)
    doc = _publish(edge_node, edge_staff, [ref])
    # the hub must know the document before it takes its bytes: import the events first
    info = export_file(edge_node, tmp_path / "1.tsx", attachments=False)
    with open(tmp_path / "1.tsx", "rb") as fh:
        import_export_file(hub.store, hub.ctx.identity, hub.config, fh)
    run_background_once(hub.ctx)
    info = export_file(edge_node, tmp_path / "2.tsx")
    assert info["attachments"] == 1
    with open(tmp_path / "2.tsx", "rb") as fh:
        result = import_export_file(hub.store, hub.ctx.identity, hub.config, fh)
    assert result.attachments == [ref["sha256"]]
    (tmp_path / "ack.json").write_text(json.dumps(result.ack))
    import_ack(edge_node, tmp_path / "ack.json")
    assert hub.client.get(f"/gk/doc/{doc['doc']}/attachments/{ref['sha256']}").content == PDF
    assert export_file(edge_node, tmp_path / "3.tsx")["attachments"] == 0
