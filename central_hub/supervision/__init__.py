"""Electronic supervision (电子监察) at the county hub: the alert service around the pure
rule engine of :mod:`protocol.supervision`.

Modules: :mod:`.alerts` (sync and content alerts raised by the sync side and the
projectors), :mod:`.service` (raising alerts from findings behind the ack path, the periodic
tick, fairness to off-line nodes, escalation, answers and decisions, re-evaluation),
:mod:`.reports` (reports by township, department, person and quarter, grades, CSV/XLSX and
the GB/T 39046 table 11 export), :mod:`.views` (the Chinese screens); the commands are in
:mod:`central_hub.cli.supervision`. SQL lives in
:mod:`central_hub.store.supervision`. See docs/supervision.md.
"""
