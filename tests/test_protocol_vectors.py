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


USB = json.loads((VECTORS / "usb.json").read_text("utf-8"))


@pytest.mark.parametrize("vector", USB, ids=[v["description"] for v in USB])
def test_usb_export_vector_opens_to_its_records_and_refuses_a_flipped_byte(vector):
    """An export file (SPEC section 13) decrypts with the hub's key to the records it
    names, carries the node's signature, and one flipped byte stops it."""
    import io

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from protocol.batch import decode_batch
    from protocol.usbfile import open_export

    hub = X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["hub_encryption_private_key"]))
    export = open_export(io.BytesIO(bytes.fromhex(vector["file"])), [hub])
    export.verify(PublicKey.from_hex(vector["node_public_key"]))
    found = [{"type": r.kind, "data": r.data.hex(),
              **({"sha256": r.sha256, "index": r.index} if r.kind == 2 else {})}
             for r in export.records()]
    assert found == vector["records"]
    events = decode_batch(bytes.fromhex(vector["records"][0]["data"]))
    assert [e.seq for e in events] == [1, 2, 3]
    with pytest.raises(ProtocolError):
        open_export(io.BytesIO(bytes.fromhex(vector["tampered"])), [hub])
    other = X25519PrivateKey.from_private_bytes(bytes(32))
    with pytest.raises(ProtocolError) as refused:
        open_export(io.BytesIO(bytes.fromhex(vector["file"])), [other])
    assert refused.value.code == "file_not_for_this_hub"
