"""Transaction discipline against a served hub with a second writer beside it.

The hub (``central-hub serve`` in a subprocess) takes an anonymous on-line application with
an uploaded file, and a node pushes events; meanwhile the command line (a second process,
a second connection) writes to the same database. The CLI must get the write lock at once,
and after a hard kill of the hub everything it answered for must still be there: the
application, its file record, every acknowledged event.
"""

from __future__ import annotations

import re
import subprocess

import httpx

from central_hub.store import open_store
from central_hub.store import routing as hub_routing
from edge_node.node import init_node
from edge_node.demo.simulate import simulate
from edge_node.sync.client import SyncClient
from test_crosslevel_flow import ALL_REQUIRED, ITEM, TOWNSHIP_UNIT
from test_sync_faults import BIN, ServedHub

STRONG_PASSWORD = "Qinglan-window-7341-spring"


def _apply_with_file(hub: ServedHub) -> tuple[str, str]:
    with httpx.Client(base_url=hub.url, trust_env=False, timeout=10) as portal:
        page = portal.get(f"/portal/apply/{ITEM}")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        data = {"csrf_token": token, "place": TOWNSHIP_UNIT, "name": "王五",
                "id_type": "resident_id", "id_no": "11010519491231002X",
                "phone": "13800138000", **{f"bring_{m}": "1" for m in ALL_REQUIRED}}
        files = {"file_M1": ("申请书.pdf", b"%PDF-1.4 application form", "application/pdf")}
        answer = portal.post(f"/portal/apply/{ITEM}", data=data, files=files)
        assert answer.status_code == 200, answer.text[:500]
        tracking = re.search(r'id="tracking-no">([^<]+)<', answer.text).group(1)
        code = re.search(r'id="query-code">([^<]+)<', answer.text).group(1)
        return tracking, code


def _cli(*args: str) -> subprocess.CompletedProcess:
    # the store waits up to 30 s for a lock: a hub that holds it for ever fails this in time
    return subprocess.run([str(BIN / "central-hub"), *args], capture_output=True, text=True,
                          timeout=25)


def test_anonymous_upload_leaves_the_hub_committing(tmp_path):
    hub = ServedHub(tmp_path / "hub")
    hub.start()
    node, _ = init_node(tmp_path / "town", "XZ-001", "青岚镇便民服务中心",
                        admin_password="lantern-ridge-7294")
    http = httpx.Client(timeout=10, trust_env=False)
    try:
        client = SyncClient(node, http=http)
        client.enroll(hub.url, hub.token(node.code))
        store = open_store(hub.config.db_path, hub.config.now_ts())
        try:
            store.set_node_org_unit(node.code, TOWNSHIP_UNIT)
        finally:
            store.close()

        tracking, code = _apply_with_file(hub)

        # a second writer, while the hub serves: it gets the lock at once
        added = _cli("user", "add", str(hub.path), "second-writer", "--role", "viewer",
                     "--name", "第二写入者", "--password", STRONG_PASSWORD)
        assert added.returncode == 0, added.stderr

        # the node pushes after the anonymous form; every event is acknowledged
        simulate(node, cases=8, seed=3)
        assert client.sync_until_acknowledged(retries=3).complete
        head = node.store.chain_head().seq

        hub.kill()   # SIGKILL: nothing but what was committed survives

        store = open_store(hub.config.db_path, hub.config.now_ts())
        try:
            assert store.account("second-writer") is not None
            assert [e.seq for e in store.node_events(node.code, 0, 10_000)] == \
                list(range(1, head + 1))
            application = hub_routing.application(store, tracking)
            assert application is not None
            [upload] = [f for m in application["application"]["materials"] for f in m["files"]]
            assert hub_routing.file_record(store, upload["sha256"]) is not None
        finally:
            store.close()

        hub.start()
        status = httpx.get(f"{hub.url}/portal/apply/status",
                           params={"no": tracking, "code": code}, timeout=10)
        assert status.status_code == 200 and tracking in status.text
    finally:
        http.close()
        node.close()
        hub.kill()
