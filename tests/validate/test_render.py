"""render_manifests renders as Argo CD will: the release name, namespace and value layers of platform.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tooling.infra.helm import HelmError, render_manifests, render_text
from tooling.model import REPO_ROOT, Deployment, mlflow_service_url


def test_prod_render_uses_the_release_name_and_the_prod_value_layer() -> None:
    objects = render_manifests(Deployment("fastapi", "prod"))
    [deployment] = [obj for obj in objects if obj["kind"] == "Deployment"]
    assert deployment["metadata"]["name"] == "fastapi-prod"
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {variable["name"]: variable.get("value") for variable in container["env"]}
    assert env["MLFLOW_TRACKING_URI"] == mlflow_service_url("prod")


def test_render_of_another_checkout_reads_that_checkout(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "charts" / "fastapi", tmp_path / "charts" / "fastapi")
    shutil.copytree(REPO_ROOT / "environments", tmp_path / "environments")
    values = tmp_path / "environments" / "dev" / "fastapi.yaml"
    values.write_text(values.read_text().replace("replicaCount: 1\n", "replicaCount: 3\n"))
    [deployment] = [
        o for o in render_manifests(Deployment("fastapi", "dev", tmp_path)) if o["kind"] == "Deployment"
    ]
    assert deployment["spec"]["replicas"] == 3


def test_a_failed_render_is_one_line(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "charts" / "fastapi", tmp_path / "charts" / "fastapi")
    with pytest.raises(HelmError) as error:
        render_text(Deployment("fastapi", "dev", tmp_path))
    assert "\n" not in str(error.value)
    assert "environments/dev/fastapi.yaml" in str(error.value)
