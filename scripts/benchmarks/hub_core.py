"""Hub core at scale: rebuild time, projector lag behind sustained ingest, backup under load.

    scripts/bench hub-core [--cases 1000000] [--nodes 50] [--extra 20000] [--keep DIR]

1. Loads ``--cases`` delivered cases (about 7-9 events each, along the sample catalogue's
   flows) from ``--nodes`` simulated nodes straight into the store's event log
   (``append_events``: the storage half of the ack path; the bytes are canonical events
   built from per-item templates, with placeholder signatures, since neither the
   projector nor a rebuild reads signatures).
2. Projects them (``run_all``) and then times ``central-hub rebuild`` (``rebuild_all``).
3. Ingests ``--extra`` more cases from a writer thread as fast as it can while a projector
   thread runs as the serve process does (0.2 s budget per run, every 2 s is the default;
   here continuously), sampling the lag (events appended but not yet projected).
4. Takes ``central-hub backup`` while the writer keeps appending.

Prints figures; it is not a timed test. Data goes to bench-data/hub-core (removed unless
``--keep``).
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

from central_hub.backup import backup_hub  # noqa: E402
from central_hub.bootstrap import init_hub  # noqa: E402
from central_hub.config import HubConfig  # noqa: E402
from central_hub.enrolment import issue_token, normalise_token, token_hash  # noqa: E402
from central_hub.projector import rebuild_all, run_all  # noqa: E402
from central_hub.records import NewEvent  # noqa: E402
from central_hub.simulated_node import SimulatedNode, _sample_item, append_case  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--extra", type=int, default=20_000,
                        help="cases ingested during the lag and backup measurements")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    data = ROOT / "bench-data" / "hub-core"
    shutil.rmtree(data, ignore_errors=True)
    data.parent.mkdir(exist_ok=True)
    init_hub(data, "bench-hub")
    config = HubConfig.load(data, background_jobs=False)
    store = open_store(config.db_path, config.now_ts())
    codes = enrol_nodes(store, config, args.nodes)
    templates = CaseTemplates()
    loader = Loader(store, config, codes, templates)

    print(f"hub-core benchmark: {args.cases:,} cases from {args.nodes} nodes "
          f"(+{args.extra:,} during the load phases); CPU count {os.cpu_count()}")
    started = time.monotonic()
    events = loader.load(args.cases)
    seconds = time.monotonic() - started
    print(f"load (append_events): {events:,} events in {seconds:.1f} s "
          f"({events / seconds:,.0f} events/s)")

    started = time.monotonic()
    run_all(store, batch=2000)
    seconds = time.monotonic() - started
    print(f"first projection: {seconds:.1f} s ({events / seconds:,.0f} events/s)")

    started = time.monotonic()
    rebuild_all(store, batch=2000)
    rebuild_seconds = time.monotonic() - started
    print(f"central-hub rebuild: {rebuild_seconds:.1f} s ({events / rebuild_seconds:,.0f} "
          f"events/s); {store.case_count():,} cases projected")
    db_size = sum(f.stat().st_size for f in data.glob("hub.db*"))
    print(f"database size: {db_size / 1e6:,.0f} MB")
    store.close()

    # -- sustained ingest with the projector running behind it
    stop = threading.Event()
    ingested = {"events": 0, "seconds": 0.0}

    def writer(n_cases: int) -> None:
        wstore = open_store(config.db_path, config.now_ts())
        loader.store = wstore
        t0 = time.monotonic()
        try:
            for _ in range(max(1, n_cases // 500)):
                ingested["events"] += loader.load(min(500, n_cases), chunk=10)
                if stop.is_set():
                    break
        finally:
            ingested["seconds"] = time.monotonic() - t0
            wstore.close()

    lags: list[int] = []

    def projector() -> None:
        pstore = open_store(config.db_path, config.now_ts())
        try:
            while not stop.is_set():
                run_all(pstore, time_budget=0.2)
                lags.append(pstore.last_position() - pstore.cursor("content"))
                time.sleep(0.05)
            run_all(pstore)
        finally:
            pstore.close()

    w = threading.Thread(target=writer, args=(args.extra,))
    p = threading.Thread(target=projector)
    w.start()
    p.start()
    w.join()
    stop.set()
    p.join()
    rate = ingested["events"] / max(ingested["seconds"], 1e-9)
    print(f"sustained ingest: {ingested['events']:,} events in {ingested['seconds']:.1f} s "
          f"({rate:,.0f} events/s) with the projector running")
    if lags:
        print(f"projector lag: median {statistics.median(lags):,.0f} events, max {max(lags):,} "
              f"events (about {max(lags) / max(rate, 1):.1f} s of ingest)")

    # -- backup while the writer keeps appending
    stop.clear()
    w = threading.Thread(target=writer, args=(args.extra,))
    w.start()
    info = backup_hub(config, data.parent / "hub-core-backup.tar")
    stop.set()
    w.join()
    print(f"central-hub backup under load: {info['seconds']:.1f} s, "
          f"{info['bytes'] / 1e6:,.0f} MB, {info['events']:,} events in the snapshot "
          f"(writer appended {ingested['events']:,} events meanwhile)")
    (data.parent / "hub-core-backup.tar").unlink(missing_ok=True)
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
