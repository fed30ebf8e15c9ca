"""What `edge-node status` reports: cases by state, the log, the chain and its health
(verified by :mod:`edge_node.sync.verification`), the sync state."""

from __future__ import annotations

from protocol import lifecycle

from .cases.deadlines import today
from .sync import status_views
from .sync.verification import verify_log


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
        "sync": status_views.status_section(node),
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
        lines += status_views.format_section(status["sync"])
    return "\n".join(lines)
