"""Restores without forks: a node whose disk died is rebuilt from the hub, and a node
restored from a backup taken before its last sync starts a new epoch; the hub restored
from its own backup makes nodes re-send what it lost."""

from __future__ import annotations

import shutil

import pytest

from _field import URL, Hub, add_events, client, hub, node  # noqa: F401 (fixtures)
from central_hub.jobs import run_background_once
from edge_node.sync.hub_link import HubRefused
from edge_node.node import open_data_dir
from edge_node.sync.restore import backup_node, restore_from_backup, restore_from_hub
from edge_node.sync.verification import check_integrity, verify_log
from edge_node.sync.client import SyncClient
from edge_node.sync.keys import rotate_key


def _intake(node, n: int) -> list[str]:
    from edge_node.cases import handling as cases
    from edge_node.accounts import users
    admin = node.store.user_by_username("admin")
    clerk = node.store.user_by_username("clerk") or users.create_user(
        node, "clerk", "受理员", ("clerk",), "window-desk-5821",
        actor={"id": admin["id"], "role": "admin"})
    actor = {"id": clerk["id"], "role": "clerk"}
    applicant = {"kind": "person", "name": "张三", "id_type": "resident_id",
                 "id_no": "11010519491231002X", "phone": "13800138000"}
    return [cases.intake(node, actor, item_code="MZ-JF-0003", applicant=applicant,
                         materials=["M1", "M2", "M4"], outcome="accept")["case"]
            for _ in range(n)]


def _no_bad_signatures(hub) -> None:
    run_background_once(hub.ctx)
    assert not hub.store.alerts(alert_type="signature_invalid")
    assert hub.store.verification_counts().get(-1, 0) == 0


def test_a_dead_disk_is_rebuilt_from_the_hub(hub, node, client, tmp_path):
    add_events(node, 30)
    rotate_key(node)                        # a rotation inside the log it downloads
    add_events(node, 5)
    client.sync_until_acknowledged()
    head = node.store.chain_head()
    users_before = sorted(u["username"] for u in node.store.users())
    data_dir = node.config.data_dir
    node.close()
    shutil.rmtree(data_dir)                 # the disk dies
    info = restore_from_hub(data_dir, URL, hub.restore_token("XZ-001"), http=hub.client,
                            admin_password="new-lantern-ridge-1")
    assert info["downloaded"] == head.seq and info["from_seq"] == head.seq + 1
    rebuilt = open_data_dir(data_dir)
    try:
        assert rebuilt.store.chain_head().seq == head.seq + 1   # + the admin's password reset
        assert [e.canonical for e in rebuilt.store.iter_events()][:head.seq] == \
            [bytes(e.canonical) for e in hub.events("XZ-001")]
        assert verify_log(rebuilt, full=True)[0]
        assert check_integrity(rebuilt) == []
        created = [e.body["username"] for e in rebuilt.store.iter_events()
                   if e.type == "user.created"]
        assert sorted(u["username"] for u in rebuilt.store.users()) == sorted(created)
        assert set(users_before) <= set(created)
        from edge_node.accounts.users import authenticate
        assert authenticate(rebuilt, "admin", "new-lantern-ridge-1")
        assert rebuilt.key.public.hex == hub.store.node("XZ-001").public_key
        # the new epoch pushes and is verified under the new key
        add_events(rebuilt, 3)
        report = SyncClient(rebuilt, http=hub.client).sync_until_acknowledged()
        assert report.complete
        hub.holds_prefix_of(rebuilt)
        assert hub.verify_chain("XZ-001") == rebuilt.store.chain_head().seq
        _no_bad_signatures(hub)
        assert hub.store.alerts(alert_type="node_epoch", node="XZ-001")
    finally:
        rebuilt.close()


def test_rebuild_keeps_case_numbers_unique(hub, node, client, tmp_path):
    numbers = _intake(node, 3)
    client.sync_until_acknowledged()
    data_dir = node.config.data_dir
    node.close()
    shutil.rmtree(data_dir)
    restore_from_hub(data_dir, URL, hub.restore_token("XZ-001"), http=hub.client)
    rebuilt = open_data_dir(data_dir)
    try:
        assert sorted(rebuilt.store.case_numbers()) == sorted(numbers)
        more = _intake(rebuilt, 1)
        assert more[0] not in numbers
        assert check_integrity(rebuilt) == []
    finally:
        rebuilt.close()


