"""The OpenAPI 3.0 document of /api/v1 (served at /api/v1/openapi.json).

Field names are English snake_case; each field carries ``x-gbt39046``, the name of the
data element of GB/T 39046-2020 it holds, and codes follow that standard's code tables
(事项类型 01..20, 办理形式 1 窗口 / 2 网上 / 4 快递, 评价等级 1..5 of GB/T 39734).
``tests/test_hub_api_schemathesis.py`` keeps this document and the routes in step.
"""

from __future__ import annotations

from typing import Any

from .tokens import SCOPES

MAX_LIMIT = 500


def _s(type_: str, zh: str, *, nullable: bool = False, **extra: Any) -> dict:
    out = {"type": type_, "x-gbt39046": zh, **extra}
    if nullable:
        out["nullable"] = True
    return out


CASE = {
    "type": "object",
    "required": ["case_no", "node", "state", "state_name"],
    "properties": {
        "case_no": _s("string", "办件编号（申办流水号）"),
        "node": _s("string", "受理节点（便民服务中心）编码"),
        "item_code": _s("string", "事项编码", nullable=True),
        "item_name": _s("string", "事项名称", nullable=True),
        "item_type": _s("string", "事项类型（01 行政许可 … 20 公共服务）", nullable=True),
        "department": _s("string", "实施主体（部门）编码", nullable=True),
        "channel": _s("string", "办理形式（1 窗口 2 网上 4 快递 9 其他）", nullable=True),
        "applicant_name": _s("string", "申请人名称（已脱敏）", nullable=True),
        "state": _s("string", "办件状态（代码）"),
        "state_name": _s("string", "办件状态（名称）"),
        "received_at": _s("string", "收件时间", nullable=True),
        "accepted_date": _s("string", "受理日期", nullable=True),
        "due_date": _s("string", "承诺办结日期", nullable=True),
        "completed_at": _s("string", "办结时间", nullable=True),
        "delivered_at": _s("string", "送达时间", nullable=True),
        "result": _s("string", "办理结果（1 准予 2 不予）", nullable=True),
        "fee_fen": _s("integer", "收费金额（分）"),
    },
}
EVENT = {
    "type": "object",
    "description": "Without the personal:read scope: masked is true, the envelope's personal "
                   "fields are masked (it no longer verifies) and there is no canonical or "
                   "signature. With it: masked is false, canonical is the signed text byte "
                   "for byte (UTF-8) and signature its Ed25519 signature.",
    "required": ["position", "node", "seq", "type", "envelope", "masked"],
    "properties": {
        "position": {"type": "integer"}, "node": {"type": "string"},
        "seq": {"type": "integer"}, "type": {"type": "string"},
        "case_no": {"type": "string", "nullable": True}, "ts": {"type": "string"},
        "received_at": {"type": "string"},
        "masked": {"type": "boolean",
                   "description": "true: a masked projection, not the signed envelope"},
        "envelope": {"type": "object", "description": "the envelope (masked unless the "
                                                      "token has personal:read)"},
        "canonical": {"type": "string", "description": "personal:read only: the signed "
                                                       "canonical JSON text, byte-exact"},
        "signature": {"type": "string", "description": "personal:read only: Ed25519 "
                                                       "signature of canonical, hex"},
    },
}
EVALUATION = {
    "type": "object",
    "required": ["id", "case_no", "stage", "level", "level_name", "rated_at"],
    "properties": {
        "id": _s("integer", "评价编号"),
        "case_no": _s("string", "办件编号"),
        "stage": _s("string", "评价环节（accept 受理 / complete 办结）"),
        "channel": _s("string", "评价渠道（1 PC端 2 移动端 3 二维码 4 大厅评价器 5 电话 6 短信）"),
        "level": _s("integer", "评价等级（1 非常满意 … 5 非常不满意）", minimum=1, maximum=5),
        "level_name": _s("string", "评价等级名称"),
        "text": _s("string", "评价内容", nullable=True),
        "rated_at": _s("string", "评价时间"),
        "node": _s("string", "行政区划 / 受理节点", nullable=True),
        "item_code": _s("string", "事项编码", nullable=True),
        "unit": _s("string", "整改责任单位", nullable=True),
        "follow_up_due": _s("string", "整改期限", nullable=True),
        "answer": _s("string", "整改答复", nullable=True),
        "answered_at": _s("string", "答复时间", nullable=True),
        "follow_up_level": _s("integer", "整改结果评价等级", nullable=True),
    },
}
ITEM = {
    "type": "object", "required": ["code", "name"],
    "properties": {
        "code": _s("string", "基本编码"), "impl_code": _s("string", "实施编码", nullable=True),
        "name": _s("string", "事项名称"), "type_code": _s("string", "事项类型", nullable=True),
        "department": _s("string", "实施主体编码", nullable=True),
        "statutory_days": _s("number", "法定办结时限（工作日）", nullable=True),
        "committed_days": _s("number", "承诺办结时限（工作日）", nullable=True),
        "item_version": _s("integer", "事项版本"),
    },
}
ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "field": {"type": "string"}}}},
}


