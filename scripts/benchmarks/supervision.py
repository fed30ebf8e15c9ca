"""Supervision benchmark: `scripts/bench supervision [--open N] [--nodes K] [--real R]
[--due-share P]`.

Prints figures (not a timed test):

  * the periodic tick over N open cases (default 1,000,000) whose per-case rows are
    generated in SQL (no events are simulated): a steady-state tick (no case's date has
    come) and a day-boundary tick where a share P of them is due;
  * with R real cases (signed events of simulated nodes, stored through the hub's append
    path): the supervision projector's cost per ingested event (evaluate_case over the
    case's stored events, alert upserts, next_check) and the tick's cost per due case
    (events re-read, evaluate_time, next_change_date).

The tick is incremental: it selects, per node, only rows whose ``next_check`` has come and
is not after the node's last sync (index ``(node, next_check)``), so its cost follows the
cases whose date has come, not the number of open cases.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from central_hub.operations.bootstrap import init_hub  # noqa: E402
from central_hub.config import HubConfig  # noqa: E402
from central_hub.projection.base import run_projector  # noqa: E402
from central_hub.store.records import NewEvent  # noqa: E402
from central_hub.sync.simulated_node import SimulatedNode, _sample_item, append_case  # noqa: E402
from central_hub.store import open_store  # noqa: E402
from central_hub.supervision.service import supervision_projector, tick  # noqa: E402
from protocol.calendar import SHANGHAI  # noqa: E402
from protocol.envelope import GENESIS, format_ts  # noqa: E402


def _enrol(store, code: str, now: str) -> None:
    with store.transaction():
        store.conn.execute("INSERT INTO enrol_tokens (token_hash, node, name, created_at, "
                           "expires_at) VALUES (?, ?, ?, ?, ?)",
                           (f"bench-{code}", code, code, now, now))
    store.enrol_node(f"bench-{code}", code, f"{code} 便民服务中心", "00" * 32, GENESIS, now)
    with store.transaction():
        store.conn.execute("UPDATE nodes SET last_seen = ?, caught_up_at = ? WHERE code = ?",
                           (now, now, code))


def _synthetic_rows(store, n: int, nodes: int, today: str, due_share: float) -> float:
    """N open-case rows, next_check spread over the next 60 days (none due yet)."""
    started = time.perf_counter()
    with store.transaction():
        store.conn.execute(
            "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?) "
            "INSERT INTO supervision_cases (case_no, node, item_code, ruleset_version, "
            "is_open, summary, next_check, evaluated_at, judged_as_of) "
            "SELECT printf('SYN-%07d', i), printf('XZ-%03d', i % ?), 'MZ-QR-0001', 0, 1, "
            "'{\"state\":\"accepted\"}', date(?, printf('+%d days', 1 + (i % 60))), ?, ? "
            "FROM seq", (n - 1, nodes, today, today, today))
    return time.perf_counter() - started


def _make_due(store, share: float, today: str) -> int:
    step = max(1, round(1 / share)) if share > 0 else 0
    if not step:
        return 0
    with store.transaction():
        cur = store.conn.execute(
            "UPDATE supervision_cases SET next_check = ? WHERE case_no LIKE 'SYN-%' "
            "AND CAST(substr(case_no, 5) AS INTEGER) % ? = 0", (today, step))
    return cur.rowcount


def _real_cases(store, count: int, now: datetime) -> tuple[int, list[str]]:
    """R real cases on a few simulated nodes, stored through the hub's append path."""
    events = 0
    cases = []
    for n in range(max(1, count // 500)):
        node = SimulatedNode(f"RL-{n:03d}", start=now - timedelta(days=20))
        _enrol(store, node.code, format_ts(now))
        for k in range(min(500, count - n * 500)):
            until = ("accepted", "decided", "completed", "delivered")[k % 4]
            append_case(node, f"{node.code}-{k:05d}", _sample_item(None, k), until=until,
                        gap=timedelta(hours=5))
            cases.append(f"{node.code}-{k:05d}")
        rows = [NewEvent(seq=e.seq, type=e.env["type"], case_no=e.env.get("case"),
                         ts=e.env["ts"], canonical=e.canonical, signature=e.signature,
                         link=e.link_hex) for e in node.events]
        for i in range(0, len(rows), 1000):
            store.append_events(node.code, rows[i:i + 1000], format_ts(now), [])
        with store.transaction():
            store.conn.execute("UPDATE nodes SET caught_up_at = ?, last_seen = ? "
                               "WHERE code = ?", (format_ts(now), format_ts(now), node.code))
        events += len(rows)
    return events, cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=1_000_000, help="open cases (rows)")
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--real", type=int, default=2000, help="real cases with events")
    parser.add_argument("--due-share", type=float, default=0.01,
                        help="share of the open cases due at the day-boundary tick")
    parser.add_argument("--dir", help="keep the hub here (default: a temporary directory)")
    args = parser.parse_args()

    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-sup-"))
    try:
        now = datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI)
        init_hub(base / "hub", "bench-hub")
        config = HubConfig.load(base / "hub", background_jobs=False, clock=lambda: now)
        store = open_store(config.db_path, format_ts(now))
        today = now.date().isoformat()
        for k in range(args.nodes):
            _enrol(store, f"XZ-{k:03d}", format_ts(now))

        # -- cost per ingested event (real events, the supervision projector)
        events, cases = _real_cases(store, args.real, now)
        projector = supervision_projector(lambda: now)
        started = time.perf_counter()
        run_projector(store, projector.name, projector.handlers, batch=1000)
        spent = time.perf_counter() - started
        print(f"projector: {events} events of {len(cases)} cases evaluated in {spent:.2f} s "
              f"= {1e6 * spent / max(events, 1):.0f} µs per ingested event "
              f"({1e3 * spent / max(len(cases), 1):.2f} ms per case batch)")

        # -- tick cost per due real case
        with store.transaction():
            store.conn.execute("UPDATE supervision_cases SET next_check = ? "
                               "WHERE case_no NOT LIKE 'SYN-%' AND is_open = 1", (today,))
        due_real = store.conn.execute(
            "SELECT COUNT(*) FROM supervision_cases WHERE next_check = ?", (today,)).fetchone()[0]
        report = tick(store, now)
        print(f"tick over {due_real} due real cases: {report.seconds:.3f} s = "
              f"{1e3 * report.seconds / max(report.examined, 1):.2f} ms per due case "
              f"(examined {report.examined}, raised {report.raised}, "
              f"superseded {report.superseded})")

        # -- 1,000,000 open cases generated in SQL
        spent = _synthetic_rows(store, args.open, args.nodes, today, args.due_share)
        print(f"generated {args.open:,} open-case rows over {args.nodes} nodes in {spent:.1f} s")
        for attempt in (1, 2, 3):
            report = tick(store, now)
            print(f"steady-state tick #{attempt} over {args.open:,} open cases: "
                  f"{report.seconds * 1e3:.0f} ms (examined {report.examined})")
        due = _make_due(store, args.due_share, today)
        report = tick(store, now)
        print(f"day-boundary tick, {due:,} synthetic cases due ({args.due_share:.1%}): "
              f"{report.seconds:.2f} s (examined {report.examined}; synthetic rows have no "
              f"events, so this is selection + update cost)")
        print("estimate: a day-boundary tick costs the steady-state time plus the due cases "
              "times the per-due-case figure above")
        store.close()
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
