"""The real ``make`` with hostile variable values: no target runs a command smuggled in through a variable.

Each payload would create a marker file if a recipe pasted the value into a shell command line or make
expanded it as make syntax. ``BOOTSTRAP=true`` skips only the installer step (the suite runs in the installed
environments, and re-syncing a venv under a running test is never wanted); every recipe line after it runs.
Every payload also names no commit or no environment, so even a regression cannot promote or seal into this
checkout.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tooling.model import REPO_ROOT

MAKE_LINE = re.compile(r"^make(\[\d+\])?: ")
PAYLOADS = [
    pytest.param(
        ["promote", "REF=no-such-commit; touch {marker}"],
        "promote: refused: candidate 'no-such-commit; ",
        id="promote-ref",
    ),
    pytest.param(
        ["promote", "REF=no-such-commit$(shell touch {marker})"],
        "promote: refused: candidate 'no-such-commit$(shell",
        id="make-syntax",
    ),
    pytest.param(
        ["seal", 'ENV=x"; touch {marker}; "', "NAMESPACE=fastapi-dev", "NAME=x"],
        "seal: --env 'x\"; touch ",
        id="seal-env",
    ),
    pytest.param(
        ["seal", "ENV=nowhere", "NAMESPACE=$$(touch {marker})", "NAME=x"],
        "seal: ",
        id="seal-namespace",
    ),
    pytest.param(
        ["seal", "ENV=nowhere", "NAMESPACE=fastapi-dev", "NAME=x", "SEAL_ARGS=; touch {marker}"],
        "usage: python -m tooling.seal",
        id="seal-args",
    ),
    pytest.param(["repo-url", 'URL="; touch {marker}; "'], "set-repo-url: not a git URL: ", id="repo-url"),
    pytest.param(
        ["release-status", "ENV=$(shell touch {marker})"], "release: ENV=$(shell ", id="release-env"
    ),
]


@pytest.mark.parametrize(("arguments", "refusal"), PAYLOADS)
def test_a_variable_never_reaches_a_shell(arguments: list[str], refusal: str, tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    result = subprocess.run(
        ["make", "-s", "-C", str(REPO_ROOT), "BOOTSTRAP=true", *(a.format(marker=marker) for a in arguments)],
        input="KEY=value\n",
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    assert not marker.exists(), f"make {' '.join(arguments)} ran the injected command"
    assert result.returncode != 0
    # make's own lines read "make[N]:" when the suite itself runs under make (``make test``).
    tool_lines = [line for line in result.stderr.splitlines() if not MAKE_LINE.match(line)]
    assert tool_lines[0].startswith(refusal), result.stderr
    assert len([line for line in tool_lines if not line.startswith(("usage:", "python -m"))]) <= 1