def test_the_old_key_is_refused_after_an_epoch(hub, node, client, tmp_path):
    add_events(node, 3)
    client.sync_once()
    restore_from_hub(tmp_path / "rebuilt", URL, hub.restore_token("XZ-001"), http=hub.client)
    add_events(node, 1)                     # the "dead" node comes back to life
    with pytest.raises(HubRefused) as err:
        client.sync_once()
    assert err.value.code == "request_signature_invalid"
    assert hub.store.alerts(alert_type="request_forged", node="XZ-001")


def test_restore_tokens_are_one_time_and_checked(hub, node, client, tmp_path):
    token = hub.restore_token("XZ-001")
    restore_from_hub(tmp_path / "a", URL, token, http=hub.client)
    for bad, code in ((token, "restore_token_used"),
                      ("1" + token[1:] if token[0] != "1" else "2" + token[1:],
                       "restore_token_malformed"),
                      (hub.token("XZ-009"), "restore_token_unknown")):
        with pytest.raises(HubRefused) as err:
            restore_from_hub(tmp_path / "b", URL, bad, http=hub.client)
        assert err.value.code == code
        assert not any((tmp_path / "b").iterdir())


def test_a_backup_taken_before_the_last_sync_restores_without_a_fork(hub, node, client,
                                                                     tmp_path):
    add_events(node, 10)
    client.sync_once()
    add_events(node, 4)                     # in the backup, never pushed... yet
    backup = tmp_path / "node.backup"
    backup_node(node.config.data_dir, backup)
    client.sync_once()                      # ...then pushed: the hub holds them and more
    add_events(node, 6)
    client.sync_once()
    hub_head = hub.store.node("XZ-001").acked_seq
    acked = [(e.seq, bytes(e.canonical)) for e in hub.events("XZ-001")]
    node.close()
    shutil.rmtree(node.config.data_dir)
    info = restore_from_backup(tmp_path / "restored", backup, hub.restore_token("XZ-001"),
                               http=hub.client)
    assert info["pushed"] == 0 and info["downloaded"] == 6
    assert info["from_seq"] == hub_head + 1
    restored = open_data_dir(tmp_path / "restored")
    try:
        assert restored.store.chain_head().seq == hub_head
        assert verify_log(restored, full=True)[0] and check_integrity(restored) == []
        add_events(restored, 2)
        assert SyncClient(restored, http=hub.client).sync_until_acknowledged().complete
        # no fork, nothing the hub had acknowledged is lost or changed
        assert hub.store.node("XZ-001").status == "active"
        assert not hub.store.alerts(alert_type="chain_fork")
        assert [(e.seq, bytes(e.canonical)) for e in hub.events("XZ-001")][:len(acked)] == acked
        assert hub.verify_chain("XZ-001") == hub_head + 2
        _no_bad_signatures(hub)
    finally:
        restored.close()


def test_a_backup_with_events_the_hub_never_saw_pushes_them_first(hub, node, client,
                                                                  tmp_path):
    add_events(node, 5)
    client.sync_once()
    add_events(node, 7)                     # written, backed up, never pushed
    backup = tmp_path / "node.backup"
    backup_node(node.config.data_dir, backup)
    backup_head = node.store.chain_head().seq
    node.close()
    shutil.rmtree(node.config.data_dir)
    with pytest.raises(HubRefused) as err:      # a mistyped token: refused, nothing left
        restore_from_backup(tmp_path / "restored", backup, "7KQ2-M9XD", http=hub.client)
    assert err.value.code == "restore_token_malformed"
    assert not any((tmp_path / "restored").iterdir())
    assert hub.store.node("XZ-001").acked_seq == backup_head   # the backup's events were pushed
    info = restore_from_backup(tmp_path / "restored", backup, hub.restore_token("XZ-001"),
                               http=hub.client)
    assert info["from_seq"] == info["backup_head"] + 1 and info["downloaded"] == 0
    restored = open_data_dir(tmp_path / "restored")
    try:
        assert hub.store.node("XZ-001").acked_seq == restored.store.chain_head().seq
        add_events(restored, 1)
        assert SyncClient(restored, http=hub.client).sync_until_acknowledged().complete
        assert hub.verify_chain("XZ-001") == restored.store.chain_head().seq
        assert not (tmp_path / "restored" / "node-old.key").exists()
    finally:
        restored.close()


