"""The audit log's screens (:mod:`.views`): the filtered page and its CSV export; the
Chinese names of its actions (:mod:`.labels`)."""
