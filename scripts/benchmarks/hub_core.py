"""Hub core at scale: rebuild time, projector lag behind sustained ingest, backup under load.

    scripts/bench hub-core [--cases 1000000] [--nodes 50] [--rates 500,1000,2000,max]
                           [--phase-seconds 30] [--keep] [--reuse]

1. Loads ``--cases`` delivered cases (about 7-9 events each, along the sample catalogue's
   flows) from ``--nodes`` simulated nodes straight into the store's event log
   (``append_events``: the storage half of the ack path; the bytes are canonical events
   built from per-item templates, with placeholder signatures, since neither the
   projector nor a rebuild reads signatures).
2. Times ``central-hub rebuild`` (``rebuild_all``: every projection dropped and the whole
   log replayed), which is also the first projection of the loaded log.
3. Projector lag: for each of ``--rates`` (events per second, ``max`` = as fast as the
   writer thread can append), a writer thread ingests at that pace for
   ``--phase-seconds`` while a projector thread runs exactly as the serve process runs it
   (every ``projector_interval_seconds``, ``job_time_budget_seconds`` per projector and
   run). Lag is sampled after each run: events appended but not yet projected by the
   slowest projector, and the age of the oldest of them.
4. Takes ``central-hub backup`` while the writer keeps appending.

Prints figures; it is not a timed test. Data goes to bench-data/hub-core (removed unless
``--keep``); ``--reuse`` takes a kept one as it is (no load, no rebuild) and runs only
steps 3 and 4.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from central_hub.operations.backup import backup_hub  # noqa: E402
from central_hub.operations.bootstrap import init_hub  # noqa: E402
from central_hub.config import HubConfig  # noqa: E402
from central_hub.sync.enrolment import issue_token, normalise_token, token_hash  # noqa: E402
from central_hub.projection.registry import rebuild_all, run_all, standard_projectors  # noqa: E402
from central_hub.store.records import NewEvent  # noqa: E402
from central_hub.sync.simulated_node import SimulatedNode, _sample_item, append_case  # noqa: E402
from central_hub.store import open_store  # noqa: E402
from protocol.calendar import SHANGHAI  # noqa: E402
from protocol.canonical import canonical_bytes  # noqa: E402
from protocol.envelope import GENESIS, format_ts  # noqa: E402

CASE_WIDTH = 18            # node code (6) + "-" + 11 digits
SIGNATURE = bytes(64)
LINK = "1" * 64


class CaseTemplates:
    """Per sample item, the events of one delivered case as (type, body bytes, hours)."""

    def __init__(self) -> None:
        self.templates = []
        for index in range(38):
            node = SimulatedNode("TMPL01", start=datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI))
            events = append_case(node, "C" * CASE_WIDTH, _sample_item(None, index))
            start = events[0].env["ts"]
            steps = []
            for event in events:
                env = event.env
                offset = (datetime.fromisoformat(env["ts"])
                          - datetime.fromisoformat(start)).total_seconds()
                steps.append((env["type"], canonical_bytes(env["body"]), offset))
            self.templates.append(steps)

    def events(self, node: str, seq: int, case_no: str, index: int,
               received: datetime) -> list[NewEvent]:
        out = []
        for type_, body, offset in self.templates[index % len(self.templates)]:
            seq += 1
            ts = format_ts(received + timedelta(seconds=offset))
            canonical = b"".join((b'{"alg":"ed25519-sha256","body":', body, b',"case":"',
                                  case_no.encode(), b'","node":"', node.encode(),
                                  b'","prev":"', GENESIS.encode() if seq == 1 else LINK.encode(),
                                  b'","seq":', str(seq).encode(), b',"ts":"', ts.encode(),
                                  b'","type":"', type_.encode(), b'"}'))
            out.append(NewEvent(seq, type_, case_no, ts, canonical, SIGNATURE, LINK))
        return out


def enrol_nodes(store, config, n: int) -> list[str]:
    codes = [f"XZ{i:04d}" for i in range(n)]
    for code in codes:
        token, _ = issue_token(store, config, code, f"{code} 便民服务中心")
        store.enrol_node(token_hash(normalise_token(token)), code, f"{code} 便民服务中心",
                         "11" * 32, GENESIS, config.now_ts())
    return codes


class Loader:
    def __init__(self, store, config, codes: list[str], templates: CaseTemplates) -> None:
        self.store, self.config, self.codes, self.templates = store, config, codes, templates
        self.seq = {code: 0 for code in codes}
        self.cases = {code: 0 for code in codes}
        self.start = datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI)

    def load(self, n_cases: int, chunk: int = 100) -> int:
        """Append n cases round-robin over the nodes, ``chunk`` cases per transaction."""
        events = 0
        per_node = max(1, chunk // 1)
        done = 0
        while done < n_cases:
            for code in self.codes:
                rows = []
                for _ in range(min(per_node, n_cases - done)):
                    k = self.cases[code]
                    case_no = f"{code}-{k:011d}"[:CASE_WIDTH].ljust(CASE_WIDTH, "0")
                    received = self.start + timedelta(hours=(k * 7) % (300 * 24))
                    batch = self.templates.events(code, self.seq[code], case_no,
                                                  k + hash(code) % 38, received)
                    self.seq[code] += len(batch)
                    self.cases[code] += 1
                    rows.extend(batch)
                    done += 1
                if rows:
                    self.store.append_events(code, rows, self.config.now_ts())
                    events += len(rows)
                if done >= n_cases:
                    break
        return events


def lag_phase(config: HubConfig, loader: Loader, rate: float | None, seconds: float) -> None:
    """Ingest at ``rate`` events/s (None: flat out) for ``seconds`` while the projector
    runs as the serve process runs it; print the lag it kept."""
    stop = threading.Event()
    marks: list[tuple[int, float]] = []      # (last position appended, when)
    appended = {"events": 0, "seconds": 0.0}

    def writer() -> None:
        wstore = open_store(config.db_path, config.now_ts())
        loader.store = wstore
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < seconds:
                appended["events"] += loader.load(10, chunk=1)
                marks.append((wstore.last_position(), time.monotonic()))
                if rate is not None:
                    ahead = t0 + appended["events"] / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
        finally:
            appended["seconds"] = time.monotonic() - t0
            wstore.close()

    lag_events: list[int] = []
    lag_seconds: list[float] = []
    projected_in_runs: list[int] = []

    def projector() -> None:
        pstore = open_store(config.db_path, config.now_ts())
        names = [p.name for p in standard_projectors()]
        try:
            while not stop.is_set():
                started = time.monotonic()
                projected_in_runs.append(
                    run_all(pstore, time_budget=config.job_time_budget_seconds))
                behind = min(pstore.cursor(name) for name in names)
                lag_events.append(max(0, pstore.last_position() - behind))
                oldest = next((t for position, t in list(marks) if position > behind), None)
                lag_seconds.append(0.0 if oldest is None else time.monotonic() - oldest)
                stop.wait(max(0.0, config.projector_interval_seconds
                              - (time.monotonic() - started)))
        finally:
            pstore.close()

    w = threading.Thread(target=writer)
    p = threading.Thread(target=projector)
    w.start()
    p.start()
    w.join()
    stop.set()
    p.join()
    achieved = appended["events"] / max(appended["seconds"], 1e-9)
    label = "flat out" if rate is None else f"{rate:,.0f} events/s asked"
    store = open_store(config.db_path, config.now_ts())
    try:
        names = [p.name for p in standard_projectors()]
        left = store.last_position() - min(store.cursor(name) for name in names)
        started = time.monotonic()
        run_all(store)            # drain what the phase left behind, for the next one
        drain = time.monotonic() - started
    finally:
        store.close()
    print(f"projector lag, ingest {label}: {achieved:,.0f} events/s for "
          f"{appended['seconds']:.0f} s; lag median {statistics.median(lag_events or [0]):,.0f} "
          f"events / {statistics.median(lag_seconds or [0]):.1f} s, max {max(lag_events or [0]):,} "
          f"events / {max(lag_seconds or [0]):.1f} s; {left:,} events behind when ingest "
          f"stopped, drained in {drain:.1f} s")


def load_and_rebuild(store, loader: Loader, n_cases: int, data: Path) -> None:
    started = time.monotonic()
    events = loader.load(n_cases)
    seconds = time.monotonic() - started
    print(f"load (append_events): {events:,} events in {seconds:.1f} s "
          f"({events / seconds:,.0f} events/s)", flush=True)
    started = time.monotonic()
    rebuild_all(store, batch=2000)
    rebuild_seconds = time.monotonic() - started
    print(f"central-hub rebuild: {rebuild_seconds:.1f} s ({events / rebuild_seconds:,.0f} "
          f"events/s); {store.case_count():,} cases projected")
    db_size = sum(f.stat().st_size for f in data.glob("hub.db*"))
    print(f"database size: {db_size / 1e6:,.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--rates", default="500,1000,2000,max",
                        help="ingest rates (events/s, or max) of the projector-lag phases")
    parser.add_argument("--phase-seconds", type=float, default=30.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true",
                        help="use the kept bench-data/hub-core: lag and backup phases only")
    args = parser.parse_args()

    data = ROOT / "bench-data" / "hub-core"
    reuse = args.reuse and (data / "hub.db").exists()
    if not reuse:
        shutil.rmtree(data, ignore_errors=True)
        data.parent.mkdir(exist_ok=True)
        init_hub(data, "bench-hub")
    config = HubConfig.load(data, background_jobs=False)
    store = open_store(config.db_path, config.now_ts())
    templates = CaseTemplates()
    if reuse:
        codes = sorted(n.code for n in store.nodes())
        loader = Loader(store, config, codes, templates)
        for node in store.nodes():      # carry on each node's chain; new case numbers
            loader.seq[node.code] = node.acked_seq
            loader.cases[node.code] = 10**9
        print(f"hub-core benchmark on the kept data: {store.last_position():,} events, "
              f"{store.case_count():,} cases, {len(codes)} nodes; CPU count {os.cpu_count()}")
    else:
        codes = enrol_nodes(store, config, args.nodes)
        loader = Loader(store, config, codes, templates)
        print(f"hub-core benchmark: {args.cases:,} cases from {args.nodes} nodes; "
              f"CPU count {os.cpu_count()}")
        load_and_rebuild(store, loader, args.cases, data)
    store.close()

    for rate in args.rates.split(","):
        lag_phase(config, loader, None if rate == "max" else float(rate), args.phase_seconds)

    # -- backup while the writer keeps appending
    stop = threading.Event()
    appended = {"events": 0}

    def writer() -> None:
        wstore = open_store(config.db_path, config.now_ts())
        loader.store = wstore
        try:
            while not stop.is_set():
                appended["events"] += loader.load(10, chunk=1)
        finally:
            wstore.close()

    w = threading.Thread(target=writer)
    w.start()
    info = backup_hub(config, data.parent / "hub-core-backup.tar")
    stop.set()
    w.join()
    print(f"central-hub backup under load: {info['seconds']:.1f} s, "
          f"{info['bytes'] / 1e6:,.0f} MB, {info['events']:,} events in the snapshot "
          f"(writer appended {appended['events']:,} events meanwhile)")
    (data.parent / "hub-core-backup.tar").unlink(missing_ok=True)
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
