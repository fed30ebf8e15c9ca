"""Off-line transport: export files for a USB stick, and the hub's ack files.

``edge-node export DATA_DIR FILE`` writes every unacknowledged event as the signed
batches a push would send (same bounds, same protocol version), plus the attachments the
hub has not confirmed, into an export file (``protocol.usbfile``: encrypted to the pinned
hub encryption key, signed with the key the node signs requests with). Nothing on the
node changes: events become acknowledged only from the ack file
(``edge-node import-ack DATA_DIR ACKFILE``), which must verify with the pinned hub key
(following the hub's key statements is not possible off-line) and name our chain's link.

An ack below our acknowledged seq (the hub was restored from an older backup) sets
``sync.resend_from``, so the next export (and push) starts from the hub's head.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from protocol.ack import Ack, verify_ack
from protocol.batch import encode_batch, split_batches
from protocol.envelope import format_ts
from protocol.errors import ProtocolError
from protocol.keys import PublicKey, load_private_key
from protocol.usbfile import ExportWriter
from protocol.version import PROTOCOL_VERSION, parse_version

from ..errors import NodeError, SetupError
from .attachments import export_attachments, mark_confirmed
from .hub_link import REFUSAL_ZH, HubRefused, HubUntrusted, SyncError
from .keys import OLD_KEY_FILE, finish_acknowledged_rotation

log = logging.getLogger(__name__)


def push_version(node) -> tuple[int, int]:
    """The protocol version this node writes batches in (node.json ``settings.
    protocol_version``, for a node kept one minor behind; default ours)."""
    text = (node.config.settings or {}).get("protocol_version")
    return parse_version(text) if text else PROTOCOL_VERSION


def request_key(node):
    """The key requests (and export files) are signed with (see sync.keys.rotate_key)."""
    rotation = node.store.sync_state().get("rotation")
    if rotation and node.store.acked_seq() < rotation["seq"]:
        path = Path(node.config.data_dir) / OLD_KEY_FILE
        if path.exists():
            return load_private_key(path)
    return node.key


def resend_start(node) -> int:
    """The first seq to send: after our acked seq, or the hub's head after it lost some."""
    start = node.store.acked_seq() + 1
    resend = node.store.sync_state().get("resend_from")
    return min(start, resend) if resend else start


def export_file(node, path: str | os.PathLike, *, max_batch_events: int = 250,
                max_batch_bytes: int = 256 * 1024, attachments: bool = True) -> dict:
    """Write the export file; returns ``{"file_id", "events", "batches", "attachments",
    "bytes", "first_seq", "last_seq"}``."""
    state = node.store.sync_state()
    hub_key = state.get("hub_encryption_key")
    if not hub_key:
        raise SetupError("enrol before exporting", zh="本节点尚未接入县级平台，不能导出"
                         "（需要县级平台的加密密钥，请先运行 edge-node enroll）")
    path = Path(path)
    if path.exists():
        raise SetupError(f"{path} exists", zh=f"文件 {path} 已存在，请换一个文件名")
    version = push_version(node)
    start = resend_start(node)
    head = node.store.chain_head().seq
    tmp = path.with_name(path.name + ".part")
    events = batches = 0
    sent_attachments: list[str] = []
    try:
        with open(tmp, "wb") as fh:
            writer = ExportWriter(fh, hub_encryption_key=hub_key, node=node.code,
                                  signing_key=request_key(node),
                                  created=format_ts(node.now()))
            seq = start
            while seq <= head:
                chunk = node.store.events_from(seq, max_batch_events)
                if not chunk:
                    break
                for batch in split_batches(chunk, max_batch_events, max_batch_bytes):
                    writer.add_batch(encode_batch(batch, version=version))
                    events += len(batch)
                    batches += 1
                seq = chunk[-1].seq + 1
            if attachments:
                sent_attachments = export_attachments(node, writer)
            file_id = writer.finish()
            size = writer.bytes_written
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    info = {"file_id": file_id, "events": events, "batches": batches,
            "attachments": len(sent_attachments), "bytes": size,
            "first_seq": start if events else None, "last_seq": head if events else None}
    node.store.save_sync_state(last_export={**info, "at": format_ts(node.now())})
    log.info("exported %d events in %d batches to %s", events, batches, path)
    return info


def import_ack(node, path: str | os.PathLike) -> dict:
    """Apply a hub's ack file; returns ``{"acked_seq", "newly", "error"}``.

    Raises HubUntrusted when the file is not signed by the pinned hub key, SyncError
    (``ack_mismatch``) when it names another chain, HubRefused when the import stopped
    on a refusal (after marking what it acknowledged)."""
    try:
        wire = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise SetupError(f"cannot read {path}: {exc}",
                         zh=f"无法读取确认文件 {path}：{exc}") from None
    pinned = node.store.sync_state().get("hub_signing_key")
    if not pinned:
        raise SetupError("not enrolled", zh="本节点尚未接入县级平台")
    try:
        ack = verify_ack(wire, PublicKey.from_hex(pinned), node.code)
    except ProtocolError as exc:
        raise HubUntrusted(f"the ack file does not verify with the pinned hub key: {exc}",
                           zh="确认文件不是县级平台签发的（签名无法验证，或不是本节点的），未应用",
                           code="hub_signature_invalid") from None
    newly = apply_ack(node, ack)
    stored = json.loads(wire["document"])["body"].get("attachments")
    if isinstance(stored, list):
        mark_confirmed(node, [s for s in stored if isinstance(s, str) and len(s) == 64])
    error = ack.error if isinstance(ack.error, dict) else None
    if error and error.get("code") != "chain_gap":
        code = error.get("code") or "push_incomplete"
        raise HubRefused(f"the import stopped: {error}",
                         zh=REFUSAL_ZH.get(code, "县级平台导入时拒收了部分事件") + f"（{code}）",
                         code=code, body={"ack": ack.to_body()})
    return {"acked_seq": node.store.acked_seq(), "newly": newly, "error": error,
            "hub_acked_seq": ack.acked_seq}


def apply_ack(node, ack: Ack) -> int:
    """Mark what a verified ack covers; remember the hub's head when it is behind ours."""
    store = node.store
    newly = 0
    if ack.acked_seq > store.chain_head().seq:
        raise SyncError(f"the hub acknowledged seq {ack.acked_seq}, beyond this node's log",
                        zh=f"县级平台确认的序号 {ack.acked_seq} 超出本节点日志，未应用",
                        code="ack_mismatch")
    if ack.acked_seq > 0:
        try:
            newly = store.mark_acked(ack.acked_seq, ack.acked_link)
        except NodeError as exc:
            raise SyncError(str(exc), zh=exc.zh + "，未应用", code="ack_mismatch") from None
    values: dict = {"last_ack_at": format_ts(node.now())}
    values["resend_from"] = ack.acked_seq + 1 if ack.acked_seq < store.acked_seq() else None
    store.save_sync_state(**values)
    rotation = store.sync_state().get("rotation")
    if rotation and store.acked_seq() >= rotation["seq"]:
        finish_acknowledged_rotation(node)
    return newly


__all__ = ["export_file", "import_ack", "apply_ack", "push_version", "request_key",
           "resend_start"]
