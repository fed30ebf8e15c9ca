"""Service catalogue format (protocol.catalogue) and the sample catalogue."""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.catalogue import (
    ITEM_FIELDS,
    match_rank,
    Catalogue,
    CatalogueError,
    credit_code_ok,
    fee_fen,
    flow_step,
    next_step,
    required_material_ids,
    risk_points_at_step,
    steps_at_level,
    validate_catalogue,
    validate_item,
)


def _sample_text() -> str:
    return importlib.resources.files("protocol.samples").joinpath("catalogue.json").read_text("utf-8")


SAMPLE_TEXT = _sample_text()


@pytest.fixture
def doc() -> dict:
    return json.loads(SAMPLE_TEXT)


@pytest.fixture
def cat(doc) -> Catalogue:
    return validate_catalogue(doc)


def _item(doc, code="MZ-QR-0001") -> dict:
    """A rich sample item (county steps, optional materials, risk points, FAQ)."""
    return copy.deepcopy(next(i for i in doc["items"] if i["code"] == code))


# ---------------------------------------------------------------------------------------------
# The sample catalogue
# ---------------------------------------------------------------------------------------------


def test_sample_validates(cat):
    assert cat.version == 1
    assert cat.published_at == "2026-11-01"
    assert len(cat) == len(cat.items)


def test_sample_size_and_types(cat):
    assert len(cat.items) >= 32
    types = {i["type_code"] for i in cat.items}
    assert len(types) >= 6
    assert {"01", "05", "07", "20", "10"} <= types
    assert types & {"04", "06"}


def test_sample_has_no_floats():
    def no_float(text):
        raise AssertionError(f"float literal {text!r} in catalogue.json")

    data = json.loads(SAMPLE_TEXT, parse_float=no_float)

    def walk(v):
        assert not isinstance(v, float)
        if isinstance(v, dict):
            for k, x in v.items():
                assert isinstance(k, str)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        else:
            assert isinstance(v, (str, int, bool))

    walk(data)


def test_sample_items_are_plausible(cat):
    for it in cat.items:
        assert len(it["materials"]) >= 2, it["code"]
        assert len(it["flow"]) >= 3, it["code"]
        assert it["risk_points"], it["code"]
        assert it["committed_half_days"] < it["statutory_half_days"], it["code"]
        assert it["impl_code"].startswith("510829") and it["impl_code"].endswith(it["code"])
        assert "受理" in it["flow"][0]["name"], it["code"]
        assert it["faq"], it["code"]
        assert credit_code_ok(it["body"]["credit_code"])
        # Free items have no fee basis; charged ones do.
        assert bool(it["fee"]["basis"]) == it["fee"]["charged"], it["code"]


def test_sample_variety(cat):
    items = cat.items
    assert sum(i["case_kind"] == "1" for i in items) >= 3  # several 即办件
    assert sum(bool(steps_at_level(i, "county")) for i in items) >= 5  # township 初审 + county
    assert 1 <= sum(i["fee"]["charged"] for i in items) < len(items) // 2  # mostly free
    assert sum(i["separate_accept_approve"] for i in items) >= 3
    assert any(not i["separate_accept_approve"] for i in items)
    grades = {r["grade"] for i in items for r in i["risk_points"]}
    assert grades == {"A", "B", "C"}
    assert any(not m["required"] for i in items for m in i["materials"])
    natures = {i["body"]["nature"] for i in items}
    assert {"法定机关", "授权组织", "受委托组织"} <= natures
    bodies = {i["body"]["name"] for i in items}
    assert len(bodies) >= 8
    assert any("人民政府" in b for b in bodies)


def test_sample_counties_consistent(cat):
    for it in cat.items:
        assert it["body"]["name"].startswith("青岚县"), it["body"]["name"]
        assert it["body"]["credit_code"][2:8] == "510829"


# ---------------------------------------------------------------------------------------------
# Validation rules: item level (relative paths)
# ---------------------------------------------------------------------------------------------


