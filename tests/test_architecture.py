"""Imports point down only: the tooling (model <- infra <- checks <- commands, commands apart) and the app
(config <- telemetry <- repository <- outcomes <- inference <- api).

``tests/architecture.py`` holds the checker; the layers are declared here as data (bottom first).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.architecture import Layer, modules, violations
from tooling.model import APP_DIR, REPO_ROOT

COMMANDS = ("validate", "seal", "promote", "applications", "demo", "bench", "helm_unittest", "release")
TOOLING_LAYERS = (
    Layer("model", ("tooling.model",)),
    Layer("infra", ("tooling.infra",)),
    Layer("checks", ("tooling.checks",)),
    Layer("commands", tuple(f"tooling.{command}" for command in COMMANDS), isolated=True),
)


APP_LAYERS = (
    Layer("config", ("serving.config",)),
    Layer("telemetry", ("serving.telemetry",)),
    Layer("repository", ("serving.repository",)),
    Layer("outcomes", ("serving.outcomes",)),
    Layer("inference", ("serving.inference",)),
    Layer("api", ("serving.api",)),
)


def test_tooling_imports_point_down_only() -> None:
    assert violations(REPO_ROOT, "tooling", TOOLING_LAYERS) == []


def test_app_imports_point_down_only() -> None:
    assert violations(APP_DIR, "serving", APP_LAYERS) == []


def test_app_entry_point_builds_the_app_from_the_top_layer_only() -> None:
    """``uvicorn main:app`` (the image's command) imports the factory and the settings, nothing in between."""
    tree = ast.parse((APP_DIR / "main.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"serving.api.application", "serving.config"}


def test_every_command_is_a_package_run_by_its_own_main() -> None:
    found = modules(REPO_ROOT, "tooling")
    for command in COMMANDS:
        assert f"tooling.{command}.__main__" in found, command
    declared = {f"tooling.{command}" for command in COMMANDS} | {
        "tooling.model",
        "tooling.infra",
        "tooling.checks",
    }
    top_level = {".".join(name.split(".")[:2]) for name in found if name != "tooling"}
    assert top_level == declared


def _package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


LAYERS = (Layer("low", ("pkg.low",)), Layer("high", ("pkg.a", "pkg.b"), isolated=True))
CLEAN = {
    "pkg/__init__.py": "",
    "pkg/low/__init__.py": "",
    "pkg/low/base.py": "VALUE = 1\n",
    "pkg/a/__init__.py": "",
    "pkg/a/__main__.py": "from pkg.a.cli import main\n",
    "pkg/a/cli.py": "from pkg.low.base import VALUE\nfrom . import helper\n\nMAIN = VALUE\n",
    "pkg/a/helper.py": "",
    "pkg/b/__init__.py": "",
    "pkg/b/cli.py": "from pkg.low import base\n",
}


def test_a_clean_synthetic_package_passes(tmp_path: Path) -> None:
    _package(tmp_path, CLEAN)
    assert violations(tmp_path, "pkg", LAYERS) == []


@pytest.mark.parametrize(
    ("module", "text", "expected"),
    [
        (
            "pkg/low/base.py",
            "from pkg.a.cli import main\n",
            "pkg/low/base.py:1: low imports pkg.a.cli of the higher layer high",
        ),
        (
            "pkg/low/base.py",
            "def f() -> None:\n    import pkg.b.cli\n",
            "pkg/low/base.py:2: low imports pkg.b.cli of the higher layer high",
        ),
        (
            "pkg/low/base.py",
            "from ..a import cli\n",
            "pkg/low/base.py:1: low imports pkg.a.cli of the higher layer high",
        ),
        ("pkg/b/cli.py", "from pkg.a import helper\n", "pkg/b/cli.py:1: pkg.b imports pkg.a: high are peers"),
        (
            "pkg/b/cli.py",
            "import pkg.a.__main__\n",
            "pkg/b/cli.py:1: imports pkg.a.__main__, a __main__ module",
        ),
        (
            "pkg/b/cli.py",
            "import importlib\nimportlib.import_module('pkg.a.cli')\n",
            "pkg/b/cli.py:2: loads a module by name at run time (import it statically)",
        ),
        ("pkg/other/x.py", "", "pkg/other/x.py: pkg.other.x is in no declared layer"),
    ],
)
def test_the_checker_catches_each_kind_of_violation(
    tmp_path: Path, module: str, text: str, expected: str
) -> None:
    _package(tmp_path, {**CLEAN, module: text})
    assert violations(tmp_path, "pkg", LAYERS) == [expected]
