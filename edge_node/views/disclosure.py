"""Disclosure screens of the node (政府信息公开): draft with attachments, confidentiality
review, publish, correct, withdraw, repeal. Off-line like every node screen; the events
sync to the hub, whose portal shows the published documents.

| route | what |
|---|---|
| ``GET /disclosure`` | the node's documents |
| ``GET/POST /disclosure/new`` | a new document (multipart: attachments PDF/PNG/JPEG) |
| ``GET/POST /disclosure/{doc}/edit`` | a new version (before publication, or a correction) |
| ``GET /disclosure/{doc}`` | one document: versions, reviews, history, the actions allowed |
| ``POST /disclosure/{doc}/act/{action}`` | review, publish, correct, withdraw, repeal |
| ``GET /disclosure/attachments/{sha}`` | a stored attachment (download) |

Mounted with ``routes(ui)`` like the other view modules.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from protocol import disclosure as rules
from web import security
from web.errors import ValidationErrors

from ..disclosure import documents as disclosure
from ..errors import NotFound, PermissionDenied, ValidationError
from ..store import disclosure as sql
from .common import STAFF_ROLES, Ui, page, redirect, require_user

MAX_FILES = 5
FIELDS = ("title", "summary", "text", "made_on", "doc_no", "topic", "genre", "grouping",
          "entry", "keywords", "scope", "time_limit", "office", "person")
ACTION_ROLES = {"review": disclosure.REVIEW_ROLES, "publish": disclosure.PUBLISH_ROLES,
                "correct": disclosure.PUBLISH_ROLES, "withdraw": disclosure.WITHDRAW_ROLES,
                "repeal": disclosure.WITHDRAW_ROLES}


def _actor(user: dict, roles) -> dict:
    for role in roles:
        if role in user["roles"]:
            return {"id": user["id"], "role": role}
    raise PermissionDenied("role", zh="您的岗位无权进行此操作")


def _tables() -> dict:
    return {"topics": rules.TOPICS, "genres": rules.GENRES, "groupings": rules.GROUPINGS,
            "scopes": rules.SCOPES, "methods": rules.METHODS,
            "state_labels": disclosure.STATE_LABELS}


def routes(ui: Ui) -> list[Route]:
    node = ui.node
    max_part = min(ui.config.max_body_bytes, rules.MAX_ATTACHMENT_BYTES) + 1024

    async def doc_list(request: Request) -> Response:
        require_user(ui, request, STAFF_ROLES)
        return page(ui, request, "disclosure/list.html",
                    {"docs": disclosure.documents(node), **_tables()})

    async def edit(request: Request) -> Response:
        user = require_user(ui, request, disclosure.DRAFT_ROLES)
        doc_id = request.path_params.get("doc")
        current = disclosure.document(node, doc_id) if doc_id else None
        base = ((current or {}).get("draft") or {}).get("meta") or {}
        values = {k: base.get(k, "") for k in FIELDS}
        values["keywords"] = "、".join(base.get("keywords") or [])
        values["methods"] = base.get("methods") or ["website"]
        kept = base.get("attachments") or []
        errors = ValidationErrors()
        status = 200
        if request.method == "POST":
            form = await request.form(max_files=MAX_FILES, max_fields=60, max_part_size=max_part)
            try:
                security.check_csrf(request, form)
                values = {k: (form.get(k) if isinstance(form.get(k), str) else "") for k in FIELDS}
                values["methods"] = [m for m in form.getlist("methods") if isinstance(m, str)]
                keep = set(v for v in form.getlist("keep") if isinstance(v, str))
                refs = [a for a in kept if a["sha256"] in keep]
                uploads = [f for f in form.getlist("files")
                           if isinstance(f, UploadFile) and f.filename]
                for upload in uploads:
                    data = await upload.read(rules.MAX_ATTACHMENT_BYTES + 1)
                    refs.append(disclosure.store_attachment(node, upload.filename, data))
                meta = {k: values[k] for k in FIELDS}
                meta["methods"] = values["methods"] or ["website"]
                meta["attachments"] = refs
                state = disclosure.draft(node, _actor(user, disclosure.DRAFT_ROLES), meta,
                                         doc_id=doc_id)
            except ValidationError as exc:
                errors.add(exc.field if exc.field in FIELDS else "form", exc.zh)
                if exc.field not in FIELDS:
                    errors.add_form(exc.zh)
                status = 422
            else:
                return redirect(request, f"/disclosure/{quote(state['doc'])}")
            finally:
                await form.close()
        return page(ui, request, "disclosure/edit.html",
                    {"values": values, "errors": errors, "doc": current, "kept": kept,
                     "body": disclosure.body_of(node), **_tables()}, status_code=status)

    async def detail(request: Request) -> Response:
        user = require_user(ui, request, STAFF_ROLES)
        state = disclosure.document(node, request.path_params["doc"])
        allowed = {a for a, roles in ACTION_ROLES.items() if set(roles) & set(user["roles"])}
        return page(ui, request, "disclosure/detail.html",
                    {"doc": state, "allowed": allowed, "errors": ValidationErrors(),
                     "can_draft": bool(set(disclosure.DRAFT_ROLES) & set(user["roles"])),
                     **_tables()})

    async def act(request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ACTION_ROLES:
            raise NotFound("action", zh="没有这个操作")
        user = require_user(ui, request, ACTION_ROLES[action])
        form = await request.form(max_files=0, max_fields=20, max_part_size=8000)
        security.check_csrf(request, form)
        doc_id = request.path_params["doc"]
        actor = _actor(user, ACTION_ROLES[action])
        get = lambda k: form.get(k) if isinstance(form.get(k), str) else ""  # noqa: E731
        if action == "review":
            disclosure.review(node, actor, doc_id, get("outcome"), get("opinion"))
        elif action == "publish":
            disclosure.publish(node, actor, doc_id)
        elif action == "correct":
            disclosure.correct(node, actor, doc_id, get("reason"))
        elif action == "withdraw":
            disclosure.withdraw(node, actor, doc_id, get("reason"))
        else:
            disclosure.repeal(node, actor, doc_id, get("repealed_on"), get("reason"))
        return redirect(request, f"/disclosure/{quote(doc_id)}")

    async def attachment(request: Request) -> Response:
        require_user(ui, request, STAFF_ROLES)
        sha = request.path_params["sha"]
        row = sql.attachment(node.store, sha)
        path = disclosure.attachment_path(node, sha)
        if row is None or not path.exists():
            raise NotFound("attachment", zh="附件不存在")
        return FileResponse(path, media_type=row["mime"], headers={
            "Content-Disposition": f"attachment; filename=\"attachment"
                                   f"{rules.ATTACHMENT_TYPES[row['mime']]}\"; "
                                   f"filename*=UTF-8''{quote(row['name'])}",
            "Content-Security-Policy": "default-src 'none'; sandbox"})

    return [
        Route("/disclosure", doc_list, methods=["GET"]),
        Route("/disclosure/new", edit, methods=["GET", "POST"]),
        Route("/disclosure/attachments/{sha}", attachment, methods=["GET"]),
        Route("/disclosure/{doc}", detail, methods=["GET"]),
        Route("/disclosure/{doc}/edit", edit, methods=["GET", "POST"]),
        Route("/disclosure/{doc}/act/{action}", act, methods=["POST"]),
    ]
