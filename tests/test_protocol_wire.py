"""Units and properties of the protocol's wire layer."""

import ast
import os
import stat
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from protocol import limits
from protocol.ack import Ack, sign_ack, verify_ack
from protocol.batch import MAGIC, decode_batch, encode_batch, split_batches
from protocol.canonical import canonical_bytes, parse_canonical
from protocol.chain import ChainHead, authenticate_run, verify_chain
from protocol.document import sign_document, verify_document
from protocol.envelope import GENESIS, decode_event, sign_event, verify_event
from protocol.errors import ProtocolError
from protocol.keys import PrivateKey, PublicKey, load_private_key, save_private_key
from protocol.version import check_version

TS = "2026-11-26T09:30:00.000+08:00"
KEY = PrivateKey.from_seed(bytes(range(32)))
OTHER = PrivateKey.from_seed(bytes(range(1, 33)))


def make_chain(n, key=KEY, node="N1", body=lambda i: {"i": i, "t": "受理"}):
    events, prev = [], GENESIS
    for i in range(1, n + 1):
        ev = sign_event(key, node=node, seq=i, prev=prev, ts=TS, type="case.step_completed",
                        case="N1-20261126-000001", body=body(i))
        events.append(ev)
        prev = ev.link_hex
    return events


# --- purity -------------------------------------------------------------------------------

def test_protocol_imports_only_stdlib_and_cryptography():
    import sys
    allowed = set(sys.stdlib_module_names) | {"cryptography", "protocol"}
    root = Path(__file__).parent.parent / "protocol"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    continue
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


# --- canonical ----------------------------------------------------------------------------

def test_canonical_sorts_keys_and_keeps_chinese():
    assert canonical_bytes({"b": 1, "a": "中文"}) == '{"a":"中文","b":1}'.encode()


@pytest.mark.parametrize("value, code", [
    ({"x": 1.5}, "float_not_allowed"),
    ({"x": float("nan")}, "float_not_allowed"),
    ({1: 2}, "key_not_allowed"),
    ({"x": 2**53}, "integer_out_of_range"),
    ({"x": "\ud800"}, "invalid_text"),
    ({"x": b"bytes"}, "value_type_not_allowed"),
    ({"x": "a" * (limits.MAX_STRING_CHARS + 1)}, "too_large"),
])
def test_canonical_refuses(value, code):
    with pytest.raises(ProtocolError) as err:
        canonical_bytes(value)
    assert err.value.code == code


def test_canonical_refuses_excessive_depth():
    value = {}
    for _ in range(limits.MAX_DEPTH + 1):
        value = {"x": value}
    with pytest.raises(ProtocolError) as err:
        canonical_bytes(value)
    assert err.value.code == "depth_exceeded"


def test_nfc_normalised_when_writing_refused_when_reading():
    nfd = "e\u0301"
    assert canonical_bytes({"x": nfd}) == canonical_bytes({"x": "\u00e9"})
    with pytest.raises(ProtocolError) as err:
        parse_canonical('{"x":"e\u0301"}'.encode())
    assert err.value.code == "not_nfc"


def test_parse_refuses_deep_nesting_without_crashing():
    with pytest.raises(ProtocolError):
        parse_canonical(b"[" * 5000 + b"]" * 5000)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.from_regex(r"[A-Za-z0-9_.\-]{1,8}", fullmatch=True), children,
                      max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), json_values, max_size=6))
def test_canonical_round_trip_and_key_order(value):
    data = canonical_bytes(value)
    parsed = parse_canonical(data)
    assert canonical_bytes(parsed) == data
    reversed_value = dict(reversed(list(value.items())))
    assert canonical_bytes(reversed_value) == data


def _outcome(parse, data):
    try:
        return ("ok", parse(data))
    except ProtocolError as exc:
        return ("refused", exc.code)


