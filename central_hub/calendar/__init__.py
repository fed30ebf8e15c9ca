"""The working-day calendar: the State Council notices, publication and the recomputed
deadlines (``service``), the screens (``views``)."""
