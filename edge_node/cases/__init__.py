"""Case handling (办件) off-line: the case lifecycle (``handling``), applicants and their
identity numbers (``applicants``), case numbers and query codes (``numbering``), working-day
deadlines (``deadlines``), the service catalogue (``catalogue``), local supervision warnings
(``supervision``), evaluations (``evaluations``, 好差评) and the cross-level inbox of
forwarded cases and on-line applications (``inbox``). See docs/edge-node.md.
"""