def test_a_hub_restored_from_its_backup_gets_what_it_lost(hub, node, client, tmp_path):
    from central_hub.operations.backup import backup_hub, restore_hub
    add_events(node, 5)
    client.sync_once()
    backup_hub(hub.config, tmp_path / "hub.tar")
    add_events(node, 8)
    client.sync_once()
    head = node.store.chain_head().seq
    hub.ctx.close()
    shutil.rmtree(hub.path)
    restore_hub(tmp_path / "hub.tar", hub.path)
    again = Hub.__new__(Hub)
    from central_hub.app import create_app
    from central_hub.config import HubConfig
    from starlette.testclient import TestClient
    again.path = hub.path
    again.config = HubConfig.load(hub.path, background_jobs=False)
    again.app = create_app(again.config)
    again.client = TestClient(again.app)
    again.ctx = again.app.state.hub
    again.store = again.ctx.store
    try:
        assert again.store.node("XZ-001").acked_seq < head
        client.link.http = again.client
        add_events(node, 1)
        assert client.sync_until_acknowledged().complete
        assert again.store.node("XZ-001").acked_seq == head + 1
        again.holds_prefix_of(node)
    finally:
        again.ctx.close()
        hub.ctx = again.ctx


def test_a_backup_whose_key_is_gone_and_holds_unsent_events_is_refused(hub, node, client,
                                                                       tmp_path):
    add_events(node, 3)
    client.sync_once()
    add_events(node, 2)                           # never pushed
    backup = tmp_path / "node.backup"
    backup_node(node.config.data_dir, backup)
    # meanwhile the node was rebuilt from the hub: the backup's key is no longer valid
    restore_from_hub(tmp_path / "rebuilt", URL, hub.restore_token("XZ-001"), http=hub.client)
    token = hub.restore_token("XZ-001")
    with pytest.raises(HubRefused) as err:
        restore_from_backup(tmp_path / "restored", backup, token, http=hub.client)
    assert err.value.code == "epoch_behind_backup"
    assert not any((tmp_path / "restored").iterdir())
    from central_hub.sync.enrolment import normalise_token, token_hash
    from central_hub.store import field
    assert field.restore_token(hub.store, token_hash(normalise_token(token)))["used_at"] is None


def test_a_hub_restored_from_a_backup_older_than_an_epoch_takes_it_back(hub, node, client,
                                                                        tmp_path):
    from central_hub.operations.backup import backup_hub, restore_hub
    add_events(node, 5)
    client.sync_once()
    backup_hub(hub.config, tmp_path / "hub.tar")          # before the node's epoch
    add_events(node, 300)
    client.sync_until_acknowledged()
    data_dir = node.config.data_dir
    node.close()
    shutil.rmtree(data_dir)
    restore_from_hub(data_dir, URL, hub.restore_token("XZ-001"), http=hub.client)
    rebuilt = open_data_dir(data_dir)
    try:
        rebuilt_client = SyncClient(rebuilt, http=hub.client)
        rebuilt_client.sync_until_acknowledged()
        head = rebuilt.store.chain_head().seq
        hub.ctx.close()
        shutil.rmtree(hub.path)
        restore_hub(tmp_path / "hub.tar", hub.path)   # the hub forgets the epoch and more
        from starlette.testclient import TestClient
        from central_hub.app import create_app
        from central_hub.config import HubConfig
        hub.config = HubConfig.load(hub.path, background_jobs=False)
        hub.app = create_app(hub.config)
        hub.client = TestClient(hub.app)
        hub.ctx = hub.app.state.hub
        hub.store = hub.ctx.store
        assert hub.store.node("XZ-001").acked_seq < head
        rebuilt_client.link.http = hub.client
        add_events(rebuilt, 1)
        assert rebuilt_client.sync_until_acknowledged().complete
        assert hub.store.node("XZ-001").acked_seq == head + 1
        hub.holds_prefix_of(rebuilt)
        assert hub.verify_chain("XZ-001") == head + 1
        _no_bad_signatures(hub)
    finally:
        rebuilt.close()