def _set(path, value):
    """Mutation setting ``path`` (list of keys/indices) to ``value``."""

    def mutate(d):
        tgt = d
        for k in path[:-1]:
            tgt = tgt[k]
        tgt[path[-1]] = value

    return mutate


def _delete(path):
    def mutate(d):
        tgt = d
        for k in path[:-1]:
            tgt = tgt[k]
        del tgt[path[-1]]

    return mutate


def _dup_material(d):
    d["materials"][1]["id"] = d["materials"][0]["id"]


def _dup_step(d):
    d["flow"][1]["id"] = d["flow"][0]["id"]


def _first_step_not_clerk(d):
    d["flow"][0]["role"] = "handler"


def _share_off(d):
    d["flow"][0]["share_pct"] += 1


def _too_many_materials(d):
    d["materials"] = [dict(d["materials"][0], id=f"M{n}") for n in range(51)]


def _too_many_steps(d):
    steps = [{"id": f"S{n}", "name": "审查", "role": "handler", "level": "township", "share_pct": 5} for n in range(21)]
    steps[0]["role"] = "clerk"
    steps[0]["share_pct"] = 0
    d["flow"] = steps
    d["risk_points"] = []


def _dup_serves(d):
    d["serves"] = ["1", "1"]


def _committed_over(d):
    d["committed_half_days"] = d["statutory_half_days"] + 1


def _promised_zero(d):
    d["case_kind"] = "2"
    d["committed_half_days"] = 0


def _free_with_amount(d):
    d["fee"] = {"charged": False, "amount_fen": 500, "basis": ""}


def _charged_zero(d):
    d["fee"] = {"charged": True, "amount_fen": 0, "basis": "《某收费依据》"}


def _charged_no_basis(d):
    d["fee"] = {"charged": True, "amount_fen": 1000, "basis": " "}


def _bad_check_digit(d):
    cc = d["body"]["credit_code"]
    d["body"]["credit_code"] = cc[:17] + ("1" if cc[17] != "1" else "2")


