"""Sync through real faults: a hub served by uvicorn on loopback (a subprocess), the
TCP fault proxy of scripts/faultproxy.py between node and hub, and SIGKILL of either side
at random points. Once the faults stop, every event is at the hub exactly once and every
chain verifies. Bounded: the whole file runs in well under two minutes.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from central_hub.operations.bootstrap import init_hub
from central_hub.config import HubConfig
from central_hub.sync.enrolment import issue_token
from central_hub.store import open_store
from edge_node.sync.hub_link import SyncError
from edge_node.node import init_node, open_data_dir
from edge_node.demo.simulate import simulate
from edge_node.sync.verification import check_integrity
from edge_node.sync.client import SyncClient
from protocol.chain import verify_chain
from protocol.envelope import decode_event
from protocol.keys import PublicKey

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
_spec = importlib.util.spec_from_file_location("faultproxy", ROOT / "scripts" / "faultproxy.py")
faultproxy = importlib.util.module_from_spec(_spec)
sys.modules["faultproxy"] = faultproxy
_spec.loader.exec_module(faultproxy)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedHub:
    """``central-hub serve`` in a subprocess (so it can be SIGKILLed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        init_hub(path, "县级平台")
        self.config = HubConfig.load(path, background_jobs=False)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(BIN / "central-hub"), "serve", str(self.path), "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/sync/v1/keys", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("hub did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def token(self, code: str) -> str:
        store = open_store(self.config.db_path, self.config.now_ts())
        try:
            return issue_token(store, self.config, code, "测试镇")[0]
        finally:
            store.close()

    def assert_holds_exactly(self, node) -> None:
        store = open_store(self.config.db_path, self.config.now_ts())
        try:
            stored, after = [], 0
            while batch := store.node_events(node.code, after, 1000):
                stored += batch
                after = batch[-1].seq
        finally:
            store.close()
        head = node.store.chain_head().seq
        assert [e.seq for e in stored] == list(range(1, head + 1))   # once each, no gap
        mine = {e.seq: (e.canonical, e.signature) for e in node.store.iter_events()}
        events = []
        for e in stored:
            assert (bytes(e.canonical), bytes(e.signature)) == mine[e.seq]
            events.append(decode_event(bytes(e.canonical), bytes(e.signature)))
        verify_chain(events, PublicKey.from_hex(events[0].body["public_key"]))
        assert node.store.acked_seq() == head
        assert check_integrity(node) == []


@pytest.fixture
def hub(tmp_path):
    hub = ServedHub(tmp_path / "hub")
    hub.start()
    yield hub
    hub.kill()


def make_node(tmp_path, name="node", code="XZ-001", cases=40):
    node, _ = init_node(tmp_path / name, code, "青山镇便民服务中心",
                        admin_password="lantern-ridge-7294")
    simulate(node, cases=cases, seed=7)
    return node


def test_faulty_link_then_clean_link_delivers_every_event_once(hub, tmp_path):
    node = make_node(tmp_path)
    proxy = faultproxy.FaultProxy(hub.port, seed=5).start()
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        http = httpx.Client(timeout=httpx.Timeout(3.0), trust_env=False,   # a fault per request
                            limits=httpx.Limits(max_keepalive_connections=0))
        client = SyncClient(node, http=http, max_batch_events=25)
        client.enroll(url, hub.token(node.code))
        proxy.set_faults(faultproxy.Faults(drop=0.12, reset=0.12, truncate=0.12,
                                           error5xx=0.12, delay=0.1, delay_s=0.3))
        errors = set()
        for _ in range(40):
            try:
                if client.sync_once().complete:
                    break
            except SyncError as exc:
                assert exc.network, exc          # faults are transient, never refusals
                errors.add(exc.code)
        assert sum(proxy.counters.faults.values()) >= 5
        assert errors, "the faults should have stopped some rounds"
        proxy.set_faults(faultproxy.Faults())
        assert client.sync_until_acknowledged(retries=2).complete
        hub.assert_holds_exactly(node)
        http.close()
    finally:
        proxy.stop()
        node.close()


def _sync_command(data_dir: Path) -> subprocess.Popen:
    with open(data_dir.parent / "sync.err", "ab") as err:
        return subprocess.Popen([str(BIN / "edge-node"), "sync", str(data_dir), "--quiet",
                                 "--batch-events", "20"],
                                stdout=subprocess.DEVNULL, stderr=err)


def test_sigkill_of_the_node_during_a_push(hub, tmp_path):
    node = make_node(tmp_path)
    proxy = faultproxy.FaultProxy(hub.port, link=faultproxy.Link(latency_s=0.02,
                                                                 rate_bps=400_000)).start()
    rng = random.Random(11)
    try:
        with httpx.Client(trust_env=False) as http:
            SyncClient(node, http=http).enroll(f"http://127.0.0.1:{proxy.port}",
                                               hub.token(node.code))
        data_dir = node.config.data_dir
        node.close()
        kills = 0
        for _ in range(4):
            proc = _sync_command(data_dir)
            time.sleep(rng.uniform(0.3, 1.2))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(10)
        assert kills >= 1
        done = _sync_command(data_dir)
        assert done.wait(60) == 0, (data_dir.parent / "sync.err").read_text("utf-8")
        node = open_data_dir(data_dir)
        hub.assert_holds_exactly(node)
    finally:
        proxy.stop()
        node.close()


def test_sigkill_of_the_hub_during_ingest(hub, tmp_path):
    node = make_node(tmp_path, cases=60)
    rng = random.Random(3)
    try:
        client = SyncClient(node, http=httpx.Client(timeout=5, trust_env=False),
                            max_batch_events=10)
        client.enroll(hub.url, hub.token(node.code))
        for _ in range(3):
            stop = threading.Event()

            def pushing() -> None:
                pusher = SyncClient(open_data_dir(node.config.data_dir),
                                    http=httpx.Client(timeout=5, trust_env=False),
                                    max_batch_events=10)
                try:
                    while not stop.is_set():
                        try:
                            if pusher.sync_once().complete:
                                return
                        except SyncError:
                            time.sleep(0.05)
                finally:
                    pusher.http.close()
                    pusher.node.close()

            thread = threading.Thread(target=pushing)
            thread.start()
            time.sleep(rng.uniform(0.05, 0.4))
            hub.kill()
            stop.set()
            thread.join(20)
            hub.start()
        assert client.sync_until_acknowledged(retries=3).complete
        hub.assert_holds_exactly(node)
        client.http.close()
    finally:
        node.close()


def test_enroll_and_sync_commands_against_a_served_hub(hub, tmp_path):
    """The demo's path: edge-node init/simulate/enroll/sync, then a used token."""
    from click.testing import CliRunner

    from edge_node.cli import main
    node = make_node(tmp_path, cases=5)
    data_dir = str(node.config.data_dir)
    node.close()
    token = hub.token("XZ-001")
    runner = CliRunner()
    result = runner.invoke(main, ["enroll", data_dir, "--hub", hub.url, "--token", token])
    assert result.exit_code == 0, result.output
    assert "已接入县级平台" in result.output
    result = runner.invoke(main, ["sync", data_dir])
    assert result.exit_code == 0, result.output
    assert "同步完成" in result.output
    other = make_node(tmp_path, name="other", code="XZ-001", cases=1)
    other_dir = str(other.config.data_dir)
    other.close()
    result = runner.invoke(main, ["enroll", other_dir, "--hub", hub.url, "--token", token])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "已被使用" in lines[0] and "enroll_token_used" in lines[0]
    result = runner.invoke(main, ["status", data_dir, "--json"])
    assert '"state": "ok"' in result.output
    os.environ.pop("NO_SUCH", None)
