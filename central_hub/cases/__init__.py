"""The county's case list and case pages (``views``)."""
