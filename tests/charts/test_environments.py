"""Every chart x environment lints strictly and renders as Argo CD will (tooling.model's layering)."""

from __future__ import annotations

import pytest

from tooling.infra.helm import lint, parse_manifests, render_text
from tooling.model import Deployment, deployments

DEPLOYMENTS = deployments()


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.release)
def test_lints_strictly(deployment: Deployment) -> None:
    assert lint(deployment) == []


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.release)
def test_renders_labelled_objects(deployment: Deployment) -> None:
    objects = [manifest.obj for manifest in parse_manifests(render_text(deployment))]
    assert any(obj["kind"] == "Deployment" for obj in objects)
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/instance") == deployment.release, obj["metadata"]["name"]
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", obj["metadata"]["name"]
        # Argo CD sets the namespace on apply; a hard-coded one would escape the AppProject's destinations.
        assert obj["metadata"].get("namespace") in (None, deployment.namespace)
