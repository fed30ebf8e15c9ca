"""What `edge-node status` reports: cases by state, the log, the chain and its health."""

from __future__ import annotations

from protocol import lifecycle
from protocol.chain import KEY_ROTATED, ChainHead, authenticate_run, verify_chain
from protocol.errors import ProtocolError
from protocol.keys import PublicKey

from . import sync_status

from .deadlines import today

VERIFY_BATCH = 5000


def verify_log(node, *, full: bool = False) -> tuple[bool, str | None, int]:
    """Verify the whole log against the node's key: ``(ok, error, events checked)``.

    Default: every link and seq, and the signature at the end of each batch of
    ``VERIFY_BATCH`` (the links commit to every earlier signature). ``full``: every
    signature (an audit; about 50 µs per event).
    """
    key = _initial_key(node)
    head = ChainHead.genesis()
    batch = []
    count = 0
    check = verify_chain if full else authenticate_run
    from .restore import epoch_boundaries   # restore epochs: a new key from a seq on
    boundaries = epoch_boundaries(node)
    try:
        for event in node.store.iter_events(strict=full):
            if event.seq in boundaries:
                if batch:
                    head = check(batch, key, after=head)
                    count += len(batch)
                    batch = []
                key = boundaries[event.seq]
            batch.append(event)
            if len(batch) >= VERIFY_BATCH:
                head = check(batch, key, after=head)
                key = _key_after(batch, key)
                count += len(batch)
                batch = []
        if batch:
            head = check(batch, key, after=head)
            count += len(batch)
    except ProtocolError as exc:
        where = f" (seq {exc.seq})" if exc.seq is not None else ""
        return False, f"{exc.code}: {exc}{where}", count
    stored = node.store.chain_head()
    if (head.seq, head.link) != (stored.seq, stored.link):
        return False, "the verified head differs from the stored head", count
    return True, None, count


def _initial_key(node) -> PublicKey:
    """The key the log starts with: the one ``node.initialised`` names (the node key
    changes only by ``node.key_rotated`` events, which the chain check follows)."""
    for event in node.store.iter_events(batch=1):
        key = event.body.get("public_key") if isinstance(event.body, dict) else None
        if event.type == "node.initialised" and isinstance(key, str):
            return PublicKey.from_hex(key)
        break
    return node.key.public


def _key_after(batch, key: PublicKey) -> PublicKey:
    for event in batch:
        if event.type == KEY_ROTATED:
            key = PublicKey.from_hex(event.body["new_key"])
    return key


def node_status(node, *, full: bool = False) -> dict:
    store = node.store
    head = store.chain_head()
    ok, error, _ = verify_log(node, full=full)
    by_state = store.cases_by_state()
    return {
        "node": {"code": node.code, "name": node.config.name,
                 "public_key": node.key.public.hex,
                 "fingerprint": node.key.public.fingerprint},
        "cases": {"total": sum(by_state.values()), "by_state": by_state,
                  "overdue": store.overdue_count(today(node), lifecycle.CLOCK_STATES)},
        "events": {"total": head.seq, "unacked": store.unacked_count(),
                   "acked_seq": store.acked_seq()},
        "chain": {"head_seq": head.seq, "head_link": head.link, "verifies": ok,
                  "error": error, "full_check": full},
        "calendar_version": int(store.meta("calendar_version", "0")),
        "catalogue_version": int(store.meta("catalogue_version", "0") or 0),
        "database_bytes": store.database_bytes(),
        "sync": sync_status.status_section(node),
    }


def format_status(status: dict) -> str:
    """The status as lines of Chinese text for the terminal."""
    lines = [f"节点：{status['node']['name']}（{status['node']['code']}）",
             f"办件总数：{status['cases']['total']}（超期 {status['cases']['overdue']}）"]
    for state, count in sorted(status["cases"]["by_state"].items()):
        lines.append(f"  {lifecycle.STATE_LABELS.get(state, state)}（{state}）：{count}")
    ev = status["events"]
    lines.append(f"事件：共 {ev['total']} 条，未获中心确认 {ev['unacked']} 条"
                 f"（已确认至 {ev['acked_seq']}）")
    chain = status["chain"]
    lines.append(f"链头：序号 {chain['head_seq']}，{chain['head_link']}")
    lines.append("链校验：" + ("通过" if chain["verifies"] else f"失败 —— {chain['error']}")
                 + ("（逐条验签）" if chain["full_check"] else ""))
    lines.append(f"工作日历版本：{status['calendar_version']}；"
                 f"事项目录版本：{status['catalogue_version']}")
    if "sync" in status:
        lines += sync_status.format_section(status["sync"])
    return "\n".join(lines)


def check_integrity(node) -> list[str]:
    """Problems found in the node's data, none when it is whole: the chain verifies, every
    projection equals the fold of its case's events, and no case lacks its projection.
    Used after crashes (tests, benchmark) and by audits."""
    problems = []
    ok, error, _ = verify_log(node)
    if not ok:
        problems.append(f"chain: {error}")
    rebuilt = lifecycle.project(e.env for e in node.store.iter_events())
    live = {s["case"]: s for s in node.store.all_cases()}
    for case in sorted(set(rebuilt) | set(live)):
        if case not in live:
            problems.append(f"{case}: events without a projection")
        elif case not in rebuilt:
            problems.append(f"{case}: projection without events")
        elif rebuilt[case] != live[case]:
            problems.append(f"{case}: projection differs from its events")
    return problems
