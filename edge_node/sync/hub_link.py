"""The node's HTTP link to the hub: signed requests, hub time, pinned hub keys.

:class:`HubLink` wraps an injected HTTP client (``httpx.Client``, or Starlette's
``TestClient`` in tests: anything with ``request(method, url, content=, headers=)``). It
signs every request with :mod:`protocol.request_auth`, keeps the clock offset from the
``X-Hub-Time`` of *every* answer (refusals included), retries once after
``request_expired`` with the corrected time, and turns answers into results or errors.
It trusts only the pinned hub key: when an answer names another key (``X-Hub-Key``) or a
signed answer does not verify, it fetches ``/sync/v1/keys`` and follows the hub's key
statements from the pinned key (``protocol.config_docs.follow_key_statements``); a key
it cannot reach that way is never accepted.

Errors (all ``edge_node.errors.NodeError``, so the CLI prints ``zh`` on one line)::

    SyncError                 base; ``code`` is a stable machine code
    ├── NotEnrolled           the node has no pinned hub (run ``edge-node enroll``)
    ├── HubUnreachable        network failure, timeout, reset, truncated or 5xx answer:
    │                         transient, retry later with back-off (``network`` is True)
    ├── HubRefused            the hub answered with an error ``code`` (docs/sync.md table)
    └── HubUntrusted          an answer is not signed by the pinned hub key, and the
                              hub's key statements do not lead to the key it used; or
                              (``hub_tls_untrusted``) the hub's TLS certificate is not
                              pinned / not trusted: the request was never sent
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import httpx2

from protocol.config_docs import follow_key_statements
from protocol.envelope import parse_ts
from protocol.errors import ProtocolError
from protocol.keys import PrivateKey, PublicKey
from protocol.request_auth import H_HUB_KEY, H_HUB_TIME, H_VERSION, sign_request
from protocol.version import version_string

from ..errors import NodeError
from .tls import TlsPinMismatch, tls_failure

log = logging.getLogger(__name__)

#: Chinese explanations of the hub's refusal codes (docs/sync.md, "HTTP API").
REFUSAL_ZH = {
    "node_revoked": "本节点已被县级管理员停用（吊销），不能再与县级平台同步，请联系县政务服务中心",
    "node_quarantined": "本节点因事件链分叉已被县级平台隔离，暂停上报，等待县级管理员核查",
    "node_unknown": "县级平台不认识本节点，请重新接入（edge-node enroll）",
    "request_expired": "本机时钟与县级平台相差太大，已自动校正，请稍后重试",
    "request_replayed": "县级平台拒绝了重复的请求（疑似重放）",
    "request_signature_invalid": "县级平台无法验证本节点的签名（密钥不符）",
    "request_unsigned": "请求缺少签名",
    "chain_fork": "本节点的事件与县级平台已存的不一致（链分叉），节点已被隔离",
    "chain_broken": "本节点的事件链断裂（有事件被改动），县级平台拒收",
    "chain_reorder": "批次中事件顺序错乱，县级平台拒收",
    "chain_duplicate": "批次中有重复事件，县级平台拒收",
    "chain_gap": "事件序号不连续，将从县级平台已确认处重新发送",
    "signature_invalid": "事件签名无法验证，县级平台拒收",
    "batch_wrong_node": "批次中含有其他节点的事件，县级平台拒收",
    "batch_too_large": "批次超过大小限制",
    "request_too_large": "请求超过大小限制",
    "rate_limited": "请求过于频繁，请稍后再试",
    "enroll_token_used": "此接入令牌已被使用，请向县级管理员申请新的令牌",
    "enroll_token_expired": "此接入令牌已过期，请向县级管理员申请新的令牌",
    "enroll_token_malformed": "接入令牌输入有误（校验位不符），请核对后重新输入",
    "enroll_token_unknown": "县级平台没有签发过此接入令牌，请核对后重新输入",
    "node_exists": "县级平台上已有使用此编码的节点",
    "config_unknown": "县级平台没有这种配置文件",
    # sync in the field (docs/sync-field.md)
    "restore_token_used": "此恢复令牌已被使用，请向县级管理员申请新的令牌",
    "restore_token_expired": "此恢复令牌已过期，请向县级管理员申请新的令牌",
    "restore_token_unknown": "县级平台没有签发过此恢复令牌，请核对后重新输入",
    "restore_token_malformed": "恢复令牌输入有误（校验位不符），请核对后重新输入",
    "epoch_behind_backup": "备份中有县级平台没有的事件，且无法用备份中的密钥上报（密钥已失效），"
                           "不能从此备份恢复；请改用 edge-node restore --hub 从县级平台重建",
    "version_unsupported": "本节点的协议版本县级平台不支持，请升级节点软件",
    "attachment_too_large": "附件超过 10 MiB，县级平台拒收",
    "attachment_type_refused": "附件类型不是 PDF、PNG 或 JPEG，县级平台拒收",
    "attachment_unreferenced": "县级平台尚未收到引用此附件的公开文件，稍后再传",
    "attachment_chunk_corrupt": "附件分块在传输中损坏，将重新发送",
    "attachment_corrupt": "附件拼合后校验不符，将重新发送损坏的分块",
}


class SyncError(NodeError):
    """Base of sync failures; ``code`` is stable, ``zh`` is for staff."""

    status = 502
    code = "sync_error"
    network = False

    def __init__(self, message: str, *, zh: str | None = None, code: str | None = None,
                 body: dict | None = None, http_status: int | None = None) -> None:
        super().__init__(message, zh=zh)
        if code is not None:
            self.code = code
        self.body = body or {}
        self.http_status = http_status

    def to_dict(self) -> dict:
        return {**super().to_dict(), "code": self.code}


class NotEnrolled(SyncError):
    code = "not_enrolled"


class HubUnreachable(SyncError):
    code = "hub_unreachable"
    network = True


class HubRefused(SyncError):
    code = "hub_refused"


class HubUntrusted(SyncError):
    code = "hub_untrusted"


def _transport_errors() -> tuple[type[BaseException], ...]:
    return (OSError, httpx.TransportError, httpx.DecodingError, httpx.StreamError,
            httpx2.TransportError, httpx2.DecodingError, httpx2.StreamError)


TRANSPORT_ERRORS = _transport_errors()


@dataclass
class Answer:
    status: int
    headers: Any
    content: bytes
    data: Any = None


@dataclass
class Traffic:
    """Bytes of request and answer bodies plus headers, as counted by the link."""

    sent: int = 0
    received: int = 0
    requests: int = 0
    by_path: dict = field(default_factory=dict)


class HubLink:
    """Signed requests to the hub of ``node`` over ``http`` (see module docs)."""

    def __init__(self, node, http, *, hub_url: str | None = None) -> None:
        self.node = node
        self.http = http
        state = node.store.sync_state()
        self.hub_url = (hub_url or state.get("hub_url") or node.config.hub_url or "").rstrip("/")
        self.offset_ms: int = state.get("clock_offset_ms") or 0
        self.offset_known = state.get("clock_offset_ms") is not None
        self.traffic = Traffic()
        #: the protocol version this node speaks (a node kept one minor behind says 1.0)
        self.protocol_version: tuple[int, int] | None = None

    # ------------------------------------------------------------------ keys

    def pinned_key(self) -> PublicKey:
        hex_ = self.node.store.sync_state().get("hub_signing_key")
        if not hex_:
            raise NotEnrolled("this node has not enrolled with a hub",
                              zh="本节点尚未接入县级平台，请先运行 edge-node enroll")
        return PublicKey.from_hex(hex_)

    def follow_hub_key(self, advertised: str | None = None) -> PublicKey:
        """Fetch the hub's key statements and move the pin along them; return the key.

        Raises HubUntrusted when the statements do not lead from the pinned key to the key
        the hub now uses (``advertised`` or the ``signing_key`` of /sync/v1/keys).
        """
        pinned = self.pinned_key()
        answer = self.request("GET", "/sync/v1/keys", signed=False, check_key=False)
        data = answer.data if isinstance(answer.data, dict) else {}
        statements = data.get("statements") or []
        current = advertised or data.get("signing_key")
        try:
            new, encryption = follow_key_statements(pinned, statements)
        except ProtocolError as exc:
            raise HubUntrusted(f"hub key statements do not verify: {exc}",
                               zh="县级平台的密钥更换声明无法验证，已停止同步，请联系县级管理员",
                               code="hub_key_unverified") from None
        if current and new.hex != current:
            raise HubUntrusted(
                f"the hub uses key {current[:16]}..., which no statement from the pinned key "
                f"{pinned.fingerprint} leads to",
                zh="县级平台使用了本节点未认可的密钥（无法由已认可的密钥推出），已停止同步，"
                   "请联系县级管理员核实", code="hub_key_unpinned")
        if new != pinned:
            values: dict[str, Any] = {"hub_signing_key": new.hex}
            if encryption:
                values["hub_encryption_key"] = encryption
            self.node.store.save_sync_state(**values)
            log.info("hub key rotated: now pinned %s (was %s)", new.fingerprint,
                     pinned.fingerprint)
        return new

    def verified(self, verify, wire):
        """``verify(wire, key)`` with the pinned key; after one key follow on failure."""
        try:
            return verify(wire, self.pinned_key())
        except ProtocolError as first:
            log.info("hub answer does not verify with the pinned key (%s); checking the "
                     "hub's key statements", first.code)
        key = self.follow_hub_key()
        try:
            return verify(wire, key)
        except ProtocolError as exc:
            raise HubUntrusted(f"hub answer does not verify with its key: {exc}",
                               zh="县级平台的答复签名无法验证，已停止同步（可能被篡改）",
                               code="hub_signature_invalid") from None

    # ------------------------------------------------------------------ time

    def corrected_now(self) -> datetime:
        return self.node.now() + timedelta(milliseconds=self.offset_ms)

    def _observe_time(self, headers: Any, before: datetime, after: datetime) -> None:
        text = headers.get(H_HUB_TIME) if headers is not None else None
        if not text:
            return
        try:
            hub_time = parse_ts(text)
        except ProtocolError:
            return
        middle = before + (after - before) / 2
        self.offset_ms = round((hub_time - middle).total_seconds() * 1000)
        self.offset_known = True

    def save_offset(self, *, force: bool = False) -> None:
        """Persist the offset when it moved by more than a second (or ``force``)."""
        if not self.offset_known:
            return
        saved = self.node.store.sync_state().get("clock_offset_ms")
        if force or saved is None or abs(self.offset_ms - saved) > 1000:
            self.node.store.save_sync_state(clock_offset_ms=self.offset_ms)

    # ------------------------------------------------------------------ requests

    def request(self, method: str, path: str, body: bytes = b"", *,
                content_type: str | None = None, signed: bool = True,
                key: PrivateKey | None = None, check_key: bool = True,
                timeout: float | None = None, expect_json: bool = True) -> Answer:
        """Send one request; return the 2xx answer (JSON parsed) or raise a SyncError.

        ``expect_json=False``: a binary answer (``/sync/v1/log`` sends a batch)."""
        if not self.hub_url:
            raise NotEnrolled("no hub URL", zh="本节点尚未接入县级平台，请先运行 edge-node enroll")
        for attempt in (1, 2):
            answer = self._send(method, path, body, content_type=content_type, signed=signed,
                                key=key, timeout=timeout)
            if check_key:
                self._check_key(answer.headers)
            if 200 <= answer.status < 300:
                if answer.data is None and expect_json:
                    raise HubUnreachable(
                        f"{method} {path}: the hub's answer is not complete JSON",
                        zh="县级平台的答复不完整（网络中断），稍后自动重试",
                        code="answer_truncated")
                return answer
            error = self._refusal(method, path, answer)
            if error.code == "request_expired" and attempt == 1 and signed:
                log.info("request expired; retrying with corrected time (offset %d ms)",
                         self.offset_ms)
                continue
            raise error
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, body: bytes, *, content_type: str | None,
              signed: bool, key: PrivateKey | None, timeout: float | None) -> Answer:
        headers: dict[str, str] = {}
        if content_type:
            headers["Content-Type"] = content_type
        if signed:
            headers.update(sign_request(key or self.node.key, self.node.code, method, path,
                                        body, ts=self.corrected_now(),
                                        offset_ms=self.offset_ms))
            if self.protocol_version is not None:
                headers[H_VERSION] = version_string(self.protocol_version)
        before = self.node.now()
        kwargs: dict[str, Any] = {"content": body if body else None, "headers": headers}
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            try:
                response = self.http.request(method, self.hub_url + path, **kwargs)
            except TRANSPORT_ERRORS as exc:
                # A kept-alive connection the hub closed while idle fails before any
                # answer; sending again on a new connection is safe (every request is
                # idempotent; a new nonce is signed).
                if type(exc).__name__ != "RemoteProtocolError":
                    raise
                if signed:
                    headers.update(sign_request(key or self.node.key, self.node.code, method,
                                                path, body, ts=self.corrected_now(),
                                                offset_ms=self.offset_ms))
                response = self.http.request(method, self.hub_url + path, **kwargs)
            content = response.content
        except TRANSPORT_ERRORS as exc:
            failure = tls_failure(exc)
            if isinstance(failure, TlsPinMismatch):
                raise HubUntrusted(
                    f"{method} {path}: {failure}; nothing was sent",
                    zh="县级平台的 TLS 证书与本节点认可的指纹不符，已停止连接，未发送任何数据"
                       "（可能连到了假冒的平台，请联系县级管理员核实）",
                    code="hub_tls_untrusted") from None
            if failure is not None:
                reason = getattr(failure, "verify_message", None) or failure
                raise HubUntrusted(
                    f"{method} {path}: the hub's TLS certificate is not trusted: {reason}; "
                    "enrol with a token that carries the hub's TLS pin", zh="县级平台的 TLS 证书不受信任，已停止连接，未发送任何"
                    "数据（请使用带证书指纹的接入令牌）", code="hub_tls_untrusted") from None
            raise HubUnreachable(f"{method} {path}: {type(exc).__name__}: {exc}",
                                 zh="无法连接县级平台（网络不通或中断）") from None
        after = self.node.now()
        self._observe_time(response.headers, before, after)
        self._count(path, body, headers, content, response.headers)
        data = None
        if content:
            try:
                data = json.loads(content)
            except ValueError:
                data = None
        return Answer(response.status_code, response.headers, content, data)

    def _count(self, path: str, body: bytes, headers: dict, content: bytes,
               answer_headers: Any) -> None:
        sent = len(body) + sum(len(k) + len(v) + 4 for k, v in headers.items()) + 120
        received = len(content) + sum(len(k) + len(v) + 4
                                      for k, v in answer_headers.items()) + 20
        t = self.traffic
        t.sent += sent
        t.received += received
        t.requests += 1
        name = path.split("?")[0]
        t.by_path[name] = t.by_path.get(name, 0) + sent + received

    def _check_key(self, headers: Any) -> None:
        advertised = headers.get(H_HUB_KEY) if headers is not None else None
        if not advertised:
            return
        state = self.node.store.sync_state()
        pinned = state.get("hub_signing_key")
        if pinned and advertised != pinned:
            self.follow_hub_key(advertised)

    def _refusal(self, method: str, path: str, answer: Answer) -> SyncError:
        data = answer.data if isinstance(answer.data, dict) else {}
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = error.get("message") if isinstance(error.get("message"), str) else ""
        if answer.status >= 500 or code is None:
            detail = message or answer.content[:120].decode("utf-8", "replace")
            return HubUnreachable(
                f"{method} {path}: HTTP {answer.status} {code or ''} {detail}".strip(),
                zh=f"县级平台暂时无法处理（HTTP {answer.status}），稍后自动重试",
                code="hub_unavailable" if answer.status >= 500 else "answer_invalid",
                http_status=answer.status)
        zh = REFUSAL_ZH.get(code)
        if zh is None:
            zh = message if any("\u4e00" <= ch <= "\u9fff" for ch in message) else \
                f"县级平台拒绝了请求：{message or code}"
        return HubRefused(f"{method} {path}: {code}: {message}", zh=zh, code=code, body=data,
                          http_status=answer.status)


__all__ = ["Answer", "HubLink", "HubRefused", "HubUnreachable", "HubUntrusted", "NotEnrolled",
           "REFUSAL_ZH", "SyncError", "Traffic"]