_near_canonical = st.one_of(
    json_values.map(lambda v: canonical_bytes(v)),
    # mutations a peer could send: escapes, duplicate keys, NFD, floats, white space,
    # integers out of range, key order, lone surrogates
    st.sampled_from([b'{"a":1,"a":1}', b'{"b":1,"a":2}', b'{"a":"\\u0041"}', b'{"a":1.0}',
                     b'{"a": 1}', b'{"a":9007199254740992}', b'{"a":"\\ud800"}',
                     "{\"a\":\"e\u0301\"}".encode(), b'{"a":NaN}', b'{"":1}',
                     b'{"a b":1}', b'[' * 17 + b']' * 17, b'"\xff"', b'{"a":true}',
                     b'[' * 16 + b'1' + b']' * 16, b'[' * 15 + b'1' + b']' * 15]),
    st.builds(lambda v, i, b: (lambda d: d[:i % (len(d) + 1)] + bytes([b])
                                + d[i % (len(d) + 1):])(canonical_bytes(v)),
              json_values, st.integers(0, 200), st.integers(0, 255)),
)


@given(_near_canonical)
def test_fast_parse_agrees_with_the_strict_parse(data):
    """parse_canonical's fast path accepts exactly what the rule-by-rule parse accepts."""
    from protocol.canonical import _parse_slow
    assert _outcome(parse_canonical, data) == _outcome(_parse_slow, data)


# --- keys ---------------------------------------------------------------------------------

