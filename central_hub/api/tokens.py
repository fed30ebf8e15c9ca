"""API tokens (接口令牌): random 256-bit secrets shown once, stored as SHA-256, each with
scopes. A revoked token stops working at once.

``personal:read`` (个人信息) is never given by default: without it the feeds carry masked
projections of personal data; with it ``/api/v1/events`` gives the signed envelopes as the
nodes signed them, and every such read is recorded in the audit log."""

from __future__ import annotations

import hashlib
import secrets

from ..errors import HubError
from ..store import face as sql

PERSONAL_SCOPE = "personal:read"
SCOPES = {
    "cases:read": "办件数据",
    "events:read": "事件日志（签名原文）",
    "evaluations:read": "好差评数据",
    "items:read": "事项目录",
    PERSONAL_SCOPE: "个人信息（完整证件号码、电话、查询码；每次读取记入审计日志）",
}
DEFAULT_SCOPES = tuple(sorted(s for s in SCOPES if s != PERSONAL_SCOPE))
"""What ``central-hub api-token add`` gives without ``--scope``: everything but personal data."""
PREFIX = "tsk_"


class TokenError(HubError):
    code = "token_invalid"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(store, *, name: str, scopes, at: str, by: str | None) -> tuple[int, str]:
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise TokenError("名称：1 至 100 个字符")
    scopes = sorted(set(scopes))
    if not scopes or any(s not in SCOPES for s in scopes):
        raise TokenError(f"权限范围：请从 {', '.join(SCOPES)} 中选择")
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = sql.add_api_token(store, name=name, token_hash=token_hash(token), scopes=scopes,
                                 at=at, by=by)
    return token_id, token


def lookup(store, token: str) -> dict | None:
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    found = sql.api_token(store, token_hash(token))
    if found is None or found["revoked_at"]:
        return None
    return found
