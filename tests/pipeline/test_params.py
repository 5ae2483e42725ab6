"""Airflow Variables: defaults, bounds, required names and the served-alias rule (pure, no Airflow)."""

from __future__ import annotations

import pytest

from mlpipeline.params import ParameterError, PipelineParams, resolve_params
from tooling.model import DEFAULT_MODEL_NAME

REQUIRED = {"model_name": DEFAULT_MODEL_NAME, "mlflow_alias": "B"}


def resolve(**variables: str) -> tuple[PipelineParams, list[str]]:
    warnings: list[str] = []
    values = {**REQUIRED, **variables}
    return resolve_params(values.get, warnings.append), warnings


def test_unset_optionals_take_their_defaults_silently() -> None:
    params, warnings = resolve()
    assert params == PipelineParams(DEFAULT_MODEL_NAME, "B", c=1.0, max_iter=200, accuracy_threshold=0.9)
    assert warnings == []


def test_values_inside_the_bounds_are_used() -> None:
    params, warnings = resolve(logreg_C="0.001", logreg_max_iter="51", accuracy_threshold="0.99")
    assert (params.c, params.max_iter, params.accuracy_threshold) == (0.001, 51, 0.99)
    assert warnings == []


@pytest.mark.parametrize(
    ("name", "raw", "default"),
    [
        ("logreg_C", "0.0009", 1.0),
        ("logreg_C", "10.5", 1.0),
        ("logreg_C", "nan", 1.0),
        ("logreg_C", "abc", 1.0),
        ("logreg_max_iter", "50", 200),
        ("logreg_max_iter", "99.5", 200),
        ("accuracy_threshold", "0.49", 0.9),
        ("accuracy_threshold", "1.0", 0.9),
    ],
)
def test_an_invalid_optional_takes_its_default_and_warns_once(name: str, raw: str, default: float) -> None:
    params, warnings = resolve(**{name: raw})
    field = {"logreg_C": "c", "logreg_max_iter": "max_iter", "accuracy_threshold": "accuracy_threshold"}[name]
    assert getattr(params, field) == default
    assert len(warnings) == 1
    assert name in warnings[0]
    assert repr(raw) in warnings[0]
    assert f"using default {default}" in warnings[0]


@pytest.mark.parametrize("missing", ["model_name"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_required_variable_fails_with_one_line_naming_it(missing: str, value: str | None) -> None:
    values = {**REQUIRED, missing: value}
    with pytest.raises(ParameterError) as raised:
        resolve_params(values.get, lambda _: None)
    message = str(raised.value)
    assert f"'{missing}'" in message
    assert f"AIRFLOW_VAR_{missing.upper()}" in message
    assert "\n" not in message


@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_unset_alias_leaves_the_choice_to_the_release_strategy(value: str | None) -> None:
    warnings: list[str] = []
    params = resolve_params({**REQUIRED, "mlflow_alias": value}.get, warnings.append)
    assert params.alias is None
    assert warnings == []


@pytest.mark.parametrize("alias", ["C", "champion", "b"])
def test_an_alias_the_app_does_not_serve_is_refused(alias: str) -> None:
    with pytest.raises(ParameterError, match="serves only A, B"):
        resolve(mlflow_alias=alias)
