"""Government information disclosure (政府信息公开): the shared, pure semantics.

Nodes (townships publish off-line) and the hub (portal, requests, annual report) both use
this module; it does no I/O and reads no clock. Rules are those of the 2019 regulation
(《中华人民共和国政府信息公开条例》, cited as 条例) summarised in DOMAIN.md; the choices
this module makes where the sources are silent are in docs/disclosure.md.

Contents:

* code tables: topics (主题分类), genres (体裁分类), groupings (组配分类), applicant types,
  reply types with the reasons of the national annual report format (国办公开办函〔2021〕30号);
* the index number scheme (索引号) ``{body}/{year}-{seq:05d}``;
* :func:`validate_document`: a document's metadata, bounded, with Chinese messages;
* attachments: :func:`sniff_mime` (PDF, PNG, JPEG by magic bytes), :func:`check_attachment`,
  :func:`safe_filename` (hostile names neutralised);
* proactive disclosure: :func:`proactive_due` (20 working days after made or changed, art. 26);
* :func:`apply_document_event`: a document's projection folded from its events (never refuses);
* requests (依申请公开): :func:`receipt_date` (art. 31), the action state machine
  :func:`check_request_action` / :func:`apply_request_action`, and :func:`request_deadline`
  (20 working days, one extension of 20 with approval, third-party consultation excluded,
  one supplement notice within 7 working days after which the clock restarts, art. 30, 33);
* :func:`annual_report`: the six parts of the national annual report from plain records;
* :func:`fts_document_terms` / :func:`fts_query`: Chinese text segmented into overlapping
  character bigrams for SQLite FTS5.

Errors are :class:`DisclosureError` (code ``disclosure_invalid``) with ``field`` and ``zh``.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .calendar import Calendar, Pause, add_working_days, working_days_between
from .errors import ProtocolError

__all__ = [
    "APPEAL_KINDS", "APPEAL_OUTCOMES", "APPLICANT_TYPES", "ATTACHMENT_TYPES", "CHANNELS",
    "DisclosureError", "GENRES", "GROUPINGS", "METHODS", "PERIODS", "REPLY_REASONS",
    "REPLY_TYPES", "REQUEST_ACTIONS", "REQUEST_STATES", "SCOPES", "TOPICS",
    "annual_report", "apply_document_event", "apply_request_action", "check_attachment",
    "check_request_action", "format_index_no", "fts_document_terms", "fts_query",
    "parse_index_no", "proactive_due", "receipt_date", "request_deadline", "safe_filename",
    "sniff_mime", "validate_document",
]

PROACTIVE_DAYS = 20          # art. 26
REPLY_DAYS = 20              # art. 33
EXTENSION_DAYS = 20          # art. 33, once, with approval
SUPPLEMENT_NOTICE_DAYS = 7   # art. 30
MAX_TEXT_CHARS = 6000        # a document's text travels in one event (32 KiB, 3 bytes/char)
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_KEYWORDS = 10
_ONE_DAY = timedelta(days=1)

# 主题分类 (the State Council's subject classification of government documents)
TOPICS: Mapping[str, str] = {
    "01": "综合政务", "02": "国民经济管理、国有资产监管", "03": "财政、金融、审计",
    "04": "国土资源、能源", "05": "农业、林业、水利", "06": "工业、交通",
    "07": "商贸、海关、旅游", "08": "市场监管、安全生产监管", "09": "城乡建设、环境保护",
    "10": "科技、教育", "11": "文化、广电、新闻出版", "12": "卫生、体育",
    "13": "人口与计划生育、妇女儿童工作", "14": "劳动、人事、监察", "15": "公安、安全、司法",
    "16": "民政、扶贫、救灾", "17": "民族、宗教", "18": "对外事务", "19": "港澳台侨工作",
    "20": "国防", "21": "其他",
}
# 体裁分类; ``report`` names the annual report row the genre counts in (table 二).
GENRES: Mapping[str, str] = {
    "01": "规章", "02": "行政规范性文件", "03": "其他文件", "04": "规划计划",
    "05": "公告公示", "06": "通知通报", "07": "工作动态", "08": "统计数据",
    "09": "财政预决算", "10": "行政许可", "11": "行政处罚", "12": "行政强制",
    "13": "行政事业性收费", "14": "人事信息", "15": "应急管理", "99": "其他",
}
GENRE_RULE, GENRE_NORMATIVE = "01", "02"
# 组配分类: by service object / life event, as county portals group their columns
GROUPINGS: Mapping[str, str] = {
    "01": "机构职能", "02": "法规政策", "03": "规划计划", "04": "财政资金",
    "05": "重点领域", "06": "民生保障", "07": "乡村振兴", "08": "行政执法",
    "09": "政务服务", "10": "其他",
}
METHODS: Mapping[str, str] = {"website": "政府网站", "board": "政务公开栏",
                              "centre": "便民服务中心查阅点", "gazette": "政府公报",
                              "other": "其他"}
SCOPES: Mapping[str, str] = {"society": "面向社会", "region": "面向本行政区域",
                             "group": "面向特定群体"}
PERIODS: Mapping[str, str] = {"monthly": "每月", "quarterly": "每季度", "yearly": "每年",
                              "on_change": "适时（产生或变更时）"}
ATTACHMENT_TYPES: Mapping[str, str] = {"application/pdf": ".pdf", "image/png": ".png",
                                       "image/jpeg": ".jpg"}

# requests
CHANNELS: Mapping[str, str] = {"in_person": "当面提交", "post": "邮寄（挂号）",
                               "online": "网上提交"}
APPLICANT_TYPES: Mapping[str, str] = {
    "person": "自然人", "company": "商业企业", "research": "科研机构",
    "public_interest": "社会公益组织", "legal_service": "法律服务机构", "other_org": "其他",
}
REPLY_TYPES: Mapping[str, str] = {
    "grant": "予以公开", "partial": "部分公开", "refuse": "不予公开",
    "unavailable": "无法提供", "not_handled": "不予处理", "other": "其他处理",
}
REPLY_REASONS: Mapping[str, Mapping[str, str]] = {
    "refuse": {"1": "属于国家秘密", "2": "其他法律行政法规禁止公开",
               "3": "危及“三安全一稳定”", "4": "保护第三方合法权益",
               "5": "属于三类内部事务信息", "6": "属于四类过程性信息",
               "7": "属于行政执法案卷", "8": "属于行政查询事项"},
    "unavailable": {"1": "本机关不掌握相关政府信息", "2": "没有现成信息需要另行制作",
                    "3": "补正后申请内容仍不明确"},
    "not_handled": {"1": "信访举报投诉类申请", "2": "重复申请", "3": "要求提供公开出版物",
                    "4": "无正当理由大量反复申请", "5": "要求行政机关确认或重新出具已获取信息"},
    "other": {"1": "申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
              "2": "申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
              "3": "其他"},
}
MIN_REASON_CHARS = 4
REQUEST_STATES: Mapping[str, str] = {
    "received": "办理中", "supplement_requested": "待补正", "consulting": "征求第三方意见",
    "replied": "已答复",
}
REQUEST_ACTIONS: Mapping[str, str] = {
    "receive": "登记收到申请", "request_supplement": "一次性告知补正",
    "supplement": "收到补正材料", "extend": "延长答复期限", "consult": "征求第三方意见",
    "consulted": "第三方意见已收到", "reply": "作出答复",
}
APPEAL_KINDS: Mapping[str, str] = {"reconsideration": "行政复议",
                                   "litigation_direct": "行政诉讼（未经复议直接起诉）",
                                   "litigation_after": "行政诉讼（复议后起诉）"}
APPEAL_OUTCOMES: Mapping[str, str] = {"upheld": "结果维持", "corrected": "结果纠正",
                                      "other": "其他结果", "pending": "尚未审结"}


class DisclosureError(ProtocolError, ValueError):
    """Input breaks a disclosure rule. ``field`` names it; ``zh`` says it for people."""

    code = "disclosure_invalid"

    def __init__(self, field: str, zh: str, message: str | None = None) -> None:
        super().__init__(message or f"{field}: {zh}", field=field)
        self.zh = zh

    def to_dict(self) -> dict:
        return {**super().to_dict(), "zh": self.zh}


# --------------------------------------------------------------------------- helpers


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BODY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
_INDEX_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]{0,31})/(\d{4})-(\d{5,6})$")


def _clean(value: Any, field: str, label: str, *, max_len: int, required: bool = True,
           multiline: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DisclosureError(field, f"{label}须为文字")
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n")).strip()
    allowed = "\n\t" if multiline else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise DisclosureError(field, f"{label}含有不可见的控制字符")
    if required and not text:
        raise DisclosureError(field, f"请填写{label}")
    if len(text) > max_len:
        raise DisclosureError(field, f"{label}不能超过 {max_len} 个字（现有 {len(text)} 个）")
    return text


def parse_date(value: Any, field: str, label: str) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
        raise DisclosureError(field, f"{label}须为 YYYY-MM-DD 格式的日期")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise DisclosureError(field, f"{label} {value} 不是有效日期") from None


def _code(value: Any, table: Mapping[str, str], field: str, label: str) -> str:
    if value not in table:
        raise DisclosureError(field, f"请选择有效的{label}")
    return value


# --------------------------------------------------------------------------- index numbers


def format_index_no(body_code: str, year: int, seq: int) -> str:
    """索引号: ``{body code}/{year}-{seq:05d}``, e.g. ``510829101/2026-00012``.

    The body code is the publishing body's org code (township governments publish from
    their node, which allocates ``seq`` from a counter per body and year, so numbers need
    no coordination and never repeat)."""
    if not isinstance(body_code, str) or not _BODY_RE.match(body_code):
        raise DisclosureError("body_code", "发布机构代码须为 1 至 32 位字母、数字或连字符")
    if type(year) is not int or not 2000 <= year <= 2100:
        raise DisclosureError("year", "年份须在 2000 至 2100 之间")
    if type(seq) is not int or not 1 <= seq <= 999_999:
        raise DisclosureError("seq", "流水号须在 1 至 999999 之间")
    return f"{body_code}/{year}-{seq:05d}"


def parse_index_no(text: str) -> tuple[str, int, int]:
    match = _INDEX_RE.match(text or "")
    if not match:
        raise DisclosureError("index_no", f"索引号 {text!r} 格式不正确（应为 机构代码/年份-流水号）")
    return match.group(1), int(match.group(2)), int(match.group(3))


# --------------------------------------------------------------------------- attachments


def sniff_mime(data: bytes) -> str | None:
    """The type of ``data`` by its magic bytes: PDF, PNG or JPEG; None for anything else."""
    if data[:5] == b"%PDF-":
        return "application/pdf"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    return None


_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')


def safe_filename(name: Any, mime: str, fallback: str = "附件") -> str:
    """A file name that is safe to store, show and send back in Content-Disposition.

    Directory parts (``../../etc/passwd``, ``C:\\x``), control and reserved characters,
    bidi overrides and leading dots are removed; the length is capped at 80 characters;
    the extension is the one of the sniffed type (a ``.exe`` called ``a.pdf`` is refused
    by type before this, and ``report.pdf.exe`` that is a PDF becomes ``report.pdf.pdf``).
    """
    text = name if isinstance(name, str) else ""
    text = unicodedata.normalize("NFC", text)
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))
    text = _UNSAFE_NAME.sub("_", text).strip().lstrip(".").strip()
    ext = ATTACHMENT_TYPES[mime]
    stem = text
    lower = text.lower()
    for known in (ext, ".jpeg" if ext == ".jpg" else ext):
        if lower.endswith(known):
            stem = text[: -len(known)]
            break
    stem = stem.strip(" .")[:76] or fallback
    return stem + ext


@dataclass(frozen=True)
class AttachmentCheck:
    name: str
    mime: str
    size: int


def check_attachment(name: Any, data: bytes, *, max_bytes: int = MAX_ATTACHMENT_BYTES,
                     declared_mime: str | None = None) -> AttachmentCheck:
    """Check an uploaded file: not empty, at most ``max_bytes``, a PDF, PNG or JPEG by its
    content (whatever its name or declared type says). Returns the safe name and type."""
    size = len(data)
    if size == 0:
        raise DisclosureError("attachments", "附件是空文件")
    if size > max_bytes:
        raise DisclosureError("attachments", f"附件不能超过 {max_bytes // (1024 * 1024)} MB"
                                             f"（该文件 {size / 1048576:.1f} MB）")
    mime = sniff_mime(data)
    if mime is None:
        raise DisclosureError("attachments", "附件只能是 PDF、PNG 或 JPEG 文件（按文件内容识别）")
    if declared_mime and declared_mime in ATTACHMENT_TYPES and declared_mime != mime:
        # a renamed file: the content decides, the label is corrected
        pass
    return AttachmentCheck(safe_filename(name, mime), mime, size)


def _attachment_ref(value: Any, path: str) -> dict:
    if not isinstance(value, Mapping):
        raise DisclosureError(path, "附件记录格式不正确")
    sha = value.get("sha256")
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise DisclosureError(path, "附件摘要须为 64 位十六进制")
    mime = value.get("mime")
    if mime not in ATTACHMENT_TYPES:
        raise DisclosureError(path, "附件只能是 PDF、PNG 或 JPEG")
    size = value.get("size")
    if type(size) is not int or not 1 <= size <= MAX_ATTACHMENT_BYTES:
        raise DisclosureError(path, "附件大小超出范围")
    return {"sha256": sha, "name": safe_filename(value.get("name"), mime), "mime": mime,
            "size": size}


# --------------------------------------------------------------------------- documents

DOCUMENT_FIELDS = ("title", "summary", "text", "made_on", "body_code", "body_name", "doc_no",
                   "topic", "genre", "grouping", "entry", "keywords", "methods", "scope",
                   "time_limit", "office", "person", "attachments")


def validate_document(meta: Mapping[str, Any]) -> dict:
    """Check and normalise a document's metadata (the catalogue fields of DOMAIN.md).

    Returns the metadata as it goes into a ``disclosure.drafted`` event. Raises
    :class:`DisclosureError` naming the first bad field, in Chinese.
    """
    if not isinstance(meta, Mapping):
        raise DisclosureError("meta", "文件信息格式不正确")
    unknown = sorted(set(meta) - set(DOCUMENT_FIELDS))
    if unknown:
        raise DisclosureError(unknown[0], f"未知字段 {unknown[0]}")
    out: dict[str, Any] = {
        "title": _clean(meta.get("title"), "title", "名称", max_len=200),
        "summary": _clean(meta.get("summary"), "summary", "内容概述", max_len=500,
                          required=False, multiline=True),
        "text": _clean(meta.get("text"), "text", "正文", max_len=MAX_TEXT_CHARS,
                       required=False, multiline=True),
    }
    made = parse_date(meta.get("made_on"), "made_on", "生成日期")
    if not 2000 <= made.year <= 2100:
        raise DisclosureError("made_on", "生成日期须在 2000 至 2100 年之间")
    out["made_on"] = made.isoformat()
    body = meta.get("body_code")
    if not isinstance(body, str) or not _BODY_RE.match(body):
        raise DisclosureError("body_code", "发布机构代码须为 1 至 32 位字母、数字或连字符")
    out["body_code"] = body
    out["body_name"] = _clean(meta.get("body_name"), "body_name", "发布机构", max_len=100)
    out["doc_no"] = _clean(meta.get("doc_no"), "doc_no", "文号", max_len=50, required=False)
    out["topic"] = _code(meta.get("topic"), TOPICS, "topic", "主题分类")
    out["genre"] = _code(meta.get("genre"), GENRES, "genre", "体裁分类")
    out["grouping"] = _code(meta.get("grouping"), GROUPINGS, "grouping", "组配分类")
    entry = _clean(meta.get("entry"), "entry", "目录条目", max_len=32, required=False)
    if entry and not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", entry):
        raise DisclosureError("entry", "目录条目编码须为字母、数字或 _ . -")
    out["entry"] = entry
    keywords = meta.get("keywords") or []
    if isinstance(keywords, str):
        keywords = [k for k in re.split(r"[,，;；\s]+", keywords) if k]
    if not isinstance(keywords, (list, tuple)) or len(keywords) > MAX_KEYWORDS:
        raise DisclosureError("keywords", f"关键词最多 {MAX_KEYWORDS} 个")
    out["keywords"] = [_clean(k, "keywords", "关键词", max_len=20) for k in keywords]
    methods = meta.get("methods") or ["website"]
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, (list, tuple)) or not methods \
            or any(m not in METHODS for m in methods):
        raise DisclosureError("methods", "请选择有效的公开方式")
    out["methods"] = sorted(set(methods), key=list(METHODS).index)
    out["scope"] = _code(meta.get("scope") or "society", SCOPES, "scope", "公开范围")
    out["time_limit"] = _clean(meta.get("time_limit") or "自信息形成或变更之日起20个工作日内",
                               "time_limit", "公开时限", max_len=100)
    out["office"] = _clean(meta.get("office"), "office", "责任处室（科室）", max_len=100)
    out["person"] = _clean(meta.get("person"), "person", "责任人", max_len=50)
    attachments = meta.get("attachments") or []
    if not isinstance(attachments, (list, tuple)) or len(attachments) > MAX_ATTACHMENTS:
        raise DisclosureError("attachments", f"附件最多 {MAX_ATTACHMENTS} 个")
    refs = [_attachment_ref(a, f"attachments[{i}]") for i, a in enumerate(attachments)]
    if len({r["sha256"] for r in refs}) != len(refs):
        raise DisclosureError("attachments", "同一附件上传了两次")
    out["attachments"] = refs
    if not out["text"] and not refs:
        raise DisclosureError("text", "请填写正文或上传附件")
    return out


def proactive_due(cal: Calendar, made_on: date) -> date:
    """Art. 26: due 20 working days after the information was made or changed."""
    due = add_working_days(cal, made_on, PROACTIVE_DAYS)
    assert due is not None
    return due


def days_late(cal: Calendar, made_on: date, published_on: date) -> int:
    """Working days ``published_on`` lies after the proactive due date (0: in time)."""
    due = proactive_due(cal, made_on)
    return max(0, working_days_between(cal, due, published_on))


def apply_document_event(state: dict | None, env: Mapping[str, Any]) -> dict | None:
    """Fold one ``disclosure.*`` event into a document's projection (never refuses).

    The projection: ``doc``, ``node``, ``state`` (draft / published / withdrawn),
    ``draft`` (the newest drafted version and its metadata), ``reviews`` (version ->
    review), ``published`` (the public version's metadata, index number, dates),
    ``repealed_on``, ``history`` (one line per event). Node and hub fold alike.
    """
    body = env.get("body")
    if not isinstance(body, Mapping):
        return state
    type_ = env.get("type")
    doc = body.get("doc")
    if not isinstance(doc, str):
        return state
    ts = env.get("ts") if isinstance(env.get("ts"), str) else None
    actor = body.get("actor") if isinstance(body.get("actor"), Mapping) else {}
    if state is None:
        state = {"doc": doc, "node": env.get("node"), "state": "draft", "draft": None,
                 "reviews": {}, "published": None, "versions": {}, "repealed_on": None,
                 "withdrawn": None, "history": []}
    state = {**state, "reviews": dict(state["reviews"]), "versions": dict(state["versions"]),
             "history": list(state["history"])}
    version = body.get("version")
    vkey = str(version) if type(version) is int else None
    line = {"type": type_, "ts": ts, "seq": env.get("seq"), "version": version,
            "actor": actor.get("id"), "role": actor.get("role")}
    if type_ == "disclosure.drafted" and vkey:
        meta = body.get("meta") if isinstance(body.get("meta"), Mapping) else {}
        state["versions"][vkey] = dict(meta)
        state["draft"] = {"version": version, "meta": dict(meta), "at": ts}
    elif type_ == "disclosure.reviewed" and vkey:
        state["reviews"][vkey] = {"outcome": body.get("outcome"), "opinion": body.get("opinion"),
                                  "reviewer": actor.get("id"),
                                  "reviewer_name": body.get("reviewer_name"), "at": ts}
        line["outcome"] = body.get("outcome")
    elif type_ in ("disclosure.published", "disclosure.corrected") and vkey:
        meta = state["versions"].get(vkey) or {}
        previous = state["published"] or {}
        state["published"] = {
            "version": version, "meta": meta,
            "index_no": body.get("index_no") or previous.get("index_no"),
            "published_on": body.get("published_on"),
            "first_published_on": previous.get("first_published_on") or body.get("published_on"),
            "due_on": body.get("due_on"), "days_late": body.get("days_late"),
            "reviewed": (state["reviews"].get(vkey) or {}).get("outcome") == "pass",
        }
        state["state"] = "published"
        if type_ == "disclosure.corrected":
            line["reason"] = body.get("reason")
    elif type_ == "disclosure.withdrawn":
        state["state"] = "withdrawn"
        state["withdrawn"] = {"on": body.get("withdrawn_on"), "reason": body.get("reason")}
        line["reason"] = body.get("reason")
    elif type_ == "disclosure.repealed":
        state["repealed_on"] = body.get("repealed_on")
        line["reason"] = body.get("reason")
    else:
        return state
    state["history"].append(line)
    state["updated_at"] = ts
    return state


# --------------------------------------------------------------------------- requests


def receipt_date(channel: str, *, submitted_on: date | None = None,
                 signed_for_on: date | None = None, system_received_on: date | None = None
                 ) -> date:
    """The date a request counts as received (art. 31 as summarised in DOMAIN.md):
    in person the day submitted; registered post the day signed for; on-line the day the
    system received it."""
    if channel == "in_person":
        day, label = submitted_on, "提交日期"
    elif channel == "post":
        day, label = signed_for_on, "签收日期"
    elif channel == "online":
        day, label = system_received_on, "系统收到日期"
    else:
        raise DisclosureError("channel", "请选择有效的申请方式")
    if day is None:
        raise DisclosureError("receipt_date", f"请填写{label}")
    return day


def _action_date(action: Mapping, key: str = "on") -> date:
    return parse_date(action.get(key), key, "日期")


def apply_request_action(state: dict | None, action: Mapping[str, Any]) -> dict:
    """Fold one request action into the request's state (never refuses; see
    :func:`check_request_action` for the rules).

    State: ``state``, ``received_on``, ``clock_start`` (receipt, or the day the corrected
    request arrived), ``supplement`` (notice and answer dates), ``extension``,
    ``consultations`` (start/end dates), ``reply``.
    """
    kind = action.get("type")
    if state is None:
        state = {"state": "received", "received_on": action.get("on"),
                 "clock_start": action.get("on"), "supplement": None, "extension": None,
                 "consultations": [], "reply": None, "actions": 0}
    state = {**state, "consultations": [dict(c) for c in state["consultations"]],
             "actions": state.get("actions", 0) + 1}
    on = action.get("on")
    if kind == "request_supplement":
        state["state"] = "supplement_requested"
        state["supplement"] = {"notice_on": on, "answered_on": None,
                               "items": action.get("items")}
    elif kind == "supplement":
        state["state"] = "received"
        state["supplement"] = {**(state["supplement"] or {}), "answered_on": on}
        state["clock_start"] = on      # art. 30: the period runs from the corrected request
    elif kind == "extend":
        state["extension"] = {"on": on, "approver": action.get("approver"),
                              "reason": action.get("reason"), "days": EXTENSION_DAYS}
    elif kind == "consult":
        state["state"] = "consulting"
        state["consultations"].append({"start": on, "end": None,
                                       "third_party": action.get("third_party")})
    elif kind == "consulted":
        state["state"] = "received"
        for c in reversed(state["consultations"]):
            if c["end"] is None:
                c["end"] = on
                break
    elif kind == "reply":
        state["state"] = "replied"
        state["reply"] = {"on": on, "type": action.get("reply_type"),
                          "reason_code": action.get("reason_code"),
                          "reason": action.get("reason"), "fee_fen": action.get("fee_fen", 0)}
    return state


def _pauses(state: Mapping) -> list[Pause]:
    out = []
    for c in state.get("consultations", []):
        start = date.fromisoformat(c["start"])
        end = date.fromisoformat(c["end"]) if c.get("end") else None
        # like a special procedure: the day it starts still counts
        if end is None:
            out.append(Pause(start + _ONE_DAY, None, "consultation"))
        elif end > start:
            out.append(Pause(start + _ONE_DAY, end, "consultation"))
    return out


@dataclass(frozen=True)
class RequestDeadline:
    """Where a request stands against its time limits (``None`` where not applicable)."""

    supplement_notice_due: date          # 7 working days after receipt
    reply_due: date | None               # None while waiting for the supplement or paused
    limit_days: int                      # 20, or 40 after the extension
    paused: bool
    waiting_supplement: bool


def request_deadline(cal: Calendar, state: Mapping[str, Any]) -> RequestDeadline:
    received = date.fromisoformat(state["received_on"])
    notice_due = add_working_days(cal, received, SUPPLEMENT_NOTICE_DAYS)
    assert notice_due is not None
    limit = REPLY_DAYS + (EXTENSION_DAYS if state.get("extension") else 0)
    if state.get("state") == "supplement_requested":
        return RequestDeadline(notice_due, None, limit, False, True)
    start = date.fromisoformat(state["clock_start"])
    due = add_working_days(cal, start, limit, _pauses(state))
    return RequestDeadline(notice_due, due, limit, due is None, False)


def check_request_action(cal: Calendar, state: dict | None, action: Mapping[str, Any]) -> dict:
    """Check one action against the request's state and the regulation; returns the
    action normalised. Raises :class:`DisclosureError` (Chinese) when not allowed."""
    kind = action.get("type")
    if kind not in REQUEST_ACTIONS:
        raise DisclosureError("type", "未知的办理操作")
    on = _action_date(action)
    out: dict[str, Any] = {"type": kind, "on": on.isoformat()}
    if kind == "receive":
        if state is not None:
            raise DisclosureError("type", "该申请已登记")
        return out
    if state is None:
        raise DisclosureError("type", "申请尚未登记")
    current = state["state"]
    if current == "replied":
        raise DisclosureError("type", "该申请已答复，不能再办理")
    received = date.fromisoformat(state["received_on"])
    if on < received:
        raise DisclosureError("on", "日期不能早于收到申请之日")
    if kind == "request_supplement":
        if state.get("supplement"):
            raise DisclosureError("type", "补正告知只能一次（条例第三十条：一次性告知）")
        if current != "received":
            raise DisclosureError("type", "当前状态不能告知补正")
        out["items"] = _clean(action.get("items"), "items", "需要补正的事项", max_len=1000,
                              multiline=True)
        return out
    if kind == "supplement":
        if current != "supplement_requested":
            raise DisclosureError("type", "没有待补正的告知")
        return out
    if current == "supplement_requested":
        if kind != "reply":
            raise DisclosureError("type", "申请待补正，请先登记补正材料，或以“其他处理”答复（逾期不补正）")
        return _reply_while_waiting(action, out)
    if kind == "extend":
        if state.get("extension"):
            raise DisclosureError("type", "答复期限只能延长一次（条例第三十三条）")
        out["approver"] = _clean(action.get("approver"), "approver", "批准人（政府信息公开工作机构负责人）",
                                 max_len=50)
        if out["approver"] == (action.get("actor") or ""):
            raise DisclosureError("approver", "延期须经负责人批准，批准人不能是经办人本人")
        out["reason"] = _clean(action.get("reason"), "reason", "延期理由", max_len=500)
        deadline = request_deadline(cal, state)
        if deadline.reply_due is not None and on > deadline.reply_due:
            raise DisclosureError("on", f"答复期限已于 {deadline.reply_due.isoformat()} 届满，不能再延期")
        return out
    if kind == "consult":
        if current == "consulting":
            raise DisclosureError("type", "正在征求第三方意见")
        out["third_party"] = _clean(action.get("third_party"), "third_party", "第三方名称",
                                    max_len=100)
        return out
    if kind == "consulted":
        if current != "consulting":
            raise DisclosureError("type", "没有正在征求的第三方意见")
        opened = date.fromisoformat(state["consultations"][-1]["start"])
        if on < opened:
            raise DisclosureError("on", "日期不能早于征求意见之日")
        return out
    # reply
    if current == "consulting":
        raise DisclosureError("type", "正在征求第三方意见，请先登记第三方意见已收到")
    return _reply(action, out)


def _reply_while_waiting(action: Mapping, out: dict) -> dict:
    reply = _reply(action, out)
    if reply["reply_type"] not in ("other", "unavailable"):
        raise DisclosureError("reply_type", "申请待补正时只能以“其他处理（逾期不补正）”或“无法提供”答复")
    return reply


def _reply(action: Mapping, out: dict) -> dict:
    reply_type = action.get("reply_type")
    if reply_type not in REPLY_TYPES:
        raise DisclosureError("reply_type", "请选择答复类型")
    out["reply_type"] = reply_type
    reasons = REPLY_REASONS.get(reply_type)
    code = action.get("reason_code") or None
    if reasons is not None:
        if code not in reasons:
            raise DisclosureError("reason_code", f"“{REPLY_TYPES[reply_type]}”须选择具体理由")
        out["reason_code"] = code
    else:
        out["reason_code"] = None
    reason = _clean(action.get("reason"), "reason", "答复理由及依据", max_len=2000,
                    required=reply_type != "grant", multiline=True)
    if reply_type != "grant" and len(reason) < MIN_REASON_CHARS:
        raise DisclosureError("reason", f"不予公开或部分公开等答复须说明理由及依据（至少 {MIN_REASON_CHARS} 个字）")
    out["reason"] = reason
    fee = action.get("fee_fen", 0)
    if type(fee) is not int or not 0 <= fee <= 10_000_000:
        raise DisclosureError("fee_fen", "信息处理费金额不正确")
    out["fee_fen"] = fee
    return out


# --------------------------------------------------------------------------- full-text search

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SEGMENT_RE = re.compile(rf"[{_CJK}]+|[A-Za-z0-9]+")


def _segments(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text or "").lower()
    return _SEGMENT_RE.findall(text)


def _is_cjk(segment: str) -> bool:
    return bool(re.match(rf"[{_CJK}]", segment))


def fts_document_terms(*texts: str) -> tuple[str, str]:
    """``(bigrams, unigrams)``: the text of an FTS5 row, segmented for Chinese.

    Every run of Chinese characters becomes its overlapping character bigrams, in order
    (``最低生活`` -> ``最低 低生 生活``), so a phrase of query bigrams matches exactly the
    documents holding that string; latin words and numbers stay whole. Single characters
    go in a second column, so a one-character query also finds its documents.
    """
    bigrams: list[str] = []
    unigrams: list[str] = []
    for text in texts:
        for seg in _segments(text):
            if _is_cjk(seg):
                unigrams.extend(seg)
                if len(seg) == 1:
                    bigrams.append(seg)
                else:
                    bigrams.extend(seg[i:i + 2] for i in range(len(seg) - 1))
            else:
                bigrams.append(seg)
            bigrams.append("|")   # a separator token: phrases never span segments
    return " ".join(t for t in bigrams if t != "|"), " ".join(unigrams)


def fts_query(query: str, *, max_terms: int = 12) -> str | None:
    """An FTS5 MATCH expression for a user's query (every word must match), or None when
    the query has nothing searchable. Quotes and operators typed by the user never reach
    FTS5: only bigrams, single characters and latin words built here do."""
    parts: list[str] = []
    for seg in _segments(query)[:max_terms]:
        if _is_cjk(seg):
            if len(seg) == 1:
                parts.append(f'unigrams : "{seg}"')
            else:
                grams = " ".join(seg[i:i + 2] for i in range(len(seg) - 1))
                parts.append(f'bigrams : "{grams}"')
        else:
            parts.append(f'bigrams : "{seg}"*')
    return " AND ".join(parts) if parts else None


# --------------------------------------------------------------------------- annual report

REPORT_APPLICANT_COLUMNS = ("person", "company", "research", "public_interest",
                            "legal_service", "other_org", "total")


def _report_rows() -> list[tuple[str, str]]:
    rows = [("new", "一、本年新收政府信息公开申请数量"),
            ("carried_in", "二、上年结转政府信息公开申请数量"),
            ("grant", "（一）予以公开"),
            ("partial", "（二）部分公开（区分处理的，只计这一情形，不计其他情形）")]
    heads = {"refuse": "（三）不予公开", "unavailable": "（四）无法提供",
             "not_handled": "（五）不予处理", "other": "（六）其他处理"}
    for kind, reasons in REPLY_REASONS.items():
        for code, label in reasons.items():
            rows.append((f"{kind}.{code}", f"{heads[kind]} {code}.{label}"))
    rows += [("total", "（七）总计"), ("carried_out", "四、结转下年度继续办理")]
    return rows


REPORT_REQUEST_ROWS = tuple(_report_rows())


def _fen_to_wan(fen: int) -> str:
    """Fen as 万元 with four decimals (1 万元 = 1,000,000 fen), exact, no float."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    whole, rest = divmod(fen, 1_000_000)
    return f"{sign}{whole}.{rest // 100:04d}"


