"""Property-based calls generated from the app's own OpenAPI schema: no input may produce a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.app.support import TOKEN
from tooling.infra.localstack import MlflowServer, ServerProcess, app_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(
    mlflow: MlflowServer, seeded_versions: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = {**mlflow.serving_env(), "RELOAD_SECRET_TOKEN": TOKEN, "ALIAS_SELECTION_MODE": "ab_test"}
    with app_server(env, tmp_path_factory.mktemp("schemathesis") / "app.log") as server:
        yield server


def test_no_input_produces_a_server_error(app: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(f"{app.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {operation.path for operation in operations}
    protocols = {"/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer", "/invocations"}
    assert protocols <= paths
    assert len(operations) >= 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        call()
