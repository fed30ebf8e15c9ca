"""The hub's public face at county scale: dashboards, portal look-up, exports, API feeds.

    scripts/bench hub-face [--cases 1000000] [--nodes 50] [--log-cases 20000] [--keep]

1. ``--log-cases`` delivered cases go through the real path: signed-shape events appended
   to the log (as hub-core does) and projected by ``run_all``, which now includes the
   dashboard facts; the projection rate is printed.
2. The remaining ``--cases`` are written as already-projected rows in bulk
   (``store.face.bulk_put_projected``: cases, lifecycle states with query codes, facts,
   10 % of them evaluated), spread over 2026-01-01 .. the hub's today, round-robin over
   ``--nodes`` nodes in 5 townships; then the daily aggregate is rebuilt.
3. Times, in process through the ASGI app (httpx2 TestClient, session of an administrator):
   dashboard pages (this month, the whole year, a township, a department, an item) p50/p95;
   portal status look-up (POST number + code) p50/p95; CSV and XLSX export of one month in a
   child process (peak RSS); API feed pages per second (cases, events, 500 per page).
   Rate limiters are lifted for the measurement (they would answer 429 long before).

Prints figures; it is not a timed test. Data: bench-data/hub-face (removed unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts" / "benchmarks"))

from hub_core import CaseTemplates, Loader, enrol_nodes  # noqa: E402

from central_hub.operations.bootstrap import init_hub  # noqa: E402
from central_hub.config import HubConfig  # noqa: E402
from central_hub.projection.registry import run_all  # noqa: E402
from central_hub.store.records import OrgUnit  # noqa: E402
from central_hub.store import face as sql, open_store  # noqa: E402
from central_hub.store.sqlite import SqliteHubStore  # noqa: E402

TOWNSHIPS = [f"510829{100 + i}" for i in range(5)]


def p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def ms(values) -> str:
    return f"p50 {1000 * p(values, 0.5):.1f} ms, p95 {1000 * p(values, 0.95):.1f} ms"


def synthesise(store, codes, n: int, first_position: int, today: date) -> None:
    items = [r for r in store.catalogue_items()]
    template_state = None
    row = store.conn.execute("SELECT state FROM hub_cases LIMIT 1").fetchone()
    if row:
        template_state = json.loads(row[0])
    days = (today - date(2026, 1, 1)).days + 1
    rng = random.Random(8)
    cols = SqliteHubStore.CASE_COLUMNS
    batch_cases, batch_states, batch_facts, batch_evals = [], [], [], []
    position = first_position
    for k in range(n):
        code = codes[k % len(codes)]
        item = items[rng.randrange(len(items))]       # every (day, node, item) occurs
        content = item.content or {}
        day = date(2026, 1, 1) + timedelta(days=rng.randrange(days))
        case_no = f"{code}-S{k:010d}"
        received = f"{day.isoformat()}T09:{k % 60:02d}:00.000+08:00"
        # most cases are done; those of the last six weeks are partly still open, and
        # 2 % of older ones are stuck open (overdue now)
        r = rng.random()
        recent = day >= today - timedelta(days=42)
        state = "refused" if r < 0.03 else (
            "accepted" if (recent and r < 0.5) or r < 0.05 else "delivered")
        accepted = state != "refused"
        completed = state == "delivered"
        work_days = rng.randint(1, 25) if completed else None
        due = (day + timedelta(days=28)).isoformat() if accepted else None
        done_day = (day + timedelta(days=(work_days or 0) * 7 // 5)) if completed else None
        on_time = int(completed and done_day.isoformat() <= due)
        fee = (content.get("fee") or {}).get("amount_fen", 0) if (content.get("fee") or {}).get("charged") else 0
        values = {c: None for c in cols}
        values.update({
            "case_no": case_no, "node": code, "item_code": item.code, "item_name": item.name,
            "item_type": content.get("type_code"), "state": state, "channel": "window",
            "applicant_masked": "张*丰", "catalogue_version": 1, "received_at": received,
            "accepted_at": received if accepted else None,
            "accepted_date": day.isoformat() if accepted else None,
            "decision": "approve" if completed else None,
            "completed_at": f"{done_day.isoformat()}T16:00:00.000+08:00" if completed else None,
            "delivered_at": f"{done_day.isoformat()}T17:00:00.000+08:00" if completed else None,
            "due_date": due, "due_confirmed": 1, "calendar_version": 1, "paused": 0,
            "extensions": 0, "fee_standard_fen": fee, "fee_status": "charged" if fee else "none",
            "fee_charged_fen": fee if accepted else 0, "fee_refunded_fen": 0, "events": 7,
            "last_seq": 7, "updated_at": received})
        batch_cases.append(tuple(values[c] for c in cols))
        st = dict(template_state or {})
        st.update({"case": case_no, "query_code": f"Q{k:07d}", "state": state})
        position += 1
        batch_states.append((case_no, code, json.dumps(st, ensure_ascii=False), position))
        batch_facts.append((case_no, code, day.isoformat(), item.code, int(accepted),
                            int(not accepted), int(completed), on_time, work_days,
                            fee if accepted else 0, position))
        if completed and k % 10 == 0:
            level = 1 + (k // 10) % 5
            batch_evals.append({"case_no": case_no, "stage": "complete", "channel": "pc",
                                "level": level, "text": "", "rated_at": received,
                                "day": done_day.isoformat(), "node": code,
                                "item_code": item.code, "rev": position, "real_name": 0,
                                "unit": TOWNSHIPS[0] if level >= 4 else None})
        if len(batch_cases) >= 20_000 or k == n - 1:
            sql.bulk_put_projected(store, batch_cases, cols, batch_states, batch_facts,
                                   batch_evals)
            batch_cases, batch_states, batch_facts, batch_evals = [], [], [], []
    sql.refresh_all_daily(store)


EXPORT_CHILD = r"""
import sys, time