ITEM_CASES = [
    ("missing name", _delete(["name"]), "name", "required"),
    ("missing body nature", _delete(["body", "nature"]), "body.nature", "required"),
    ("unknown field", _set(["extra"], "x"), "extra", "unknown_field"),
    ("unknown material field", _set(["materials", 0, "size"], 1), "materials[0].size", "unknown_field"),
    ("name too long", _set(["name"], "事" * 201), "name", "length"),
    ("name empty", _set(["name"], "  "), "name", "empty"),
    ("name control char", _set(["name"], "低保\x00"), "name", "format"),
    ("name newline", _set(["name"], "低保\n认定"), "name", "format"),
    ("code too long", _set(["code"], "MZ-QR-00001"), "code", "length"),
    ("code lower case", _set(["code"], "mz-qr-1"), "code", "format"),
    ("impl_code too long", _set(["impl_code"], "5" * 25), "impl_code", "length"),
    ("type_code unknown", _set(["type_code"], "30"), "type_code", "code_table"),
    ("type_code int", _set(["type_code"], 1), "type_code", "type"),
    ("level national", _set(["level"], "1"), "level", "code_table"),
    ("body not object", _set(["body"], "青岚县民政局"), "body", "type"),
    ("credit code short", _set(["body", "credit_code"], "11510829008723019"), "body.credit_code", "format"),
    ("credit code letter O", _set(["body", "credit_code"], "11510829008723O19H"), "body.credit_code", "format"),
    ("credit code check", _bad_check_digit, "body.credit_code", "check_digit"),
    ("body nature", _set(["body", "nature"], "派出机构"), "body.nature", "code_table"),
    ("handling org long", _set(["handling_org"], "办" * 201), "handling_org", "length"),
    ("basis empty list", _set(["basis"], []), "basis", "length"),
    ("basis blank entry", _set(["basis", 0], ""), "basis[0]", "empty"),
    ("basis non-string", _set(["basis", 1], 5), "basis[1]", "type"),
    ("conditions too long", _set(["conditions"], "条" * 2001), "conditions", "length"),
    ("case kind", _set(["case_kind"], "3"), "case_kind", "code_table"),
    ("statutory bool", _set(["statutory_half_days"], True), "statutory_half_days", "type"),
    ("statutory float", _set(["statutory_half_days"], 40.0), "statutory_half_days", "type"),
    ("statutory negative", _set(["statutory_half_days"], -1), "statutory_half_days", "range"),
    ("committed string", _set(["committed_half_days"], "20"), "committed_half_days", "type"),
    ("committed over statutory", _committed_over, "committed_half_days", "time_limit"),
    ("promised with zero limit", _promised_zero, "committed_half_days", "range"),
    ("free item with amount", _free_with_amount, "fee.amount_fen", "fee"),
    ("charged with zero", _charged_zero, "fee.amount_fen", "fee"),
    ("charged without basis", _charged_no_basis, "fee.basis", "fee"),
    ("fee charged int", _set(["fee", "charged"], 0), "fee.charged", "type"),
    ("fee amount float", _set(["fee", "amount_fen"], 0.0), "fee.amount_fen", "type"),
    ("fee amount negative", _set(["fee", "amount_fen"], -100), "fee.amount_fen", "range"),
    ("serves code", _set(["serves"], ["7"]), "serves[0]", "code_table"),
    ("serves duplicate", _dup_serves, "serves[1]", "unique"),
    ("serves empty", _set(["serves"], []), "serves", "length"),
    ("channels code", _set(["channels"], ["1", "5"]), "channels[1]", "code_table"),
    ("materials not list", _set(["materials"], {}), "materials", "type"),
    ("too many materials", _too_many_materials, "materials", "length"),
    ("material name empty", _set(["materials", 0, "name"], ""), "materials[0].name", "empty"),
    ("material name long", _set(["materials", 2, "name"], "材" * 201), "materials[2].name", "length"),
    ("material id format", _set(["materials", 0, "id"], "M 1"), "materials[0].id", "format"),
    ("material id duplicate", _dup_material, "materials[1].id", "unique"),
    ("material required str", _set(["materials", 0, "required"], "是"), "materials[0].required", "type"),
    ("material originals bool", _set(["materials", 0, "originals"], True), "materials[0].originals", "type"),
    ("material copies range", _set(["materials", 1, "copies"], 100), "materials[1].copies", "range"),
    ("material note long", _set(["materials", 0, "note"], "注" * 2001), "materials[0].note", "length"),
    ("flow empty", _set(["flow"], []), "flow", "length"),
    ("too many steps", _too_many_steps, "flow", "length"),
    ("first step not clerk", _first_step_not_clerk, "flow[0].role", "first_step"),
    ("step id duplicate", _dup_step, "flow[1].id", "unique"),
    ("step role", _set(["flow", 2, "role"], "boss"), "flow[2].role", "code_table"),
    ("step level", _set(["flow", 0, "level"], "province"), "flow[0].level", "code_table"),
    ("share pct string", _set(["flow", 0, "share_pct"], "10"), "flow[0].share_pct", "type"),
    ("share pct range", _set(["flow", 0, "share_pct"], 101), "flow[0].share_pct", "range"),
    ("shares sum", _share_off, "flow", "share_sum"),
    ("risk step ref", _set(["risk_points", 0, "step"], "S99"), "risk_points[0].step", "step_ref"),
    ("risk grade", _set(["risk_points", 1, "grade"], "D"), "risk_points[1].grade", "code_table"),
    ("risk name long", _set(["risk_points", 0, "name"], "风" * 21), "risk_points[0].name", "length"),
    ("risk code format", _set(["risk_points", 0, "code"], "mz-qr-1"), "risk_points[0].code", "format"),
    ("separate int", _set(["separate_accept_approve"], 1), "separate_accept_approve", "type"),
    ("phone format", _set(["phone"], "电话六六二"), "phone", "format"),
    ("supervision phone empty", _set(["supervision_phone"], ""), "supervision_phone", "empty"),
    ("faq missing answer", _delete(["faq", 0, "a"]), "faq[0].a", "required"),
    ("faq not list", _set(["faq"], "无"), "faq", "type"),
    ("result empty", _set(["result_name"], ""), "result_name", "empty"),
]


