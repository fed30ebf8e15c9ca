"""``central-hub alerts``, ``supervision-tick`` and ``supervision-reevaluate``.

Added to the ``central-hub`` group by :mod:`central_hub.cli` (``main.add_command``).
"""

from __future__ import annotations

import json

import click

from ..projection.registry import run_all
from ..store import supervision as sql
from ..supervision.service import reevaluate, tick
from .common import guarded, hub_store, load_config


@click.command("alerts")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--level", type=click.Choice(["info", "warning", "yellow", "red"]),
              help="Only alerts of this level.")
@click.option("--rule", help="Only alerts of this rule id (T-02, S-01, E-01, sync.chain_fork ...).")
@click.option("--state", type=click.Choice(["open", "answered", "closed", "superseded"]))
@click.option("--all", "everything", is_flag=True, help="Sync alerts too, not only supervision.")
@guarded
def alerts_command(data_dir: str, as_json: bool, level: str | None, rule: str | None,
                   state: str | None, everything: bool) -> None:
    """List alerts: case number, rule id, level, raised time and state."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        total, rows = sql.list_alerts(store, states=[state] if state else None, level=level,
                                      rule=rule, limit=100_000,
                                      item_type=None if everything else sql.SUPERVISION)
    finally:
        store.close()
    fields = ("supervision_no", "case_no", "rule_id", "level", "raised_at", "state", "node",
              "responsible_unit", "responsible_person", "responsible_role", "explain_due",
              "escalation", "content")
    if as_json:
        click.echo(json.dumps({"total": total, "alerts": [{k: r[k] for k in fields}
                                                          for r in rows]},
                              ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no alerts")
        return
    click.echo(f"{'case':<22}{'rule':<20}{'level':<9}{'raised':<31}state")
    for r in rows:
        click.echo(f"{(r['case_no'] or '-'):<22}{r['rule_id']:<20}{r['level']:<9}"
                   f"{r['raised_at']:<31}{r['state']}")


@click.command("supervision-tick")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@guarded
def tick_command(data_dir: str) -> None:
    """Run the projector and one supervision tick now; print what it did (JSON)."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        run_all(store)
        report = tick(store, config.now())
    finally:
        store.close()
    click.echo(json.dumps(report.to_dict(), ensure_ascii=False))


@click.command("supervision-reevaluate")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--version", "version", type=int, help="Rule set version (default: newest).")
@click.option("--scope", type=click.Choice(["open", "all"]), default="open", show_default=True)
@click.option("--by", default="cli", show_default=True, help="Who ordered it (recorded).")
@click.option("--note", default=None)
@guarded
def reevaluate_command(data_dir: str, version: int | None, scope: str, by: str,
                       note: str | None) -> None:
    """Judge old cases under another rule set version (an explicit, recorded action)."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        result = reevaluate(store, to_version=version, by=by, now=config.now(), scope=scope,
                            note=note)
    finally:
        store.close()
    click.echo(json.dumps(result, ensure_ascii=False))


COMMANDS = (alerts_command, tick_command, reevaluate_command)
