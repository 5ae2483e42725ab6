"""The runner itself: false expectations fail; unknown keys, assertions, parameters, flags are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tooling.helm_unittest.cli import main
from tooling.helm_unittest.paths import PathSyntaxRefused, build_set_value, find
from tooling.helm_unittest.runner import CaseResult, Options, run_chart
from tooling.infra.helm import helm_binary
from tooling.model import REPO_ROOT

FASTAPI = REPO_ROOT / "charts" / "fastapi"
MLFLOW_URI = {"env.MLFLOW_TRACKING_URI": "http://mlflow-dev-service.mlflow-dev.svc.cluster.local:5000"}


def run_suite(tmp_path: Path, suite: dict[str, Any] | str) -> list[CaseResult]:
    """Run one suite file against a copy of the fastapi chart (the suite lives in the copy's tests/)."""
    import shutil

    chart = tmp_path / "fastapi"
    shutil.copytree(FASTAPI, chart, ignore=shutil.ignore_patterns("tests", "app"))
    (chart / "tests").mkdir()
    text = suite if isinstance(suite, str) else yaml.safe_dump(suite)
    (chart / "tests" / "x_test.yaml").write_text(text)
    return run_chart(chart, helm_binary(), Options()).results


def one_case(*asserts: dict[str, Any], templates: tuple[str, ...] = ("deployment.yaml",)) -> dict[str, Any]:
    return {
        "suite": "runner",
        "templates": list(templates),
        "set": MLFLOW_URI,
        "release": {"name": "fastapi-dev", "namespace": "fastapi-dev"},
        "tests": [{"it": "self-check", "asserts": list(asserts)}],
    }


def test_a_true_expectation_passes(tmp_path: Path) -> None:
    [result] = run_suite(
        tmp_path, one_case({"equal": {"path": "spec.strategy.rollingUpdate.maxUnavailable", "value": 0}})
    )
    assert result.verdict == "pass", result


@pytest.mark.parametrize(
    "assertion",
    [
        {"equal": {"path": "spec.strategy.rollingUpdate.maxUnavailable", "value": 1}},
        {"equal": {"path": "spec.strategy.rollingUpdate.maxUnavailable", "value": 0.0}},
        {"notEqual": {"path": "metadata.name", "value": "fastapi-dev"}},
        {"exists": {"path": "spec.template.spec.hostNetwork"}},
        {"notExists": {"path": "spec.template.spec.securityContext"}},
        {"isKind": {"of": "StatefulSet"}},
        {"hasDocuments": {"count": 2}},
        {"contains": {"path": "spec.template.spec.containers[0].volumeMounts", "content": {"name": "root"}}},
        {"matchRegex": {"path": "metadata.name", "pattern": "^prod"}},
        {"isSubset": {"path": "spec.template.spec.securityContext", "content": {"runAsUser": 0}}},
        {"isNotNull": {"path": "spec.no.such.path"}},
        {"isNullOrEmpty": {"path": "spec.no.such.path"}},
        {"lengthEqual": {"path": "spec.template.spec.containers", "count": 2}},
        {"failedTemplate": {"errorPattern": "."}},
        {"equal": {"path": "metadata.name", "value": "fastapi-dev"}, "not": True},
        {"equal": {"path": "spec.no.such.path", "value": None}},
        {"equal": {"path": "metadata.name", "value": "fastapi-dev"}, "template": "nosuch.yaml"},
    ],
    ids=lambda assertion: next(k for k in assertion if k not in ("not", "template")),
)
def test_a_false_expectation_fails(tmp_path: Path, assertion: dict[str, Any]) -> None:
    [result] = run_suite(tmp_path, one_case(assertion))
    assert result.verdict == "fail", result
    assert result.failures
    assert result.failures[0].index == 0


def test_a_missing_path_satisfies_the_negative_forms_as_in_the_plugin(tmp_path: Path) -> None:
    [result] = run_suite(
        tmp_path,
        one_case(
            {"isNull": {"path": "spec.no.such.path"}},
            {"notExists": {"path": "spec.no.such.path"}},
            {"isNotNullOrEmpty": {"path": "spec.no.such.path"}},
        ),
    )
    assert result.verdict == "pass", result


def test_a_failing_template_nobody_selected_does_not_fail_a_case(tmp_path: Path) -> None:
    suite = one_case({"isKind": {"of": "Deployment"}})
    chart = tmp_path / "fastapi"
    results = run_suite(tmp_path, suite)
    assert results[0].verdict == "pass"
    (chart / "templates" / "broken.yaml").write_text('{{ fail "boom" }}\n')
    assert run_chart(chart, helm_binary(), Options()).results[0].verdict == "pass"


def test_several_suites_in_one_file_and_the_default_release_name(tmp_path: Path) -> None:
    first = one_case({"isKind": {"of": "Deployment"}})
    second = {
        **one_case({"matchRegex": {"path": "metadata.name", "pattern": "^RELEASE-NAME"}}),
        "release": {},
    }
    results = run_suite(tmp_path, yaml.safe_dump(first) + "---\n" + yaml.safe_dump(second))
    assert [r.verdict for r in results] == ["pass", "pass"], results


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda s: s.update(documentSelector={"path": "kind"}), "suite key documentSelector"),
        (lambda s: s["tests"][0].update(documents=0), "test key documents"),
        (lambda s: s["tests"][0]["asserts"].append({"equals": {"path": "a"}}), "assertion type equals"),
        (lambda s: s["tests"][0]["asserts"][0]["isKind"].update(off="x"), "assertion parameter isKind.off"),
        (lambda s: s.update(kubernetesProvider={}), "suite key kubernetesProvider"),
        (lambda s: s["release"].update(nam="x"), "suite key release.nam"),
    ],
)
def test_an_unknown_feature_is_refused_by_name(tmp_path: Path, change: Any, named: str) -> None:
    suite = one_case({"isKind": {"of": "Deployment"}})
    change(suite)
    [result] = run_suite(tmp_path, suite)
    assert result.verdict == "refused"
    assert named in result.reason


def test_a_test_without_asserts_makes_the_suite_invalid(tmp_path: Path) -> None:
    suite = one_case({"isKind": {"of": "Deployment"}})
    suite["tests"][0]["asserts"] = []
    [result] = run_suite(tmp_path, suite)
    assert result.verdict == "invalid"
    assert "no asserts" in result.reason


def test_an_unsupported_flag_is_refused_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--output-file", "x.xml", str(FASTAPI)]) == 1
    assert capsys.readouterr().err.strip() == (
        "helm-unittest: refused: flag --output-file (JUnit/NUnit/XUnit/Sonar result files) is not implemented"
    )


def test_the_command_exits_1_on_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_suite(tmp_path, one_case({"isKind": {"of": "StatefulSet"}}))
    assert main([str(tmp_path / "fastapi")]) == 1
    report = capsys.readouterr().out
    assert "FAIL" in report
    assert "asserts[0] `isKind` fail" in report
    assert "Tests:       1 fail, 1 total" in report


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
        ("env[*].name", ["A", "B"]),
        ("env[5].name", []),
        ("metadata.labels", []),
    ],
)
def test_paths_resolve_like_the_plugin(path: str, expected: list[Any]) -> None:
    assert find(DOC, path) == expected


def test_an_unsupported_path_is_refused() -> None:
    with pytest.raises(PathSyntaxRefused, match="path syntax"):
        find(DOC, "$..name")


def test_set_paths_take_list_indexes() -> None:
    assert build_set_value("a.b[1].c", 3) == {"a": {"b": [None, {"c": 3}]}}
    assert build_set_value("a.[x.y]", 1) == {"a": {"x.y": 1}}
