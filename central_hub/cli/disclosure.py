"""``central-hub disclosure-report DATA_DIR --year YEAR --body BODY [--json]``.

Registered on the hub's command group in :mod:`central_hub.cli` with
``main.add_command(disclosure_report)``. Brings the projections up to date first (the
report reads them), so it is right on a hub whose server is stopped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from protocol.errors import ProtocolError

from ..config import HubConfig
from ..disclosure.report import build_report, report_text, report_xlsx
from ..errors import HubError
from ..projection.registry import run_all
from ..store import open_store


@click.command("disclosure-report")
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--year", required=True, type=int, help="Report year, e.g. 2026.")
@click.option("--body", required=True, help="Code of the publishing body (org unit).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False),
              help="Also write the report to this XLSX file.")
def disclosure_report(data_dir: str, year: int, body: str, as_json: bool,
                      xlsx_path: str | None) -> None:
    """Print the annual disclosure report of BODY for YEAR (national 2021 format)."""
    path = Path(data_dir)
    if not (path / "hub.json").exists():
        click.echo(f"错误 / error: {path} 不是县级平台数据目录（请先运行 central-hub init）",
                   err=True)
        sys.exit(1)
    try:
        config = HubConfig.load(path)
        store = open_store(config.db_path, config.now_ts())
        try:
            run_all(store)
            report = build_report(store, year, body)
        finally:
            store.close()
        if xlsx_path:
            Path(xlsx_path).write_bytes(report_xlsx(report))
    except ProtocolError as exc:
        click.echo(f"错误 / error: {getattr(exc, 'zh', None) or exc.message}", err=True)
        sys.exit(1)
    except (HubError, OSError, ValueError) as exc:
        click.echo(f"错误 / error: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(report_text(report))
