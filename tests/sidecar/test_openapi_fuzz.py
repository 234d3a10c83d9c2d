"""schemathesis against the live /v1/openapi.json: no 500s, answers match the document.

Examples are bounded per operation and mode so the whole file runs in well under a minute.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.sidecar.conftest import API_KEY, LiveSidecar

EXAMPLES = 25
OPERATIONS = ["/v1/check", "/v1/check/batch", "/v1/sends", "/v1/suppress", "/v1/resubscribe",
              "/v1/history"]  # fmt: skip


@pytest.fixture
def document(live: LiveSidecar) -> dict[str, Any]:
    response = httpx.get(f"{live.url}/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("path", OPERATIONS)
def test_no_server_errors_and_documented_answers(
    live: LiveSidecar, document: dict[str, Any], path: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_dict(document)
    operation = schema[path]["POST"]
    headers = {"authorization": f"Bearer {API_KEY}"}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    if mode == GenerationMode.POSITIVE:
        checks.append(response_schema_conformance)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=live.url, headers=headers)
        assert response.status_code < 500, (case.body, response.text)
        case.validate_response(response, checks=checks)

    run()
