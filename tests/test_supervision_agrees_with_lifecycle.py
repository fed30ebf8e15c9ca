"""The supervision engine judges flows by the same plan the node follows.

Cases handled through the node's domain functions (the simulator) follow the lifecycle's
flow plan: the decision at the last approver/head step, post-approval steps after it. A
supervision engine with another idea of the flow would raise false flow-legality cards
(F-01/F-02/F-03) on every ordinary case; this test keeps the two in step.
"""

from datetime import date

from edge_node.demo.simulate import simulate
from protocol.calendar import Calendar
from protocol.supervision import RuleSet, evaluate_case

FLOW_RULES = {"F-01", "F-02", "F-03", "F-04", "F-05", "F-06", "F-07"}


def test_ordinary_cases_raise_no_flow_findings(edge_node):
    simulate(edge_node, cases=80, start=date(2026, 9, 1), days=40, seed=3)
    catalogue = edge_node.store.catalogue()
    calendar, rules = Calendar.seeded(), RuleSet()
    judged, long_flows = 0, 0
    for case in edge_node.store.all_cases():
        item = catalogue.by_code(case["item"]["code"])
        events = edge_node.store.case_events(case["case"])
        findings = evaluate_case(events, item, rules, calendar, date(2026, 11, 1))
        flow = [f for f in findings if f.rule_id in FLOW_RULES]
        assert not flow, (case["case"], [(f.rule_id, f.message_zh) for f in flow])
        judged += 1
        long_flows += len(item["flow"]) >= 4 and case["state"] in ("completed", "delivered")
    assert judged == 80 and long_flows >= 10     # the plan matters only on longer flows
