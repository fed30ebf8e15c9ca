"""Sync with the county hub: enrolment, push, pull, status.

:meth:`SyncClient.sync_once` is the unit of work (after litestream's ``Sync()``):

1. **Push.** Unacknowledged events, from ``acked_seq + 1``, in batches bounded in events
   and bytes (``protocol.batch.split_batches``), compressed (``encode_batch``), each a
   signed ``POST /sync/v1/push?head=N``. Events become acknowledged only from an ack that
   verifies with the pinned hub key, via ``Store.mark_acked`` (which also checks the
   hub's link hash against ours). The log is never deleted. A ``chain_gap`` refusal
   carries a signed ack: the node resends from its ``acked_seq + 1``.
2. **Pull.** The signed manifest; each configuration whose digest differs from the one
   applied is fetched, verified (``verify_config``) and applied in one transaction with
   its event: the catalogue (``catalogue.applied``) and the calendar (``calendar.applied``
   and the recomputed deadlines). Events the pull wrote are pushed in the same round.
3. **Status.** A round that had nothing to push asks ``/sync/v1/status?head=N``, so the
   hub's fleet page sees the node and the node learns its standing and hub time.

Each round updates the sync state (``Store.save_sync_state``) and appends a row to
``sync_rounds``; the header indicator and the /sync page read only those.

Key rotation is in :mod:`edge_node.sync.keys`; :class:`~edge_node.sync.loop.SyncService`
(``edge-node serve``'s background thread) calls ``sync_once`` on a schedule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx

from protocol.ack import Ack, verify_ack
from protocol.batch import encode_batch, split_batches
from protocol.calendar import Calendar
from protocol.catalogue import validate_catalogue
from protocol.config_docs import CONFIG_CALENDAR, CONFIG_CATALOGUE, CONFIG_TLS, INBOX, \
    verify_config, verify_manifest
from protocol.config_docs import CONFIG_NOTICES   # notices (edge_node/notices/board.py)
from protocol.document import verify_document
from protocol.envelope import format_ts
from protocol.errors import ProtocolError
from protocol.keys import PrivateKey, PublicKey, load_private_key
from protocol.request_auth import sign_enrolment
from protocol.tls import TlsPinError, split_token, validate_tls_content

from ..cases import catalogue as node_catalogue
from ..cases import deadlines
from ..cases import inbox   # cross-level handling (docs/cross-level.md): the node's inbox
from ..cases.supervision import apply_rules
from ..config import NODE_FILE
from ..errors import NodeError, SetupError, ValidationError
from ..notices.board import apply_notices
from .attachments import upload_attachments
from .hub_link import REFUSAL_ZH, HubLink, HubRefused, HubUntrusted, SyncError
from .keys import OLD_KEY_FILE, finish_acknowledged_rotation
from .tls import hub_ssl_context
from .usb import push_version as configured_version
from .usb import resend_start

log = logging.getLogger(__name__)

BATCH_CONTENT_TYPE = "application/x-township-batch"

#: Default batch bounds: about 250 events of ~1 KB compress to ~40 KB, five seconds at
#: 64 kbit/s, so a lost connection costs little and an ack comes often.
MAX_BATCH_EVENTS = 250
MAX_BATCH_RAW_BYTES = 256 * 1024
#: Give up a round after this many chain_gap resends without progress.
MAX_GAP_RESENDS = 3

PULLED_KINDS = (CONFIG_CATALOGUE, CONFIG_CALENDAR, CONFIG_NOTICES,
                "config.rules")   # supervision rules (issue #9, edge_node/cases/supervision.py)


def default_http(timeout: float = 60.0, pins: Callable[[], Any] | None = None):
    """The HTTP client a node uses when none is injected.

    ``pins()`` gives the hub's TLS pins at each new connection (edge_node/sync/tls.py): with
    pins, an https hub must present a pinned key; without, ordinary CA verification."""
    # keep-alive shorter than uvicorn's 5 s, so an idle connection is not reused as the hub
    # closes it
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=False,
                        trust_env=False, limits=httpx.Limits(keepalive_expiry=4.0),
                        verify=hub_ssl_context(pins or tuple))


def split_pinned_token(token: str, hub_url: str, what: str = "接入令牌") -> tuple[str, str | None]:
    """``(one-time token, hub TLS pin or None)`` of a typed enrolment or restore token
    (``central-hub enroll-token`` / ``restore-token`` append the pin after a dot); a pin
    needs an https:// hub URL."""
    try:
        token, pin = split_token(token)
    except TlsPinError as exc:
        raise ValidationError("token", "tls_pin", f"{what}中点号后的证书指纹输入有误（校验位不符），"
                              "请核对后重新输入", str(exc)) from None
    if pin and not hub_url.startswith("https://"):
        raise ValidationError("hub", "https_required",
                              f"{what}带有县级平台的 TLS 证书指纹，县级平台地址须以 https:// 开头",
                              "the token carries the hub's TLS pin: use an https:// URL")
    return token, pin


