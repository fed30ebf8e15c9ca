"""Deterministic generator of the protocol test vectors (tests/vectors/*.json).

Run ``scripts/gen-vectors`` to rewrite the files; tests/test_vectors.py checks that the
committed files equal what this produces and that every vector verifies as it says.
Keys come from fixed seeds and Ed25519 signatures are deterministic, so the output is
byte-for-byte stable.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path

from protocol.canonical import canonical_bytes
from protocol.envelope import GENESIS, sign_event
from protocol.keys import PrivateKey, _L, _P

HERE = Path(__file__).resolve().parent
TS = "2026-02-12T09:30:00.000+08:00"


def key(n: int) -> PrivateKey:
    return PrivateKey.from_seed(hashlib.sha256(f"township-vector-key-{n}".encode()).digest())


def vector(description, public_key_hex, canonical: bytes, signature: bytes, valid, error=None):
    return {"description": description, "public_key": public_key_hex,
            "canonical": canonical.decode("utf-8"),
            "hash": hashlib.sha256(canonical).hexdigest(), "signature": signature.hex(),
            "valid": valid, "error": error}


def env(seq=1, prev=GENESIS, type="case.received", case="Z510824101-20260212-000001",
        body=None, node="Z510824101", ts=TS):
    return dict(node=node, seq=seq, prev=prev, ts=ts, type=type, case=case,
                body=body if body is not None else {})


INTAKE_BODY = {
    "item_code": "MZ-0003", "item_name": "农村最低生活保障申请",
    "applicant": {"kind": "person", "name": "王秀英", "id_type": "111",
                  "id_no": "51082419800101002X", "phone": "13800000000"},
    "materials": [{"id": "M1", "name": "居民身份证", "present": True},
                  {"id": "M2", "name": "户口簿", "present": True},
                  {"id": "M3", "name": "家庭收入证明", "present": False}],
    "fee_fen": 0, "catalogue_version": 3, "actor": {"id": "u7", "role": "clerk"},
    "note": "申请人称家中有重病患者，请优先核查。",
}


def sign(k, **fields):
    return sign_event(k, **env(**fields))


def event_vectors() -> list[dict]:
    k, other = key(1), key(2)
    pub = k.public.hex
    out = []

    def ok(description, ev, k_=k):
        out.append(vector(description, k_.public.hex, ev.canonical, ev.signature, True))

    ok("intake with Chinese text, seq 1 (genesis prev)", sign(k, body=INTAKE_BODY))
    ok("step event with a prev link", sign(k, seq=2, prev="ab" * 32, type="case.step_completed",
                                         body={"step": "S2", "opinion": "材料齐全，同意受理。"}))
    ok("largest seq and extreme integers", sign(k, seq=2**53 - 1, prev="cd" * 32,
                                               body={"max": 2**53 - 1, "min": -(2**53 - 1),
                                                     "zero": 0}))
    ok("null case, empty body", sign(k, case=None, type="node.started", body={}))
    ok("control characters and quotes are escaped minimally",
       sign(k, body={"text": "第一行\n第二行\t\"引号\" \\ \u0001 /斜杠"}))
    ok("supplementary-plane character (emoji, rare CJK)", sign(k, body={"name": "𠀀𡃁 👍"}))
    ok("nested arrays and objects, booleans and null",
       sign(k, body={"a": [[1, 2], {"b": None, "c": True, "d": False}], "e": []}))
    ok("keys with dots, dashes and digits sort by code point",
       sign(k, body={"b-1": 1, "B": 2, "a.b": 3, "_x": 4, "9": 5}))
    ok("timestamp with a negative offset and an uncorrected clock",
       sign(k, ts="2019-12-31T23:59:59.999-05:30", body={"clock": "unsynchronised"}))
    ok("money in fen and half working days", sign(k, type="fee.charged",
                                                  body={"amount_fen": 1050, "limit_half_days": 9}))
    ok("event of another node signed with its own key",
       sign(other, node="Z510824102", case="Z510824102-20260212-000001", body={"x": 1}),
       other)
    ok("non-ASCII text above the BMP boundary and full-width punctuation",
       sign(k, body={"t": "（补正）：身份证复印件；户口簿！"}))

    base = sign(k, body={"n": 5, "name": "李明"})
    bad = []

    def fail(description, canonical, signature, error, public_key=pub):
        bad.append(vector(description, public_key, canonical, signature, False, error))

    fail("a flipped byte in the body", base.canonical.replace(b'"n":5', b'"n":7'),
         base.signature, "signature_invalid")
    fail("signed by another key", base.canonical, other.sign(base.entry_hash),
         "signature_invalid")
    obj = json.loads(base.canonical)
    reordered = ("{" + ",".join(f'"{k_}":' + json.dumps(obj[k_], ensure_ascii=False,
                                                         separators=(",", ":"), sort_keys=True)
                               for k_ in reversed(sorted(obj))) + "}").encode()
    fail("keys not in sorted order", reordered, k.sign(hashlib.sha256(reordered).digest()),
         "not_canonical")
    floaty = base.canonical.replace(b'"n":5', b'"n":5.0')
    fail("a float in the body", floaty, k.sign(hashlib.sha256(floaty).digest()),
         "float_not_allowed")
    nfd = base.canonical.replace("李明".encode(), unicodedata.normalize("NFD", "é").encode())
    fail("text not in NFC (decomposed é)", nfd, k.sign(hashlib.sha256(nfd).digest()), "not_nfc")
    fail("a truncated signature (63 bytes)", base.canonical, base.signature[:63],
         "signature_malformed")
    s = int.from_bytes(base.signature[32:], "little") + _L
    fail("non-canonical S (S + L): a malleated signature", base.canonical,
         base.signature[:32] + s.to_bytes(32, "little"), "signature_malformed")
    identity = (1).to_bytes(32, "little")
    fail("small-order public key (identity point) with R = identity, S = 0",
         base.canonical, identity + bytes(32), "key_invalid", identity.hex())
    noncanon = (_P + 1).to_bytes(32, "little")
    fail("non-canonical public key encoding (y = p + 1)", base.canonical, base.signature,
         "key_invalid", noncanon.hex())
    spaced = base.canonical.replace(b'","', b'", "', 1)
    fail("insignificant white space", spaced, k.sign(hashlib.sha256(spaced).digest()),
         "not_canonical")
    big = base.canonical.replace(b'"n":5', b'"n":9007199254740992')
    fail("integer 2^53 is out of range", big, k.sign(hashlib.sha256(big).digest()),
         "integer_out_of_range")
    dup = base.canonical.replace(b'"n":5', b'"n":5,"n":5')
    fail("duplicate key", dup, k.sign(hashlib.sha256(dup).digest()), "not_canonical")
    escaped = base.canonical.replace("李明".encode(), b"\\u674e\\u660e")
    fail("non-ASCII text escaped as \\u sequences", escaped,
         k.sign(hashlib.sha256(escaped).digest()), "not_canonical")
    lone = base.canonical.replace("李明".encode(), b"\\ud800")
    fail("a lone surrogate", lone, k.sign(hashlib.sha256(lone).digest()), "invalid_text")
    extra = canonical_bytes({**obj, "zz": 1})
    fail("an unknown envelope field", extra, k.sign(hashlib.sha256(extra).digest()),
         "envelope_invalid")
    return out + bad


def chain_of(k, n, node="Z510824101", start_seq=1, start_prev=GENESIS, case="C-1"):
    events, prev = [], start_prev
    for i in range(n):
        ev = sign(k, node=node, seq=start_seq + i, prev=prev, case=case,
                  type="case.step_completed", body={"i": i, "opinion": f"第{i + 1}步"})
        events.append(ev)
        prev = ev.link_hex
    return events


def wire(ev_list):
    return [{"canonical": e.canonical.decode("utf-8"), "signature": e.signature.hex(),
             "hash": e.entry_hash.hex(), "link": e.link_hash.hex()} for e in ev_list]


def chain_vectors() -> list[dict]:
    k = key(1)
    pub = k.public.hex
    good = chain_of(k, 6)
    out = [{"description": "a valid run of six events from genesis", "public_key": pub,
            "events": wire(good), "valid": True, "error": None, "error_seq": None}]

    def bad(description, events, error, error_seq):
        out.append({"description": description, "public_key": pub, "events": wire(events),
                    "valid": False, "error": error, "error_seq": error_seq})

    new = key(3)
    rot = sign(k, seq=3, prev=good[1].link_hex, type="node.key_rotated", case=None,
               body={"new_key": new.public.hex})
    after = chain_of(new, 2, start_seq=4, start_prev=rot.link_hex)
    out.append({"description": "a key rotation: events after it are signed by the new key",
                "public_key": pub, "events": wire(good[:2] + [rot] + after), "valid": True,
                "error": None, "error_seq": None})
    bad("a gap: event 3 is missing", good[:2] + good[3:], "chain_gap", 3)
    bad("a reorder: events 3 and 4 swapped", good[:2] + [good[3], good[2]] + good[4:],
        "chain_gap", 3)
    bad("a reorder back: event 2 after event 3", good[:3] + [good[1]] + good[3:],
        "chain_reorder", 2)
    bad("a duplicate: event 3 twice", good[:3] + [good[2]] + good[3:], "chain_duplicate", 3)
    forked = sign(k, seq=3, prev=good[1].link_hex, case="C-1", type="case.step_completed",
                  body={"i": 2, "opinion": "另一个版本"})
    bad("a fork: two different events claim seq 3", good[:3] + [forked], "chain_fork", 3)
    # An intact chain whose third signature is garbage: every link is consistent.
    garbage = hashlib.sha512(b"not a signature").digest()
    garbage = garbage[:32] + (int.from_bytes(garbage[32:], "little") % _L).to_bytes(32, "little")
    ev3 = sign(k, seq=3, prev=good[1].link_hex, case="C-1", type="case.step_completed",
               body={"i": 2})
    from protocol.envelope import SignedEvent
    ev3 = SignedEvent.of(ev3.canonical, garbage, ev3.env)
    tail = chain_of(k, 3, start_seq=4, start_prev=ev3.link_hex)
    bad("a bad signature in the middle of an intact chain", good[:2] + [ev3] + tail,
        "signature_invalid", 3)
    edited = sign(k, seq=3, prev=good[1].link_hex, case="C-1", type="case.step_completed",
                  body={"i": 2, "opinion": "被篡改"})
    bad("an edited event re-signed: the next event no longer links to it",
        good[:2] + [edited] + good[3:], "chain_broken", 4)
    bad("a run that does not start at genesis", good[1:], "chain_gap", 1)
    return out


def crosslevel_vectors() -> list[dict]:
    """Cross-node references (SPEC section 16): a township's 初审 case forwarded to a county
    node, taken there naming the origin event, and the decision returned. Each vector:
    ``origin_events`` (the events the inbox carries, each with the key that signed it),
    ``event`` (the receiver's event whose ``body.origin`` names one of them), ``valid`` and
    ``error`` (the code a verifier must report)."""
    town, county, other = key(4), key(5), key(6)
    case = "XZ-001-20260212-000001"
    actor = {"id": "u1", "role": "clerk"}
    item = {"code": "MZ-QR-0001", "name": "最低生活保障对象认定", "type_code": "07"}
    applicant = {"kind": "person", "name": "王秀英", "id_type": "resident_id",
                 "id_no": "51082419800101002X", "phone": "13800000000"}
    materials = [{"id": "M1", "name": "最低生活保障申请书", "required": True, "present": True}]
    flow = [{"id": "S1", "name": "受理", "role": "clerk"},
            {"id": "S2", "name": "乡镇审核", "role": "reviewer"},
            {"id": "S3", "name": "审批确认", "role": "approver"},
            {"id": "S4", "name": "办结送达", "role": "clerk"}]
    deadline = {"limit_half_days": 40, "due": "2026-03-13", "confirmed": True,
                "calendar_version": 1}
    bodies = [
        ("case.received", {"actor": actor, "channel": "window", "item": item,
                           "catalogue_version": 1, "applicant": applicant,
                           "materials": materials, "fee_standard_fen": 0,
                           "committed_half_days": 40, "statutory_half_days": 60, "flow": flow,
                           "separate_accept_approve": False, "query_code": "K7M2QP"}),
        ("case.accepted", {"actor": actor, "materials": materials, "deadline": deadline}),
        ("case.step_completed", {"actor": {"id": "u2", "role": "reviewer"}, "step": "S2",
                                 "outcome": "pass", "opinion": "乡镇审核同意上报"}),
        ("case.forwarded", {"actor": {"id": "u2", "role": "reviewer"}, "to": "XJ-MZ",
                            "steps": ["S3"], "opinion": "符合条件，同意上报",
                            "materials": materials}),
    ]
    origin, prev = [], GENESIS
    for i, (type_, body) in enumerate(bodies):
        ev = sign(town, node="XZ-001", seq=10 + i, prev=prev if i else "a" * 64, type=type_,
                  case=case, body=body)
        origin.append(ev)
        prev = ev.link_hex

    def carried(events, k):
        return [{"canonical": e.canonical.decode("utf-8"), "signature": e.signature.hex(),
                 "key": k.public.hex, "link": e.link_hex} for e in events]

    def ref(ev):
        return {"node": ev.node, "seq": ev.seq, "hash": ev.link_hex}

    snapshot = {"item": item, "catalogue_version": 1, "channel": "window",
                "applicant": applicant, "materials": materials, "fee_standard_fen": 0,
                "committed_half_days": 40, "statutory_half_days": 60, "flow": flow,
                "separate_accept_approve": False, "query_code": "K7M2QP",
                "received_at": TS, "accepted_date": "2026-02-12", "deadline": deadline,
                "next_step": 2, "extension_days": 0}

    def taken(origin_ref, seq=1):
        return sign(county, node="XJ-MZ", seq=seq, prev=GENESIS if seq == 1 else "b" * 64,
                    type="case.taken", case=case,
                    body={"actor": {"id": "c1", "role": "approver"}, "origin": origin_ref,
                          "snapshot": snapshot})

    out = []

    def add(description, events, k, event, valid, error=None):
        out.append({"description": description, "origin_node": "XZ-001", "case": case,
                    "origin_events": carried(events, k),
                    "event": {"canonical": event.canonical.decode("utf-8"),
                              "signature": event.signature.hex(), "key": county.public.hex,
                              "link": event.link_hex},
                    "valid": valid, "error": error})

    fwd = origin[-1]
    add("a county node takes a forwarded case, naming the forwarded event", origin, town,
        taken(ref(fwd)), True)
    decided = sign(county, node="XJ-MZ", seq=2, prev="c" * 64, type="case.decided", case=case,
                   body={"actor": {"id": "c1", "role": "approver"}, "step": "S3",
                         "outcome": "approve", "reason": "符合条件予以确认"})
    returned = sign(county, node="XJ-MZ", seq=3, prev=decided.link_hex,
                    type="case.result_returned", case=case,
                    body={"actor": {"id": "c1", "role": "approver"}, "to": "XZ-001",
                          "origin": ref(fwd), "decision": {"step": "S3", "outcome": "approve",
                                                           "reason": "符合条件予以确认"}})
    received = sign(town, node="XZ-001", seq=14, prev=fwd.link_hex,
                    type="case.result_received", case=case,
                    body={"actor": actor, "origin": ref(returned),
                          "decision": {"step": "S3", "outcome": "approve",
                                       "reason": "符合条件予以确认"}, "next_step": 3})
    out.append({"description": "the township takes the returned result, naming the county's "
                               "case.result_returned", "origin_node": "XJ-MZ", "case": case,
                "origin_events": carried([decided, returned], county),
                "event": {"canonical": received.canonical.decode("utf-8"),
                          "signature": received.signature.hex(), "key": town.public.hex,
                          "link": received.link_hex}, "valid": True, "error": None})
    add("the reference's hash is not the named event's link hash", origin, town,
        taken({**ref(fwd), "hash": origin[0].link_hex}), False, "routing_invalid")
    add("the reference names a seq the inbox does not carry", origin, town,
        taken({**ref(fwd), "seq": 99}), False, "routing_invalid")
    add("an origin event signed by another key than the one the hub vouches for",
        origin[:-1] + [sign(other, node="XZ-001", seq=13, prev=origin[2].link_hex,
                            type="case.forwarded", case=case, body=bodies[3][1])], town,
        taken(ref(fwd)), False, "signature_invalid")
    add("an origin event of another case", origin[:-1] + [sign(
        town, node="XZ-001", seq=13, prev=origin[2].link_hex, type="case.forwarded",
        case="XZ-001-20260212-000002", body=bodies[3][1])], town, taken(ref(fwd)), False,
        "routing_invalid")
    return out


def _stored_batch(events) -> bytes:
    """The batch of ``events`` with its DEFLATE stream in stored blocks (level 0): the
    same bytes with any zlib, so the vector does not depend on the compressor's build."""
    import zlib

    from protocol.batch import _HEADER, encode_batch
    packed = encode_batch(events)
    body = zlib.decompress(packed[_HEADER.size:], -15)
    comp = zlib.compressobj(0, zlib.DEFLATED, -15)
    return packed[:_HEADER.size] + comp.compress(body) + comp.flush()


def usb_vectors() -> list[dict]:
    """Export files (SPEC section 13): the hub's X25519 key, the node's Ed25519 key and the
    file's ephemeral key are fixed, so the file is byte-for-byte stable. ``records`` is
    what a reader must find in it; ``tampered`` flips one byte of the first frame."""
    import io

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from protocol.usbfile import ExportWriter

    def x25519(label: str) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())

    hub = x25519("township-vector-hub-encryption")
    hub_public = hub.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    node_key = key(1)
    batch = _stored_batch(chain_of(node_key, 3))
    attachment = "附件内容".encode("utf-8") * 100
    sha = hashlib.sha256(attachment).hexdigest()
    out = io.BytesIO()
    writer = ExportWriter(out, hub_encryption_key=hub_public, node="Z510824101",
                          signing_key=node_key, created=TS, chunk_size=1024,
                          file_id="0123456789abcdef0123456789abcdef",
                          ephemeral=x25519("township-vector-ephemeral"))
    writer.add_batch(batch)
    writer.add_attachment_chunk(sha, 0, attachment)
    writer.finish()
    data = out.getvalue()
    tampered = bytearray(data)
    tampered[data.index(b"}") + 8] ^= 0x01        # a byte inside the first frame
    return [{
        "description": "three events and one attachment chunk, frames of 1 KiB",
        "hub_encryption_private_key": hub.private_bytes_raw().hex(),
        "hub_encryption_public_key": hub_public,
        "node_public_key": node_key.public.hex,
        "file": data.hex(), "tampered": bytes(tampered).hex(),
        "records": [{"type": 1, "data": batch.hex()},
                    {"type": 2, "sha256": sha, "index": 0, "data": attachment.hex()}],
    }]


def build() -> dict[str, bytes]:
    def dump(obj):
        return (json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    return {"events.json": dump(event_vectors()), "chains.json": dump(chain_vectors()),
            "crosslevel.json": dump(crosslevel_vectors()), "usb.json": dump(usb_vectors())}


def main() -> None:
    for name, data in build().items():
        (HERE / name).write_bytes(data)
        print(f"wrote {HERE / name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
