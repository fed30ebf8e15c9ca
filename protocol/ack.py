"""The ack: the hub's signed answer to a push (SPEC.md section 8).

``acked_seq`` is the highest seq of that node the hub has *durably* stored with every
event before it; ``acked_link`` is that event's link hash, so a node can check that the
hub holds exactly its chain. A node marks events acknowledged only from an ack it has
verified with the pinned hub key.
"""

from __future__ import annotations

from dataclasses import dataclass

from .document import SignedDocument, sign_document, verify_document
from .envelope import HEX64_RE, NODE_RE
from .errors import DocumentError
from .keys import PrivateKey, PublicKey

ACK_KIND = "ack"


@dataclass(frozen=True, slots=True)
class Ack:
    node: str
    acked_seq: int
    acked_link: str
    stored: int              # events newly stored by this push
    hub_time: str
    error: dict | None = None   # {"code", "message", "seq"} when the push stopped early

    def to_body(self) -> dict:
        body = {"node": self.node, "acked_seq": self.acked_seq, "acked_link": self.acked_link,
                "stored": self.stored, "hub_time": self.hub_time}
        if self.error is not None:
            body["error"] = self.error
        return body


def sign_ack(key: PrivateKey, issuer: str, ack: Ack) -> SignedDocument:
    return sign_document(key, kind=ACK_KIND, issuer=issuer, issued_at=ack.hub_time,
                         body=ack.to_body())


def verify_ack(wire, key: PublicKey, node: str) -> Ack:
    doc = verify_document(wire, key, kind=ACK_KIND)
    body = doc.body
    try:
        ack = Ack(node=body["node"], acked_seq=body["acked_seq"],
                  acked_link=body["acked_link"], stored=body["stored"],
                  hub_time=body["hub_time"], error=body.get("error"))
    except KeyError as exc:
        raise DocumentError(f"ack lacks field {exc.args[0]}", field=exc.args[0]) from None
    if not isinstance(ack.node, str) or not NODE_RE.match(ack.node) or ack.node != node:
        raise DocumentError(f"ack is for node {ack.node!r}, not {node!r}", field="node")
    if type(ack.acked_seq) is not int or ack.acked_seq < 0:
        raise DocumentError("acked_seq must be a non-negative integer", field="acked_seq")
    if not isinstance(ack.acked_link, str) or not HEX64_RE.match(ack.acked_link):
        raise DocumentError("acked_link must be 64 hex characters", field="acked_link")
    if type(ack.stored) is not int or ack.stored < 0:
        raise DocumentError("stored must be a non-negative integer", field="stored")
    return ack
