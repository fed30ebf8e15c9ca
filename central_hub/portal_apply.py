"""On-line applications on the portal (网上办事, issue #11; docs/cross-level.md).

``/portal/apply`` lists the items of the 办事指南 that may be applied for on-line;
``/portal/apply/{code}`` is the form (place, applicant, a note, and for each material an
upload or a promise to bring the original); a submission gets a tracking number and a
query code and lands in the inbox of the node of the chosen township
(:mod:`central_hub.routing`). ``/portal/apply/status`` shows where it stands: waiting for
pre-examination (预审), then the case's state once a node has taken it.

Uploads: PDF, PNG or JPEG (checked by their first bytes, not their names), at most
:data:`MAX_FILE_BYTES` each and :data:`MAX_FILES` per application; stored content-addressed
under ``DATA_DIR/applications/``. Submissions and look-ups are rate-limited per client;
the form carries the session's CSRF token.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import lifecycle, routing as rules
from protocol.calendar import shanghai_date
from protocol.canonical import canonicalise
from web.errors import ValidationErrors, error_response
from web.inputs import same_secret
from web.security import RateLimiter, check_csrf, client_ip, retry_after_header

from .store import routing as sql
from .web_common import hub_of, show

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILES = 10
FILE_TYPES = {"application/pdf": (b"%PDF-",), "image/png": (b"\x89PNG\r\n\x1a\n",),
              "image/jpeg": (b"\xff\xd8\xff",)}
ONLINE_CHANNEL = "2"   # 办理形式 2 网上
QUERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
ID_TYPES = {"resident_id": "居民身份证", "passport": "护照", "hk_macao_permit": "港澳居民来往内地通行证",
            "taiwan_permit": "台湾居民来往大陆通行证", "other": "其他证件"}
_ID_NO = re.compile(r"^[0-9A-Za-z()（）\-]{4,40}$")
_PHONE = re.compile(r"^[0-9+\-\s]{5,20}$")
_TRACKING = re.compile(r"^WS-\d{8}-\d{6}$")


def _catalogue_items(hub) -> list[dict]:
    record = hub.store.config("config.catalogue")
    if record is None:
        return []
    content = json.loads(record.canonical)["body"]["content"]
    return [i for i in content.get("items", []) if ONLINE_CHANNEL in i.get("channels", [])]


def _places(hub) -> dict[str, tuple[str, list[str]]]:
    """Township-level org units that have nodes: code -> (name, [nodes]). An application
    is offered to every node of its place (a centre may run more than one)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for node, unit_code in sorted(hub.store.node_org_units().items()):
        unit = hub.store.org_unit(unit_code) if unit_code else None
        if unit is not None and unit.kind in ("township", "village", "community"):
            out.setdefault(unit.code, (unit.name, []))[1].append(node)
    return out


def _sniff(data: bytes) -> str | None:
    for mime, magics in FILE_TYPES.items():
        if any(data.startswith(m) for m in magics):
            return mime
    return None


