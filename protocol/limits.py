"""Hard bounds shared by writers and readers.

The node applies the same limits when it writes an event, so it never signs an event a hub
would refuse; the hub applies them when it decodes. Changing one is a protocol change.
"""

from __future__ import annotations

MAX_EVENT_BYTES = 32 * 1024          # canonical bytes of one event
MAX_STRING_CHARS = 8000               # characters in any one string value
MAX_KEY_CHARS = 64                    # characters in an object key
MAX_DEPTH = 16                        # nesting of objects/arrays, the envelope counting as 1
MAX_INT = 2**53 - 1                   # integers must lie in [-MAX_INT, MAX_INT]
MAX_ITEMS = 1000                      # members of one object or elements of one array

MAX_BATCH_EVENTS = 1000               # events in one batch
MAX_BATCH_COMPRESSED = 1024 * 1024    # bytes of a batch on the wire
MAX_BATCH_DECOMPRESSED = 8 * 1024 * 1024  # bytes of a batch once inflated

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024  # canonical bytes of a signed document (config, ack)
