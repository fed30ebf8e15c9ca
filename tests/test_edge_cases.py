"""Case handling domain functions: every action, and every refusal writes nothing."""

from __future__ import annotations

import pytest

from protocol import lifecycle
from protocol.chain import verify_chain

from edge_node.cases import deadlines
from edge_node.cases import handling as cases
from edge_node.errors import NotFound, PermissionDenied, TransitionError, ValidationError

APPLICANT = {"kind": "person", "name": "张三", "id_type": "resident_id",
             "id_no": "11010519491231002X", "phone": "13800138000"}
ID_CARD = "GA-GG-0001"      # fee 20 yuan; S1 clerk, S2 reviewer, S3 approver, S4 handler, S5 clerk
ALLOWANCE = "MZ-JF-0003"    # free; S1 clerk, S2 reviewer, S3 approver, S4 clerk
QUICK = "YB-GG-0001"        # 即办件; S1 clerk, S2 handler (decides), S3 clerk


def head_seq(node) -> int:
    return node.store.chain_head().seq


def accepted(node, staff, item=ALLOWANCE, materials=("M1", "M2", "M4")) -> dict:
    return cases.intake(node, staff["clerk"], item_code=item, applicant=APPLICANT,
                        materials=list(materials), outcome="accept")


def refused_without_writing(node, fn, exc=TransitionError):
    before = head_seq(node), node.store.case_count(), node.store.meta("counter:case")
    with pytest.raises(exc) as info:
        fn()
    assert (head_seq(node), node.store.case_count(), node.store.meta("counter:case")) == before
    assert getattr(info.value, "zh", "")
    return info.value


def test_intake_accept_writes_received_and_accepted(edge_node, edge_staff):
    state = accepted(edge_node, edge_staff)
    assert state["state"] == "accepted"
    assert state["case"] == "TEST01-20260212-000001"
    assert len(state["query_code"]) == 6
    types = [e.type for e in edge_node.store.case_events(state["case"])]
    assert types == ["case.received", "case.accepted"]
    body = edge_node.store.case_events(state["case"])[0].body
    assert body["actor"] == edge_staff["clerk"]
    assert body["item"]["code"] == ALLOWANCE and body["catalogue_version"] == 1
    assert [m["present"] for m in body["materials"]] == [True, True, False, True, False]
    assert state["deadline"]["due"] == "2026-03-04"  # 10 working days over Spring Festival


def test_case_numbers_grow_even_when_clock_steps_back(edge_node, edge_staff, settable_clock):
    first = accepted(edge_node, edge_staff)["case"]
    settable_clock.set(2026, 2, 10, 9, 0)  # the clock steps back two days
    second = accepted(edge_node, edge_staff)["case"]
    assert first == "TEST01-20260212-000001"
    assert second == "TEST01-20260210-000002"
    assert first != second


def test_intake_refuse_and_supplement(edge_node, edge_staff):
    refused = cases.intake(edge_node, edge_staff["clerk"], item_code=ALLOWANCE,
                           applicant=APPLICANT, materials=["M1"], outcome="refuse",
                           reason="不属于本机关职权范围")
    assert refused["state"] == "refused" and refused["closed_reason"]
    supp = cases.intake(edge_node, edge_staff["clerk"], item_code=ALLOWANCE,
                        applicant=APPLICANT, materials=["M1"], outcome="supplement")
    assert supp["state"] == "supplement_requested"
    assert supp["missing"] == ["M2", "M4"]  # everything missing, in one notice
    assert supp["deadline"] is None          # the clock does not run
    again = cases.resubmit(edge_node, edge_staff["clerk"], supp["case"],
                           materials=["M1", "M2", "M4"], outcome="accept")
    assert again["state"] == "accepted" and again["case"] == supp["case"]
    assert [e.type for e in edge_node.store.case_events(supp["case"])] == [
        "case.received", "case.supplement_requested", "case.resubmitted", "case.accepted"]