def _store_file(hub, data: bytes, mime: str, now: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    folder = Path(hub.config.data_dir) / "applications" / digest[:2]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / digest
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    sql.add_file(hub.store, digest, mime, len(data), now)
    return digest


def _text(form, name: str, max_len: int) -> str:
    value = form.get(name)
    return value.strip()[:max_len + 1] if isinstance(value, str) else ""


def routes() -> list[Route]:
    submit_limiter = RateLimiter(rate=0.02, burst=5)
    lookup_limiter = RateLimiter(rate=0.1, burst=10)

    def too_many(request: Request, limiter: RateLimiter) -> Response | None:
        wait = limiter.acquire(client_ip(request))
        if wait:
            return error_response(request.app.state.templates, request, 429,
                                  message=f"操作过于频繁，请 {int(wait) + 1} 秒后再试",
                                  headers=retry_after_header(wait))
        return None

    async def item_list(request: Request) -> Response:
        hub = hub_of(request)
        return show(request, "apply/items.html", {"items": _catalogue_items(hub)})

    async def apply_form(request: Request) -> Response:
        hub = hub_of(request)
        code = request.path_params["code"]
        item = next((i for i in _catalogue_items(hub) if i["code"] == code), None)
        if item is None:
            return error_response(request.app.state.templates, request, 404,
                                  message="该事项不存在或不能网上申请")
        places = _places(hub)
        errors = ValidationErrors()
        values: dict = {"id_type": "resident_id"}
        status = 200
        if request.method == "POST":
            limited = too_many(request, submit_limiter)
            if limited:
                return limited
            form = await request.form(max_files=MAX_FILES, max_fields=80,
                                      max_part_size=MAX_FILE_BYTES + 1)
            try:
                check_csrf(request, form)
                values = {k: v for k, v in form.items() if isinstance(v, str)}
                result = await _submit(hub, item, places, form, errors)
            finally:
                await form.close()
            if result is not None:
                return show(request, "apply/done.html", {"row": result, "item": item})
            status = 422
        return show(request, "apply/form.html",
                    {"item": item, "places": {k: v[0] for k, v in places.items()},
                     "values": values, "errors": errors, "id_types": ID_TYPES},
                    status_code=status)

    async def status_page(request: Request) -> Response:
        hub = hub_of(request)
        number = (request.query_params.get("no") or "").strip()[:40]
        code = (request.query_params.get("code") or "").strip().upper()[:12]
        view, message = None, None
        if number:
            limited = too_many(request, lookup_limiter)
            if limited:
                return limited
            row = sql.application(hub.store, number) if _TRACKING.match(number) else None
            if row is None or not same_secret(code, row["query_code"]):
                message = "没有找到该申请，请核对申请编号和查询码"
            else:
                view = status_view(hub, row)
        return show(request, "apply/status.html",
                    {"no": number, "code": code, "view": view, "message": message},
                    status_code=404 if message else 200)

    return [Route("/portal/apply", item_list, methods=["GET"]),
            Route("/portal/apply/status", status_page, methods=["GET"]),
            Route("/portal/apply/{code}", apply_form, methods=["GET", "POST"],
                  max_body_size=MAX_FILES * MAX_FILE_BYTES + 256 * 1024)]


async def _submit(hub, item: dict, places: dict, form, errors: ValidationErrors) -> dict | None:
    place = _text(form, "place", 40)
    if place not in places:
        errors.add("place", "请选择办理地点（乡镇、街道便民服务中心）")
    name = _text(form, "name", 100)
    if not name or len(name) > 100:
        errors.add("name", "请填写申请人姓名（不超过 100 字）")
    id_type = _text(form, "id_type", 20)
    if id_type not in ID_TYPES:
        errors.add("id_type", "请选择证件类型")
    id_no = _text(form, "id_no", 40)
    if not _ID_NO.match(id_no):
        errors.add("id_no", "请填写正确的证件号码")
    phone = _text(form, "phone", 20)
    if not _PHONE.match(phone):
        errors.add("phone", "请填写联系电话")
    note = _text(form, "note", 1000)
    if len(note) > 1000:
        errors.add("note", "申请说明不超过 1000 字")
    now = hub.config.now_ts()
    materials, uploads = [], 0
    for material in item["materials"]:
        upload = form.get(f"file_{material['id']}")
        files = []
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(MAX_FILE_BYTES + 1)
            mime = _sniff(data)
            if not data:
                pass
            elif len(data) > MAX_FILE_BYTES:
                errors.add(f"file_{material['id']}",
                           f"“{material['name']}”文件超过 {MAX_FILE_BYTES // 1048576} MB")
            elif mime is None:
                errors.add(f"file_{material['id']}",
                           f"“{material['name']}”只能上传 PDF、PNG 或 JPEG 文件")
            else:
                uploads += 1
                files.append({"sha256": hashlib.sha256(data).hexdigest(),
                              "name": (upload.filename or "file")[-120:], "mime": mime,
                              "size": len(data), "_data": data})
        bring = form.get(f"bring_{material['id']}") == "1"
        if material["required"] and not files and not bring:
            errors.add(f"file_{material['id']}",
                       f"必备材料“{material['name']}”请上传，或勾选“到窗口提交原件”")
        materials.append({"id": material["id"], "name": material["name"],
                          "required": material["required"], "bring": bring, "files": files})
    if uploads > MAX_FILES:
        errors.add("form", f"最多上传 {MAX_FILES} 个文件")
    if errors:
        return None
    for m in materials:
        for f in m["files"]:
            _store_file(hub, f.pop("_data"), f["mime"], now)
    place_name, nodes = places[place]
    with hub.store.transaction():
        day = shanghai_date(hub.config.now()).strftime("%Y%m%d")
        tracking = f"WS-{day}-{sql.application_count(hub.store) + 1:06d}"
        application = canonicalise({
            "tracking_no": tracking, "submitted_at": now,
            "item": {"code": item["code"], "name": item["name"], "type_code": item["type_code"]},
            "place": {"code": place, "name": place_name},
            "applicant": {"kind": "person", "name": name, "id_type": id_type, "id_no": id_no,
                          "phone": phone},
            "note": note, "materials": materials})
        digest = rules.application_digest(application)
        query_code = "".join(secrets.choice(QUERY_ALPHABET) for _ in range(6))
        sql.add_application(hub.store, {
            "tracking_no": tracking, "query_code": query_code, "item_code": item["code"],
            "item_name": item["name"], "place": place, "node": ",".join(nodes), "submitted_at": now,
            "digest": digest, "application": application})
        for node in nodes:
            sql.put_entry(hub.store, {"id": f"app-{tracking}-{node}", "kind": "application",
                                      "application": tracking, "digest": digest,
                                      "placed_at": now,
                                      **{k: v for k, v in application.items()
                                         if k != "tracking_no"}}, node)
        hub.store.audit(now, "portal", "application.submitted", tracking,
                        {"item": item["code"], "nodes": nodes})
    return {"tracking_no": tracking, "query_code": query_code, "place": place_name,
            "submitted_at": now}


def status_view(hub, row: dict) -> dict:
    view = {"tracking_no": row["tracking_no"], "item": row["item_name"],
            "submitted_at": row["submitted_at"][:16].replace("T", " "),
            "place": row["application"]["place"]["name"], "case_no": row["case_no"],
            "state_label": "已提交，等待便民服务中心预审", "state": "waiting"}
    if row["case_no"]:
        case = hub.store.case(row["case_no"]) or {}
        state = case.get("state") or "received"
        view["state"] = state
        view["state_label"] = {
            "received": "已接件（预审中）", "supplement_requested": "需补正材料，请按告知补齐",
            "refused": "不予受理", "accepted": "已受理，办理中",
        }.get(state, lifecycle.STATE_LABELS.get(state, state))
    return view