def annual_report(year: int, body: Mapping[str, str], *, documents: Iterable[Mapping],
                  requests: Iterable[Mapping], appeals: Iterable[Mapping],
                  case_decisions: Mapping[str, int], fees_fen: int,
                  texts: Mapping[str, str] | None = None) -> dict:
    """The annual report of one body for ``year`` in the structure of the national format
    (国办公开办函〔2021〕30号), from plain records.

    ``documents``: ``{"genre", "made_on", "published_on", "repealed_on", "withdrawn"}``
    (published documents); ``requests``: ``{"applicant_type", "received_on", "reply_on",
    "reply_type", "reason_code"}``; ``appeals``: ``{"kind", "outcome", "year"}``;
    ``case_decisions``: ``{"license", "penalty", "enforcement"}`` decisions of the year
    from case data; ``fees_fen``: administrative fees charged in the year net of refunds.
    """
    first, last = date(year, 1, 1), date(year, 12, 31)

    def day(value: Any) -> date | None:
        return date.fromisoformat(value) if isinstance(value, str) and value else None

    # -- 二、主动公开
    normative = {GENRE_RULE: {"issued": 0, "repealed": 0, "in_force": 0},
                 GENRE_NORMATIVE: {"issued": 0, "repealed": 0, "in_force": 0}}
    proactive_total = 0
    for d in documents:
        published = day(d.get("published_on"))
        if published is None or d.get("withdrawn"):
            continue
        if first <= published <= last:
            proactive_total += 1
        genre = d.get("genre")
        if genre not in normative:
            continue
        made, repealed = day(d.get("made_on")), day(d.get("repealed_on"))
        row = normative[genre]
        if made and first <= made <= last:
            row["issued"] += 1
        if repealed and first <= repealed <= last:
            row["repealed"] += 1
        if made and made <= last and (repealed is None or repealed > last):
            row["in_force"] += 1
    proactive = {
        "rules": normative[GENRE_RULE], "normative": normative[GENRE_NORMATIVE],
        "license": {"decisions": int(case_decisions.get("license", 0))},
        "penalty": {"decisions": int(case_decisions.get("penalty", 0))},
        "enforcement": {"decisions": int(case_decisions.get("enforcement", 0))},
        "fees": {"amount_wan": _fen_to_wan(int(fees_fen)), "amount_fen": int(fees_fen)},
    }

    # -- 三、申请
    table = {key: {c: 0 for c in REPORT_APPLICANT_COLUMNS} for key, _ in REPORT_REQUEST_ROWS}

    def count(row: str, applicant: str) -> None:
        col = applicant if applicant in APPLICANT_TYPES else "other_org"
        table[row][col] += 1
        table[row]["total"] += 1

    for r in requests:
        received, replied = day(r.get("received_on")), day(r.get("reply_on"))
        applicant = r.get("applicant_type") or "other_org"
        if received is None or received > last:
            continue
        if received >= first:
            count("new", applicant)
        elif replied is None or replied >= first:
            count("carried_in", applicant)
        if replied is not None and first <= replied <= last:
            kind = r.get("reply_type")
            if kind in ("grant", "partial"):
                count(kind, applicant)
            elif kind in REPLY_REASONS and f"{kind}.{r.get('reason_code')}" in table:
                count(f"{kind}.{r.get('reason_code')}", applicant)
            else:
                count("other.3", applicant)
            count("total", applicant)
        elif replied is None or replied > last:
            count("carried_out", applicant)

    # -- 四、复议、诉讼
    appeal_table = {kind: {o: 0 for o in (*APPEAL_OUTCOMES, "total")} for kind in APPEAL_KINDS}
    for a in appeals:
        if a.get("year") != year or a.get("kind") not in APPEAL_KINDS \
                or a.get("outcome") not in APPEAL_OUTCOMES:
            continue
        appeal_table[a["kind"]][a["outcome"]] += 1
        appeal_table[a["kind"]]["total"] += 1

    texts = dict(texts or {})
    return {
        "format": "gov-info-disclosure-annual-report/2021",
        "basis": "国办公开办函〔2021〕30号",
        "year": year, "body": {"code": body.get("code"), "name": body.get("name")},
        "overview": texts.get("overview", ""),
        "proactive": proactive, "proactive_published": proactive_total,
        "requests": {"columns": list(REPORT_APPLICANT_COLUMNS),
                     "rows": {k: table[k] for k, _ in REPORT_REQUEST_ROWS},
                     "labels": dict(REPORT_REQUEST_ROWS)},
        "appeals": appeal_table,
        "problems": texts.get("problems", ""),
        "other": texts.get("other", ""),
    }


