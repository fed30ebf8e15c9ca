"""Importing an export file carried from a node on a USB stick (docs/sync-field.md).

:func:`import_export_file` opens the file with the hub's encryption key (the current one
or a retired one: a file may have been written before a hub key rotation), then
authenticates it exactly like a signed push request (:mod:`central_hub.node_auth`):

1. the node exists (``node_unknown``, alert ``unknown_key``);
2. the file's trailer is signed by the node's current key (``request_signature_invalid``,
   alert ``request_forged``) — the key the node signs its requests with;
3. the node is not revoked (``node_revoked``, alert ``revoked_key``);
4. the node is not quarantined (``node_quarantined``): refused like a quarantined node's
   push, recording nothing (no import row), so the file can be imported after the node is
   reinstated;
5. the file id was never imported (``request_replayed``, alert ``request_replayed``): the
   file id plays the request nonce's part, and unlike a nonce it is kept for ever. Only
   then is the file recorded as imported.

What a refusal records (an alert, as the sync API's refusals do) is committed although
the import is refused. Then every batch goes through :func:`central_hub.ingest.push_batch` in file order,
each in its own transaction as if pushed over HTTP, with the same checks, codes and alerts
(``batch_wrong_node``, ``chain_reorder``, ``chain_broken``, ``chain_fork`` …). The first
refusal stops the import; the ack file then carries it as ``error``, like an ack of a push
that stopped early. Attachment chunks are assembled and stored through
:func:`central_hub.disclosure.attachments.receive_attachment`.

Re-importing the *same* file is refused as a replay; exporting again on the node writes a
new file, and the events in it that the hub holds are a no-op, so a lost ack file is
never a problem.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from protocol.ack import ACK_KIND, Ack
from protocol.document import sign_document
from protocol.errors import ProtocolError, SignatureError
from protocol.keys import PublicKey
from protocol.request_auth import RequestAuthError
from protocol.usbfile import RECORD_ATTACHMENT, RECORD_BATCH, open_export

from . import alerts
from .config import RETIRED_KEYS, HubConfig
from .errors import HubError
from .identity import HubIdentity, _load_x25519
from .ingest import push_batch
from .node_auth import QUARANTINED_MESSAGE, REVOKED_MESSAGE, committed
from .records import NODE_QUARANTINED, NODE_REVOKED
from .store import HubStore
from .store import field as sql

logger = logging.getLogger(__name__)


@dataclass
class ImportResult:
    node: str
    file_id: str
    stored: int = 0
    batches: int = 0
    attachments: list[str] = field(default_factory=list)
    ack: dict | None = None            # the hub-signed ack document (wire form)
    error: Exception | None = None


def encryption_keys(config: HubConfig, identity: HubIdentity) -> list:
    keys = [identity.encryption_key]
    retired = Path(config.data_dir) / RETIRED_KEYS
    if retired.is_dir():
        for path in sorted(retired.glob("hub-enc-*.key"), reverse=True):
            try:
                keys.append(_load_x25519(path))
            except HubError as exc:
                logger.warning("retired encryption key %s not usable: %s", path, exc)
    return keys


def _authenticate(store: HubStore, config: HubConfig, export) -> None:
    now_ts = config.now_ts()
    code = export.node
    node = store.node(code)
    if node is None:
        alerts.raise_sync_alert(store, alerts.UNKNOWN_KEY, node=code, raised_at=now_ts,
                                level="yellow", content=f"导入的文件来自未登记的节点 {code}")
        raise HubError(f"node {code} is not enrolled at this hub", code="node_unknown")
    try:
        export.verify(PublicKey.from_hex(node.public_key))
    except SignatureError as exc:
        alerts.raise_sync_alert(
            store, alerts.REQUEST_FORGED, node=code, raised_at=now_ts, level="yellow",
            content=f"导入的节点 {code} 文件签名无效（可能被冒用或篡改）",
            details={"reason": exc.message, "file_id": export.file_id})
        raise RequestAuthError(f"the file is not signed by node {code}'s key",
                               code="request_signature_invalid") from None
    if node.status == NODE_REVOKED:
        alerts.raise_sync_alert(store, alerts.REVOKED_KEY, node=code, raised_at=now_ts,
                                content=f"已吊销的节点 {code} 的文件被导入")
        raise HubError(REVOKED_MESSAGE.format(code=code), code="node_revoked")
    if node.status == NODE_QUARANTINED:
        # refused like a quarantined node's push: nothing recorded, so the same file can
        # be imported once the node is reinstated
        raise HubError(QUARANTINED_MESSAGE.format(code=code), code="node_quarantined")
    earlier = sql.import_record(store, export.file_id)
    if earlier is not None:
        alerts.raise_sync_alert(store, alerts.REQUEST_REPLAYED, node=code, raised_at=now_ts,
                                content=f"节点 {code} 的导出文件被重复导入（重放）",
                                details={"file_id": export.file_id,
                                         "first_imported_at": earlier["imported_at"]})
        raise RequestAuthError(f"file {export.file_id} was already imported at "
                               f"{earlier['imported_at']}; export again on the node for a "
                               "new file", code="request_replayed")
    sql.add_import(store, export.file_id, code, export.file_sha256, now_ts)


def import_export_file(store: HubStore, identity: HubIdentity, config: HubConfig,
                       fh: BinaryIO) -> ImportResult:
    """Import one export file; see the module docs. Raises the refusal when the file
    itself is not acceptable (nothing stored); a refusal of a batch is returned in
    ``result.error`` with the ack covering what was stored before it."""
    export = open_export(fh, encryption_keys(config, identity))
    committed(store, lambda: _authenticate(store, config, export))
    result = ImportResult(export.node, export.file_id)
    pending: dict[str, dict[int, bytes]] = {}
    try:
        for record in export.records():
            if record.kind == RECORD_BATCH:
                node = store.node(export.node)
                wire = committed(store, lambda n=node, b=record.data: push_batch(
                    store, identity, config, n, b))
                result.batches += 1
                result.stored += json.loads(wire["document"])["body"]["stored"]
            elif record.kind == RECORD_ATTACHMENT:
                pending.setdefault(record.sha256, {})[record.index] = record.data
    except (HubError, ProtocolError) as exc:
        result.error = exc
    for sha, chunks in pending.items():
        result.attachments += _store_attachment(store, config, sha, chunks)
    node = store.node(export.node)
    error = None
    if result.error is not None:
        exc = result.error
        error = {"code": exc.code, "message": exc.message[:500]}
        if getattr(exc, "seq", None) is not None:
            error["seq"] = exc.seq
    now = config.now_ts()
    ack = Ack(node=node.code, acked_seq=node.acked_seq, acked_link=node.acked_link,
              stored=result.stored, hub_time=now, error=error)
    body = {**ack.to_body(), "file_id": export.file_id, "attachments": result.attachments}
    result.ack = sign_document(identity.signing_key, kind=ACK_KIND, issuer=identity.name,
                               issued_at=now, body=body).to_wire()
    sql.finish_import(store, export.file_id, result.stored, node.acked_seq,
                      None if error is None else error["code"])
    store.audit(now, "admin", "usb.imported", node.code,
                {"file_id": export.file_id, "stored": result.stored,
                 "error": None if error is None else error["code"]})
    logger.info("imported file %s of node %s: %d events stored, acked %d%s", export.file_id,
                node.code, result.stored, node.acked_seq,
                f", stopped: {error['code']}" if error else "")
    return result


def _store_attachment(store, config: HubConfig, sha: str, chunks: dict[int, bytes]) -> list[str]:
    from .disclosure.attachments import AttachmentRejected, receive_attachment
    if sorted(chunks) != list(range(len(chunks))):
        logger.warning("attachment %s: chunks missing in the file", sha)
        return []
    data = b"".join(chunks[i] for i in range(len(chunks)))
    try:
        got = receive_attachment(store, Path(config.data_dir), data, config.now_ts())
    except AttachmentRejected as exc:
        logger.warning("attachment %s from a file not stored: %s", sha, exc.zh)
        return []
    return [got] if got == sha else []


def write_ack_file(path: str | os.PathLike, ack: dict) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(ack, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, path)


__all__ = ["ImportResult", "import_export_file", "write_ack_file", "encryption_keys"]
