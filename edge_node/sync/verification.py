"""Verification of the node's own log: the hash chain and signatures across key
rotations and restore epochs (:func:`verify_log`), and the projections against the events
(:func:`check_integrity`). Used by ``edge-node status``, by the restores (which check the
rebuilt log) and by audits, tests and the benchmark after crashes."""

from __future__ import annotations

import json

from protocol import lifecycle
from protocol.chain import KEY_ROTATED, ChainHead, authenticate_run, verify_chain
from protocol.errors import ProtocolError
from protocol.keys import PublicKey

VERIFY_BATCH = 5000


def verify_log(node, *, full: bool = False) -> tuple[bool, str | None, int]:
    """Verify the whole log against the node's key: ``(ok, error, events checked)``.

    Default: every link and seq, and the signature at the end of each batch of
    ``VERIFY_BATCH`` (the links commit to every earlier signature). ``full``: every
    signature (an audit; about 50 µs per event).
    """
    key = _initial_key(node)
    head = ChainHead.genesis()
    batch = []
    count = 0
    check = verify_chain if full else authenticate_run
    boundaries = epoch_boundaries(node)
    try:
        for event in node.store.iter_events(strict=full):
            if event.seq in boundaries:
                if batch:
                    head = check(batch, key, after=head)
                    count += len(batch)
                    batch = []
                key = boundaries[event.seq]
            batch.append(event)
            if len(batch) >= VERIFY_BATCH:
                head = check(batch, key, after=head)
                key = _key_after(batch, key)
                count += len(batch)
                batch = []
        if batch:
            head = check(batch, key, after=head)
            count += len(batch)
    except ProtocolError as exc:
        where = f" (seq {exc.seq})" if exc.seq is not None else ""
        return False, f"{exc.code}: {exc}{where}", count
    stored = node.store.chain_head()
    if (head.seq, head.link) != (stored.seq, stored.link):
        return False, "the verified head differs from the stored head", count
    return True, None, count


def _initial_key(node) -> PublicKey:
    """The key the log starts with: the one ``node.initialised`` names (the node key
    changes only by ``node.key_rotated`` events, which the chain check follows)."""
    for event in node.store.iter_events(batch=1):
        key = event.body.get("public_key") if isinstance(event.body, dict) else None
        if event.type == "node.initialised" and isinstance(key, str):
            return PublicKey.from_hex(key)
        break
    return node.key.public


def _key_after(batch, key: PublicKey) -> PublicKey:
    for event in batch:
        if event.type == KEY_ROTATED:
            key = PublicKey.from_hex(event.body["new_key"])
    return key



def check_integrity(node) -> list[str]:
    """Problems found in the node's data, none when it is whole: the chain verifies, every
    projection equals the fold of its case's events, and no case lacks its projection.
    Used after crashes (tests, benchmark) and by audits."""
    problems = []
    ok, error, _ = verify_log(node)
    if not ok:
        problems.append(f"chain: {error}")
    rebuilt = lifecycle.project(e.env for e in node.store.iter_events())
    live = {s["case"]: s for s in node.store.all_cases()}
    for case in sorted(set(rebuilt) | set(live)):
        if case not in live:
            problems.append(f"{case}: events without a projection")
        elif case not in rebuilt:
            problems.append(f"{case}: projection without events")
        elif rebuilt[case] != live[case]:
            problems.append(f"{case}: projection differs from its events")
    return problems


def epoch_boundaries(node) -> dict[int, PublicKey]:
    """seq -> key for each restore epoch of this node's log (from the hub's newest epoch
    statement, which lists every key with the seq it starts at; entries that follow a
    ``node.key_rotated`` event are rotations, which the chain check follows by itself)."""
    epoch = node.store.sync_state().get("epoch")
    if not epoch:
        return {}
    try:
        keys = json.loads(epoch["statement"]["document"])["body"]["keys"]
    except (KeyError, TypeError, ValueError):
        return {}
    out = {}
    for entry in keys:
        seq = entry.get("from_seq")
        if type(seq) is not int or seq <= 1:
            continue
        row = node.store.events_from(seq - 1, 1)
        if row and row[0].seq == seq - 1 and row[0].type == "node.key_rotated":
            continue
        out[seq] = PublicKey.from_hex(entry["public_key"])
    return out