def test_key_file_is_private_and_refused_when_readable(tmp_path):
    path = tmp_path / "node.key"
    save_private_key(KEY, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_private_key(path).public == KEY.public
    os.chmod(path, 0o644)
    with pytest.raises(ProtocolError) as err:
        load_private_key(path)
    assert err.value.code == "key_insecure_permissions"
    with pytest.raises(FileExistsError):
        save_private_key(KEY, path)


def test_fingerprint_is_stable_and_short():
    assert KEY.public.fingerprint == PublicKey(KEY.public.raw).fingerprint
    assert len(KEY.public.fingerprint) == 24


# --- envelope and signatures --------------------------------------------------------------

def test_sign_refuses_what_a_hub_would_refuse():
    with pytest.raises(ProtocolError) as err:
        sign_event(KEY, node="N1", seq=1, prev=GENESIS, ts=TS, type="x", case=None,
                   body={"text": "字" * 6000 + "字" * 6000})
    assert err.value.code in {"too_large", "event_too_large"}
    with pytest.raises(ProtocolError) as err:
        sign_event(KEY, node="N1", seq=2, prev=GENESIS, ts=TS, type="x", case=None, body={})
    assert err.value.field == "prev"
    with pytest.raises(ProtocolError) as err:
        sign_event(KEY, node="N1", seq=1, prev=GENESIS, ts="2026-11-26 09:30", type="x",
                   case=None, body={})
    assert err.value.field == "ts"


@settings(max_examples=60)
@given(st.data())
def test_any_flipped_byte_fails_verification(data):
    event = make_chain(1)[0]
    target = data.draw(st.sampled_from(["canonical", "signature"]))
    blob = bytearray(getattr(event, target))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= 1 << data.draw(st.integers(0, 7))
    canonical = bytes(blob) if target == "canonical" else event.canonical
    signature = bytes(blob) if target == "signature" else event.signature
    with pytest.raises(ProtocolError):
        verify_event(decode_event(canonical, signature), KEY.public)


# --- chains -------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.data())
def test_random_chains_verify_and_any_tampering_is_detected(n, data):
    events = make_chain(n)
    assert verify_chain(events, KEY.public) == ChainHead(n, events[-1].link_hex)
    assert authenticate_run(events, KEY.public).seq == n
    op = data.draw(st.sampled_from(["remove", "swap", "duplicate"]))
    i = data.draw(st.integers(0, n - 2))
    broken = list(events)
    if op == "remove":
        del broken[i]
    elif op == "swap":
        broken[i], broken[i + 1] = broken[i + 1], broken[i]
    else:
        broken.insert(i, broken[i])
    for check in (verify_chain, authenticate_run):
        with pytest.raises(ProtocolError) as err:
            check(broken, KEY.public)
        assert err.value.code.startswith("chain_")


def test_chain_continues_after_a_head_and_refuses_another_key():
    events = make_chain(5)
    head = verify_chain(events[:3], KEY.public)
    assert verify_chain(events[3:], KEY.public, after=head).seq == 5
    with pytest.raises(ProtocolError) as err:
        authenticate_run(events[3:], OTHER.public, after=head)
    assert err.value.code == "signature_invalid" and err.value.seq == 5


# --- batches ------------------------------------------------------------------------------

def test_batch_round_trip_with_elided_prev_and_old_minor_version():
    events = make_chain(50)
    for version in ((1, 1), (1, 0)):
        data = encode_batch(events, version=version)
        decoded = decode_batch(data)
        assert [(e.canonical, e.signature) for e in decoded] == \
            [(e.canonical, e.signature) for e in events]
    assert len(encode_batch(events)) < len(encode_batch(events, version=(1, 0)))


def test_batch_refuses_unknown_major_and_future_minor():
    data = bytearray(encode_batch(make_chain(2)))
    for major, minor in ((2, 0), (1, 9)):
        data[4], data[5] = major, minor
        with pytest.raises(ProtocolError) as err:
            decode_batch(bytes(data))
        assert err.value.code == "version_unsupported"


def _raw_batch(payload: bytes, count: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return MAGIC + bytes([1, 1]) + count.to_bytes(4, "big") + comp.compress(payload) + comp.flush()


def test_decompression_bomb_refused_without_inflating_it_all():
    bomb = _raw_batch(b"\0" * (limits.MAX_BATCH_DECOMPRESSED * 4), 1)
    assert len(bomb) < 100_000
    with pytest.raises(ProtocolError) as err:
        decode_batch(bomb)
    assert err.value.code == "batch_too_large"


def test_batch_limits_and_trailing_data():
    events = make_chain(3)
    good = encode_batch(events)
    with pytest.raises(ProtocolError) as err:
        decode_batch(good + b"x")
    assert err.value.code == "batch_trailing_data"
    with pytest.raises(ProtocolError) as err:
        decode_batch(good, max_events=2)
    assert err.value.code == "batch_too_large"
    with pytest.raises(ProtocolError) as err:
        decode_batch(good, max_compressed=len(good) - 1)
    assert err.value.code == "batch_too_large"
    with pytest.raises(ProtocolError) as err:
        decode_batch(good[:-5])
    assert err.value.code == "batch_malformed"
    with pytest.raises(ProtocolError) as err:
        decode_batch(_raw_batch(b"\x00\x01{" + b"\0" * 64 + b"extra", 1))
    assert err.value.code in {"batch_trailing_data", "invalid_json"}


def test_split_batches_respects_limits():
    runs = list(split_batches(make_chain(25), max_events=10))
    assert [len(r) for r in runs] == [10, 10, 5]


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_protocol_errors(blob):
    decoders = [decode_batch, lambda b: decode_batch(MAGIC + b"\x01\x01" + b),
                parse_canonical, lambda b: decode_event(b, bytes(64)),
                lambda b: verify_document(b, KEY.public),
                lambda b: verify_ack(b, KEY.public, "N1")]
    for decode in decoders:
        try:
            decode(blob)
        except ProtocolError:
            pass


# --- documents, acks, versions ------------------------------------------------------------

def test_document_and_ack_round_trip_and_tamper():
    ack = Ack(node="N1", acked_seq=5, acked_link="ab" * 32, stored=5, hub_time=TS)
    doc = sign_ack(KEY, "county-hub", ack)
    assert verify_ack(doc.to_bytes(), KEY.public, "N1") == ack
    with pytest.raises(ProtocolError):
        verify_ack(doc.to_bytes(), KEY.public, "N2")
    with pytest.raises(ProtocolError) as err:
        verify_ack(doc.to_bytes(), OTHER.public, "N1")
    assert err.value.code == "signature_invalid"
    wire = doc.to_wire()
    wire["document"] = wire["document"].replace('"acked_seq":5', '"acked_seq":6')
    with pytest.raises(ProtocolError):
        verify_ack(wire, KEY.public, "N1")
    config = sign_document(KEY, kind="config.catalogue", issuer="hub", issued_at=TS,
                           body={"version": 2})
    with pytest.raises(ProtocolError) as err:
        verify_document(config.to_wire(), KEY.public, kind="ack")
    assert err.value.code == "document_wrong_kind"


@pytest.mark.parametrize("text, ok", [("1.1", True), ("1.0", True), ("1.2", False),
                                      ("0.9", False), ("2.0", False), ("1", False),
                                      ("01.1", False), (None, False)])
def test_version_negotiation(text, ok):
    if ok:
        assert check_version(text)[0] == 1
    else:
        with pytest.raises(ProtocolError) as err:
            check_version(text)
        assert err.value.code == "version_unsupported"
