"""Case numbers and query codes.

A case number is ``{node code}-{yyyymmdd}-{counter:06d}``: the node code makes it unique
across the county without coordination (every node has its own code), the counter is a
per-node sequence kept in the database that only grows, so a number is never repeated
even when the node's clock steps back; the date (of the node clock, Asia/Shanghai) is
there for people reading it. The counter is taken inside the intake's transaction, so a
rolled-back intake does not consume a number (and a number is never handed out twice).

The query code (查询码) is 6 characters from an alphabet without look-alikes (no 0/O,
1/I/L), about 30 bits: printed on the receipt, entered with the case number on the
portal. It is stored in plain text in the case's events and projection so a receipt can
be reprinted; it protects a case's status from guessing, not from people who can read
the node's or hub's database, which already hold the whole case. See docs/edge-node.md.
"""

from __future__ import annotations

import secrets
from datetime import date

QUERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
QUERY_LENGTH = 6


def case_number(node_code: str, day: date, counter: int) -> str:
    return f"{node_code}-{day:%Y%m%d}-{counter:06d}"


def next_case_number(store, node_code: str, day: date) -> str:
    return case_number(node_code, day, store.next_counter("case"))


def new_query_code() -> str:
    return "".join(secrets.choice(QUERY_ALPHABET) for _ in range(QUERY_LENGTH))
