"""The runner itself: a false expectation fails, an unknown assertion is refused, paths resolve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts.platform import REPO_ROOT
from tests.charts.helm_suites import ASSERTIONS, PER_DOCUMENT, Case, SuiteError, load_suite, run_case, select

FASTAPI = REPO_ROOT / "charts" / "fastapi"
MLFLOW_URI = {"env.MLFLOW_TRACKING_URI": "http://mlflow-dev-service.mlflow-dev.svc.cluster.local:5000"}


def case(
    *asserts: dict[str, Any],
    sets: dict[str, Any] | None = None,
    templates: tuple[str, ...] = ("deployment.yaml",),
) -> Case:
    return Case(
        chart_dir=FASTAPI,
        suite_file=FASTAPI / "tests" / "runner_test.yaml",
        suite="runner",
        it="self-check",
        templates=templates,
        value_files=(),
        sets=(MLFLOW_URI, *([sets] if sets else [])),
        release={"name": "fastapi-dev", "namespace": "fastapi-dev"},
        asserts=asserts,
    )


def test_a_true_expectation_passes() -> None:
    run_case(case({"equal": {"path": "spec.strategy.rollingUpdate.maxUnavailable", "value": 0}}))


@pytest.mark.parametrize(
    "assertion",
    [
        {"equal": {"path": "spec.strategy.rollingUpdate.maxUnavailable", "value": 1}},
        {"notEqual": {"path": "metadata.name", "value": "fastapi-dev"}},
        {"exists": {"path": "spec.template.spec.hostNetwork"}},
        {"notExists": {"path": "spec.template.spec.securityContext"}},
        {"isKind": {"of": "StatefulSet"}},
        {"hasDocuments": {"count": 2}},
        {"contains": {"path": "spec.template.spec.containers[0].volumeMounts", "content": {"name": "root"}}},
        {"matchRegex": {"path": "metadata.name", "pattern": "^prod"}},
        {"isSubset": {"path": "spec.template.spec.securityContext", "content": {"runAsUser": 0}}},
        {"isNull": {"path": "spec.template.spec.securityContext.runAsUser"}},
        {"lengthEqual": {"path": "spec.template.spec.containers", "count": 2}},
        {"failedTemplate": {"errorPattern": "."}},
        {"equal": {"path": "metadata.name", "value": "fastapi-dev"}, "not": True},
        {"equal": {"path": "spec.no.such.path", "value": None}},
    ],
    ids=lambda assertion: next(k for k in assertion if k != "not"),
)
def test_a_false_expectation_fails(assertion: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        run_case(case(assertion))


def test_assertions_hold_per_template_as_in_the_plugin() -> None:
    both = ("service.yaml", "service-headless.yaml")
    run_case(case({"hasDocuments": {"count": 1}}, {"isKind": {"of": "Service"}}, templates=both))
    with pytest.raises(AssertionError, match=r"service-headless\.yaml: hasDocuments"):
        run_case(case({"hasDocuments": {"count": 2}}, templates=both))
    with pytest.raises(AssertionError, match=r"service-headless\.yaml: .*fastapi-dev-headless"):
        run_case(case({"equal": {"path": "metadata.name", "value": "fastapi-dev"}}, templates=both))


def test_a_failed_render_fails_every_document_assertion() -> None:
    with pytest.raises(AssertionError, match="helm template failed"):
        run_case(case({"isKind": {"of": "Deployment"}}, sets={"unknownKey": 1}))


def test_an_unknown_assertion_type_is_refused() -> None:
    with pytest.raises(SuiteError, match="unknown assertion type 'equals'"):
        run_case(case({"equals": {"path": "metadata.name", "value": "fastapi-dev"}}))


def test_a_test_without_asserts_is_refused() -> None:
    with pytest.raises(SuiteError, match="without asserts"):
        run_case(case())


def test_every_assertion_type_the_suites_use_is_supported() -> None:
    used = {
        key
        for suite in sorted(REPO_ROOT.glob("charts/*/tests/*_test.yaml"))
        for test in load_suite(suite)
        for assertion in test.asserts
        for key in assertion
        if key not in {"not", "template", "documentIndex", "documentSelector"}
    }
    assert used <= set(ASSERTIONS)


def test_suite_settings_fold_into_each_case(tmp_path: Path) -> None:
    suite = tmp_path / "chart" / "tests" / "x_test.yaml"
    suite.parent.mkdir(parents=True)
    (suite.parent / "v.yaml").write_text("a: 1\n")
    suite.write_text(
        "suite: s\ntemplates: [templates/a.yaml]\nvalues: [v.yaml]\nset: {x.y: 1}\nrelease: {name: r}\n"
        "tests:\n  - it: one\n    template: b.yaml\n    set: {z: 2}\n    asserts: [{exists: {path: a}}]\n"
    )
    [loaded] = load_suite(suite)
    assert loaded.templates == ("b.yaml",)
    assert loaded.value_files == (suite.parent / "v.yaml",)
    assert loaded.sets == ({"x.y": 1}, {"z": 2})
    assert loaded.release == {"name": "r", "namespace": "namespace"}


DOC = {
    "metadata": {"annotations": {"cert-manager.io/cluster-issuer": "ca"}},
    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ('metadata.annotations["cert-manager.io/cluster-issuer"]', ["ca"]),
        ("metadata.annotations['cert-manager.io/cluster-issuer']", ["ca"]),
        ('env[?(@.name == "B")].value', ["2"]),
        ("env[1].name", ["B"]),
        ("env[-1].name", ["B"]),
        ("env[5].name", []),
        ("metadata.labels", []),
    ],
)
def test_paths_resolve_like_the_plugin(path: str, expected: list[Any]) -> None:
    assert select(DOC, path) == expected


def test_an_unsupported_path_is_refused() -> None:
    with pytest.raises(SuiteError, match="unsupported path syntax"):
        select(DOC, "env[*].name")


def test_every_value_a_filter_reaches_must_match() -> None:
    document = {"env": [{"name": "X", "value": "1"}, {"name": "X", "value": "2"}]}
    path = 'env[?(@.name == "X")].value'
    assert PER_DOCUMENT["equal"](document, {"path": path, "value": "1"}) is not None
    assert PER_DOCUMENT["matchRegex"](document, {"path": path, "pattern": "^1$"}) is not None
    assert PER_DOCUMENT["matchRegex"](document, {"path": path, "pattern": "^[12]$"}) is None
    assert PER_DOCUMENT["notEqual"](document, {"path": path, "value": "2"}) is not None
