"""The node-facing side of the hub: what a township node sends and fetches.

``views`` (the /sync/v1 routes), ``auth`` (signed node requests, nonces, quarantine),
``limits`` (per-node throttles), ``ingest`` (the push checks and the ack path),
``enrolment`` (one-time tokens), ``epochs`` (restore under a new key), ``usb`` (export
files carried by hand), ``attachments`` (chunked attachment transport), ``verifier``
(signature re-verification behind the ack path), ``publication`` (signed configuration
documents and key statements), ``tls`` (the hub's certificate and its pins),
``simulated_node`` (a node in-process, for tests and benchmarks). See docs/sync.md.
"""
