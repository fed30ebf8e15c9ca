"""``central-hub calendar ...``: the working-day calendar."""

from __future__ import annotations

from datetime import date

import click

from protocol.calendar import Calendar, due_date

from ..calendar.service import check_notice, current_calendar, publish_notice
from ..identity import load_identity
from .common import fail, guarded, hub_store, load_config


@click.group()
def calendar() -> None:
    """The working-day calendar."""


@calendar.command("due")
@click.option("--from", "start", required=True, help="Start date YYYY-MM-DD (not counted).")
@click.option("--working-days", "days", required=True, type=click.IntRange(0, 3650))
@click.argument("data_dir", required=False, type=click.Path(exists=True, file_okay=False))
@guarded
def calendar_due(start: str, days: int, data_dir: str | None) -> None:
    """Print the due date N working days after a date, how it was computed, and whether it
    is confirmed (with DATA_DIR: the hub's newest calendar; without: the seeded one)."""
    try:
        first = date.fromisoformat(start)
    except ValueError:
        fail(f"--from: {start!r} is not a date written YYYY-MM-DD")
    if data_dir:
        store = hub_store(load_config(data_dir))
        try:
            cal = current_calendar(store)
        finally:
            store.close()
    else:
        cal = Calendar.seeded()
    deadline = due_date(cal, first, days)
    click.echo(f"due: {deadline.due.isoformat()}")
    click.echo(f"confirmed: {'yes' if deadline.confirmed else 'no'}"
               + ("" if deadline.confirmed else
                  f" (no notice entered for {', '.join(map(str, deadline.unknown_years))})"))
    click.echo(f"calendar version: {cal.version}")
    click.echo("how it was computed:")
    for line in deadline.explain_zh():
        click.echo(f"  {line}")


@calendar.command("add-year")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--year", required=True)
@click.option("--source", required=True, help="The notice number, e.g. 国办发明电〔2026〕8号.")
@click.option("--holidays", required=True, help="Dates and ranges, comma-separated.")
@click.option("--workdays", default="", help="Adjusted working Saturdays and Sundays.")
@guarded
def calendar_add_year(data_dir, year, source, holidays, workdays) -> None:
    """Enter a year's State Council notice, publish it, recompute open deadlines."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        notice, _, summary = check_notice(store, year, source, holidays, workdays)
        result = publish_notice(store, load_identity(config), config, notice, "cli", ip="cli")
    finally:
        store.close()
    click.echo(f"{summary.year}: {summary.working_days} working days, "
               f"{summary.holidays_on_weekdays} holidays on weekdays, "
               f"{summary.adjusted_workdays} adjusted working days")
    for warning in summary.warnings:
        click.echo(f"warning: {warning}")
    click.echo(f"published config.calendar version {result.version}; "
               f"{result.changes_recorded} open case deadline(s) changed and recorded")
