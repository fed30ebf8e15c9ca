"""Crash safety: SIGKILL the serving process at random points during a stream of intakes.

Real `edge-node serve` processes on loopback. After every kill the node is restarted and
checked: every intake whose response arrived is there with its full event chain, the
chain verifies, every projection equals the fold of its events, and nothing is
half-written. At least 50 kills, at least half of them while a request is in flight.
"""

from __future__ import annotations

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

from edge_node.accounts import users
from edge_node.node import init_node, open_data_dir
from edge_node.sync.verification import check_integrity

WORKERS = 2
KILLS_PER_WORKER = 26
IN_FLIGHT_PER_WORKER = 14
MAX_KILLS = 120                     # per worker: a bound, so a broken server fails the test
PASSWORD = "crash-pass-1"
INTAKE = {"item": "MZ-JF-0005", "outcome": "accept", "materials": ["M1", "M2", "M3", "M4", "M5"],
          "applicant": {"kind": "person", "name": "赵六", "id_no": "11010519491231002X"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(data_dir: Path, port: int) -> list[str]:
    script = Path(sys.executable).parent / "edge-node"
    head = [str(script)] if script.exists() else [
        sys.executable, "-c", "from edge_node.cli import main; main()"]
    return [*head, "serve", str(data_dir), "--port", str(port)]


class Worker:
    def __init__(self, data_dir: Path, seed: int) -> None:
        self.data_dir = data_dir
        self.rng = random.Random(seed)
        self.kills = 0
        self.in_flight_kills = 0
        self.confirmed: dict[str, int] = {}   # case -> seq of its last event, from responses
        self.error: BaseException | None = None

    def start(self):
        port = free_port()
        proc = subprocess.Popen(serve_command(self.data_dir, port), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {proc.stderr.read()!r}")
            time.sleep(0.01)
        client = httpx.Client(base_url=base, timeout=10)
        token = client.post("/api/login", json={"username": "clerk", "password": PASSWORD}
                            ).json()["csrf_token"]
        client.headers["X-CSRF-Token"] = token
        return proc, client

    def intake(self, client) -> None:
        response = client.post("/api/cases", json=INTAKE)
        assert response.status_code == 201, response.text
        body = response.json()
        self.confirmed[body["case"]] = body["seq"]

    def check(self) -> None:
        node = open_data_dir(self.data_dir)
        try:
            problems = check_integrity(node)
            assert not problems, problems[:5]
            for case, seq in self.confirmed.items():
                state = node.store.case(case)
                assert state is not None, f"{case} was confirmed but is lost"
                assert state["state"] == "accepted" and state["last_seq"] == seq
                types = [e.type for e in node.store.case_events(case)]
                assert types == ["case.received", "case.accepted"], (case, types)
        finally:
            node.close()

    def run(self) -> None:
        try:
            # stop only when this worker has its kills AND at least half were in flight
            # (an attempt may miss its request: the loop goes on until the share holds)
            while (self.kills < KILLS_PER_WORKER or self.in_flight_kills < IN_FLIGHT_PER_WORKER
                   or 2 * self.in_flight_kills < self.kills) and self.kills < MAX_KILLS:
                proc, client = self.start()
                self.check()  # after each restart
                try:
                    for _ in range(self.rng.randrange(0, 6)):
                        self.intake(client)
                    want_in_flight = (2 * self.in_flight_kills <= self.kills
                                      or (self.in_flight_kills < IN_FLIGHT_PER_WORKER
                                          and self.rng.random() < 0.7))
                    if want_in_flight:
                        outcome: list = []

                        def send():
                            try:
                                self.intake(client)
                                outcome.append("answered")
                            except httpx.HTTPError:
                                outcome.append("lost")
                        thread = threading.Thread(target=send)
                        thread.start()
                        time.sleep(self.rng.uniform(0, 0.004))
                        os.kill(proc.pid, signal.SIGKILL)
                        thread.join()
                        if outcome == ["lost"]:
                            self.in_flight_kills += 1
                    else:
                        time.sleep(self.rng.uniform(0, 0.01))
                        os.kill(proc.pid, signal.SIGKILL)
                    self.kills += 1
                finally:
                    client.close()
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait()
                    proc.stderr.close()
            proc, client = self.start()
            try:
                self.check()
                self.intake(client)  # still serving after all that
            finally:
                client.close()
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=10)
                proc.stderr.close()
        except BaseException as exc:  # reported by the test thread
            self.error = exc


@pytest.mark.timeout(180)
def test_sigkill_during_intakes_loses_nothing(tmp_path):
    workers = []
    for i in range(WORKERS):
        data_dir = tmp_path / f"node{i}"
        node, _ = init_node(data_dir, f"CRASH{i}", "崩溃测试镇", admin_password=PASSWORD)
        try:
            admin = node.store.user_by_username("admin")
            users.create_user(node, "clerk", "受理员", ("clerk",), PASSWORD,
                              actor={"id": admin["id"], "role": "admin"})
        finally:
            node.close()
        workers.append(Worker(data_dir, seed=1000 + i))
    threads = [threading.Thread(target=w.run) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in workers:
        if w.error is not None:
            raise w.error
    kills = sum(w.kills for w in workers)
    in_flight = sum(w.in_flight_kills for w in workers)
    assert kills >= 50 and in_flight >= kills // 2, (kills, in_flight)
    assert sum(len(w.confirmed) for w in workers) > 50
