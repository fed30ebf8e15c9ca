"""The node-facing HTTP API under /sync/v1 (docs/sync.md, "HTTP API").

Endpoints are ``async def`` and call the store synchronously on the event-loop thread:
the store has one SQLite connection per app instance, and an ack-path request is a few
milliseconds of CPU and one fsync, so a thread pool would add hand-offs without adding
throughput on the one core a county hub is sized for.
"""

from __future__ import annotations

from typing import Any

import json
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from protocol.config_docs import check_config_kind
from protocol.document import sign_document
from protocol import limits
from protocol.errors import ProtocolError
from protocol.request_auth import H_VERSION
from protocol.version import check_version, version_string
from web.inputs import to_int
from web.security import client_ip

from .context import HubContext
from .enrolment import redeem_token
from .errors import HubError
from .fleet import STATUS_LABELS
from .ingest import push_batch
from .node_auth import QUARANTINED_MESSAGE, authenticate_node, committed
from .publication import config_wire, key_statements_wire, manifest_wire
from .records import NODE_QUARANTINED

logger = logging.getLogger(__name__)

BATCH_CONTENT_TYPE = "application/x-township-batch"
ENROLMENT_KIND = "hub.enrolment"


def _hub(request: Request) -> HubContext:
    return request.app.state.hub


def _signed_path(request: Request) -> str:
    query = request.scope.get("query_string", b"").decode("latin-1")
    return request.url.path + (f"?{query}" if query else "")


