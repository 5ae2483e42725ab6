"""The files of a chart that Helm reads: its ``.helmignore`` applied with Helm's own matching rules.

Helm (``pkg/ignore``) matches a pattern without '/' against a file's base name, a pattern with '/' against the
path from the chart root (``*`` never crossing '/'), a leading '/' anchors, a trailing '/' matches folders
only, and an ignored folder is not descended. ``templates/.?*`` is always ignored. A '!' pattern follows
Helm's (surprising) rule: anything it does not match is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

HELMIGNORE = ".helmignore"
DEFAULT_PATTERNS = ("templates/.?*",)


@dataclass(frozen=True)
class Pattern:
    text: str
    negate: bool
    directories_only: bool

    def matches(self, relative: str) -> bool:
        if "/" not in self.text:
            return fnmatchcase(relative.rsplit("/", 1)[-1], self.text)
        pattern = self.text.lstrip("/").split("/")
        parts = relative.split("/")
        return len(pattern) == len(parts) and all(map(fnmatchcase, parts, pattern))


def parse(text: str) -> list[Pattern]:
    patterns = []
    for raw in [*DEFAULT_PATTERNS, *text.splitlines()]:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line.removeprefix("!")
        patterns.append(Pattern(line.rstrip("/"), negate, line.endswith("/")))
    return patterns


def is_ignored(patterns: list[Pattern], relative: str, is_dir: bool) -> bool:
    for pattern in patterns:
        if pattern.negate:
            if (pattern.directories_only and not is_dir) or not pattern.matches(relative):
                return True
            continue
        if pattern.directories_only and not is_dir:
            continue
        if pattern.matches(relative):
            return True
    return False


def chart_patterns(chart_dir: Path) -> list[Pattern]:
    """The chart's ``.helmignore`` (and Helm's default pattern), parsed."""
    ignore_file = chart_dir / HELMIGNORE
    return parse(ignore_file.read_text() if ignore_file.is_file() else "")


def chart_files(chart_dir: Path) -> Iterator[Path]:
    """Every file Helm loads from ``chart_dir``, in a stable order."""
    patterns = chart_patterns(chart_dir)
    for directory, subdirectories, files in os.walk(chart_dir):
        base = Path(directory).relative_to(chart_dir).as_posix()
        prefix = "" if base == "." else base + "/"
        subdirectories[:] = sorted(
            name for name in subdirectories if not is_ignored(patterns, prefix + name, is_dir=True)
        )
        for name in sorted(files):
            if not is_ignored(patterns, prefix + name, is_dir=False):
                yield Path(directory) / name