def test_intake_refusals_write_nothing(edge_node, edge_staff):
    clerk = edge_staff["clerk"]
    for kwargs, field in [
        (dict(materials=["M1"], outcome="accept"), "materials"),
        (dict(materials=["M1", "M2", "M4"], outcome="supplement"), "materials"),
        (dict(materials=["M1"], outcome="refuse"), "reason"),
        (dict(materials=["M9"], outcome="accept"), "materials"),
        (dict(materials=["M1", "M2", "M4"], outcome="maybe"), "outcome"),
        (dict(materials=["M1", "M2", "M4"], outcome="accept",
              applicant={**APPLICANT, "id_no": "110105194912310021"}), "applicant.id_no"),
        (dict(materials=["M1", "M2", "M4"], outcome="accept",
              applicant={**APPLICANT, "name": " "}), "applicant.name"),
        (dict(materials=["M1", "M2", "M4"], outcome="accept",
              applicant={**APPLICANT, "phone": "12345"}), "applicant.phone"),
    ]:
        args = {"applicant": APPLICANT, **kwargs}
        err = refused_without_writing(edge_node, lambda: cases.intake(
            edge_node, clerk, item_code=ALLOWANCE, **args), ValidationError)
        assert err.field == field
    refused_without_writing(edge_node, lambda: cases.intake(
        edge_node, clerk, item_code="NO-SUCH", applicant=APPLICANT, materials=[],
        outcome="accept"), NotFound)
    refused_without_writing(edge_node, lambda: cases.intake(
        edge_node, edge_staff["handler"], item_code=ALLOWANCE, applicant=APPLICANT,
        materials=["M1", "M2", "M4"], outcome="accept"))
    refused_without_writing(edge_node, lambda: cases.intake(
        edge_node, {"id": edge_staff["handler"]["id"], "role": "clerk"}, item_code=ALLOWANCE,
        applicant=APPLICANT, materials=["M1", "M2", "M4"], outcome="accept"), PermissionDenied)


def test_organisation_applicant(edge_node, edge_staff):
    org = {"kind": "organisation", "name": "青山农机专业合作社", "id_type": "uscc",
           "id_no": "91350100M000100Y43"}
    state = cases.intake(edge_node, edge_staff["clerk"], item_code=ALLOWANCE, applicant=org,
                         materials=["M1", "M2", "M4"], outcome="accept")
    assert state["applicant"]["kind"] == "organisation"


def test_full_flow_with_post_decision_step_and_fee(edge_node, edge_staff):
    st = edge_staff
    case = cases.intake(edge_node, st["clerk"], item_code=ID_CARD, applicant=APPLICANT,
                        materials=["M1", "M3"], outcome="accept")["case"]
    assert case
    cases.charge_fee(edge_node, st["clerk"], case, receipt_no="R0001")
    # approve before review: refused, nothing written
    err = refused_without_writing(edge_node, lambda: cases.decide(
        edge_node, st["approver"], case, outcome="approve", reason="同意"))
    assert "审核" in err.zh
    # the wrong role for the review step
    refused_without_writing(edge_node, lambda: cases.complete_step(
        edge_node, st["handler"], case, opinion="同意"))
    cases.complete_step(edge_node, st["reviewer"], case, opinion="材料齐全")
    # completion before decision is refused
    refused_without_writing(edge_node, lambda: cases.complete(edge_node, st["clerk"], case))
    state = cases.decide(edge_node, st["approver"], case, outcome="approve", reason="准予")
    assert state["state"] == "decided"
    refused_without_writing(edge_node, lambda: cases.complete(edge_node, st["clerk"], case))
    cases.complete_step(edge_node, st["handler"], case, opinion="已制证")  # S4 制证
    cases.complete(edge_node, st["clerk"], case, result="居民身份证")
    state = cases.deliver(edge_node, st["clerk"], case, recipient="张三")
    assert state["state"] == "delivered"
    assert state["fee"] == {"status": "charged", "charged_fen": 2000, "refunded_fen": 0}
    charged = [e for e in edge_node.store.case_events(case) if e.type == "fee.charged"][0]
    assert charged.body["standard_fen"] == 2000 and charged.body["approver"] == st["clerk"]
    refused_without_writing(edge_node, lambda: cases.withdraw(
        edge_node, st["clerk"], case, reason="不办了"))


def test_separation_of_duties(edge_node, edge_staff):
    st = edge_staff
    case = cases.intake(edge_node, st["clerk2"], item_code=ID_CARD, applicant=APPLICANT,
                        materials=["M1", "M3"], outcome="accept")["case"]
    cases.complete_step(edge_node, st["reviewer"], case, opinion="同意")
    err = refused_without_writing(edge_node, lambda: cases.decide(
        edge_node, st["clerk2_approver"], case, outcome="approve", reason="同意"))
    assert "分离" in err.zh
    cases.decide(edge_node, st["approver"], case, outcome="approve", reason="同意")


