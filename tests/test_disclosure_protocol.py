"""protocol.disclosure and its supervision rules: pure functions, no I/O."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import disclosure as d
from protocol import events
from protocol.calendar import Calendar
from protocol.supervision.disclosure_rules import (DISCLOSURE_RULES, evaluate_catalogue,
                                                   evaluate_document, evaluate_request)

CAL = Calendar.seeded()


def meta(**over):
    base = {"title": "关于2026年最低生活保障标准的通知", "text": "正文", "made_on": "2026-03-02",
            "body_code": "510829101", "body_name": "城关镇人民政府", "topic": "16",
            "genre": "02", "grouping": "06", "office": "民政办", "person": "张三"}
    base.update(over)
    return base


# --------------------------------------------------------------------------- documents


def test_validate_document_normalises_and_defaults():
    out = d.validate_document(meta(keywords="低保，救助 标准"))
    assert out["keywords"] == ["低保", "救助", "标准"]
    assert out["methods"] == ["website"] and out["scope"] == "society"
    assert out["time_limit"].startswith("自信息形成或变更之日起20个工作日")
    events.validate_body("disclosure.drafted", {"actor": {"id": "u1", "role": "clerk"},
                                                "doc": "XZ-D000001", "version": 1, "meta": out})


@pytest.mark.parametrize("field, value, zh", [
    ("title", "", "请填写名称"),
    ("title", "长" * 201, "名称不能超过 200 个字"),
    ("made_on", "2026-02-30", "不是有效日期"),
    ("made_on", "yesterday", "YYYY-MM-DD"),
    ("topic", "99", "主题分类"),
    ("genre", None, "体裁分类"),
    ("office", " ", "责任处室"),
    ("person", "", "责任人"),
    ("body_code", "../x", "发布机构代码"),
    ("text", "x" * (d.MAX_TEXT_CHARS + 1), "正文不能超过"),
    ("title", "标题\x00", "控制字符"),
])
def test_validate_document_refuses_bad_fields_in_chinese(field, value, zh):
    with pytest.raises(d.DisclosureError) as err:
        d.validate_document(meta(**{field: value}))
    assert err.value.field == field and zh in err.value.zh


def test_document_needs_text_or_attachment():
    with pytest.raises(d.DisclosureError, match="正文或上传附件"):
        d.validate_document(meta(text=""))


def test_index_number_scheme_round_trips():
    number = d.format_index_no("510829101", 2026, 12)
    assert number == "510829101/2026-00012"
    assert d.parse_index_no(number) == ("510829101", 2026, 12)
    with pytest.raises(d.DisclosureError):
        d.parse_index_no("510829101-2026-12")


def test_proactive_due_is_twenty_working_days_after_made():
    # made Thu 2026-02-12: Spring Festival 02-15..02-23, Sat 02-14 and Sat 02-28 worked
    due = d.proactive_due(CAL, date(2026, 2, 12))
    assert due == date(2026, 3, 18)
    assert d.days_late(CAL, date(2026, 2, 12), due) == 0
    assert d.days_late(CAL, date(2026, 2, 12), date(2026, 3, 20)) == 2


# --------------------------------------------------------------------------- attachments


def test_sniffing_and_hostile_names():
    assert d.sniff_mime(b"%PDF-1.7\n") == "application/pdf"
    assert d.sniff_mime(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert d.sniff_mime(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert d.sniff_mime(b"MZ\x90\x00") is None
    assert d.safe_filename("../../etc/passwd", "application/pdf") == "passwd.pdf"
    assert d.safe_filename("C:\\Windows\\evil.jpeg", "image/jpeg") == "evil.jpg"
    assert d.safe_filename("\u202egpj.exe", "image/png") == "gpj.exe.png"
    assert d.safe_filename("...", "application/pdf") == "附件.pdf"
    assert d.safe_filename('a<b>"c".pdf', "application/pdf") == "a_b__c_.pdf"
    assert len(d.safe_filename("长" * 300 + ".pdf", "application/pdf")) <= 80


def test_check_attachment_refuses_type_size_and_empty():
    with pytest.raises(d.DisclosureError, match="PDF、PNG 或 JPEG"):
        d.check_attachment("a.pdf", b"<html>not a pdf</html>")
    with pytest.raises(d.DisclosureError, match="空文件"):
        d.check_attachment("a.pdf", b"")
    with pytest.raises(d.DisclosureError, match="不能超过"):
        d.check_attachment("a.pdf", b"%PDF-" + b"0" * 2000, max_bytes=1000)
    ok = d.check_attachment("扫描件.PNG", b"\x89PNG\r\n\x1a\n" + b"0" * 10)
    assert ok.name == "扫描件.png" and ok.mime == "image/png" and ok.size == 18


# --------------------------------------------------------------------------- requests


def _run(actions):
    state = None
    for action in actions:
        checked = d.check_request_action(CAL, state, action)
        state = d.apply_request_action(state, checked)
    return state


def test_receipt_date_rules():
    assert d.receipt_date("in_person", submitted_on=date(2026, 3, 2)) == date(2026, 3, 2)
    assert d.receipt_date("post", signed_for_on=date(2026, 3, 5),
                          submitted_on=date(2026, 3, 1)) == date(2026, 3, 5)
    assert d.receipt_date("online", system_received_on=date(2026, 3, 7)) == date(2026, 3, 7)
    with pytest.raises(d.DisclosureError, match="签收日期"):
        d.receipt_date("post", submitted_on=date(2026, 3, 1))


def test_reply_due_twenty_working_days_extension_and_consultation_pause():
    state = _run([{"type": "receive", "on": "2026-03-02"}])
    assert d.request_deadline(CAL, state).reply_due == date(2026, 3, 30)
    state = _run([{"type": "receive", "on": "2026-03-02"},
                  {"type": "extend", "on": "2026-03-20", "approver": "主任", "reason": "需检索档案",
                   "actor": "clerk"}])
    assert d.request_deadline(CAL, state).reply_due == date(2026, 4, 28)  # 40 days (清明 04-06)
    # consultation from Mon 03-09 to Fri 03-13: 03-10..03-13 (4 working days) not counted
    state = _run([{"type": "receive", "on": "2026-03-02"},
                  {"type": "consult", "on": "2026-03-09", "third_party": "某公司"}])
    assert d.request_deadline(CAL, state).reply_due is None
    state = d.apply_request_action(state, d.check_request_action(
        CAL, state, {"type": "consulted", "on": "2026-03-13"}))
    assert d.request_deadline(CAL, state).reply_due == date(2026, 4, 3)


def test_one_supplement_notice_then_the_clock_restarts():
    state = _run([{"type": "receive", "on": "2026-03-02"},
                  {"type": "request_supplement", "on": "2026-03-05", "items": "请写明文件名称"}])
    assert d.request_deadline(CAL, state).waiting_supplement
    assert d.request_deadline(CAL, state).supplement_notice_due == date(2026, 3, 11)
    state = d.apply_request_action(state, d.check_request_action(
        CAL, state, {"type": "supplement", "on": "2026-03-16"}))
    assert d.request_deadline(CAL, state).reply_due == date(2026, 4, 14)  # from 03-16
    with pytest.raises(d.DisclosureError, match="一次"):
        d.check_request_action(CAL, state, {"type": "request_supplement", "on": "2026-03-17",
                                            "items": "again"})


def test_extension_only_once_with_another_approver():
    state = _run([{"type": "receive", "on": "2026-03-02"}])
    with pytest.raises(d.DisclosureError, match="批准人"):
        d.check_request_action(CAL, state, {"type": "extend", "on": "2026-03-10",
                                            "approver": "", "reason": "理由充分"})
    with pytest.raises(d.DisclosureError, match="本人"):
        d.check_request_action(CAL, state, {"type": "extend", "on": "2026-03-10",
                                            "approver": "li", "reason": "理由充分", "actor": "li"})
    state = _run([{"type": "receive", "on": "2026-03-02"},
                  {"type": "extend", "on": "2026-03-10", "approver": "主任", "reason": "理由充分"}])
    with pytest.raises(d.DisclosureError, match="只能延长一次"):
        d.check_request_action(CAL, state, {"type": "extend", "on": "2026-03-11",
                                            "approver": "主任", "reason": "再延"})


@pytest.mark.parametrize("reply_type, code, reason, ok", [
    ("grant", None, "", True),
    ("partial", None, "涉及第三方个人信息部分不予公开", True),
    ("partial", None, "", False),
    ("refuse", "1", "属于国家秘密，依据条例第十四条", True),
    ("refuse", None, "属于国家秘密", False),
    ("refuse", "1", "", False),
    ("unavailable", "9", "本机关不掌握", False),
    ("not_handled", "2", "重复申请，已于上月答复", True),
])
def test_refusals_need_a_reason(reply_type, code, reason, ok):
    state = _run([{"type": "receive", "on": "2026-03-02"}])
    action = {"type": "reply", "on": "2026-03-10", "reply_type": reply_type,
              "reason_code": code, "reason": reason}
    if ok:
        assert d.check_request_action(CAL, state, action)["reply_type"] == reply_type
    else:
        with pytest.raises(d.DisclosureError):
            d.check_request_action(CAL, state, action)


def test_replied_request_takes_no_more_actions():
    state = _run([{"type": "receive", "on": "2026-03-02"},
                  {"type": "reply", "on": "2026-03-03", "reply_type": "grant"}])
    with pytest.raises(d.DisclosureError, match="已答复"):
        d.check_request_action(CAL, state, {"type": "extend", "on": "2026-03-04"})


# --------------------------------------------------------------------------- supervision


def test_rules_have_ids_versions_bases_and_levels():
    assert set(DISCLOSURE_RULES) >= {"D-01", "D-02", "D-03", "D-04", "D-05", "D-06"}
    for rule in DISCLOSURE_RULES.values():
        assert rule.version >= 1 and "条例" in rule.basis or "保密" in rule.basis
        assert rule.level in ("info", "warning", "yellow", "red") and rule.description_zh


def _published(made_on, published_on, reviewed=True):
    state = None
    envs = [{"type": "disclosure.drafted", "body": {"doc": "X-D1", "version": 1,
                                                    "actor": {"id": "u", "role": "clerk"},
                                                    "meta": meta(made_on=made_on)}}]
    if reviewed:
        envs.append({"type": "disclosure.reviewed", "body": {"doc": "X-D1", "version": 1,
                                                             "outcome": "pass",
                                                             "actor": {"id": "r", "role": "reviewer"}}})
    envs.append({"type": "disclosure.published", "body": {"doc": "X-D1", "version": 1,
                                                          "published_on": published_on,
                                                          "actor": {"id": "h", "role": "head"}}})
    for env in envs:
        state = d.apply_document_event(state, env)
    return state


def test_late_and_unreviewed_publication_findings():
    assert evaluate_document(_published("2026-03-02", "2026-03-30"), CAL) == []
    late = evaluate_document(_published("2026-03-02", "2026-04-01"), CAL)
    assert [(f.rule_id, f.level, f.details["days_late"]) for f in late] == [("D-01", "yellow", 2)]
    very = evaluate_document(_published("2026-01-05", "2026-04-01"), CAL)
    assert very[0].level == "red"
    unreviewed = evaluate_document(_published("2026-03-02", "2026-03-03", reviewed=False), CAL)
    assert [f.rule_id for f in unreviewed] == ["D-06"]


def test_request_findings():
    state = _run([{"type": "receive", "on": "2026-03-02"}])
    assert evaluate_request("R", state, CAL, date(2026, 3, 10)) == []
    assert [f.rule_id for f in evaluate_request("R", state, CAL, date(2026, 3, 27))] == ["D-07"]
    overdue = evaluate_request("R", state, CAL, date(2026, 3, 31))
    assert [(f.rule_id, f.details["days_late"]) for f in overdue] == [("D-02", 1)]
    late_notice = _run([{"type": "receive", "on": "2026-03-02"},
                        {"type": "request_supplement", "on": "2026-03-20", "items": "写明名称"}])
    assert [f.rule_id for f in evaluate_request("R", late_notice, CAL, date(2026, 3, 20))] == ["D-03"]
    # a refusal stored without a reason (data from elsewhere) is a finding
    bad = dict(state, state="replied", reply={"on": "2026-03-05", "type": "refuse", "reason": ""})
    assert [f.rule_id for f in evaluate_request("R", bad, CAL, date(2026, 3, 6))] == ["D-04"]


def test_catalogue_gaps_only_for_ended_periods():
    entries = [{"body_code": "B", "code": "CZ", "name": "财政预算", "period": "quarterly"},
               {"body_code": "B", "code": "DT", "name": "工作动态", "period": "on_change"}]
    docs = [{"body_code": "B", "entry": "CZ", "published_on": "2026-02-10"}]
    gaps = evaluate_catalogue(entries, docs, 2026, date(2026, 8, 1))
    assert [g.details["period"] for g in gaps] == ["2026年第2季度"]


# --------------------------------------------------------------------------- search


def _fts():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(doc_id UNINDEXED, bigrams, unigrams)")
    return conn


def _search(conn, query):
    match = d.fts_query(query)
    return sorted(r[0] for r in conn.execute("SELECT doc_id FROM f WHERE f MATCH ?", (match,)))


def test_two_character_words_find_their_documents():
    conn = _fts()
    for doc_id, text in (("a", "关于调整城乡最低生活保障标准的通知"), ("b", "2026年医保缴费通知"),
                         ("c", "城关镇征地补偿方案公示"), ("d", "低温雨雪天气预警")):
        conn.execute("INSERT INTO f VALUES (?, ?, ?)", (doc_id, *d.fts_document_terms(text)))
    assert _search(conn, "医保") == ["b"]
    assert _search(conn, "征地") == ["c"]
    assert _search(conn, "通知") == ["a", "b"]
    assert _search(conn, "低保") == []          # not a substring of 最低生活保障
    assert _search(conn, "生活保障") == ["a"]
    assert _search(conn, "低") == ["a", "d"]     # one character
    assert _search(conn, "2026 通知") == ["b"]
    assert d.fts_query('"*()-:^') is None          # nothing searchable
    assert _search(conn, '" OR * NEAR( 通知') == []  # operators are plain words, never syntax


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="低保医征地通知城关镇最生活障a1 ", min_size=2, max_size=30),
       st.integers(0, 20), st.integers(2, 4))
def test_any_substring_of_a_document_finds_it(text, start, length):
    conn = _fts()
    conn.execute("INSERT INTO f VALUES ('x', ?, ?)", d.fts_document_terms(text))
    word = text[start:start + length].strip()
    if not word or not all("\u4e00" <= c <= "\u9fff" for c in word):
        return      # latin words match whole words and prefixes, not inner substrings
    assert _search(conn, word) == ["x"]


# --------------------------------------------------------------------------- annual report


def test_annual_report_cells_and_consistency():
    docs = [{"genre": "02", "made_on": "2026-02-01", "published_on": "2026-02-10"},
            {"genre": "02", "made_on": "2025-05-01", "published_on": "2025-05-10",
             "repealed_on": "2026-06-30"},
            {"genre": "02", "made_on": "2024-05-01", "published_on": "2024-05-10"},
            {"genre": "01", "made_on": "2026-03-01", "published_on": "2026-03-05"},
            {"genre": "07", "made_on": "2026-03-01", "published_on": "2026-03-05"}]
    requests = [
        {"applicant_type": "person", "received_on": "2025-12-20", "reply_on": "2026-01-10",
         "reply_type": "grant"},
        {"applicant_type": "company", "received_on": "2026-03-01", "reply_on": "2026-03-20",
         "reply_type": "refuse", "reason_code": "4"},
        {"applicant_type": "legal_service", "received_on": "2026-12-25", "reply_on": None},
        {"applicant_type": "person", "received_on": "2026-04-01", "reply_on": "2026-04-09",
         "reply_type": "not_handled", "reason_code": "2"},
    ]
    report = d.annual_report(2026, {"code": "B", "name": "城关镇人民政府"}, documents=docs,
                             requests=requests,
                             appeals=[{"year": 2026, "kind": "reconsideration", "outcome": "upheld"},
                                      {"year": 2025, "kind": "reconsideration", "outcome": "upheld"}],
                             case_decisions={"license": 7}, fees_fen=1_234_500)
    assert report["proactive"]["normative"] == {"issued": 1, "repealed": 1, "in_force": 2}
    assert report["proactive"]["rules"]["issued"] == 1
    assert report["proactive"]["license"]["decisions"] == 7
    assert report["proactive"]["fees"]["amount_wan"] == "1.2345"
    rows = report["requests"]["rows"]
    assert rows["new"]["total"] == 3 and rows["carried_in"]["person"] == 1
    assert rows["grant"]["person"] == 1 and rows["refuse.4"]["company"] == 1
    assert rows["not_handled.2"]["person"] == 1
    assert rows["total"]["total"] == 3 and rows["carried_out"]["legal_service"] == 1
    assert report["appeals"]["reconsideration"]["upheld"] == 1
    assert d.report_consistency(report) == []


def test_window_request_event_schema_follows_the_code_tables():
    """The disclosure.request_received schema's choices are the regulation's tables."""
    from protocol.events import EVENT_TYPES
    fields = EVENT_TYPES["disclosure.request_received"].schema.fields
    assert set(fields["applicant_type"].choices) == set(d.APPLICANT_TYPES)
    assert set(fields["delivery"].choices) == set(d.REQUEST_DELIVERY)