@pytest.mark.parametrize("label,mutate,field,rule", ITEM_CASES, ids=[c[0] for c in ITEM_CASES])
def test_item_rule(doc, label, mutate, field, rule):
    item = _item(doc)
    validate_item(item)  # the base item is valid
    mutate(item)
    with pytest.raises(CatalogueError) as ei:
        validate_item(item)
    err = ei.value
    assert (err.field, err.rule) == (field, rule), str(err)
    assert isinstance(err, ValueError)
    assert field in err.zh and field in str(err)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err.zh)


@pytest.mark.parametrize("label,mutate,field,rule", ITEM_CASES[:12], ids=[c[0] for c in ITEM_CASES[:12]])
def test_item_rule_in_catalogue_has_absolute_path(doc, label, mutate, field, rule):
    mutate(doc["items"][3])
    with pytest.raises(CatalogueError) as ei:
        validate_catalogue(doc)
    assert (ei.value.field, ei.value.rule) == (f"items[3].{field}", rule)


def test_item_not_object():
    with pytest.raises(CatalogueError) as ei:
        validate_item(["not", "an", "item"])
    assert (ei.value.field, ei.value.rule) == ("", "type")


def test_zh_message_names_field_and_rule(doc):
    doc["items"][3]["materials"][0]["name"] = ""
    with pytest.raises(CatalogueError) as ei:
        validate_catalogue(doc)
    err = ei.value
    assert err.field == "items[3].materials[0].name"
    assert "材料名称" in err.zh and "不能为空" in err.zh
    assert "items[3].materials[0].name" in err.zh


def test_local_extension_type_codes_accepted(doc):
    for code in ("11", "19", "21", "29", "02", "09"):
        item = _item(doc)
        item["type_code"] = code
        assert validate_item(item)["type_code"] == code
    item = _item(doc)
    item["type_code"] = "30"
    with pytest.raises(CatalogueError):
        validate_item(item)


def test_free_instant_item_may_have_zero_limits(doc):
    item = _item(doc, "WJ-GG-0001")
    item["statutory_half_days"] = 0
    item["committed_half_days"] = 0
    assert validate_item(item)["case_kind"] == "1"


def test_validate_item_returns_canonical_copy(doc):
    raw = _item(doc)
    shuffled = dict(reversed(list(raw.items())))
    out = validate_item(shuffled)
    assert tuple(out) == ITEM_FIELDS
    assert out == raw
    out["materials"][0]["name"] = "changed"
    assert raw["materials"][0]["name"] != "changed"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=8))
def test_share_sum_property(shares):
    item = _item(json.loads(SAMPLE_TEXT))
    item["flow"] = [
        {"id": f"S{n + 1}", "name": "受理" if n == 0 else "审查", "role": "clerk" if n == 0 else "handler",
         "level": "township", "share_pct": s}
        for n, s in enumerate(shares)
    ]
    item["risk_points"] = []
    if sum(shares) == 100:
        assert [s["share_pct"] for s in validate_item(item)["flow"]] == shares
    else:
        with pytest.raises(CatalogueError) as ei:
            validate_item(item)
        assert (ei.value.field, ei.value.rule) == ("flow", "share_sum")


# ---------------------------------------------------------------------------------------------
# Validation rules: catalogue level
# ---------------------------------------------------------------------------------------------


def test_duplicate_item_code(doc):
    doc["items"][5]["code"] = doc["items"][2]["code"]
    with pytest.raises(CatalogueError) as ei:
        validate_catalogue(doc)
    assert (ei.value.field, ei.value.rule) == ("items[5].code", "unique")


