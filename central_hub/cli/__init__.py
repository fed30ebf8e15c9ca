"""``central-hub``: a thin shell over the hub's modules, and the composition root of its
commands: the group imports each domain's command module (:mod:`.hub`, :mod:`.nodes`,
:mod:`.operations`, :mod:`.accounts`, :mod:`.orgs`, :mod:`.calendar`, :mod:`.audit`,
:mod:`.disclosure`, :mod:`.supervision`, :mod:`.api`), never the reverse; their shared
helpers are in :mod:`.common`.

Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import logging

import click

from . import accounts, audit, calendar, hub, nodes, operations, orgs
from .api import api_token
from .disclosure import disclosure_report
from .supervision import COMMANDS as SUPERVISION_COMMANDS


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """County hub (县级平台) of the township service centres."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


COMMANDS = (hub.init, hub.tls_cert, hub.serve, hub.rotate_key, hub.publish_config_command,
            nodes.enroll_token, nodes.revoke, nodes.nodes, nodes.import_command,
            nodes.restore_token_command, operations.rebuild, operations.backup,
            operations.restore, accounts.user, orgs.org, calendar.calendar, audit.audit,
            disclosure_report, api_token, *SUPERVISION_COMMANDS)

for _command in COMMANDS:
    main.add_command(_command)
