"""Sending attachments to the hub in chunks, separately from events (docs/sync-field.md).

:func:`upload_attachments` is the attachment phase of a sync round; it runs *after* the
events were pushed and pulled, with its own budget of bytes and seconds, and its failures
never fail the round: events are never held up by a large scan on a slow line. For each
attachment the node holds whole and the hub has not confirmed: send the manifest
(``protocol.attachments``), which answers with the chunks the hub already holds, then the
missing chunks one ``PUT`` each. A break costs at most one chunk: the next round resumes
from the hub's status. A chunk refused as corrupt (damaged on the way) is sent again
(up to 3 times a round). A hub refusal for a limit (too large, type) marks the attachment
``refused`` with the code; ``attachment_unreferenced`` (the events naming it are not yet
projected at the hub) leaves it pending for the next round.

:func:`export_attachments` writes the same chunks into an export file.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from protocol.attachments import CHUNK_SIZE, build_manifest
from protocol.envelope import format_ts

from ..disclosure.documents import attachment_path
from ..store import field as sql
from .hub_link import HubRefused, SyncError

log = logging.getLogger(__name__)

LIMIT_CODES = ("attachment_too_large", "attachment_type_refused", "attachment_invalid")


@dataclass
class AttachmentReport:
    sent_chunks: int = 0
    sent_bytes: int = 0
    completed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    pending: int = 0
    error: SyncError | None = None


def _read(node, sha: str) -> bytes | None:
    try:
        return attachment_path(node, sha).read_bytes()
    except OSError:
        return None


def upload_attachments(client, *, budget_bytes: int = 4 * 1024 * 1024,
                       budget_seconds: float = 60.0,
                       chunk_size: int = CHUNK_SIZE) -> AttachmentReport:
    """The attachment phase of a round (see the module docs); never raises SyncError."""
    node, link = client.node, client.link
    report = AttachmentReport()
    started = time.monotonic()
    todo = sql.attachments_to_send(node.store)
    for item in todo:
        if report.sent_bytes >= budget_bytes or time.monotonic() - started > budget_seconds:
            report.pending += 1
            continue
        sha = item["sha256"]
        data = _read(node, sha)
        if data is None or len(data) != item["size"]:
            continue
        manifest = build_manifest(data, chunk_size)
        try:
            answer = link.request("PUT", f"/sync/v1/attachments/{sha}",
                                  json.dumps(manifest).encode("utf-8"),
                                  content_type="application/json", key=client.request_key())
            status = answer.data
            retries = 0
            while not status.get("complete"):
                missing = status.get("missing") or []
                if not missing:
                    break
                if report.sent_bytes >= budget_bytes \
                        or time.monotonic() - started > budget_seconds:
                    report.pending += 1
                    break
                index = missing[0]
                chunk = data[index * chunk_size:(index + 1) * chunk_size]
                try:
                    answer = link.request(
                        "PUT", f"/sync/v1/attachments/{sha}/chunks/{index}", chunk,
                        content_type="application/octet-stream", key=client.request_key())
                except HubRefused as exc:
                    if exc.code in ("attachment_chunk_corrupt", "attachment_corrupt") \
                            and retries < 3:
                        retries += 1
                        log.info("attachment %s chunk %d refused (%s): sending again",
                                 sha[:12], index, exc.code)
                        answer = link.request("GET", f"/sync/v1/attachments/{sha}/status",
                                              key=client.request_key())
                        status = answer.data
                        continue
                    raise
                report.sent_chunks += 1
                report.sent_bytes += len(chunk)
                status = answer.data
            if status.get("complete"):
                sql.set_upload_state(node.store, sha, "done", format_ts(node.now()))
                report.completed.append(sha)
        except HubRefused as exc:
            if exc.code in LIMIT_CODES:
                sql.set_upload_state(node.store, sha, "refused", format_ts(node.now()),
                                     exc.code)
                report.refused[sha] = exc.code
                continue
            report.pending += 1
            if exc.code != "attachment_unreferenced":
                report.error = exc
                break
        except SyncError as exc:
            report.error = exc
            report.pending += 1
            break
    if report.error is not None:
        log.info("attachment phase stopped: %s (%s)", report.error, report.error.code)
    return report


def export_attachments(node, writer, chunk_size: int = CHUNK_SIZE) -> list[str]:
    """Write every unconfirmed attachment's chunks into an export file."""
    sent = []
    for item in sql.attachments_to_send(node.store, limit=1000):
        data = _read(node, item["sha256"])
        if data is None or len(data) != item["size"]:
            continue
        for index, offset in enumerate(range(0, len(data), chunk_size)):
            writer.add_attachment_chunk(item["sha256"], index, data[offset:offset + chunk_size])
        sent.append(item["sha256"])
    return sent


def mark_confirmed(node, hashes) -> None:
    for sha in hashes:
        sql.set_upload_state(node.store, sha, "done", format_ts(node.now()))


__all__ = ["AttachmentReport", "upload_attachments", "export_attachments", "mark_confirmed"]
