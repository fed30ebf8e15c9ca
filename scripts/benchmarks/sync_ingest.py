"""Hub ingest over real HTTP: events/s through the ack path vs the naive path.

    scripts/bench sync-ingest [--nodes 8] [--events 12500] [--batch 1000] [--core 0]

Starts a real uvicorn hub on loopback pinned to one CPU core (background jobs off, so
the figure is the ack path alone), enrols simulated nodes, pre-signs and pre-encodes
their events (a node does that work when it writes, not when it syncs), then pushes the
batches concurrently (one connection per node) and prints events/s and batch latency.
It does this three times: with the ack path (chain continuity and one signature per run),
with the naive path that verifies every signature before acknowledging, and with the ack
path while the background jobs run as in production (projectors, verifier and
supervision tick in their own thread, same core): there it also probes a page
(``GET /login``) every 50 ms during the pushes and prints its latency.
Data goes to bench-data/ (git-ignored) and is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from central_hub.sync.simulated_node import BATCH_CONTENT_TYPE, SimulatedNode  # noqa: E402
from protocol.ack import verify_ack  # noqa: E402
from protocol.batch import encode_batch  # noqa: E402
from protocol.keys import PrivateKey, PublicKey  # noqa: E402


def serve(data_dir: str, port: int, naive: bool, core: int, jobs: bool = False) -> None:
    """The server process: one core, one event loop, the hub app."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    import uvicorn

    from central_hub.app import create_app
    from central_hub.config import HubConfig
    config = HubConfig.load(data_dir, background_jobs=jobs,
                            ack_verifies_every_signature=naive)
    uvicorn.run(create_app(config), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def case_body(seq: int) -> dict:
    """A body of the size of a real case.received event (about 1 KB)."""
    return {"actor": {"id": "u-clerk-01", "role": "clerk"}, "channel": "window",
            "item": {"code": "ITEM-0101", "name": "城乡居民最低生活保障待遇申请", "type_code": "05"},
            "catalogue_version": 3,
            "applicant": {"kind": "person", "name": "张三", "id_type": "resident_id",
                          "id_no": f"51010419900101{seq % 10000:04d}", "phone": "13800000000"},
            "materials": [{"id": f"m{i}", "name": f"申请材料第{i}项（复印件一份）",
                           "required": True, "present": True} for i in range(5)],
            "fee_standard_fen": 0, "committed_half_days": 20, "statutory_half_days": 40,
            "flow": [{"id": "s1", "name": "受理", "role": "clerk"},
                     {"id": "s2", "name": "审核", "role": "reviewer"},
                     {"id": "s3", "name": "审批", "role": "approver"}],
            "separate_accept_approve": True, "query_code": f"Q{seq:08d}"[:12]}


def prepare(nodes: int, events: int, batch: int) -> list[tuple[SimulatedNode, list[bytes]]]:
    prepared = []
    for n in range(nodes):
        node = SimulatedNode(f"BENCH-{n:03d}", key=PrivateKey.from_seed(bytes([n + 1]) * 32))
        for seq in range(1, events + 1):
            node.append(type="case.received", case=f"C{n:03d}-{seq:06d}", body=case_body(seq))
        batches = [encode_batch(node.events[i:i + batch]) for i in range(0, events, batch)]
        prepared.append((node, batches))
    return prepared


def start_hub(data_dir: Path, naive: bool, core: int,
              jobs: bool = False) -> tuple[subprocess.Popen, str, PublicKey]:
    from central_hub.operations.bootstrap import init_hub
    result = init_hub(data_dir, "bench-hub", publish_samples=False)
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(data_dir), "--port",
                             str(port), "--core", str(core)] + (["--naive"] if naive else [])
                            + (["--jobs"] if jobs else []))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/sync/v1/keys", timeout=1)
            return proc, url, result.identity.signing_key.public
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("hub did not start")


def enrol_all(data_dir: Path, url: str, prepared) -> None:
    from central_hub.config import HubConfig
    from central_hub.sync.enrolment import issue_token
    from central_hub.store import open_store
    config = HubConfig.load(data_dir)
    store = open_store(config.db_path, config.now_ts())
    try:
        for node, _ in prepared:
            token, _ = issue_token(store, config, node.code, node.code)
            response = httpx.post(url + "/sync/v1/enroll", json=node.enrol_body(token))
            response.raise_for_status()
    finally:
        store.close()


