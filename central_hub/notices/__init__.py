"""Notices and internal messages published to the nodes (``views``)."""