def hwm():   # VmHWM: this process's peak RSS (ru_maxrss would include the parent's at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024

sys.path.insert(0, sys.argv[1])
from central_hub.api import views as api_views
from central_hub.app import create_app
from central_hub.config import HubConfig
from starlette.testclient import TestClient
app = create_app(HubConfig.load(sys.argv[2], background_jobs=False))
client = TestClient(app)
client.post("/login", data={"username": "admin", "password": sys.argv[3],
                            "csrf_token": __import__("re").search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)},
            follow_redirects=False)
before = hwm()
t0 = time.monotonic()
size = 0
with client.stream("GET", f"/dashboard/export.{sys.argv[4]}?from={sys.argv[5]}&to={sys.argv[6]}&metric=received") as r:
    assert r.status_code == 200, r.status_code
    for chunk in r.iter_bytes():
        size += len(chunk)
seconds = time.monotonic() - t0
after = hwm()
print(f"{seconds:.1f} {size} {before} {after}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--log-cases", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    data = ROOT / "bench-data" / "hub-face"
    shutil.rmtree(data, ignore_errors=True)
    data.parent.mkdir(exist_ok=True)
    admin_password = init_hub(data, "bench-hub").admin_password
    config = HubConfig.load(data, background_jobs=False)
    store = open_store(config.db_path, config.now_ts())
    codes = enrol_nodes(store, config, args.nodes)
    now = config.now_ts()
    for i, township in enumerate(TOWNSHIPS):
        if store.org_unit(township) is None:
            store.add_org_unit(OrgUnit(township, f"第{i + 1}乡镇", "township", "510829",
                                       township, None, now))
    for i, code in enumerate(codes):
        store.set_node_org_unit(code, TOWNSHIPS[i % len(TOWNSHIPS)])
        store.record_contact(code, now, 0, 0, None)
    print(f"hub-face benchmark: {args.cases:,} cases from {args.nodes} nodes "
          f"({args.log_cases:,} through the log and projector); CPU count {os.cpu_count()}")

    log_cases = min(args.log_cases, args.cases)
    loader = Loader(store, config, codes, CaseTemplates())
    events = loader.load(log_cases)
    t0 = time.monotonic()
    run_all(store, batch=2000)
    seconds = time.monotonic() - t0
    print(f"projection with dashboard facts: {events:,} events in {seconds:.1f} s "
          f"({events / seconds:,.0f} events/s)")
    today = config.now().date()
    t0 = time.monotonic()
    synthesise(store, codes, args.cases - log_cases, store.last_position() + 1, today)
    print(f"bulk projected rows: {args.cases - log_cases:,} cases in "
          f"{time.monotonic() - t0:.1f} s; face_daily rows "
          f"{store.conn.execute('SELECT COUNT(*) FROM face_daily').fetchone()[0]:,}")
    store.close()
    db_size = sum(f.stat().st_size for f in data.glob("hub.db*"))
    print(f"database size: {db_size / 1e6:,.0f} MB")

    # ---------------------------------------------------------------- in-process timings
    from starlette.testclient import TestClient

    from central_hub.api import tokens, views as api_views
    from central_hub.portal import views as portal_views
    from web.security import RateLimiter

    class Unlimited(RateLimiter):
        def __init__(self, *a, **k):
            super().__init__(1e9, 1e9)

    portal_views.RateLimiter = Unlimited            # lift the limits for the measurement
    api_views.RateLimiter = Unlimited
    from central_hub.app import create_app
    app = create_app(config)
    hub = app.state.hub
    client = TestClient(app)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"username": "admin", "password": admin_password,
                                       "csrf_token": token}).status_code == 200
    department = hub.store.catalogue_items()[0].department
    item = hub.store.catalogue_items()[3].code
    month = today.replace(day=1).isoformat()
    urls = {"this month (county)": "/dashboard",
            "whole year (county)": f"/dashboard?from=2026-01-01&to={today}",
            "this month, one township": f"/dashboard?unit={TOWNSHIPS[1]}",
            "this month, one department": f"/dashboard?unit={department}",
            "whole year, one item": f"/dashboard?from=2026-01-01&to={today}&item={item}",
            "drill-down page (completed, month)": f"/dashboard/cases?metric=completed&from={month}"}
    for label, url in urls.items():
        client.get(url)
        times = []
        for _ in range(args.samples):
            t0 = time.perf_counter()
            r = client.get(url)
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, (url, r.status_code)
        print(f"dashboard {label}: {ms(times)}")

    citizen = TestClient(app)
    form = citizen.get("/portal/status")
    ctoken = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    synthetic = max(0, args.cases - log_cases)
    times = []
    for i in range(args.samples * 5):
        k = (i * 7919) % max(1, synthetic)
        case_no = f"{codes[k % len(codes)]}-S{k:010d}"
        t0 = time.perf_counter()
        r = citizen.post("/portal/status", data={"csrf_token": ctoken, "case_no": case_no,
                                                 "query_code": f"Q{k:07d}"},
                         follow_redirects=False)
        times.append(time.perf_counter() - t0)
        assert r.status_code == 303, r.status_code
    print(f"portal status look-up (POST number + code): {ms(times)}")

    _, secret = tokens.issue_token(hub.store, name="bench", scopes=list(tokens.SCOPES),
                                   at=config.now_ts(), by="bench")
    headers = {"Authorization": f"Bearer {secret}"}
    for feed in ("cases", "events", "evaluations"):
        cursor, pages, rows = "0", 0, 0
        t0 = time.perf_counter()
        while pages < 200:
            body = client.get(f"/api/v1/{feed}?cursor={cursor}&limit=500", headers=headers).json()
            pages += 1
            rows += len(body["items"])
            cursor = body["next_cursor"]
            if not body["has_more"]:
                break
        seconds = time.perf_counter() - t0
        print(f"API feed /api/v1/{feed}: {pages / seconds:,.1f} pages/s of 500 "
              f"({rows / seconds:,.0f} rows/s over {pages} pages)")
    client.close()
    citizen.close()
    hub.close()

    last_month_end = today.replace(day=1) - timedelta(days=1)
    last_month = last_month_end.replace(day=1)
    for fmt in ("csv", "xlsx"):
        out = subprocess.run([sys.executable, "-c", EXPORT_CHILD, str(ROOT), str(data),
                              admin_password, fmt, last_month.isoformat(),
                              last_month_end.isoformat()], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"export {fmt} failed: {out.stderr[-2000:]}")
            continue
        seconds, size, before, after = out.stdout.split()[-4:]
        print(f"export {fmt.upper()} of {last_month:%Y-%m} (county): {seconds} s, "
              f"{int(size) / 1e6:.1f} MB; peak RSS {after} MB (before the export {before} MB)")
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
