"""Notices and internal messages from the county to the nodes (通知公告 / 内部消息).

The county publishes a notice to every node or to chosen ones; the hub signs the whole
current set as the next ``config.notices`` document (``{"notices": [...]}``, newest first,
at most :data:`MAX_PUBLISHED`), which nodes pull like the catalogue. A node shows the
notices addressed to it and records each reading as a ``notice.read`` event; the
``content`` projector puts those into ``notice_reads`` and ``/notices/{id}`` shows who has
read what. Routes: ``GET/POST /notices``, ``GET /notices/{notice_id}``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol.config_docs import CONFIG_NOTICES
from web.inputs import parse_int

from ..accounts.service import can
from ..context import HubContext
from ..errors import HubError
from ..sync.publication import publish_config
from ..store import face as sql
from ..web_common import account_of, audit, hub_of, page, read_form, redirect, show, text_field

KINDS = {"notice": "通知公告", "message": "内部消息"}
MAX_PUBLISHED = 200


class NoticeError(HubError):
    code = "notice_invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, extra={"field": field})
        self.field = field


def notices_content(store) -> dict:
    return {"notices": [{"id": n["id"], "kind": n["kind"], "title": n["title"],
                         "body": n["body"], "audience": n["audience"],
                         "published_at": n["published_at"]}
                        for n in sql.notices(store, MAX_PUBLISHED)]}


def publish_notice(hub: HubContext, *, kind: str, title: str, body: str, audience, by: str) -> int:
    """Store a notice and sign the new set for the nodes, in one transaction."""
    if kind not in KINDS:
        raise NoticeError("kind", "类型：请选择通知公告或内部消息")
    title, body = (title or "").strip(), (body or "").strip()
    if not 2 <= len(title) <= 100:
        raise NoticeError("title", "标题：2 至 100 个字")
    if not 2 <= len(body) <= 5000:
        raise NoticeError("body", "正文：2 至 5000 个字")
    known = {n.code for n in hub.store.nodes()}
    if audience != "all":
        audience = sorted(set(audience))
        if not audience:
            raise NoticeError("nodes", "发送范围：请选择“全部节点”或至少一个节点")
        unknown = [c for c in audience if c not in known]
        if unknown:
            raise NoticeError("nodes", f"发送范围：节点 {unknown[0]} 不存在")
    store = hub.store
    with store.transaction():
        notice_id = sql.add_notice(store, kind=kind, title=title, body=body, audience=audience,
                                   at=hub.config.now_ts(), by=by)
        doc = publish_config(store, hub.identity, hub.config, CONFIG_NOTICES,
                             notices_content(store), published_by=by)
        sql.set_notice_version(store, notice_id, doc.version)
    return notice_id


def readers(hub: HubContext, notice: dict) -> list[dict]:
    """Per addressed node: who read the notice and when (first reading)."""
    reads: dict[str, list] = {}
    for _, node, user, at in sql.notice_reads(hub.store, notice["id"]):
        reads.setdefault(node, []).append((user, at))
    nodes = hub.store.nodes()
    wanted = [n for n in nodes if notice["audience"] == "all" or n.code in notice["audience"]]
    return [{"code": n.code, "name": n.name, "reads": reads.get(n.code, [])} for n in wanted]


@page("notices.view")
async def notices_page(request: Request) -> Response:
    hub = hub_of(request)
    errors: dict[str, str] = {}
    values: dict = {}
    if request.method == "POST":
        form = await read_form(request)
        if not can(account_of(request), "notices.manage"):
            return show(request, "pages/message.html",
                        {"title": "无权操作", "message": "您的角色无权发布通知"}, status_code=403)
        values = {"kind": text_field(form, "kind", 20), "title": text_field(form, "title", 200),
                  "body": text_field(form, "body", 6000),
                  "scope": text_field(form, "scope", 10),
                  "nodes": [v for v in form.getlist("nodes") if isinstance(v, str)][:500]}
        audience = "all" if values["scope"] != "chosen" else values["nodes"]
        try:
            notice_id = publish_notice(hub, kind=values["kind"], title=values["title"],
                                       body=values["body"], audience=audience,
                                       by=account_of(request).username)
        except NoticeError as exc:
            errors[exc.field] = exc.message
        else:
            audit(request, "notice.published", str(notice_id),
                  {"kind": values["kind"], "title": values["title"], "audience": audience})
            return redirect(f"/notices/{notice_id}")
    reads = {}
    for notice_id, node, user, at in sql.notice_reads(hub.store):
        reads.setdefault(notice_id, set()).add(node)
    rows = [{**n, "read_nodes": len(reads.get(n["id"], ()))} for n in sql.notices(hub.store)]
    return show(request, "notices/index.html",
                {"rows": rows, "kinds": KINDS, "errors": errors, "values": values,
                 "nodes": hub.store.nodes(),
                 "can_manage": can(account_of(request), "notices.manage")},
                status_code=422 if errors else 200)


@page("notices.view")
async def notice_page(request: Request) -> Response:
    hub = hub_of(request)
    notice_id = parse_int(request.path_params["notice_id"], "notice_id", "通知编号",
                          max_digits=12, required=True)
    notice = sql.notice(hub.store, notice_id)
    if notice is None:
        return show(request, "pages/message.html",
                    {"title": "通知不存在", "message": "没有这条通知"}, status_code=404)
    return show(request, "notices/detail.html",
                {"n": notice, "kinds": KINDS, "readers": readers(hub, notice)})


def routes() -> list[Route]:
    return [Route("/notices", notices_page, methods=["GET", "POST"]),
            Route("/notices/{notice_id}", notice_page, methods=["GET"])]