def report_consistency(report: Mapping) -> list[str]:
    """Checks the national format asks of the request table: new + carried in = handled
    + carried out, column by column. Returns the Chinese descriptions of any mismatch."""
    rows = report["requests"]["rows"]
    problems = []
    for col in REPORT_APPLICANT_COLUMNS:
        left = rows["new"][col] + rows["carried_in"][col]
        right = rows["total"][col] + rows["carried_out"][col]
        if left != right:
            problems.append(f"{col}：新收+结转（{left}）≠ 办理总计+结转下年（{right}）")
    return problems


def catalogue_gaps(entries: Iterable[Mapping], published: Iterable[Mapping], year: int,
                   today: date) -> list[dict]:
    """Catalogue entries with nothing published in a period of ``year`` that has ended.

    ``entries``: ``{"body_code", "code", "name", "period"}``; ``published``: documents
    ``{"body_code", "entry", "published_on"}``. Periods: monthly, quarterly, yearly;
    ``on_change`` entries are never flagged (nothing may have changed).
    """
    seen: dict[tuple[str, str], list[date]] = {}
    for d in published:
        if d.get("entry") and d.get("published_on"):
            seen.setdefault((d["body_code"], d["entry"]), []).append(
                date.fromisoformat(d["published_on"]))
    gaps = []
    for e in entries:
        spans: list[tuple[str, date, date]] = []
        if e["period"] == "monthly":
            for m in range(1, 13):
                end = (date(year, m + 1, 1) if m < 12 else date(year + 1, 1, 1)) - _ONE_DAY
                spans.append((f"{year}年{m}月", date(year, m, 1), end))
        elif e["period"] == "quarterly":
            for q in range(4):
                start = date(year, 3 * q + 1, 1)
                end = (date(year, 3 * q + 4, 1) if q < 3 else date(year + 1, 1, 1)) - _ONE_DAY
                spans.append((f"{year}年第{q + 1}季度", start, end))
        elif e["period"] == "yearly":
            spans.append((f"{year}年", date(year, 1, 1), date(year, 12, 31)))
        days = seen.get((e["body_code"], e["code"]), [])
        for label, start, end in spans:
            if end >= today:
                continue
            if not any(start <= d <= end for d in days):
                gaps.append({"body_code": e["body_code"], "code": e["code"],
                             "name": e["name"], "period": label, "start": start.isoformat(),
                             "end": end.isoformat()})
    return gaps


