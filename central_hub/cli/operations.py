"""``central-hub rebuild``, ``backup`` and ``restore``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..operations.backup import backup_hub, restore_hub
from ..projection.registry import rebuild_all, run_all
from .common import fail, guarded, hub_store, load_config


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--check", is_flag=True, help="Also verify the result equals the incremental one.")
@guarded
def rebuild(data_dir: str, check: bool) -> None:
    """Drop the projections (cases, steps, fees, ...) and rebuild them from the event log."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        before = None
        if check:
            run_all(store)
            before = store.projection_digest()
        started = time.monotonic()
        last = store.last_position()
        shown = {"at": started}

        def progress(name: str, position: int) -> None:    # a line every 10 s on stderr
            now = time.monotonic()
            if now - shown["at"] >= 10 or position == last:
                shown["at"] = now
                click.echo(f"rebuild: {name} {position:,}/{last:,} events "
                           f"({100 * position / max(last, 1):.0f} %), "
                           f"{now - started:.0f} s so far", err=True)

        events = rebuild_all(store, progress=progress)
        seconds = time.monotonic() - started
        after = store.projection_digest()
    finally:
        store.close()
    click.echo(f"rebuilt projections from {events} events in {seconds:.1f} s: "
               + ", ".join(f"{k} {v.split(':')[0]}" for k, v in after.items()))
    if before is not None:
        if before != after:
            fail("the rebuilt projections differ from the incremental ones: "
                  + ", ".join(k for k in after if before.get(k) != after[k]))
        click.echo("identical to the incremental projections")


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("file", type=click.Path(dir_okay=False))
@guarded
def backup(data_dir: str, file: str) -> None:
    """Take a consistent online backup of DATA_DIR into FILE (a tar archive, mode 0600)."""
    info = backup_hub(load_config(data_dir), Path(file))
    click.echo(f"backup written to {file}: {info['events']} events, last position "
               f"{info['last_position']}, {info['bytes']} bytes in {info['seconds']:.1f} s")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing hub in DATA_DIR.")
@guarded
def restore(file: str, data_dir: str, force: bool) -> None:
    """Restore a backup FILE into DATA_DIR (stop the hub first)."""
    info = restore_hub(Path(file), Path(data_dir), force=force)
    click.echo(f"restored {info['events']} events (taken {info['taken_at']}) into {data_dir}")
    click.echo("nodes re-send what the hub lost on their next sync (chain_gap, resend from "
               "the hub's acked seq)")