def _reported_head(request: Request) -> int | None:
    text = request.query_params.get("head")
    if text is None:
        return None
    head = to_int(text, max_digits=16)
    if head is None:
        raise HubError("head must be a non-negative integer", code="request_invalid")
    return head


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 and the reason beyond ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (to_int(declared) or 0) > limit:
        raise HubError(f"request body of {declared} bytes is over the limit of {limit} bytes",
                       code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HubError(f"request body is over the limit of {limit} bytes",
                           code="request_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json_body(request: Request) -> dict:
    body = await _read_body(request, _hub(request).config.max_json_bytes)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise HubError("the request body must be a JSON object", code="request_invalid") from None
    if not isinstance(data, dict):
        raise HubError("the request body must be a JSON object", code="request_invalid")
    return data


async def _token_request(request: Request, what: str) -> tuple[Any, dict, str, str, str]:
    """An enrolment or restore request: rate-limited per address, with the one-time token,
    the new public key and the proof of possession (all strings)."""
    hub = _hub(request)
    hub.sync_limits.check_enrolment(client_ip(request), what)
    data = await _json_body(request)
    token, public_key, proof = (data.get("token"), data.get("public_key"), data.get("proof"))
    if not all(isinstance(v, str) for v in (token, public_key, proof)):
        raise HubError(f"a {what} request needs token, public_key and proof (strings)",
                       code="request_invalid")
    return hub, data, token, public_key, proof


async def enroll(request: Request) -> JSONResponse:
    hub, _data, token, public_key, proof = await _token_request(request, "enrolment")
    node = redeem_token(hub.store, hub.config, token, public_key, proof)
    identity = hub.identity
    now = hub.config.now_ts()
    statement = sign_document(identity.signing_key, kind=ENROLMENT_KIND, issuer=identity.name,
                              issued_at=now,
                              body={"node": node.code, "name": node.name,
                                    "node_key": node.public_key,
                                    "signing_key": identity.public_hex,
                                    "encryption_key": identity.encryption_public_hex})
    logger.info("node %s enrolled", node.code)
    return JSONResponse({
        "node": node.code, "name": node.name,
        "hub": {"name": identity.name, "signing_key": identity.public_hex,
                "encryption_key": identity.encryption_public_hex,
                "fingerprint": identity.fingerprint},
        "statement": statement.to_wire(), "hub_time": now,
        "protocol_version": version_string()})


async def push(request: Request) -> JSONResponse:
    hub = _hub(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != BATCH_CONTENT_TYPE:
        raise HubError(f"a push must be sent as {BATCH_CONTENT_TYPE}",
                       code="content_type_invalid")
    spoken = request.headers.get(H_VERSION)
    if spoken is not None:
        check_version(spoken)     # version_unsupported (400) for a node too far behind
    body = await _read_body(request, hub.config.max_push_bytes)
    head = _reported_head(request)
    path = _signed_path(request)

    def work() -> dict:
        node, _ = authenticate_node(hub.store, hub.config, hub.sync_limits,
                                    source=client_ip(request), method="POST", path=path,
                                    headers=request.headers, body=body, for_push=True,
                                    reported_head=head)
        return push_batch(hub.store, hub.identity, hub.config, node, body)

    return JSONResponse(committed(hub.store, work))


def _authenticated(request: Request, hub: HubContext, body: bytes = b""):
    path = _signed_path(request)
    head = _reported_head(request)
    return committed(hub.store, lambda: authenticate_node(
        hub.store, hub.config, hub.sync_limits, source=client_ip(request),
        method=request.method, path=path, headers=request.headers, body=body,
        reported_head=head))


async def manifest(request: Request) -> JSONResponse:
    hub = _hub(request)
    _authenticated(request, hub)
    return JSONResponse(manifest_wire(hub.store, hub.identity, hub.config))


async def config_document(request: Request) -> JSONResponse:
    hub = _hub(request)
    _authenticated(request, hub)
    kind = request.path_params["kind"]
    try:
        check_config_kind(kind)
    except ProtocolError as exc:
        raise HubError(exc.message, code="config_unknown") from None
    version_text = request.query_params.get("version")
    version = to_int(version_text, max_digits=16)
    if version_text and version is None:
        raise HubError("version must be a non-negative integer", code="request_invalid")
    return JSONResponse(config_wire(hub.store, kind, version))


async def key_statements(request: Request) -> JSONResponse:
    hub = _hub(request)
    identity = hub.identity
    return JSONResponse({"signing_key": identity.public_hex,
                         "encryption_key": identity.encryption_public_hex,
                         "statements": key_statements_wire(hub.store),
                         "hub_time": hub.config.now_ts()})


async def status(request: Request) -> JSONResponse:
    hub = _hub(request)
    node, signed = _authenticated(request, hub)
    node = hub.store.node(node.code) or node
    if node.status == NODE_QUARANTINED:
        message = QUARANTINED_MESSAGE.format(code=node.code)
    else:
        message = "同步正常" if node.reported_head in (None, node.acked_seq) else \
            f"县级平台已确认到第 {node.acked_seq} 条事件"
    return JSONResponse({
        "node": node.code, "name": node.name, "status": node.status,
        "status_label": STATUS_LABELS.get(node.status, node.status), "message": message,
        "acked_seq": node.acked_seq, "acked_link": node.acked_link,
        "skew_ms": signed.skew_ms, "clock_skew_ms": signed.clock_skew_ms,
        "hub_time": hub.config.now_ts()})


# --------------------------------------------------------------------------- in the field
# (docs/sync-field.md): restore epochs, the node's log for a rebuild, attachment chunks.


async def restore(request: Request) -> JSONResponse:
    """Start a restore epoch: an administrator's token and a new key (see epochs.py)."""
    from .epochs import start_epoch
    hub, data, token, public_key, proof = await _token_request(request, "restore")
    min_seq = data.get("min_seq")
    if min_seq is not None and (type(min_seq) is not int or min_seq < 0):
        raise HubError("min_seq must be a non-negative integer", code="request_invalid")
    identity = hub.identity
    statement = start_epoch(hub.store, identity, hub.config, token, public_key, proof,
                            min_seq)
    return JSONResponse({
        "statement": statement,
        "hub": {"name": identity.name, "signing_key": identity.public_hex,
                "encryption_key": identity.encryption_public_hex,
                "fingerprint": identity.fingerprint},
        "hub_time": hub.config.now_ts(), "protocol_version": version_string()})


async def reinstate(request: Request) -> JSONResponse:
    """Re-record an epoch the hub lost when it was restored from an older backup."""
    from .epochs import reinstate_epoch
    hub = _hub(request)
    hub.sync_limits.check_enrolment(client_ip(request), "reinstatement")
    data = await _json_body(request)
    statement, proof = data.get("statement"), data.get("proof")
    if not isinstance(statement, dict) or not isinstance(proof, str):
        raise HubError("reinstating an epoch needs its statement and a proof",
                       code="request_invalid")
    statement = reinstate_epoch(hub.store, hub.identity, hub.config, statement, proof)
    return JSONResponse({"statement": statement, "hub_time": hub.config.now_ts()})


LOG_MAX_EVENTS = 500


async def node_log(request: Request) -> Response:
    """The node's own stored events after ``after`` as one batch (a rebuild downloads its
    log); ``X-Hub-Head`` is the hub's acked seq of the node."""
    from protocol.batch import encode_batch, split_batches
    from protocol.envelope import decode_event_fast
    hub = _hub(request)
    node, _ = _authenticated(request, hub)
    after = to_int(request.query_params.get("after", "0"), max_digits=16)
    if after is None:
        raise HubError("after must be a non-negative integer", code="request_invalid")
    stored = hub.store.node_events(node.code, after, LOG_MAX_EVENTS)
    events = [decode_event_fast(e.canonical, e.signature) for e in stored]
    body = b""
    if events:
        body = encode_batch(next(split_batches(events, LOG_MAX_EVENTS, 512 * 1024)))
    current = hub.store.node(node.code) or node
    return Response(body, media_type=BATCH_CONTENT_TYPE,
                    headers={"X-Hub-Head": str(current.acked_seq)})


def _sha(request: Request) -> str:
    sha = request.path_params["sha"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise HubError("an attachment is named by 64 lower-case hex characters",
                       code="attachment_invalid")
    return sha


async def attachment_manifest(request: Request) -> JSONResponse:
    from .attachments_transport import register_upload
    hub = _hub(request)
    sha = _sha(request)
    body = await _read_body(request, hub.config.max_json_bytes)
    path = _signed_path(request)

    def work() -> dict:
        node, _ = authenticate_node(hub.store, hub.config, hub.sync_limits,
                                    source=client_ip(request), method="PUT", path=path,
                                    headers=request.headers, body=body, for_push=True)
        try:
            manifest = json.loads(body)
        except (ValueError, RecursionError):
            raise HubError("the manifest must be JSON", code="request_invalid") from None
        return register_upload(hub.store, hub.config, node.code, sha, manifest)

    return JSONResponse(committed(hub.store, work))


async def attachment_chunk(request: Request) -> JSONResponse:
    from .attachments_transport import receive_chunk
    hub = _hub(request)
    sha = _sha(request)
    index = to_int(request.path_params["index"], max_digits=6)
    if index is None:
        raise HubError("chunk index must be a non-negative integer", code="attachment_invalid")
    body = await _read_body(request, hub.config.max_push_bytes)
    path = _signed_path(request)

    def work() -> dict:
        authenticate_node(hub.store, hub.config, hub.sync_limits, source=client_ip(request),
                          method="PUT", path=path, headers=request.headers, body=body,
                          for_push=True)
        return receive_chunk(hub.store, hub.config, sha, index, body)

    return JSONResponse(committed(hub.store, work))


async def attachment_status(request: Request) -> JSONResponse:
    from .attachments_transport import upload_status
    hub = _hub(request)
    sha = _sha(request)
    _authenticated(request, hub)
    return JSONResponse(upload_status(hub.store, sha))


def sync_routes() -> list[Route]:
    """Bodies are read with explicit limits (``config.max_push_bytes``,
    ``config.max_json_bytes``) so a refusal is a JSON answer with the reason; the routes'
    own ``max_body_size`` lies above those, a backstop that never answers first."""
    body = {"max_body_size": limits.MAX_BATCH_COMPRESSED + 1}
    return [
        Route("/sync/v1/enroll", enroll, methods=["POST"], **body),
        Route("/sync/v1/push", push, methods=["POST"], **body),
        Route("/sync/v1/manifest", manifest, methods=["GET"]),
        Route("/sync/v1/config/{kind}", config_document, methods=["GET"]),
        Route("/sync/v1/keys", key_statements, methods=["GET"]),
        Route("/sync/v1/status", status, methods=["GET"]),
        Route("/sync/v1/restore", restore, methods=["POST"], **body),
        Route("/sync/v1/restore/reinstate", reinstate, methods=["POST"], **body),
        Route("/sync/v1/log", node_log, methods=["GET"]),
        Route("/sync/v1/attachments/{sha}", attachment_manifest, methods=["PUT"], **body),
        Route("/sync/v1/attachments/{sha}/chunks/{index}", attachment_chunk, methods=["PUT"],
              **body),
        Route("/sync/v1/attachments/{sha}/status", attachment_status, methods=["GET"]),
    ]