def label_of(table: Mapping[str, str], code: Any) -> str:
    return table.get(code, "") if isinstance(code, str) else ""


def reason_label(reply_type: str | None, code: str | None) -> str:
    return (REPLY_REASONS.get(reply_type or "") or {}).get(code or "", "")


def sequence_or_empty(value: Any) -> Sequence:
    return value if isinstance(value, (list, tuple)) else ()


# --------------------------------------------------------------------------- request intake
# (the applicant's form, the same at the hub's window, on the portal and at a township
# window off-line: edge_node/disclosure_requests.py)

_REQUEST_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REQUEST_NO_RE = re.compile(r"^GK\d{8}-[2-9A-HJKMNP-Z]{8}$")
_PHONE_RE = re.compile(r"^[0-9+\-() ]{5,30}$")
REQUEST_DELIVERY: Mapping[str, str] = {"email": "电子邮件", "post": "邮寄", "pickup": "当面领取",
                                       "online": "网上查看"}


def new_request_no(today: date) -> str:
    """A tracking number with 40 random bits (``GK20260302-7KQ2M9XD``): one cannot guess
    another applicant's, and two handling points never make the same one in practice."""
    return f"GK{today:%Y%m%d}-" + "".join(secrets.choice(_REQUEST_ALPHABET) for _ in range(8))