def test_reject_skips_post_decision_steps(edge_node, edge_staff):
    st = edge_staff
    case = cases.intake(edge_node, st["clerk"], item_code=ID_CARD, applicant=APPLICANT,
                        materials=["M1", "M3"], outcome="accept")["case"]
    cases.complete_step(edge_node, st["reviewer"], case, opinion="同意")
    refused_without_writing(edge_node, lambda: cases.decide(
        edge_node, st["approver"], case, outcome="reject", reason=""), ValidationError)
    cases.decide(edge_node, st["approver"], case, outcome="reject", reason="照片不合格")
    state = cases.complete(edge_node, st["clerk"], case)
    assert state["state"] == "completed" and state["decision"] == "reject"


def test_step_return_goes_back(edge_node, edge_staff):
    st = edge_staff
    case = cases.intake(edge_node, st["clerk"], item_code="MZ-JF-0001", applicant=APPLICANT,
                        materials=["M1", "M2", "M3", "M4", "M5", "M6"], outcome="accept")["case"]
    cases.complete_step(edge_node, st["handler"], case, opinion="已调查")
    state = cases.complete_step(edge_node, st["reviewer"], case, opinion="调查不充分",
                                outcome="return")
    assert lifecycle.next_flow_step(state)["role"] == "handler"


def test_quick_item_decided_by_handler(edge_node, edge_staff):
    st = edge_staff
    case = cases.intake(edge_node, st["clerk"], item_code=QUICK, applicant=APPLICANT,
                        materials=["M1", "M2"], outcome="accept")
    assert case["deadline"]["due"] == "2026-02-12"  # 即办件: due the same day
    cases.decide(edge_node, st["handler"], case["case"], outcome="approve", reason="核验通过")
    cases.complete(edge_node, st["clerk"], case["case"])


def test_extension_once_with_head_approval(edge_node, edge_staff):
    st = edge_staff
    case = accepted(edge_node, st)["case"]
    refused_without_writing(edge_node, lambda: cases.extend(
        edge_node, st["handler"], case, approver=st["approver"], reason="复杂"))
    state = cases.extend(edge_node, st["handler"], case, approver=st["head"], reason="情况复杂")
    assert state["extension_days"] == 10 and state["deadline"]["limit_half_days"] == 40
    assert state["deadline"]["due"] == "2026-03-18"
    err = refused_without_writing(edge_node, lambda: cases.extend(
        edge_node, st["handler"], case, approver=st["head"], reason="再延"))
    assert "一次" in err.zh


def test_special_procedure_pauses_the_clock(edge_node, edge_staff, settable_clock):
    st = edge_staff
    case = accepted(edge_node, st)["case"]          # accepted 02-12, due 03-04
    refused_without_writing(edge_node, lambda: cases.resume(
        edge_node, st["handler"], case, reason="x"))
    settable_clock.set(2026, 2, 26, 10, 0)
    state = cases.suspend(edge_node, st["handler"], case, procedure="expert_review",
                          reason="组织专家评审")
    assert state["state"] == "suspended" and state["deadline"]["due"] is None
    refused_without_writing(edge_node, lambda: cases.complete_step(
        edge_node, st["reviewer"], case, opinion="x"))
    settable_clock.set(2026, 3, 3, 16, 0)  # paused 02-27..03-03: 4 working days (02-28 调休)
    state = cases.resume(edge_node, st["handler"], case, reason="评审结束")
    assert state["state"] == "accepted"
    assert state["deadline"]["due"] == "2026-03-10"
    explained = deadlines.explain(edge_node, case)
    assert explained["pauses"] == [{"start": "2026-02-27", "end": "2026-03-03"}]
    assert any("暂停计时" in line for line in explained["lines"])


