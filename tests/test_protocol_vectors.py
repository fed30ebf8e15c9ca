"""The committed test vectors are what the generator produces, and verify as they say."""

import importlib.util
import json
from pathlib import Path

import pytest

from protocol.chain import authenticate_run, verify_chain
from protocol.envelope import SignedEvent, decode_event, open_event
from protocol.errors import ProtocolError
from protocol.keys import PublicKey

VECTORS = Path(__file__).parent / "vectors"


def _generator():
    spec = importlib.util.spec_from_file_location("vector_generator", VECTORS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_vectors_match_the_generator():
    for name, data in _generator().build().items():
        assert (VECTORS / name).read_bytes() == data, f"{name} is stale: run scripts/gen-vectors"


EVENTS = json.loads((VECTORS / "events.json").read_text("utf-8"))
CHAINS = json.loads((VECTORS / "chains.json").read_text("utf-8"))


def test_vector_counts():
    assert sum(v["valid"] for v in EVENTS) >= 10
    assert sum(not v["valid"] for v in EVENTS) >= 10
    assert {v["error"] for v in CHAINS} >= {None, "chain_gap", "chain_reorder", "chain_duplicate",
                                           "chain_fork", "signature_invalid", "chain_broken"}


@pytest.mark.parametrize("vector", EVENTS, ids=[v["description"] for v in EVENTS])
def test_event_vector(vector):
    import hashlib
    canonical = vector["canonical"].encode("utf-8")
    assert hashlib.sha256(canonical).hexdigest() == vector["hash"]
    try:
        open_event(canonical, bytes.fromhex(vector["signature"]),
                   PublicKey.from_hex(vector["public_key"]))
        outcome = (True, None)
    except ProtocolError as exc:
        outcome = (False, exc.code)
    assert outcome == (vector["valid"], vector["error"])


def _events(vector):
    return [SignedEvent.of(e["canonical"].encode(), bytes.fromhex(e["signature"]),
                           decode_event(e["canonical"].encode(), bytes.fromhex(e["signature"])).env)
            for e in vector["events"]]


@pytest.mark.parametrize("vector", CHAINS, ids=[v["description"] for v in CHAINS])
def test_chain_vector(vector):
    events = _events(vector)
    for wire, event in zip(vector["events"], events):
        assert event.entry_hash.hex() == wire["hash"] and event.link_hash.hex() == wire["link"]
    key = PublicKey.from_hex(vector["public_key"])
    try:
        head = verify_chain(events, key)
        outcome = (True, None, None)
        assert head.seq == events[-1].seq and head.link == events[-1].link_hex
    except ProtocolError as exc:
        outcome = (False, exc.code, exc.seq)
    assert outcome == (vector["valid"], vector["error"], vector["error_seq"])


def test_authenticate_run_accepts_an_intact_chain_with_a_bad_middle_signature():
    """The fast path trusts the last signature; the full check finds the bad one."""
    vector = next(v for v in CHAINS if v["description"].startswith("a bad signature"))
    events = _events(vector)
    key = PublicKey.from_hex(vector["public_key"])
    assert authenticate_run(events, key).seq == events[-1].seq
    with pytest.raises(ProtocolError) as err:
        verify_chain(events, key)
    assert (err.value.code, err.value.seq) == ("signature_invalid", 3)