async def push_node(client: httpx.AsyncClient, node: SimulatedNode, batches: list[bytes],
                    hub_key: PublicKey, latencies: list[float]) -> int:
    acked = 0
    for body in batches:
        started = time.perf_counter()
        response = await client.post("/sync/v1/push", content=body,
                                     headers=node.push_request(body))
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"push refused: {response.status_code} {response.text[:300]}")
        acked = verify_ack(response.json(), hub_key, node.code).acked_seq
    return acked


async def probe(url: str, done: asyncio.Event, latencies: list[float]) -> None:
    """A member of staff opening a page every 50 ms while the nodes push."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while not done.is_set():
            started = time.perf_counter()
            response = await client.get("/login")
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"page refused: {response.status_code}")
            await asyncio.sleep(0.05)


async def push_all(url: str, prepared, hub_key: PublicKey,
                   page_latencies: list[float] | None = None) -> tuple[float, list[float]]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=len(prepared))
    done = asyncio.Event()
    prober = None if page_latencies is None else \
        asyncio.create_task(probe(url, done, page_latencies))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        started = time.perf_counter()
        acked = await asyncio.gather(*(push_node(client, node, batches, hub_key, latencies)
                                       for node, batches in prepared))
        elapsed = time.perf_counter() - started
    done.set()
    if prober is not None:
        await prober
    assert all(a == len(node.events) for a, (node, _) in zip(acked, prepared))
    return elapsed, latencies


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(0, int(len(values) * q) - 1)] * 1000 if values else float("nan")


def run_mode(base: Path, prepared, naive: bool, core: int, jobs: bool = False) -> dict:
    data_dir = base / ("naive" if naive else "ack-path-jobs" if jobs else "ack-path")
    shutil.rmtree(data_dir, ignore_errors=True)
    proc, url, hub_key = start_hub(data_dir, naive, core, jobs)
    pages: list[float] | None = [] if jobs else None
    try:
        enrol_all(data_dir, url, prepared)
        elapsed, latencies = asyncio.run(push_all(url, prepared, hub_key, pages))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    total = sum(len(node.events) for node, _ in prepared)
    return {"events": total, "seconds": elapsed, "rate": total / elapsed,
            "p50": _p(latencies, 0.5), "p99": _p(latencies, 0.99),
            "page_p50": _p(pages or [], 0.5), "page_p99": _p(pages or [], 0.99),
            "pages": len(pages or [])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--events", type=int, default=12_500, help="events per node")
    parser.add_argument("--batch", type=int, default=1000, help="events per batch")
    parser.add_argument("--core", type=int, default=0, help="CPU core of the hub process")
    parser.add_argument("--serve")
    parser.add_argument("--port", type=int)
    parser.add_argument("--naive", action="store_true")
    parser.add_argument("--jobs", action="store_true")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.naive, args.core, args.jobs)
        return
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)) - {args.core})
    base = ROOT / "bench-data" / "sync-ingest"
    base.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    prepared = prepare(args.nodes, args.events, args.batch)
    size = sum(len(b) for _, batches in prepared for b in batches)
    total = args.nodes * args.events
    print(f"prepared {total} signed events from {args.nodes} nodes in "
          f"{time.perf_counter() - started:.1f} s ({size / total:.0f} compressed bytes/event, "
          f"batches of {args.batch})")
    print(f"hub: uvicorn on 127.0.0.1, pinned to core {args.core}; synchronous=FULL; "
          f"clients in this process on the other core(s) ({os.cpu_count()} in all)")
    results = {"ack path (one signature per run)": run_mode(base, prepared, False, args.core),
               "naive (every signature before ack)": run_mode(base, prepared, True, args.core),
               "ack path, background jobs running": run_mode(base, prepared, False, args.core,
                                                             jobs=True)}
    print(f"\n{'path':<38}{'events/s':>10}{'seconds':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, r in results.items():
        print(f"{name:<38}{r['rate']:>10.0f}{r['seconds']:>9.2f}{r['p50']:>9.1f}{r['p99']:>9.1f}")
    ack, naive, busy = results.values()
    print(f"\na page (GET /login) during the pushes with the jobs running: p50 "
          f"{busy['page_p50']:.1f} ms, p99 {busy['page_p99']:.1f} ms ({busy['pages']} requests)")
    print(f"\nack path / naive = {ack['rate'] / naive['rate']:.1f}x; target >= 20000 events/s: "
          f"{'met' if ack['rate'] >= 20000 else 'NOT met'}")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
