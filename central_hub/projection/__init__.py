"""Projections of the hub's log: the machinery (``base``) and the hub's projectors
(``registry``). ``base`` is imported by the domains that own a projection; ``registry``
imports them (never the reverse)."""