def test_withdraw_void_and_fees(edge_node, edge_staff):
    st = edge_staff
    case = cases.intake(edge_node, st["clerk"], item_code=ID_CARD, applicant=APPLICANT,
                        materials=["M1", "M3"], outcome="accept")["case"]
    refused_without_writing(edge_node, lambda: cases.refund_fee(
        edge_node, st["clerk"], case, approver=st["head"], reason="x"))
    refused_without_writing(edge_node, lambda: cases.charge_fee(
        edge_node, st["clerk"], case, amount_fen=2500))
    refused_without_writing(edge_node, lambda: cases.charge_fee(
        edge_node, st["clerk"], case, amount_fen=1000))   # below standard: needs the head
    cases.charge_fee(edge_node, st["clerk"], case, amount_fen=1000, approver=st["head"])
    refused_without_writing(edge_node, lambda: cases.waive_fee(
        edge_node, st["clerk"], case, approver=st["head"], reason="低保"))
    refused_without_writing(edge_node, lambda: cases.void(
        edge_node, st["clerk"], case, reason="x"))
    state = cases.void(edge_node, st["head"], case, reason="重复录入")
    assert state["state"] == "voided"
    state = cases.refund_fee(edge_node, st["clerk"], case, approver=st["head"], reason="作废退费")
    assert state["fee"]["status"] == "refunded" and state["fee"]["refunded_fen"] == 1000
    other = cases.intake(edge_node, st["clerk"], item_code=ID_CARD, applicant=APPLICANT,
                         materials=["M1", "M3"], outcome="accept")["case"]
    refused_without_writing(edge_node, lambda: cases.waive_fee(
        edge_node, st["clerk"], other, approver=st["clerk"], reason="低保"))
    assert cases.waive_fee(edge_node, st["clerk"], other, approver=st["head"],
                           reason="低保对象免收")["fee"]["status"] == "waived"
    free = accepted(edge_node, st)["case"]
    refused_without_writing(edge_node, lambda: cases.charge_fee(
        edge_node, st["clerk"], free, amount_fen=100))
    assert cases.withdraw(edge_node, st["clerk"], free, reason="申请人撤回")["state"] == "withdrawn"
    refused_without_writing(edge_node, lambda: cases.void(
        edge_node, st["head"], free, reason="x"))


def test_unknown_case_and_supervisor_cannot_act(edge_node, edge_staff):
    refused_without_writing(edge_node, lambda: cases.withdraw(
        edge_node, edge_staff["clerk"], "TEST01-20260101-999999", reason="x"), NotFound)
    case = accepted(edge_node, edge_staff)["case"]
    refused_without_writing(edge_node, lambda: cases.withdraw(
        edge_node, edge_staff["supervisor"], case, reason="x"))


def test_every_event_body_carries_actor_and_chain_verifies(edge_node, edge_staff):
    test_full_flow_with_post_decision_step_and_fee(edge_node, edge_staff)
    events = list(edge_node.store.iter_events(strict=True))
    verify_chain(events, edge_node.key.public)
    for event in events:
        if event.type.startswith(("case.", "fee.")):
            assert set(event.body["actor"]) == {"id", "role"}


def test_projection_is_derivable_from_the_log(edge_node, edge_staff, settable_clock):
    from edge_node.demo.simulate import simulate

    simulate(edge_node, cases=150, start=__import__("datetime").date(2026, 1, 5), days=40,
             seed=7)
    rebuilt = lifecycle.project(e.env for e in edge_node.store.iter_events())
    live = {s["case"]: s for s in edge_node.store.all_cases()}
    assert rebuilt == live
    assert len(live) >= 150
    # about one citizen in four rated a stage at the terminal, never a stage not reached
    ratings = [e.env["body"] for e in edge_node.store.iter_events()
               if e.env["type"] == "evaluation.given"]
    assert 20 <= len(ratings) <= 120
    for rating in ratings:
        state = live[rating["case"]]
        assert state["accepted_at"] if rating["stage"] == "accept" else state["completed_at"]


def test_allowed_actions_follow_the_state(edge_node, edge_staff):
    case = cases.intake(edge_node, edge_staff["clerk"], item_code=ID_CARD, applicant=APPLICANT,
                        materials=["M1", "M3"], outcome="accept")["case"]
    allowed = cases.allowed_actions(edge_node, case)
    assert {"complete_step", "extend", "suspend", "withdraw", "void", "charge_fee",
            "waive_fee"} <= set(allowed)
    assert "decide" not in allowed and "complete" not in allowed and "refund_fee" not in allowed
    assert lifecycle.allowed_actions(None, {"code": ID_CARD}) == ("receive",)
