"""``python -m tooling.applications [--repo DIR]``: the generated Applications as YAML, or one line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from tooling.infra.applicationsets import GenerationError, generated_applications
from tooling.model import REPO_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.applications",
        description="The Applications the repository's ApplicationSets generate, as Argo CD would.",
    )
    parser.add_argument(
        "--repo", type=Path, default=REPO_ROOT, help="repository checkout (default: this one)"
    )
    args = parser.parse_args(argv)
    try:
        applications = generated_applications(args.repo.resolve())
    except GenerationError as error:
        print(f"applications: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.safe_dump_all(applications, sort_keys=False))
    return 0
