"""Demonstration and benchmark data: ``simulate`` runs weeks of plausible case handling on
a node (``edge-node simulate``)."""
