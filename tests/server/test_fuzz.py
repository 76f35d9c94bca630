"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis + hypothesis),
with valid and invalid inputs: whatever a client sends, the answer is never a 500, and every error
is the documented JSON shape.

Runs against a real database holding one collection, with keys configured so the auth paths are
exercised too; bounded by MAX_EXAMPLES per operation and mode so it fits the test budget.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.server.conftest import KEYS, auth, settings_for
from xmodal.server import create_app

MAX_EXAMPLES = 12
SEED_COLLECTION = {"name": "docs", "vectors": {"v": {"dim": 3}}, "payload_schema": {"tag": "str", "n": "int"}}
# The operations, read from the app's own OpenAPI document (building an app opens no database).
_SPEC = create_app(settings_for(Path(tempfile.gettempdir()) / "xmodal-fuzz-spec")).openapi()
# Invalid inputs need something to corrupt: operations without parameters or body get valid ones only.
CASES = sorted((path, method.upper(), mode) for path, ops in _SPEC["paths"].items() for method, op in ops.items()
               for mode in ("valid", "invalid")
               if mode == "valid" or op.get("parameters") or op.get("requestBody"))
MODES = {"valid": GenerationMode.POSITIVE, "invalid": GenerationMode.NEGATIVE}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(settings_for(tmp, keys=KEYS, model="minilm", roots=(str(tmp),)))
    with TestClient(app) as c:
        assert c.post("/v1/collections", json=SEED_COLLECTION, headers=auth("admin-a")).status_code == 201
        c.put("/v1/collections/docs/points", headers=auth("admin-a"),
              json={"points": [{"id": 1, "vectors": {"v": [1, 0, 0]}, "payload": {"tag": "a", "n": 1}}]})
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("path, method, mode", CASES, ids=[f"{m} {p} {mode}" for p, m, mode in CASES])
def test_no_operation_answers_500(api_schema, path, method, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=MODES[mode]))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        for key in ("admin-a", None):
            response = case.call(headers=auth(key) if key else {})
            case.validate_response(response, checks=[not_a_server_error])
            ctype = response.headers.get("content-type") or [""]
            ctype = ctype[0] if isinstance(ctype, list) else ctype
            if response.status_code >= 400 and ctype.startswith("application/json"):
                body = response.json()
                assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"], body

    run()
