"""``central-hub audit export``: the append-only audit log."""

from __future__ import annotations

import json

import click

from .common import guarded, hub_store, load_config


@click.group()
def audit() -> None:
    """The append-only audit log."""


@audit.command("export")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--since", default=None, help="YYYY-MM-DD")
@guarded
def audit_export(data_dir, since) -> None:
    """Print the audit log as JSON lines, oldest first (the export is itself audited)."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        store.audit(config.now_ts(), "cli", "audit.exported", None,
                    {"since": since, "via": "central-hub audit export"}, ip="cli")
        offset = 0
        while True:
            batch = store.audit_entries(since=since, offset=offset, limit=1000,
                                        newest_first=False)
            for e in batch:
                click.echo(json.dumps({"id": e.id, "at": e.at, "actor": e.actor,
                                       "action": e.action, "target": e.target, "ip": e.ip,
                                       "details": e.details, "before": e.before,
                                       "after": e.after}, ensure_ascii=False))
            if len(batch) < 1000:
                break
            offset += 1000
    finally:
        store.close()
