"""Operating the hub: creating it (``bootstrap.init_hub``) and backup/restore
(``backup``)."""
