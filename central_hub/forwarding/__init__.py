"""Cross-level forwarding (docs/cross-level.md): the ``routing`` projection of forwarded
cases, results and taken applications into each node's inbox, and the signed inbox
documents (``service``). The /sync/v1/inbox route is in :mod:`central_hub.sync.views`."""
