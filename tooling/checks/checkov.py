"""Generic Kubernetes security policy by checkov, over every rendered object, with a reviewed skip list.

checkov spends most of its time importing itself, so its process is started before Helm renders and waits on
stdin for the folder to scan. Results are cached under the hash of everything that decides them (the render
inputs, the skip list, checkov's lock, this code), so an unchanged repository costs no second scan.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml

from tooling.checks.findings import Finding
from tooling.checks.tools import Pending, done, missing
from tooling.infra.helm import Manifest
from tooling.infra.proc import last_line
from tooling.infra.repository import object_label
from tooling.model import CHECKOV_VENV, REQUIREMENTS_DIR, TOOLS_DIR

HERE = Path(__file__).resolve().parent
SKIPS = HERE / "checkov-skips.yaml"
RUNNER = HERE / "checkov_runner.py"
PYTHON = CHECKOV_VENV / "bin" / "python"
LOCK = REQUIREMENTS_DIR / "checkov.lock"
CACHE = TOOLS_DIR / "cache" / "checkov"
CACHE_ENTRIES = 64
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Skip:
    id: str
    reason: str
    objects: tuple[str, ...] = ()

    def covers(self, check_id: str, label: str) -> bool:
        return check_id == self.id and any(fnmatch(label, pattern) for pattern in self.objects)


def load_skips(path: Path = SKIPS) -> list[Skip]:
    data = yaml.safe_load(path.read_text()) or {}
    return [
        Skip(str(entry["id"]), str(entry["reason"]), tuple(entry.get("objects") or ()))
        for entry in data.get("skips") or []
    ]


class CheckovScan:
    def __init__(self, inputs_key: str, cache_dir: Path = CACHE) -> None:
        self.skips = load_skips()
        self.everywhere = sorted(skip.id for skip in self.skips if not skip.objects)
        sources = [_read(path) for path in (LOCK, RUNNER, Path(__file__))]
        key = hashlib.sha256(json.dumps([inputs_key, self.everywhere, *sources]).encode()).hexdigest()
        self.cached = cache_dir / f"{key}.jsonl"
        self.process: subprocess.Popen[str] | None = None
        if PYTHON.is_file() and not self.cached.is_file():
            self.process = subprocess.Popen(
                [str(PYTHON), "-I", str(RUNNER)],  # -I: its folder must not shadow checkov's modules
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

    def scan(self, rendered: dict[Any, list[Manifest]]) -> Pending:
        """Hand every rendered object to checkov (or the cache), each in its own file so findings map back."""
        if not PYTHON.is_file():
            return done([missing("checkov", "bin/bootstrap checkov")])
        objects: dict[str, dict[str, Any]] = {}
        origin: dict[str, tuple[str, str]] = {}
        for deployment, manifests in rendered.items():
            for index, manifest in enumerate(manifests):
                # The namespace Argo CD deploys into; helm template leaves it unset.
                metadata = {"namespace": deployment.namespace, **manifest.obj.get("metadata", {})}
                name = f"{deployment.release}-{index:03d}.yaml"
                objects[name] = {**manifest.obj, "metadata": metadata}
                origin[name] = (manifest.source, object_label(objects[name]))

        def parse(stdout: str, stderr: str, code: int) -> list[Finding]:
            if code != 0:
                return [Finding("checkov", "(tool)", "checkov", last_line(stderr, f"exit {code}"))]
            findings = []
            for line in stdout.splitlines():
                failed = json.loads(line)
                fallback = (failed["file_path"], failed["resource"])
                source, label = origin.get(Path(failed["file_path"]).name, fallback)
                if not any(skip.covers(failed["check_id"], label) for skip in self.skips):
                    rule = f"checkov:{failed['check_id']}"
                    findings.append(Finding(source, label, rule, failed["check_name"]))
            return findings

        if self.process is None:
            try:
                return done(parse(self.cached.read_text(), "", 0))
            except FileNotFoundError:  # pruned by a concurrent run since __init__ looked
                return done([Finding("checkov", "(tool)", "checkov", "cached result vanished: run again")])
        folder = Path(tempfile.mkdtemp(prefix="validate-checkov-"))
        for name, obj in objects.items():
            (folder / name).write_text(yaml.dump(obj, Dumper=DUMPER, sort_keys=False))
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"folder": str(folder), "skip_checks": self.everywhere}) + "\n")
        self.process.stdin.flush()

        def parse_and_cache(stdout: str, stderr: str, code: int) -> list[Finding]:
            shutil.rmtree(folder, ignore_errors=True)
            if code == 0:
                self.cached.parent.mkdir(parents=True, exist_ok=True)
                partial = self.cached.with_suffix(f".{os.getpid()}.tmp")
                partial.write_text(stdout)
                partial.replace(self.cached)  # atomic: a concurrent run reads all of it or none
                _prune(self.cached.parent)
            return parse(stdout, stderr, code)

        return Pending(self.process, parse_and_cache)


def _prune(cache_dir: Path, keep: int = CACHE_ENTRIES) -> None:
    entries = sorted(cache_dir.glob("*.jsonl"), key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in entries[keep:]:
        stale.unlink(missing_ok=True)


def _read(path: Path) -> str:
    return path.read_text() if path.is_file() else ""
