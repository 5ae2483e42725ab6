"""``__snapshot__/<suite>.snap`` beside each suite: stored values per test name and per matchSnapshot call.

The plugin compares its own YAML text of a value with the stored text. Equal values always serialise to equal
text and back, so comparing the stored text's value with the actual one gives the plugin's verdict without
reproducing yaml.v3 byte for byte. A missing entry passes (the plugin would store it); files are written only
with ``-u``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import yaml

from tooling.helm_unittest.assertions import SnapshotComparer
from tooling.helm_unittest.yamlcompat import dump, load


def snapshot_equal(stored: Any, actual: Any) -> bool:
    """Equality after a YAML round trip: yaml.v3 writes the float 1.0 as ``1``, which reads back as an int."""
    if isinstance(stored, dict) and isinstance(actual, dict):
        return stored.keys() == actual.keys() and all(snapshot_equal(stored[k], actual[k]) for k in stored)
    if isinstance(stored, list) and isinstance(actual, list):
        return len(stored) == len(actual) and all(
            snapshot_equal(a, b) for a, b in zip(stored, actual, strict=True)
        )
    if isinstance(stored, bool) or isinstance(actual, bool):
        return type(stored) is type(actual) and stored == actual
    if isinstance(stored, int | float) and isinstance(actual, int | float):
        return float(stored) == float(actual)
    if isinstance(stored, str) and isinstance(actual, str):
        # yaml.v3 drops a block scalar's leading blank lines that PyYAML keeps.
        return stored.lstrip("\n") == actual.lstrip("\n")
    return type(stored) is type(actual) and bool(stored == actual)


class SnapshotFile:
    """One suite's snapshot file, shared by every test of that suite file."""

    def __init__(self, path: Path, update: bool) -> None:
        self.path = path
        self.update = update
        self.cached: dict[str, dict[int, str]] = {}
        if path.is_file():
            loaded = load(path.read_text()) or {}
            self.cached = {
                str(test): {int(k): str(v) for k, v in (entries or {}).items()}
                for test, entries in loaded.items()
            }
        self.current: dict[str, dict[int, str]] = {}
        self.failed = 0
        self.inserted = 0
        self._lock = threading.Lock()

    def comparer(self, test: str) -> SnapshotComparer:
        return _TestComparer(self, test)

    def compare(self, test: str, index: int, actual: Any) -> tuple[bool, str]:
        text = _serialise(actual)
        with self._lock:
            stored = self.cached.get(test, {}).get(index)
            if stored is None:
                self.inserted += 1
                self.current.setdefault(test, {})[index] = text
                return True, ""
            same = snapshot_equal(load(stored), actual)
            self.current.setdefault(test, {})[index] = text if self.update else stored
            if not same and not self.update:
                self.failed += 1
            return same or self.update, stored

    def store_if_updating(self) -> bool:
        if not self.update or not self.current:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {test: dict(sorted(entries.items())) for test, entries in sorted(self.current.items())}
        self.path.write_text(yaml.dump(body, Dumper=_LiteralDumper, sort_keys=False, allow_unicode=True))
        return True


def _serialise(value: Any) -> str:
    return dump(value) + "\n" if not isinstance(value, str) else yaml.safe_dump(value, default_style="|")


class _LiteralDumper(yaml.SafeDumper):
    pass


def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_LiteralDumper.add_representer(str, _literal)


class _TestComparer(SnapshotComparer):
    def __init__(self, snapshot_file: SnapshotFile, test: str) -> None:
        self.snapshot_file = snapshot_file
        self.test = test
        self.counter = 0

    def compare(self, content: Any) -> tuple[bool, str]:
        self.counter += 1
        return self.snapshot_file.compare(self.test, self.counter, content)
