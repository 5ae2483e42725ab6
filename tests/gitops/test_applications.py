"""The ApplicationSets generate exactly the six Applications tooling.model renders (real Helm)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tooling.infra.applicationsets import GenerationError, generated_applications
from tooling.infra.schemas import SchemaStore
from tooling.model import REPO_ROOT, deployments


@pytest.fixture(scope="module")
def applications() -> list[dict[str, Any]]:
    return generated_applications()


def _by_name(applications: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {app["metadata"]["name"]: app for app in applications}


def test_exactly_six_with_names_namespaces_and_revisions(applications: list[dict[str, Any]]) -> None:
    summary = sorted(
        (
            app["metadata"]["name"],
            app["spec"]["destination"]["namespace"],
            app["spec"]["project"],
            app["spec"]["source"]["targetRevision"],
            tuple(app["spec"]["source"]["helm"]["valueFiles"]),
        )
        for app in applications
    )
    expected = sorted(
        (
            f"{component}-{env}",
            f"{component}-{env}",
            env,
            "main" if env == "dev" else "prod",
            ("values.yaml", f"../../environments/{env}/{component}.yaml"),
        )
        for component in ("fastapi", "mlflow", "airflow")
        for env in ("dev", "prod")
    )
    assert summary == expected


def test_agrees_with_the_releases_the_validator_renders(applications: list[dict[str, Any]]) -> None:
    by_name = _by_name(applications)
    assert set(by_name) == {deployment.release for deployment in deployments()}
    for deployment in deployments():
        source = by_name[deployment.release]["spec"]["source"]
        chart_dir = (REPO_ROOT / source["path"]).resolve()
        assert source["helm"]["releaseName"] == deployment.release
        assert by_name[deployment.release]["spec"]["destination"]["namespace"] == deployment.namespace
        assert chart_dir == deployment.chart_dir.resolve()
        assert tuple((chart_dir / name).resolve() for name in source["helm"]["valueFiles"]) == tuple(
            path.resolve() for path in deployment.value_files
        )


def test_value_files_exist(applications: list[dict[str, Any]]) -> None:
    for app in applications:
        source = app["spec"]["source"]
        chart_dir = REPO_ROOT / source["path"]
        missing = [name for name in source["helm"]["valueFiles"] if not (chart_dir / name).is_file()]
        assert not missing, f"{app['metadata']['name']}: value files not in the repository: {missing}"


def test_dev_converges_on_its_own_and_prod_never_prunes(applications: list[dict[str, Any]]) -> None:
    for app in applications:
        policy = app["spec"]["syncPolicy"]
        assert "CreateNamespace=true" in policy["syncOptions"]
        assert policy["retry"]["backoff"]["factor"] > 1
        if app["spec"]["project"] == "dev":
            assert policy["automated"] == {"prune": True, "selfHeal": True}
        else:
            assert policy["automated"]["prune"] is False


def test_generated_applications_match_the_crd_schema(
    applications: list[dict[str, Any]], schema_store: SchemaStore
) -> None:
    for app in applications:
        assert schema_store.problems(app) == [], app["metadata"]["name"]


def test_prod_generator_cannot_delete_and_nothing_cascades() -> None:
    appsets = {
        doc["metadata"]["name"]: doc
        for path in sorted((REPO_ROOT / "applicationsets").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    }
    assert set(appsets) == {"platform-dev", "platform-prod"}
    assert appsets["platform-prod"]["spec"]["syncPolicy"]["applicationsSync"] == "create-update"
    for appset in appsets.values():
        assert appset["spec"]["syncPolicy"]["preserveResourcesOnDeletion"] is True
        assert appset["spec"]["goTemplateOptions"] == ["missingkey=error"]
        # argo-cd#17040: the patch must never render an empty `spec:`.
        assert yaml.safe_load(re.sub(r"{{.*?}}", "x", appset["spec"]["templatePatch"]))["spec"]
    # Everything that differs between environments is generator data: the templates are the same.
    assert appsets["platform-dev"]["spec"]["template"] == appsets["platform-prod"]["spec"]["template"]


def _copy_with(tmp_path: Path, old: str, new: str) -> Path:
    shutil.copytree(REPO_ROOT / "applicationsets", tmp_path / "applicationsets")
    path = tmp_path / "applicationsets" / "platform-dev.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return tmp_path


def test_a_parameter_no_generator_sets_is_an_error(tmp_path: Path) -> None:
    root = _copy_with(tmp_path, 'path: "charts/{{ .component }}"', 'path: "charts/{{ .componnet }}"')
    with pytest.raises(GenerationError, match=r"\.componnet.*missingkey=error"):
        generated_applications(root)


def test_templates_run_on_the_go_engine_with_sprig(tmp_path: Path) -> None:
    root = _copy_with(
        tmp_path,
        'app.kubernetes.io/component: "{{ .component }}"',
        'tier: "{{ .component | upper | trunc 4 }}"',
    )
    tiers = {app["metadata"]["labels"].get("tier") for app in generated_applications(root)}
    assert tiers == {"FAST", "MLFL", "AIRF", None}


def test_cli_prints_six_applications_or_one_line_on_error(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "tooling.applications"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert ok.returncode == 0, ok.stderr
    assert [doc["kind"] for doc in yaml.safe_load_all(ok.stdout)] == ["Application"] * 6

    root = _copy_with(tmp_path, 'goTemplateOptions: ["missingkey=error"]', "goTemplateOptions: []")
    bad = subprocess.run(
        [sys.executable, "-m", "tooling.applications", "--repo", str(root)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1
    assert "applicationsets/platform-dev.yaml: ApplicationSet/platform-dev: goTemplateOptions" in bad.stderr
