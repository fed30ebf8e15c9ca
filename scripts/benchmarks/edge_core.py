"""Edge node core benchmark: `scripts/bench edge-core [--cases N] [--intakes M] [--kills K]`.

Prints figures (not a timed test):
  * `simulate` speed (cases per second) building a database of N simulated cases;
  * database bytes per case;
  * intake latency through HTTP (p50/p95/p99) against a real `edge-node serve` process on
    that database (synchronous=FULL: every intake is one fsync'd transaction);
  * the serving process's RSS;
  * optionally K SIGKILL/restart cycles with an integrity check after each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edge_node.accounts import users  # noqa: E402
from edge_node.node import init_node, open_data_dir  # noqa: E402
from edge_node.demo.simulate import simulate  # noqa: E402
from edge_node.sync.verification import check_integrity  # noqa: E402

PASSWORD = "bench-pass-1"
INTAKE = {"item": "MZ-JF-0005", "outcome": "accept", "materials": ["M1", "M2", "M3", "M4", "M5"],
          "applicant": {"kind": "person", "name": "钱七", "id_no": "11010519491231002X"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path):
    port = free_port()
    exe = Path(sys.executable).parent / "edge-node"
    proc = subprocess.Popen([str(exe), "serve", str(data_dir), "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(base + "/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.01)
    client = httpx.Client(base_url=base, timeout=10)
    token = client.post("/api/login", json={"username": "clerk", "password": PASSWORD}
                        ).json()["csrf_token"]
    client.headers["X-CSRF-Token"] = token
    return proc, client


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--intakes", type=int, default=2000)
    ap.add_argument("--kills", type=int, default=0)
    ap.add_argument("--data", default=str(ROOT / "bench-data" / "edge-core"))
    ap.add_argument("--keep", action="store_true", help="Reuse an existing database.")
    args = ap.parse_args()
    data = Path(args.data)

    if not args.keep or not (data / "node.json").exists():
        shutil.rmtree(data, ignore_errors=True)
        node, _ = init_node(data, "BENCH", "基准测试镇便民服务中心", admin_password=PASSWORD)
        admin = node.store.user_by_username("admin")
        users.create_user(node, "clerk", "受理员", ("clerk",), PASSWORD,
                          actor={"id": admin["id"], "role": "admin"})
        report = simulate(node, cases=args.cases, start=date(2025, 12, 1), days=args.days,
                          seed=1)
        node.store.checkpoint()
        size = node.store.database_bytes()
        node.close()
        print(f"simulate: {report.cases} cases, {report.events} events in "
              f"{report.seconds:.1f} s = {report.cases_per_second:.0f} cases/s "
              f"({report.events / report.seconds:.0f} events/s)")
        print(f"database: {size / 1e6:.1f} MB = {size / report.cases:.0f} bytes per case "
              f"({size / max(report.events, 1):.0f} bytes per event)")

    proc, client = start_server(data)
    try:
        for _ in range(50):
            client.post("/api/cases", json=INTAKE)
        latencies = []
        for _ in range(args.intakes):
            t = time.perf_counter()
            r = client.post("/api/cases", json=INTAKE)
            latencies.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 201, r.text
        rss = psutil.Process(proc.pid).memory_info().rss
        print(f"intake via HTTP ({args.intakes}, sequential, synchronous=FULL): "
              f"p50 {statistics.median(latencies):.2f} ms, p95 {pct(latencies, 95):.2f} ms, "
              f"p99 {pct(latencies, 99):.2f} ms, max {max(latencies):.2f} ms")
        print(f"serving process RSS: {rss / 2**20:.1f} MiB")
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait()

    if args.kills:
        in_flight = 0
        began = time.perf_counter()
        for i in range(args.kills):
            proc, client = start_server(data)
            lost = []
            thread = threading.Thread(target=lambda: _send(client, lost))
            thread.start()
            time.sleep((i % 5) / 1000)
            os.kill(proc.pid, signal.SIGKILL)
            thread.join()
            proc.wait()
            client.close()
            in_flight += bool(lost)
        node = open_data_dir(data)
        checked = time.perf_counter()
        problems = check_integrity(node)
        node.close()
        assert not problems, problems[:5]
        checked = time.perf_counter() - checked
        print(f"crash loop: {args.kills} SIGKILLs ({in_flight} in flight) in "
              f"{time.perf_counter() - began:.0f} s; full integrity check after them "
              f"({checked:.0f} s): OK")


def _send(client, lost) -> None:
    try:
        client.post("/api/cases", json=INTAKE)
    except httpx.HTTPError:
        lost.append(1)


if __name__ == "__main__":
    main()
