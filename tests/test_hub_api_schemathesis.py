"""Schemathesis against /api/v1/openapi.json (issue #8): with a token holding every scope,
every operation is exercised with generated inputs (a bounded number of examples); no
answer is a 5xx or breaks the documented schema, and every operation answers 2xx at least
once. Negative inputs (outside the schema) must be refused with a documented 4xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from central_hub.api.tokens import SCOPES, issue_token
from central_hub.projection.registry import run_all
from central_hub.store import face as sql
from test_hub_core import Hub, TOWNSHIP, push_cases

EXAMPLES = 25


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    hub = Hub(tmp_path_factory.mktemp("api") / "hub")
    push_cases(hub, "XZ-001", 5, org_unit=TOWNSHIP)
    push_cases(hub, "XZ-002", 2, until="accepted")
    run_all(hub.store)
    sql.add_evaluation(hub.store, {"case_no": "XZ-001-00000", "stage": "complete",
                                   "channel": "pc", "level": 4, "text": "慢", "day": "2026-11-26",
                                   "rated_at": "2026-11-26T10:00:00.000+08:00",
                                   "node": "XZ-001", "item_code": "MZ-QR-0001"})
    _, token = issue_token(hub.store, name="省平台", scopes=list(SCOPES),
                           at=hub.config.now_ts(), by="test")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", hub.app)
    yield hub, schema, {"Authorization": f"Bearer {token}"}
    hub.close()


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_conforms_and_answers_2xx(api):
    hub, schema, headers = api
    operations = _operations(schema)
    assert {op.path for op in operations} == {"/api/v1/cases", "/api/v1/cases/{case_no}",
                                              "/api/v1/events", "/api/v1/evaluations",
                                              "/api/v1/items"}
    ok: dict[str, int] = {}
    for operation in operations:
        key = f"{operation.method.upper()} {operation.path}"
        ok[key] = 0

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call_and_validate(headers=headers)
            if 200 <= response.status_code < 300:
                ok[key] += 1

        run()
        if not ok[key]:       # e.g. a random case number names no case: try a real one
            case = operation.Case(path_parameters={"case_no": "XZ-001-00001"}) \
                if "{case_no}" in operation.path else operation.Case()
            response = case.call_and_validate(headers=headers)
            ok[key] += 200 <= response.status_code < 300
    assert all(ok.values()), ok


def test_negative_inputs_never_5xx(api):
    hub, schema, headers = api
    for operation in _operations(schema):
        if not operation.query and not operation.path_parameters:
            continue

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        def run(case):
            response = case.call(headers=headers)
            assert response.status_code < 500
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code in (200, 400, 401, 403, 404, 429), response.text[:300]

        run()
