"""Edge node screens benchmark: `scripts/bench edge-ui [--cases N] [--data-dir D] [--requests R]`.

Prints figures (not a timed test), against a real `edge-node serve` process on a database
of N simulated cases (default 100,000; built with the simulator when --data-dir does not
hold a node yet, which takes about 5 minutes at ~350 cases/s; pass --data-dir to reuse it):

  * work queue (GET /, every filter, several roles) p50/p95/p99;
  * case detail (GET /cases/{no}, random cases) p50/p95/p99;
  * search (GET /search?q=, by number, number suffix, name, ID number) p50/p95/p99;
  * the serving process's RSS after the run.

Targets on the project's machines: queue and case detail p95 <= 30 ms, search p95 <=
100 ms, RSS <= 80 MB.
"""

from __future__ import annotations

import argparse
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edge_node.node import init_node, open_data_dir  # noqa: E402
from edge_node.demo.simulate import simulate  # noqa: E402

SIM_PASSWORD = "sim-window-2026"       # edge_node.demo.simulate's staff accounts
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(data: Path, cases: int) -> None:
    if (data / "node.json").exists():
        node = open_data_dir(data)
        have = node.store.case_count()
        node.close()
        print(f"reusing {data}: {have} cases")
        return
    node, _ = init_node(data, "BENCH01", "青岚镇便民服务中心", admin_password="bench-lantern-ridge-1")
    try:
        began = time.perf_counter()
        report = simulate(node, cases=cases, days=max(60, cases // 400))
        print(f"simulate: {report.cases} cases in {time.perf_counter() - began:.0f} s "
              f"({report.cases_per_second:.0f} cases/s)")
    finally:
        node.close()


def sign_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    token = CSRF_RE.search(client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": SIM_PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 303, response.text[:500]
    return client


def timed(client: httpx.Client, urls: list[str]) -> list[float]:
    out = []
    for url in urls:
        began = time.perf_counter()
        response = client.get(url)
        out.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return out


def figures(name: str, ms: list[float], target: float | None) -> None:
    ms = sorted(ms)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    verdict = "" if target is None else (" ok" if q[94] <= target else f" OVER {target:g} ms")
    print(f"{name:<12} n={len(ms):<5} p50 {q[49]:6.1f} ms  p95 {q[94]:6.1f} ms  "
          f"p99 {q[98]:6.1f} ms  max {ms[-1]:6.1f} ms{verdict}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--requests", type=int, default=300, help="requests per screen")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tmp = None
    data = args.data_dir
    if data is None:
        tmp = tempfile.TemporaryDirectory(prefix="edge-ui-bench-")
        data = Path(tmp.name) / "node"
    build(data, args.cases)

    node = open_data_dir(data)                       # sample look-ups (and migrate)
    numbers = node.store.case_numbers()
    sample = [node.store.case(n) for n in rng.sample(numbers, min(2000, len(numbers)))]
    node.close()
    names = [s["applicant"]["name"] for s in sample]
    ids = [s["applicant"]["id_no"] for s in sample]

    port = free_port()
    exe = Path(sys.executable).parent / "edge-node"
    proc = subprocess.Popen([str(exe), "serve", str(data), "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(500):
            try:
                if httpx.get(base + "/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.02)
        clients = {u: sign_in(base, u) for u in ("sim-clerk1", "sim-reviewer",
                                                 "sim-handler1", "sim-head")}
        n = args.requests
        filters = ["all", "near", "overdue", "newly", "supplement"]
        queue = []
        for i in range(n):
            client = list(clients.values())[i % len(clients)]
            page = rng.choice((1, 1, 1, 2, 3))
            queue += timed(client, [f"/?f={rng.choice(filters)}&page={page}"])
        detail = timed(clients["sim-clerk1"],
                       [f"/cases/{rng.choice(sample)['case']}" for _ in range(n)])
        queries = []
        for i in range(n):
            kind = i % 5
            if kind == 0:
                queries.append(rng.choice(sample)["case"])
            elif kind == 1:
                queries.append(rng.choice(sample)["case"][-6:])
            elif kind == 2:
                queries.append(rng.choice(names)[:rng.choice((1, 2))])
            elif kind == 3:
                queries.append(rng.choice(ids))
            else:
                queries.append(rng.choice(names))
        search = timed(clients["sim-reviewer"],
                       ["/search?q=" + httpx.URL("", params={"q": q}).query.decode()[2:]
                        for q in queries])
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        proc.terminate()
        proc.wait(10)
        if tmp is not None:
            tmp.cleanup()
    print(f"database: {len(numbers)} cases")
    figures("work queue", queue, 30)
    figures("case detail", detail, 30)
    figures("search", search, 100)
    print(f"server RSS after the run: {rss:.1f} MB" + (" ok" if rss <= 80 else " OVER 80 MB"))


if __name__ == "__main__":
    main()