def test_duplicate_impl_code(doc):
    doc["items"][4]["impl_code"] = doc["items"][0]["impl_code"]
    with pytest.raises(CatalogueError) as ei:
        validate_catalogue(doc)
    assert (ei.value.field, ei.value.rule) == ("items[4].impl_code", "unique")


def test_duplicate_risk_code_across_items(doc):
    doc["items"][1]["risk_points"][0]["code"] = doc["items"][0]["risk_points"][0]["code"]
    with pytest.raises(CatalogueError) as ei:
        validate_catalogue(doc)
    assert (ei.value.field, ei.value.rule) == ("items[1].risk_points[0].code", "unique")


def test_duplicate_risk_code_in_item(doc):
    item = _item(doc)
    item["risk_points"][1]["code"] = item["risk_points"][0]["code"]
    with pytest.raises(CatalogueError) as ei:
        validate_item(item)
    assert (ei.value.field, ei.value.rule) == ("risk_points[1].code", "unique")


@pytest.mark.parametrize(
    "mutate,field,rule",
    [
        (_set(["version"], 0), "version", "range"),
        (_set(["version"], True), "version", "type"),
        (_set(["version"], 1.0), "version", "type"),
        (_set(["published_at"], "2026/11/01"), "published_at", "format"),
        (_set(["published_at"], "2026-13-01"), "published_at", "format"),
        (_delete(["published_at"]), "published_at", "required"),
        (_set(["items"], {}), "items", "type"),
        (_set(["draft"], True), "draft", "unknown_field"),
        (_set(["items", 7], "not an item"), "items[7]", "type"),
    ],
)
def test_document_rules(doc, mutate, field, rule):
    mutate(doc)
    with pytest.raises(CatalogueError) as ei:
        validate_catalogue(doc)
    assert (ei.value.field, ei.value.rule) == (field, rule)


def test_document_not_object():
    with pytest.raises(CatalogueError) as ei:
        validate_catalogue([])
    assert (ei.value.field, ei.value.rule) == ("", "type")


def test_empty_catalogue_is_valid():
    cat = validate_catalogue({"version": 3, "published_at": "2027-01-04", "items": []})
    assert cat.items == () and cat.search("低保") == ()


# ---------------------------------------------------------------------------------------------
# Catalogue object
# ---------------------------------------------------------------------------------------------


def test_catalogue_is_frozen(cat):
    with pytest.raises(dataclasses.FrozenInstanceError):
        cat.version = 2  # type: ignore[misc]
    assert isinstance(cat.items, tuple)


def test_by_code(cat):
    item = cat.by_code("MZ-QR-0001")
    assert item["name"] == "最低生活保障对象认定"
    assert cat.by_code("51082900MZ-QR-0001") is item
    assert cat.by_code("NOPE-0001") is None


def test_search(cat):
    names = [i["name"] for i in cat.search("最低生活保障")]
    assert names == ["最低生活保障对象认定"]
    assert {i["code"] for i in cat.search("ga-gg")} == {"GA-GG-0001", "GA-GG-0002", "GA-GG-0003", "GA-GG-0004"}
    assert all(i["body"]["name"] == "青岚县公安局" for i in cat.search("公安局"))
    assert [i["code"] for i in cat.search("510829100XZ-XK-0001")] == ["XZ-XK-0001"]
    assert [i["code"] for i in cat.search("身份证  补领")] == ["GA-GG-0002"]
    assert cat.search("") == cat.items
    assert cat.search("不存在的事项") == ()


