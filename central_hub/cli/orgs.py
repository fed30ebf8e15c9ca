"""``central-hub org ...``: the org hierarchy."""

from __future__ import annotations

import click

from ..orgs.service import OrgError, OrgTree, add_unit
from .common import fail, guarded, hub_store, load_config


@click.group()
def org() -> None:
    """The org hierarchy."""


@org.command("add")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--kind", required=True,
              type=click.Choice(["county", "department", "township", "village", "community"]))
@click.option("--code", default="", help="Area code (GB/T 2260 style); none for departments.")
@click.option("--name", required=True)
@click.option("--parent", default=None)
@click.option("--item-prefix", default=None, help="A department's letters in item codes.")
@guarded
def org_add(data_dir, kind, code, name, parent, item_prefix) -> None:
    """Add an org unit."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        with store.transaction():
            unit = add_unit(store, config.now_ts(), code=code, name=name, kind=kind,
                            parent=parent, item_prefix=item_prefix)
            store.audit(config.now_ts(), "cli", "org_unit.created", unit.code, ip="cli",
                        after={"code": unit.code, "name": unit.name, "kind": unit.kind,
                               "parent": unit.parent, "item_prefix": unit.item_prefix})
    except OrgError as exc:
        fail(exc.message)
    finally:
        store.close()
    click.echo(f"org unit {unit.code} {unit.name} added")


@org.command("list")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@guarded
def org_list(data_dir) -> None:
    """Print the org tree."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        for depth, unit in OrgTree.load(store).flat():
            click.echo(f"{'  ' * depth}{unit.code}  {unit.name}  ({unit.kind}"
                       f"{', ' + unit.item_prefix if unit.item_prefix else ''})")
    finally:
        store.close()


@org.command("assign-node")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--node", "node_code", required=True)
@click.option("--org-unit", required=True)
@guarded
def org_assign_node(data_dir, node_code, org_unit) -> None:
    """Put a node under an org unit (township, village, community or county desk)."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        if store.node(node_code) is None:
            fail(f"no node {node_code} is enrolled")
        if store.org_unit(org_unit) is None:
            fail(f"no org unit {org_unit}")
        with store.transaction():
            before = store.node_org_units().get(node_code)
            store.set_node_org_unit(node_code, org_unit)
            store.audit(config.now_ts(), "cli", "node.org_unit_set", node_code, ip="cli",
                        before={"org_unit": before}, after={"org_unit": org_unit})
    finally:
        store.close()
    click.echo(f"node {node_code} now belongs to {org_unit}")