def normalise_request_no(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    text = text.strip().upper().replace(" ", "")
    return text if REQUEST_NO_RE.match(text) else None


def validate_request_application(form: Mapping[str, Any], bodies: Mapping[str, str]) -> dict:
    """The applicant's form, checked (Chinese messages). ``bodies``: code -> name."""
    body = form.get("body_code")
    if body not in bodies:
        raise DisclosureError("body_code", "请选择受理申请的机关")
    applicant_type = form.get("applicant_type")
    if applicant_type not in APPLICANT_TYPES:
        raise DisclosureError("applicant_type", "请选择申请人类型")

    def field(name: str, label: str, max_len: int, *, required: bool = True,
              multiline: bool = False) -> str:
        return _clean(form.get(name), name, label, max_len=max_len, required=required,
                      multiline=multiline)

    out = {
        "body_code": body, "body_name": bodies[body], "applicant_type": applicant_type,
        "applicant_name": field("applicant_name",
                                "姓名" if applicant_type == "person" else "名称", 100),
        "applicant_id_no": field("applicant_id_no", "证件号码", 40, required=False),
        "contact": field("contact", "联系电话", 30),
        "address": field("address", "通信地址或电子邮箱", 200, required=False),
        "description": field("description", "所需政府信息的名称、文号或便于查询的其他特征性描述",
                             2000, multiline=True),
        "purpose": field("purpose", "用途说明", 500, required=False, multiline=True),
        "delivery": form.get("delivery") if form.get("delivery") in REQUEST_DELIVERY
        else "email",
    }
    if not _PHONE_RE.match(out["contact"]):
        raise DisclosureError("contact", "联系电话格式不正确")
    return out