def node_tls_pins(node) -> tuple[str, ...]:
    """The hub TLS pins ``node`` trusts now (from its token, then from config.tls)."""
    return tuple((node.store.sync_state().get("hub_tls") or {}).get("pins") or ())


@dataclass
class RoundReport:
    """What one :meth:`SyncClient.sync_once` did."""

    pushed: int = 0              # events newly acknowledged in this round
    batches: int = 0
    acked_seq: int = 0
    head_seq: int = 0
    applied: list[str] = field(default_factory=list)   # configuration kinds applied
    bytes_sent: int = 0
    bytes_received: int = 0
    requests: int = 0
    gap_resends: int = 0
    error: SyncError | None = None
    attachments: Any = None      # the attachment phase's AttachmentReport

    @property
    def waiting(self) -> int:
        return self.head_seq - self.acked_seq

    @property
    def complete(self) -> bool:
        return self.error is None and self.waiting == 0


# --------------------------------------------------------------------------- the client


class SyncClient:
    """Sync ``node`` with its hub over ``http`` (inject a client in tests; see module docs)."""

    def __init__(self, node, http=None, *, hub_url: str | None = None,
                 max_batch_events: int = MAX_BATCH_EVENTS,
                 max_batch_bytes: int = MAX_BATCH_RAW_BYTES,
                 request_timeout: float | None = None,
                 push_version: tuple[int, int] | None = None,
                 attachment_budget_bytes: int = 4 * 1024 * 1024) -> None:
        self.node = node
        self.push_version = push_version or configured_version(node)
        self.attachment_budget_bytes = attachment_budget_bytes
        self._owns_http = http is None
        self._enrol_pins: tuple[str, ...] = ()
        self.http = http if http is not None else default_http(pins=self.tls_pins)
        self.link = HubLink(node, self.http, hub_url=hub_url)
        self.link.protocol_version = self.push_version
        self.max_batch_events = max_batch_events
        self.max_batch_bytes = max_batch_bytes
        self.request_timeout = request_timeout

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    @property
    def store(self):
        return self.node.store

    def tls_pins(self) -> tuple[str, ...]:
        return self._enrol_pins or node_tls_pins(self.node)

    # ------------------------------------------------------------------ enrolment

    def enroll(self, hub_url: str, token: str, *,
               expect_fingerprint: str | None = None) -> dict:
        """Register this node's key with the hub (proof of possession) and pin its keys.

        Returns ``{"hub_name", "fingerprint", "hub_url"}``. Refuses to re-pin a node
        already enrolled with another hub key.
        """
        hub_url = hub_url.rstrip("/")
        if not hub_url.startswith(("http://", "https://")):
            raise ValidationError("hub", "url", "县级平台地址须以 http:// 或 https:// 开头")
        token, pin = split_pinned_token(token, hub_url)
        self._enrol_pins = (pin,) if pin else ()
        self.link.hub_url = hub_url
        key = self.request_key()
        body = {"token": token, "public_key": key.public.hex,
                "proof": sign_enrolment(key, token)}
        answer = self.link.request("POST", "/sync/v1/enroll",
                                   json.dumps(body).encode("utf-8"),
                                   content_type="application/json", signed=False,
                                   check_key=False)
        data = answer.data
        try:
            hub = data["hub"]
            signing = PublicKey.from_hex(hub["signing_key"])
            encryption = hub["encryption_key"]
            statement = verify_document(data["statement"], signing, kind="hub.enrolment")
        except (KeyError, TypeError, ProtocolError) as exc:
            raise HubUntrusted(f"the hub's enrolment answer does not verify: {exc}",
                               zh="县级平台的接入答复无法验证，未接入",
                               code="enrolment_invalid") from None
        sbody = statement.body
        if data.get("node") != self.node.code or sbody.get("node") != self.node.code:
            raise HubRefused(
                f"the token was issued for node {data.get('node')}, not {self.node.code}",
                zh=f"此令牌是为节点 {data.get('node')} 签发的，与本节点编码 "
                   f"{self.node.code} 不符，请向县级管理员核对", code="enroll_node_mismatch")
        if sbody.get("node_key") != key.public.hex or sbody.get("signing_key") != signing.hex:
            raise HubUntrusted("the enrolment statement names other keys",
                               zh="县级平台的接入答复与本节点密钥不符，未接入",
                               code="enrolment_invalid")
        if expect_fingerprint and norm_fingerprint(expect_fingerprint) != norm_fingerprint(signing.fingerprint):
            raise HubUntrusted(
                f"hub key fingerprint {signing.fingerprint} differs from the expected one",
                zh=f"县级平台密钥指纹 {signing.fingerprint} 与预期不符，未接入（可能连到了假冒的平台）",
                code="hub_fingerprint_mismatch")
        state = self.store.sync_state()
        pinned = state.get("hub_signing_key")
        if pinned and pinned != signing.hex:
            raise SetupError("this node is already enrolled with another hub key",
                             zh="本节点已接入另一个县级平台（密钥不同），不能重复接入")
        self.store.save_sync_state(
            hub_url=hub_url, hub_name=str(hub.get("name") or ""), hub_signing_key=signing.hex,
            hub_encryption_key=encryption, enrolled_at=format_ts(self.node.now()),
            hub_tls={"pins": [pin], "source": "token"} if pin else None,
            status="active", initial_key=state.get("initial_key") or _initial_key(self.node),
            last_error_code=None, last_error_zh=None, last_error_network=None)
        self.link.save_offset(force=True)
        write_hub_url(self.node.config.data_dir, hub_url)
        self._enrol_pins = ()
        log.info("enrolled with hub %s (%s)", hub_url, signing.fingerprint)
        return {"hub_name": hub.get("name"), "fingerprint": signing.fingerprint,
                "hub_url": hub_url}

    # ------------------------------------------------------------------ the round

    def sync_once(self) -> RoundReport:
        """One round: push, pull, push what the pull wrote (or report status).

        Records the outcome in the sync state and ``sync_rounds``; raises the SyncError
        that stopped the round (after recording it), else returns the report.
        """
        report = RoundReport()
        started = format_ts(self.node.now())
        traffic_before = (self.link.traffic.sent, self.link.traffic.received,
                          self.link.traffic.requests)
        self.store.save_sync_state(last_attempt_at=started)
        try:
            self.link.pinned_key()
            try:
                self.push(report)
            except HubRefused as exc:
                # a hub restored from a backup older than our restore epoch no longer
                # knows our key: show it the epoch statement it signed, then go on
                if exc.code != "request_signature_invalid" or not self.reinstate_epoch():
                    raise
                self.push(report)
            self.pull(report)
            if report.applied:
                self.push(report)
            if report.batches == 0:
                self.report_status()
            self.upload_attachments(report)
        except SyncError as exc:
            report.error = exc
        except NodeError as exc:   # e.g. an ack beyond our log, a link mismatch
            report.error = SyncError(str(exc), zh=exc.zh, code=getattr(exc, "code", None)
                                     or "ack_mismatch")
        finally:
            self._finish(report, started, traffic_before)
        if report.error is not None:
            raise report.error
        return report

    def _finish(self, report: RoundReport, started: str, before: tuple[int, int, int]) -> None:
        store = self.store
        report.acked_seq = store.acked_seq()
        report.head_seq = store.chain_head().seq
        t = self.link.traffic
        report.bytes_sent = t.sent - before[0]
        report.bytes_received = t.received - before[1]
        report.requests = t.requests - before[2]
        self.link.save_offset()
        now = format_ts(self.node.now())
        err = report.error
        values: dict[str, Any] = {}
        if err is None:
            values.update(last_success_at=now, last_error_code=None, last_error_zh=None,
                          last_error_network=None)
        else:
            values.update(last_error_code=err.code, last_error_zh=err.zh,
                          last_error_network=err.network)
            if err.code in ("node_revoked", "node_quarantined"):
                values["status"] = err.code.removeprefix("node_")
                values["status_message"] = err.zh
            elif err.code == "chain_fork":
                values["status"] = "quarantined"
        try:
            store.save_sync_state(**values)
            store.record_sync_round({
                "started_at": started, "finished_at": now,
                "outcome": "ok" if err is None else err.code, "pushed": report.pushed,
                "acked_seq": report.acked_seq, "bytes_sent": report.bytes_sent,
                "bytes_received": report.bytes_received,
                "error_code": None if err is None else err.code,
                "message_zh": None if err is None else err.zh})
        except Exception:   # recording must never hide the round's own outcome
            log.exception("could not record the sync round")
        if err is None:
            log.info("sync round: %d events acknowledged (acked %d of %d), applied %s",
                     report.pushed, report.acked_seq, report.head_seq, report.applied or "-")
        else:
            log.info("sync round stopped: %s (%s)", err, err.code)

    # ------------------------------------------------------------------ push

    def push(self, report: RoundReport | None = None) -> RoundReport:
        """Send every unacknowledged event; see the module docs."""
        report = report if report is not None else RoundReport()
        store = self.store
        start = resend_start(self.node)
        stalls = 0
        while True:
            events = store.events_from(start, self.max_batch_events)
            if not events:
                break
            batch = next(split_batches(events, self.max_batch_events, self.max_batch_bytes))
            body = encode_batch(batch, version=self.push_version)
            head = store.chain_head().seq
            try:
                answer = self.link.request("POST", f"/sync/v1/push?head={head}", body,
                                           content_type=BATCH_CONTENT_TYPE,
                                           key=self.request_key(),
                                           timeout=self.request_timeout)
                ack = self._ack(answer.data)
            except HubRefused as exc:
                wire = exc.body.get("ack") if exc.code == "chain_gap" else None
                if wire is None:
                    raise
                ack = self._ack(wire)
                report.gap_resends += 1
                if report.gap_resends > MAX_GAP_RESENDS:
                    raise
                log.info("hub reports a gap: resending from %d", ack.acked_seq + 1)
            report.batches += 1
            newly = self._apply_ack(ack)
            report.pushed += newly
            code = ack.error.get("code") if isinstance(ack.error, dict) else None
            if ack.error and ack.acked_seq < batch[-1].seq and code != "chain_gap":
                # (chain_gap: the hub holds less than we sent it, e.g. it was restored
                # from a backup; resend from its head, below)
                raise HubRefused(f"push stopped at seq {ack.acked_seq + 1}: {ack.error}",
                                 zh=REFUSAL_ZH.get(code or "", "县级平台只接收了部分事件"),
                                 code=code or "push_incomplete", body={"ack": ack.to_body()})
            next_start = ack.acked_seq + 1
            stalls = stalls + 1 if next_start <= start and newly == 0 else 0
            if stalls > MAX_GAP_RESENDS:
                raise HubRefused("the hub acknowledges nothing new",
                                 zh="县级平台没有确认新的事件，稍后重试", code="push_stalled")
            start = next_start
        if store.sync_state().get("resend_from"):
            store.save_sync_state(resend_from=None)
        return report

    def reinstate_epoch(self) -> bool:
        """Give the hub back the ``node.epoch`` statement it signed for this node (see
        docs/sync-field.md); True when the hub took it."""
        epoch = self.store.sync_state().get("epoch")
        if not epoch or epoch.get("public_key") != self.node.key.public.hex:
            return False
        statement = epoch["statement"]
        digest = hashlib.sha256(statement["document"].encode("utf-8")).hexdigest()
        body = json.dumps({"statement": statement,
                           "proof": sign_enrolment(self.node.key, digest)}).encode("utf-8")
        self.link.request("POST", "/sync/v1/restore/reinstate", body,
                          content_type="application/json", signed=False)
        log.warning("the hub had lost this node's restore epoch %s; it is recorded again",
                    epoch.get("epoch"))
        return True

    def upload_attachments(self, report: RoundReport | None = None):
        """The attachment phase (``sync.attachments``): after the events, with its
        own budget; its failures are recorded in the report, never raised."""
        try:
            result = upload_attachments(self, budget_bytes=self.attachment_budget_bytes)
        except Exception:     # attachments must never stop the events' round
            log.exception("attachment phase failed")
            result = None
        if report is not None:
            report.attachments = result
        return result

    def _ack(self, wire: Any) -> Ack:
        return self.link.verified(lambda w, key: verify_ack(w, key, self.node.code), wire)

    def _apply_ack(self, ack: Ack) -> int:
        """Mark events acknowledged from a verified ack; finish a key rotation it covers."""
        store = self.store
        newly = 0
        if ack.acked_seq > 0:
            try:
                newly = store.mark_acked(ack.acked_seq, ack.acked_link)
            except NodeError as exc:
                raise SyncError(str(exc), zh=exc.zh + "，已停止同步，请联系县级管理员",
                                code="ack_mismatch") from None
        state = store.sync_state()
        values: dict[str, Any] = {"last_ack_at": format_ts(self.node.now())}
        if state.get("status") != "active":
            values.update(status="active", status_message=None)
        store.save_sync_state(**values)
        rotation = state.get("rotation")
        if rotation and store.acked_seq() >= rotation["seq"]:
            finish_acknowledged_rotation(self.node)
        return newly

    def request_key(self) -> PrivateKey:
        """The key requests are signed with: the old one until the hub acked a rotation."""
        rotation = self.store.sync_state().get("rotation")
        if rotation and self.store.acked_seq() < rotation["seq"]:
            path = Path(self.node.config.data_dir) / OLD_KEY_FILE
            if path.exists():
                return load_private_key(path)
        return self.node.key

    # ------------------------------------------------------------------ pull

    def pull(self, report: RoundReport | None = None) -> RoundReport:
        """Fetch the manifest; apply each configuration whose digest changed."""
        report = report if report is not None else RoundReport()
        answer = self.link.request("GET", "/sync/v1/manifest", key=self.request_key())
        manifest = self.link.verified(verify_manifest, answer.data)
        if isinstance(answer.data, dict) and answer.data.get("tls") is not None:
            self._apply_tls(answer.data["tls"])
        applied = dict(self.store.sync_state().get("config_versions") or {})
        for kind in PULLED_KINDS:
            entry = manifest.get(kind)
            if entry is None or (applied.get(kind) or {}).get("digest") == entry.digest:
                continue
            answer = self.link.request("GET", f"/sync/v1/config/{kind}?version={entry.version}",
                                       key=self.request_key())
            doc = self.link.verified(
                lambda w, key, k=kind, e=entry: verify_config(w, key, k, version=e.version,
                                                              digest=e.digest), answer.data)
            self._apply_config(doc, applied)
            report.applied.append(kind)
        self.pull_inbox(report)
        return report

    def pull_inbox(self, report: RoundReport | None = None) -> bool:
        """Fetch this node's inbox document (cross-level handling, docs/cross-level.md) if
        the hub has a newer one, verify it with the pinned hub key and apply it
        (``cases.inbox.apply_inbox``). True if something was applied (events may have been
        written: the round pushes them)."""
        node = self.node
        have = int(node.store.meta(inbox.META_VERSION, "0") or 0)
        try:
            answer = self.link.request("GET", f"{inbox.INBOX_PATH}?have={have}",
                                       key=self.request_key())
        except SyncError as exc:
            if getattr(exc, "http_status", None) == 404:   # a hub without inboxes
                return False
            raise
        data = answer.data or {}
        if not isinstance(data, dict) or "document" not in data:
            return False
        doc = self.link.verified(lambda w, key: verify_config(w, key, INBOX), data)
        if doc.version <= have:
            return False
        inbox.apply_inbox(node, doc.content, doc.version)
        if report is not None:
            report.applied.append(INBOX)
        return True

    def _apply_config(self, doc, applied: dict) -> None:
        node, store = self.node, self.store
        updated = {**applied, doc.kind: {"version": doc.version, "digest": doc.digest}}
        source = f"hub:{doc.kind}:{doc.version}"
        try:
            with store.transaction():
                if doc.kind == CONFIG_CATALOGUE:
                    node_catalogue.apply_catalogue(node, validate_catalogue(doc.content),
                                                   source=source)
                elif doc.kind == CONFIG_CALENDAR:
                    calendar = Calendar.from_document(doc.content)
                    current = int(store.meta("calendar_version", "0") or 0)
                    if calendar.version >= current:
                        deadlines.apply_calendar(node, calendar, source=source)
                    else:
                        log.info("hub calendar %d is older than ours (%d): kept ours",
                                 calendar.version, current)
                elif doc.kind == "config.rules":
                    apply_rules(node, doc)
                elif doc.kind == CONFIG_NOTICES:
                    apply_notices(node, doc)
                store.save_sync_state(config_versions=updated)
        except (ProtocolError, ValidationError) as exc:
            raise HubRefused(f"{doc.kind} version {doc.version} cannot be applied: {exc}",
                             zh=f"县级平台下发的{'事项目录' if doc.kind == CONFIG_CATALOGUE else '工作日历'}"
                                f"（版本 {doc.version}）内容有误，未应用，请联系县级管理员",
                             code="config_invalid") from None
        applied.update(updated)
        log.info("applied %s version %d", doc.kind, doc.version)

    def _apply_tls(self, wire) -> None:
        """Trust the pins of a newer config.tls (sent beside the manifest)."""
        doc = self.link.verified(lambda w, key: verify_config(w, key, CONFIG_TLS), wire)
        held = self.store.sync_state().get("hub_tls") or {}
        if held.get("digest") == doc.digest or (held.get("version") or 0) > doc.version:
            return
        try:
            pins = validate_tls_content(doc.content)
        except TlsPinError as exc:
            raise HubRefused(f"config.tls version {doc.version} cannot be applied: {exc}",
                             zh=f"县级平台下发的 TLS 证书指纹（版本 {doc.version}）内容有误，未应用，"
                                "请联系县级管理员", code="config_invalid") from None
        self.store.save_sync_state(hub_tls={"pins": list(pins), "source": "config.tls",
                                            "version": doc.version, "digest": doc.digest})
        log.info("hub TLS pins now %s (config.tls version %d)",
                 ", ".join(p[:16] for p in pins), doc.version)

    # ------------------------------------------------------------------ status

    def report_status(self) -> dict:
        head = self.store.chain_head().seq
        answer = self.link.request("GET", f"/sync/v1/status?head={head}",
                                   key=self.request_key())
        data = answer.data
        status = data.get("status") if isinstance(data, dict) else None
        if status in ("active", "quarantined", "revoked"):
            self.store.save_sync_state(status=status, status_message=data.get("message"))
        return data

    # ------------------------------------------------------------------ until done

    def sync_until_acknowledged(self, *, max_rounds: int = 1000, retries: int = 3,
                                sleep: Callable[[float], None] = time.sleep,
                                on_round: Callable[[RoundReport], None] | None = None
                                ) -> RoundReport:
        """Rounds until every event is acknowledged; transient failures are retried
        ``retries`` times with back-off, any other error raises."""
        failures = 0
        report = RoundReport()
        for _ in range(max_rounds):
            try:
                report = self.sync_once()
                failures = 0
            except SyncError as exc:
                if not exc.network or failures >= retries:
                    raise
                failures += 1
                sleep(min(30.0, 0.5 * 2 ** failures))
                continue
            if on_round is not None:
                on_round(report)
            if report.complete:
                return report
        return report


def norm_fingerprint(text: str) -> str:
    return text.replace("-", "").replace(" ", "").lower()


def _initial_key(node) -> str:
    """The key the node's log starts with (the signer of event 1)."""
    for event in node.store.iter_events():
        if event.type == "node.initialised" and isinstance(event.body, dict):
            return str(event.body.get("public_key"))
        break
    return node.key.public.hex


def write_hub_url(data_dir: Path, hub_url: str) -> None:
    """Record the hub URL in node.json's settings too (atomic replace)."""
    path = Path(data_dir) / NODE_FILE
    info = json.loads(path.read_text("utf-8"))
    info.setdefault("settings", {})["hub_url"] = hub_url
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)
