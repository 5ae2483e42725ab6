"""Where secret values come from: ``KEY=value`` lines on stdin, or named environment variables. Never argv."""

from __future__ import annotations

import re
from collections.abc import Mapping

KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
"""A Secret data key (Kubernetes: alphanumerics, '-', '_' or '.')."""


class InputError(Exception):
    """Bad input; the message names the line or variable, never a value."""


def parse_lines(text: str) -> dict[str, str]:
    """``KEY=value`` per line; blank lines and ``#`` comments are skipped; the value is all after '='."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, separator, value = line.partition("=")
        key = key.strip()
        if not separator:
            raise InputError(f"stdin line {number}: expected KEY=value")
        if not KEY.match(key):
            # The text is not echoed: a pasted value with a stray '=' would land in the terminal and logs.
            raise InputError(
                f"stdin line {number}: the text before '=' is not a Secret key (letters, digits, -, _, .)"
            )
        if key in values:
            raise InputError(f"stdin line {number}: key {key} given twice")
        values[key] = value
    return values


def from_environment(keys: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    values = {}
    for key in keys:
        if not KEY.match(key):
            raise InputError(f"--from-env {key!r}: not a valid Secret key")
        if key not in environ:
            raise InputError(f"--from-env {key}: the environment variable is not set")
        values[key] = environ[key]
    return values