def _page(item_ref: str) -> dict:
    return {"type": "object", "required": ["items", "next_cursor", "has_more"], "properties": {
        "items": {"type": "array", "items": {"$ref": item_ref}},
        "next_cursor": {"type": "string", "pattern": "^[0-9]+$"},
        "has_more": {"type": "boolean"}}}


def _errors(*codes: int) -> dict:
    text = {400: "参数有误", 401: "未提供或无效的令牌", 403: "令牌无此权限", 404: "不存在",
            429: "请求过于频繁"}
    return {str(c): {"description": text[c], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


_CURSOR = {"name": "cursor", "in": "query", "required": False,
           "description": "上一页返回的 next_cursor（首次为 0）",
           "schema": {"type": "string", "pattern": "^[0-9]{1,18}$", "default": "0"}}
_LIMIT = {"name": "limit", "in": "query", "required": False,
          "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100}}


def _feed(summary: str, scope: str, ref: str, op: str) -> dict:
    return {"get": {
        "operationId": op, "summary": summary, "security": [{"bearer": [scope]}],
        "parameters": [_CURSOR, _LIMIT],
        "responses": {"200": {"description": "一页数据", "content": {"application/json": {
            "schema": _page(ref)}}}, **_errors(400, 401, 403, 429)}}}


def openapi_document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "县级政务服务平台数据交换接口", "version": "1.0.0",
                 "description": "供县级、省级平台按游标增量获取办件、事件与评价数据。"
                                "字段的 x-gbt39046 标注 GB/T 39046-2020 数据元名称。"},
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/cases": _feed("办件（按变更顺序增量）", "cases:read",
                                   "#/components/schemas/Case", "listCases"),
            "/api/v1/cases/{case_no}": {"get": {
                "operationId": "getCase", "summary": "单个办件",
                "security": [{"bearer": ["cases:read"]}],
                "parameters": [{"name": "case_no", "in": "path", "required": True,
                                "schema": {"type": "string", "maxLength": 64}}],
                "responses": {"200": {"description": "办件", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Case"}}}},
                    **_errors(400, 401, 403, 404, 429)}}},
            "/api/v1/events": _feed("事件日志（按入库顺序增量；默认脱敏，personal:read 令牌得到签名原文）", "events:read",
                                    "#/components/schemas/Event", "listEvents"),
            "/api/v1/evaluations": _feed("好差评（按变更顺序增量）", "evaluations:read",
                                         "#/components/schemas/Evaluation", "listEvaluations"),
            "/api/v1/items": {"get": {
                "operationId": "listItems", "summary": "已公布的事项目录",
                "security": [{"bearer": ["items:read"]}],
                "responses": {"200": {"description": "事项", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["items"], "properties": {
                        "items": {"type": "array",
                                  "items": {"$ref": "#/components/schemas/Item"}}}}}}},
                    **_errors(401, 403, 429)}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "scopes: " + ", ".join(SCOPES)}},
            "schemas": {"Case": CASE, "Event": EVENT, "Evaluation": EVALUATION, "Item": ITEM,
                        "Error": ERROR},
        },
    }