def test_a_backup_of_another_chain_is_refused_before_the_token_is_used(hub, node, client,
                                                                      tmp_path):
    add_events(node, 3)
    client.sync_once()
    node.store.checkpoint()
    shutil.copytree(node.config.data_dir, tmp_path / "copy")
    add_events(node, 4)
    client.sync_once()
    copy = open_data_dir(tmp_path / "copy")
    try:
        add_events(copy, 2)             # diverges at seqs the hub holds, never pushed
    finally:
        copy.close()
    backup_node(tmp_path / "copy", tmp_path / "copy.backup")
    token = hub.restore_token("XZ-001")
    with pytest.raises(Exception) as err:
        restore_from_backup(tmp_path / "restored", tmp_path / "copy.backup", token,
                            http=hub.client)
    assert getattr(err.value, "code", None) == "chain_fork"
    assert hub.store.node("XZ-001").status == "active"     # nothing pushed, no quarantine
    from central_hub.sync.enrolment import normalise_token, token_hash
    from central_hub.store import field
    assert field.restore_token(hub.store, token_hash(normalise_token(token)))["used_at"] is None


def test_restore_command_against_a_served_hub(tmp_path):
    """The commands an administrator types, against a real hub server: the node's disk
    dies after its last sync; `edge-node restore --hub --token` rebuilds it from the hub
    under a new key, and the rebuilt node syncs again."""
    import json
    import re
    import subprocess

    from live import BIN, free_port, run_cli, wait_http

    hub_dir, node_dir = tmp_path / "hub", tmp_path / "node"
    run_cli("central-hub", "init", str(hub_dir), "--name", "restore-hub")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "hub.log", "wb") as log:
        server = subprocess.Popen([str(BIN / "central-hub"), "serve", str(hub_dir), "--port",
                                   str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(url + "/login")
        run_cli("edge-node", "init", str(node_dir), "--code", "XZ-077", "--name", "恢复镇",
                "--admin-password", "lantern-ridge-41")
        run_cli("edge-node", "simulate", str(node_dir), "--cases", "20", "--seed", "5",
                "--quiet")
        token = run_cli("central-hub", "enroll-token", str(hub_dir), "--node", "XZ-077",
                        "--name", "恢复镇").strip().splitlines()[-1]
        run_cli("edge-node", "enroll", str(node_dir), "--hub", url, "--token", token)
        run_cli("edge-node", "sync", str(node_dir))
        before = json.loads(run_cli("edge-node", "status", str(node_dir), "--json"))
        shutil.rmtree(node_dir)                                  # the disk dies
        restore = run_cli("central-hub", "restore-token", str(hub_dir), "--node",
                          "XZ-077").strip().splitlines()[-1]
        wrong = subprocess.run([str(BIN / "edge-node"), "restore", str(node_dir), "--hub", url,
                                "--token", "not-a-token"], capture_output=True, text=True)
        assert wrong.returncode != 0 and "Traceback" not in wrong.stderr + wrong.stdout
        out = run_cli("edge-node", "restore", str(node_dir), "--hub", url, "--token", restore,
                      "--admin-password", "new-lantern-ridge-1")
        assert "已恢复" in out and re.search(r"下载 (\d+) 条事件", out)
        after = json.loads(run_cli("edge-node", "status", str(node_dir), "--json"))
        assert after["cases"]["total"] == before["cases"]["total"] == 20
        assert after["chain"]["verifies"] is True
        run_cli("edge-node", "sync", str(node_dir))               # the new epoch syncs
        final = json.loads(run_cli("edge-node", "status", str(node_dir), "--json"))
        assert final["events"]["unacked"] == 0, final["events"]
    finally:
        server.terminate()
        server.wait(timeout=20)
