"""Enrolment: one-time tokens issued by an administrator, redeemed by a node's key.

A token is 20 random Crockford base-32 characters (100 bits) and 2 check characters,
shown in groups of four (``7KQ2-M9XD-...``). The check characters catch a mistyped token
before the store is asked; input is normalised (case, spaces, dashes, O->0, I/L->1).
Only SHA-256 of the normalised token is stored. A token binds the node code and name;
redeeming it registers the node's public key once the node has proved possession of it
(:func:`protocol.request_auth.verify_enrolment`). Redeeming a used token again with the
*same* key answers as the first time did (a node whose first answer was lost may retry).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from protocol.envelope import GENESIS, NODE_RE, format_ts, parse_ts
from protocol.errors import ProtocolError
from protocol.request_auth import verify_enrolment

from ..config import HubConfig
from ..errors import HubError
from ..store.records import EnrolToken, NodeRecord
from ..store import HubStore

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"   # Crockford base 32
_TRANSLATE = str.maketrans({"O": "0", "I": "1", "L": "1"})
RANDOM_CHARS = 20
CHECK_CHARS = 2
MAX_NAME_CHARS = 64


def _check_chars(body: str) -> str:
    digest = hashlib.sha256(("township-enrol:" + body).encode("ascii")).digest()
    return "".join(ALPHABET[b % 32] for b in digest[:CHECK_CHARS])


def normalise_token(text: str) -> str:
    """The canonical form of a typed token; raise ``enroll_token_malformed`` if mistyped."""
    if not isinstance(text, str) or len(text) > 200:
        raise HubError("enrolment token is missing", code="enroll_token_malformed")
    text = text.partition(".")[0]    # a TLS pin after the dot is the node's (protocol/tls.py)
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t").translate(_TRANSLATE)
    if len(cleaned) != RANDOM_CHARS + CHECK_CHARS or any(ch not in ALPHABET for ch in cleaned):
        raise HubError(f"enrolment token must be {RANDOM_CHARS + CHECK_CHARS} characters of "
                       "0-9 and A-Z (as printed by `central-hub enroll-token`)",
                       code="enroll_token_malformed")
    body, check = cleaned[:RANDOM_CHARS], cleaned[RANDOM_CHARS:]
    if _check_chars(body) != check:
        raise HubError("enrolment token is mistyped (its check characters do not match): "
                       "please type it again", code="enroll_token_malformed")
    return cleaned


def format_token(cleaned: str) -> str:
    return "-".join(cleaned[i:i + 4] for i in range(0, len(cleaned), 4))


def token_hash(cleaned: str) -> str:
    return hashlib.sha256(cleaned.encode("ascii")).hexdigest()


def issue_token(store: HubStore, config: HubConfig, code: str, name: str,
                ttl_hours: float = 72) -> tuple[str, str]:
    """Create a one-time token for node ``code``; return (printed token, expires_at)."""
    if not isinstance(code, str) or not NODE_RE.match(code):
        raise HubError("node code must be 1-32 characters of A-Z a-z 0-9 - starting with a "
                       "letter or digit", code="node_code_invalid")
    name = (name or "").strip()
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise HubError(f"node name must be 1-{MAX_NAME_CHARS} characters", code="node_name_invalid")
    if not 0 < ttl_hours <= 24 * 30:
        raise HubError("token lifetime must be between 0 and 720 hours", code="ttl_invalid")
    if store.node(code) is not None:
        raise HubError(f"node {code} is already enrolled (re-enrolment under a new key is "
                       "not supported yet)", code="node_exists")
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    cleaned = body + _check_chars(body)
    now = config.now()
    expires = format_ts(now + timedelta(hours=ttl_hours))
    store.add_enrol_token(EnrolToken(token_hash(cleaned), code, name, format_ts(now), expires,
                                     None, None))
    store.audit(format_ts(now), "admin", "enrol_token.issued", code, {"expires_at": expires})
    return format_token(cleaned), expires


def redeem_token(store: HubStore, config: HubConfig, token: str, public_key: str,
                 proof: str) -> NodeRecord:
    """Register the node the token names, with ``public_key``; return its record."""
    cleaned = normalise_token(token)
    try:
        key = verify_enrolment(public_key, token, proof)
    except ProtocolError as exc:
        raise HubError(f"enrolment refused: {exc.message}", code=exc.code) from None
    record = store.enrol_token(token_hash(cleaned))
    if record is None:
        raise HubError("enrolment token is unknown: it was never issued by this hub",
                       code="enroll_token_unknown")
    now = config.now()
    if record.used_at is not None:
        node = store.node(record.node)
        if record.used_by_key == key.hex and node is not None:
            return node
        raise HubError(f"enrolment token was already used at {record.used_at}: ask the "
                       "county administrator for a new one", code="enroll_token_used")
    if parse_ts(record.expires_at) <= now:
        raise HubError(f"enrolment token expired at {record.expires_at}: ask the county "
                       "administrator for a new one", code="enroll_token_expired")
    if store.node(record.node) is not None:
        raise HubError(f"node {record.node} is already enrolled", code="node_exists")
    node = store.enrol_node(record.token_hash, record.node, record.name, key.hex, GENESIS,
                            format_ts(now))
    store.audit(format_ts(now), record.node, "node.enrolled", record.node,
                {"public_key": key.hex})
    return node
