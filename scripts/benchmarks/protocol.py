"""scripts/bench protocol: sign/verify rates, batch encode/decode, bytes per event.

Prints figures; never a timed test. Runs on one core (this process). Events are realistic:
an intake of about 1.5 KB with Chinese text, then step events of a few hundred bytes, in
the mix of a typical case (intake, acceptance, handling, review, approval, completion,
delivery).
"""

from __future__ import annotations

import argparse
import random
import time

from protocol.batch import decode_batch, encode_batch, split_batches
from protocol.chain import authenticate_run, verify_chain
from protocol.envelope import GENESIS, sign_event, verify_event
from protocol.keys import PrivateKey

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "秀英明华建国丽娟志强桂兰海燕玉梅永红春花德福"
ITEMS = [("MZ-0003", "农村最低生活保障申请"), ("RS-0001", "城乡居民基本养老保险参保登记"),
         ("WJ-0002", "生育登记"), ("CL-0001", "残疾人两项补贴申请"), ("MZ-0005", "临时救助")]
OPINIONS = ["材料齐全，符合受理条件，同意受理。", "经入户核查，家庭收入情况属实，建议批准。",
            "经审核，申请材料真实有效，同意上报。", "同意。请按规定时限办结并告知申请人。",
            "已通过邮寄方式送达申请人，回执已归档。"]


def intake_body(rng: random.Random, n: int) -> dict:
    code, name = rng.choice(ITEMS)
    person = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2))
    return {
        "item_code": code, "item_name": name, "catalogue_version": 3,
        "applicant": {"kind": "person", "name": person, "id_type": "111",
                      "id_no": f"5108241980{rng.randrange(10**8):08d}",
                      "phone": f"13{rng.randrange(10**9):09d}",
                      "address": f"青川县乔庄镇{rng.choice('东西南北')}街{rng.randrange(1, 300)}号"},
        "materials": [{"id": f"M{i}", "name": m, "present": rng.random() > 0.1}
                      for i, m in enumerate(["居民身份证", "户口簿", "家庭收入情况声明",
                                             "家庭财产状况声明", "医疗费用票据",
                                             "残疾人证", "银行账户信息"], 1)],
        "fee_fen": 0, "actor": {"id": f"u{rng.randrange(1, 9)}", "role": "clerk"},
        "channel": "window", "received_at": "2026-11-26T09:30:00.000+08:00",
        "note": "申请人家庭困难，" + "".join(rng.choice(OPINIONS) for _ in range(6)),
    }


def step_body(rng: random.Random, step: int) -> dict:
    return {"step": f"S{step}", "role": ["clerk", "handler", "reviewer", "approver"][step % 4],
            "actor": {"id": f"u{rng.randrange(1, 9)}", "role": "handler"},
            "outcome": "pass", "opinion": rng.choice(OPINIONS)}


def make_events(n: int, key: PrivateKey, seed: int = 7):
    rng = random.Random(seed)
    events, prev, seq, case = [], GENESIS, 0, 0
    types = ["case.accepted", "case.step_completed", "case.step_completed",
             "case.step_completed", "case.completed", "case.delivered"]
    while len(events) < n:
        case += 1
        case_no = f"Z510824101-20261126-{case:06d}"
        for i, (type_, body) in enumerate([("case.received", intake_body(rng, case))]
                                          + [(t, step_body(rng, j)) for j, t in enumerate(types)]):
            seq += 1
            ev = sign_event(key, node="Z510824101", seq=seq, prev=prev,
                            ts=f"2026-11-26T09:{seq // 60 % 60:02d}:{seq % 60:02d}.000+08:00",
                            type=type_, case=case_no, body=body)
            events.append(ev)
            prev = ev.link_hex
            if len(events) == n:
                break
    return events


def rate(fn, n: int) -> tuple[float, float]:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    return n / elapsed, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    key = PrivateKey.from_seed(bytes(32))
    n = args.events

    t0 = time.perf_counter()
    events = make_events(n, key)
    sign_rate = n / (time.perf_counter() - t0)
    verify_rate, _ = rate(lambda: [verify_event(e, key.public) for e in events], n)
    sizes = [len(e.canonical) for e in events]
    runs = list(split_batches(events, max_events=500))
    batches: list[bytes] = []
    enc_rate, _ = rate(lambda: batches.extend(encode_batch(r) for r in runs), n)
    wire = sum(len(b) for b in batches)

    def fast():
        head = None
        for b in batches:
            head = authenticate_run(decode_batch(b, strict=False), key.public, after=head)

    def naive():
        head = None
        for b in batches:
            head = verify_chain(decode_batch(b, strict=True), key.public, after=head)

    fast_rate, _ = rate(fast, n)
    naive_rate, _ = rate(naive, n)
    print(f"protocol benchmark: {n} events ({n // 7} cases), one core")
    print(f"  canonical bytes per event  avg {sum(sizes) / n:7.0f}   intake ~{max(sizes)} max")
    print(f"  sign (build+encode+sign)   {sign_rate:10,.0f} events/s")
    print(f"  verify one signature       {verify_rate:10,.0f} events/s")
    print(f"  batch encode (500/batch)   {enc_rate:10,.0f} events/s")
    print(f"  wire bytes per event       {wire / n:10.1f}   (target <= 250)")
    print("  batch decode + authenticate:")
    print(f"    ack path (links + last signature, lenient decode) {fast_rate:10,.0f} events/s"
          f"   (target >= 25,000)")
    print(f"    naive (strict decode + every signature)           {naive_rate:10,.0f} events/s"
          f"   ratio {fast_rate / naive_rate:.1f}x")


if __name__ == "__main__":
    main()
