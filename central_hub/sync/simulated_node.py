"""A township node simulated with protocol functions alone, for tests and benchmarks.

It signs events, batches and requests exactly as a node must (and can be told to do it
wrong), so the hub's behaviour is tested before the node's sync client exists.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from protocol import lifecycle
from protocol.batch import encode_batch
from protocol.calendar import SHANGHAI, Calendar
from protocol.chain import KEY_ROTATED
from protocol.envelope import GENESIS, SignedEvent, format_ts, sign_event
from protocol.keys import PrivateKey
from protocol.request_auth import sign_enrolment, sign_request

from .enrolment import issue_token

BATCH_CONTENT_TYPE = "application/x-township-batch"


class SimulatedNode:
    def __init__(self, code: str, key: PrivateKey | None = None,
                 start: datetime | None = None) -> None:
        self.code = code
        self.key = key or PrivateKey.generate()
        self.events: list[SignedEvent] = []
        self.clock = start or datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
        self.offset_ms = 0

    # -- the log

    @property
    def head(self) -> tuple[int, str]:
        if not self.events:
            return 0, GENESIS
        last = self.events[-1]
        return last.seq, last.link_hex

    def next_ts(self) -> str:
        self.clock += timedelta(seconds=1)
        return format_ts(self.clock)

    def append(self, type: str = "user.created", body: dict | None = None,
               case: str | None = None, key: PrivateKey | None = None) -> SignedEvent:
        seq, prev = self.head
        seq += 1
        if body is None:
            body = {"user": f"u{seq}", "username": f"user{seq}", "name": f"用户{seq}",
                    "roles": ["clerk"], "actor": None}
        event = sign_event(key or self.key, node=self.code, seq=seq, prev=prev,
                           ts=self.next_ts(), type=type, case=case, body=body)
        self.events.append(event)
        return event

    def append_many(self, count: int, **kwargs: Any) -> list[SignedEvent]:
        return [self.append(**kwargs) for _ in range(count)]

    def rotate_key(self) -> PrivateKey:
        new = PrivateKey.generate()
        self.append(type=KEY_ROTATED, body={"new_key": new.public.hex})
        self.key = new
        return new

    def run(self, first: int, last: int) -> list[SignedEvent]:
        return [e for e in self.events if first <= e.seq <= last]

    def batch(self, first: int = 1, last: int | None = None) -> bytes:
        last = self.events[-1].seq if last is None else last
        return encode_batch(self.run(first, last))

    # -- requests

    def enrol_body(self, token: str) -> dict:
        return {"token": token, "public_key": self.key.public.hex,
                "proof": sign_enrolment(self.key, token)}

    def headers(self, method: str, path: str, body: bytes = b"", *,
                ts: datetime | None = None, key: PrivateKey | None = None,
                now: datetime | None = None) -> dict[str, str]:
        """Signed headers; ``ts`` defaults to ``now`` (real time) corrected by the offset."""
        moment = ts or ((now or datetime.now(timezone.utc)).astimezone(SHANGHAI)
                        + timedelta(milliseconds=self.offset_ms))
        return sign_request(key or self.key, self.code, method, path, body, moment,
                            offset_ms=self.offset_ms)

    def push_request(self, body: bytes, path: str = "/sync/v1/push", **kwargs: Any) -> dict:
        headers = self.headers("POST", path, body, **kwargs)
        headers["Content-Type"] = BATCH_CONTENT_TYPE
        return headers


def enrol(client: Any, hub: Any, node: SimulatedNode, name: str | None = None) -> dict:
    """Issue a token at ``hub`` (a HubContext) and enrol ``node`` through ``client``."""
    token, _ = issue_token(hub.store, hub.config, node.code, name or f"{node.code} 便民服务中心")
    response = client.post("/sync/v1/enroll", json=node.enrol_body(token))
    if response.status_code != 200:
        raise AssertionError(f"enrolment failed: {response.status_code} {response.text}")
    return response.json()


# --------------------------------------------------------------------------- cases

def _sample_item(items: list[dict] | None = None, index: int = 0) -> dict:
    if items is None:
        path = Path(__file__).resolve().parents[2] / "protocol" / "samples" / "catalogue.json"
        items = json.loads(path.read_text(encoding="utf-8"))["items"]
    return items[index % len(items)]


def append_case(node: SimulatedNode, case_no: str, item: dict, *, until: str = "delivered",
                calendar: Any = None, catalogue_version: int = 1, gap: timedelta | None = None,
                applicant: str = "张三丰") -> list[SignedEvent]:
    """Append the events of one case handled along ``item``'s flow, as a node writes them.

    ``until``: the last state reached (received, accepted, decided, completed, delivered).
    ``gap``: node time between two events (default one hour).
    """
    calendar = calendar or Calendar.seeded()
    gap = gap or timedelta(hours=1)
    out: list[SignedEvent] = []
    state: dict | None = None

    def add(type_: str, body: dict) -> None:
        nonlocal state
        node.clock += gap
        event = node.append(type=type_, body=body, case=case_no)
        out.append(event)
        state = lifecycle.apply(state, event.env)

    flow = [{"id": s["id"], "name": s["name"][:50], "role": s["role"]} for s in item["flow"]]
    materials = [{"id": m["id"], "name": m["name"], "required": m["required"], "present": True}
                 for m in item["materials"]]
    fee = item["fee"]["amount_fen"] if item["fee"]["charged"] else 0
    actor = {"id": "clerk-1", "role": "clerk"}
    add("case.received", {
        "actor": actor, "channel": "window",
        "item": {"code": item["code"], "name": item["name"], "type_code": item["type_code"]},
        "catalogue_version": catalogue_version,
        "applicant": {"kind": "person", "name": applicant, "id_type": "resident_id",
                      "id_no": "510104199001011234"},
        "materials": materials, "fee_standard_fen": fee,
        "committed_half_days": item["committed_half_days"],
        "statutory_half_days": item["statutory_half_days"], "flow": flow,
        "separate_accept_approve": item["separate_accept_approve"],
        "query_code": "Q" + case_no[-6:]})
    if until == "received":
        return out
    accepted_day = (node.clock + gap).date()
    deadline = lifecycle.case_deadline(state, calendar, accepted_date=accepted_day)
    add("case.accepted", {"actor": actor, "materials": materials,
                          "deadline": lifecycle.deadline_summary(deadline)})
    if fee:
        add("fee.charged", {"actor": actor, "approver": {"id": "head-1", "role": "head"},
                            "amount_fen": fee, "standard_fen": fee})
    if until == "accepted":
        return out
    decision, final = lifecycle.flow_plan(flow)
    for i in range(1, decision):
        add("case.step_completed", {"actor": {"id": f"{flow[i]['role']}-1",
                                              "role": flow[i]["role"]},
                                    "step": flow[i]["id"], "outcome": "pass", "opinion": "同意"})
    if decision < final or len(flow) > 1:
        step = flow[decision]
        role_id = "clerk-2" if step["role"] == "clerk" else f"{step['role']}-1"
        add("case.decided", {"actor": {"id": role_id, "role": step["role"]},
                             "step": step["id"], "outcome": "approve", "reason": "符合条件"})
    if until == "decided":
        return out
    for i in range(decision + 1, final):
        add("case.step_completed", {"actor": {"id": f"{flow[i]['role']}-1",
                                              "role": flow[i]["role"]},
                                    "step": flow[i]["id"], "outcome": "pass", "opinion": "已办"})
    add("case.completed", {"actor": {"id": "clerk-1", "role": "clerk"}, "result": "准予"})
    if until == "completed":
        return out
    add("case.delivered", {"actor": actor, "method": "window", "recipient": applicant})
    return out