def test_search_finds_abbreviations_after_exact_matches(cat):
    """Staff type 低保, 医保, 残疾证: the characters of an abbreviation, in order."""
    assert [i["name"] for i in cat.search("低保")] == ["最低生活保障对象认定"]
    assert [i["name"] for i in cat.search("医保")] == ["城乡居民基本医疗保险参保登记"]
    assert [i["name"] for i in cat.search("残疾证")] == ["残疾人证核发（初审）"]
    # 养老 as written: three names, in catalogue order
    pension = [i["name"] for i in cat.search("养老")]
    assert pension == ["城乡居民基本养老保险参保登记", "城乡居民基本养老保险待遇申领",
                      "灵活就业人员参加职工基本养老保险登记"]
    # abbreviations are for Chinese terms of two or more characters, never for codes
    assert cat.search("gx") == ()
    assert cat.search("证") == tuple(i for i in cat.items if "证" in i["name"])


def test_search_ranks_exact_matches_before_abbreviations(cat):
    first, second = dict(cat.items[0]), dict(cat.items[1])
    second["name"] = "低保金发放"
    ranked = Catalogue(1, "2026-01-01", (first, second)).search("低保")
    assert [i["name"] for i in ranked] == ["低保金发放", "最低生活保障对象认定"]


def test_match_rank():
    assert match_rank("低保", "最低生活保障对象认定") == 1
    assert match_rank("最低生活保障", "最低生活保障对象认定") == 0
    assert match_rank("保低", "最低生活保障对象认定") is None      # order matters
    assert match_rank("民政 低保", "最低生活保障对象认定", ("青岚县民政局",)) == 1
    assert match_rank("MZ-qr", "x", ("MZ-QR-0001",)) == 0
    assert match_rank("", "anything") == 0


def test_to_document_round_trip(cat, doc):
    out = cat.to_document()
    assert out == doc
    assert validate_catalogue(json.loads(json.dumps(out, ensure_ascii=False))) == cat
    out["items"][0]["name"] = "changed"
    assert cat.items[0]["name"] != "changed"


# ---------------------------------------------------------------------------------------------
# Helpers for case handling
# ---------------------------------------------------------------------------------------------


def test_required_material_ids(cat):
    item = cat.by_code("MZ-QR-0001")
    assert required_material_ids(item) == ("M1", "M2", "M3", "M4", "M5", "M7")
    assert "M6" not in required_material_ids(item)  # optional 残疾人证或重病诊断证明


def test_flow_navigation(cat):
    item = cat.by_code("MZ-QR-0001")
    assert flow_step(item, "S1")["role"] == "clerk"
    assert flow_step(item, "S5")["name"] == "审批确认"
    assert flow_step(item, "S99") is None
    assert next_step(item, "S1")["id"] == "S2"
    last = item["flow"][-1]["id"]
    assert next_step(item, last) is None
    with pytest.raises(KeyError):
        next_step(item, "S99")


def test_steps_at_level(cat):
    item = cat.by_code("MZ-QR-0001")
    county = steps_at_level(item, "county")
    township = steps_at_level(item, "township")
    assert [s["id"] for s in county] == ["S4", "S5"]
    assert len(county) + len(township) == len(item["flow"])
    assert steps_at_level(cat.by_code("WJ-GG-0001"), "county") == ()
    with pytest.raises(ValueError):
        steps_at_level(item, "province")


def test_fee_fen(cat):
    assert fee_fen(cat.by_code("MZ-QR-0001")) == 0
    assert fee_fen(cat.by_code("GA-GG-0001")) == 2000
    assert fee_fen(cat.by_code("GA-GG-0002")) == 4000
    assert fee_fen(cat.by_code("GA-GG-0003")) == 1000
    assert all(isinstance(fee_fen(i), int) for i in cat.items)


def test_risk_points_at_step(cat):
    item = cat.by_code("MZ-QR-0001")
    assert [r["grade"] for r in risk_points_at_step(item, "S5")] == ["A"]
    assert risk_points_at_step(item, "S6") == ()


def test_credit_code_ok():
    assert credit_code_ok("91350100M000100Y43")  # a published example code
    assert not credit_code_ok("91350100M000100Y44")
    assert not credit_code_ok("short")
