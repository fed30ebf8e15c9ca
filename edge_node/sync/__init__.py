"""Everything between the node and the county hub: the sync client (``client``: enrolment,
push, pull, status) and its background loop (``loop``), the signed HTTP link to the hub
(``hub_link``) with its TLS pinning (``tls``), key rotation and the serve lock (``keys``),
USB export files (``usb``), chunked attachments (``attachments``), restores from the hub
or a backup (``restore``), verification of the node's own log (``verification``) and the
sync indicator and /sync page (``status_views``). See docs/sync.md and docs/sync-field.md.
"""
