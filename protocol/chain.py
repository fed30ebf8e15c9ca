"""Hash-chain verification over a run of events (SPEC.md section 5).

Two ways to check a run:

* :func:`verify_chain` checks continuity, links and *every* signature. Auditors and the
  hub's background verifier use it.
* :func:`authenticate_run` checks continuity and links, and the signature of the last
  event only (plus the event before each key change). Because every ``prev`` is the link
  hash SHA-256(canonical || signature) of its predecessor, that one signature commits to
  the whole run. The hub's ack path uses it; the individual signatures are verified
  later, off the ack path, and a bad one inside an intact chain raises an alert.

Key rotation: an event of type ``node.key_rotated`` (signed by the old key) names the new
key in ``body.new_key``; every later event is signed by the new key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from .envelope import GENESIS, SignedEvent, verify_event
from .errors import ChainError, KeyError_
from .keys import PublicKey

KEY_ROTATED = "node.key_rotated"


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last verified position of a chain: its seq and link hash (hex)."""

    seq: int
    link: str

    @classmethod
    def genesis(cls) -> "ChainHead":
        return cls(0, GENESIS)


def _check_link(event: SignedEvent, expected_seq: int, expected_prev: str,
                previous: SignedEvent | None) -> None:
    seq = event.seq
    if seq != expected_seq:
        if previous is not None and seq == previous.seq:
            if event.canonical == previous.canonical and event.signature == previous.signature:
                raise ChainError(f"event {seq} appears twice", code="chain_duplicate", seq=seq)
            raise ChainError(f"two different events claim seq {seq}", code="chain_fork", seq=seq)
        if seq < expected_seq:
            raise ChainError(f"event {seq} is out of order: expected {expected_seq}",
                             code="chain_reorder", seq=seq)
        raise ChainError(f"events {expected_seq} to {seq - 1} are missing",
                         code="chain_gap", seq=expected_seq)
    if event.prev != expected_prev:
        raise ChainError(f"event {seq} does not link to its predecessor (prev mismatch)",
                         code="chain_broken", seq=seq)


def _rotated_key(event: SignedEvent) -> PublicKey:
    new = event.body.get("new_key") if isinstance(event.body, dict) else None
    try:
        return PublicKey.from_hex(new if isinstance(new, str) else "")
    except KeyError_ as exc:
        exc.seq = event.seq
        raise


KeySource = PublicKey | Callable[[int], PublicKey]


def verify_chain(events: Iterable[SignedEvent], key: KeySource,
                 after: ChainHead | None = None) -> ChainHead:
    """Verify continuity, links and every signature; return the new head.

    ``key`` is the signer's key at the start of the run (or a function seq -> key for
    keys authorised outside the chain, such as a restore epoch). Errors name the first
    bad seq.
    """
    head = after or ChainHead.genesis()
    previous: SignedEvent | None = None
    current = key
    for event in events:
        _check_link(event, head.seq + 1, head.link, previous)
        signer = current(event.seq) if callable(current) else current
        verify_event(event, signer)
        if event.type == KEY_ROTATED:
            current = _rotated_key(event)
        head = ChainHead(event.seq, event.link_hex)
        previous = event
    return head


def authenticate_run(events: Sequence[SignedEvent], key: KeySource,
                     after: ChainHead | None = None) -> ChainHead:
    """Check links and continuity, and the signature at the end of the run (and before
    each key change); return the new head. See the module docstring for why that is
    enough to authenticate every event of the run."""
    head = after or ChainHead.genesis()
    previous: SignedEvent | None = None
    current = key
    for event in events:
        _check_link(event, head.seq + 1, head.link, previous)
        if event.type == KEY_ROTATED:
            verify_event(event, current(event.seq) if callable(current) else current)
            current = _rotated_key(event)
        head = ChainHead(event.seq, event.link_hex)
        previous = event
    if previous is not None and previous.type != KEY_ROTATED:
        verify_event(previous, current(previous.seq) if callable(current) else current)
    return head
