"""``python -m tooling.promote [--candidate REF]``: the prod diff on stdout; a refusal is one line, exit 1."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tooling.model import REPO_ROOT
from tooling.promote.promotion import PromotionRefused, promote


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.promote",
        description="Promote a commit of main to prod, after validating it and showing what prod changes.",
    )
    parser.add_argument("--candidate", default="main", help="the commit of main to promote (default: main)")
    parser.add_argument("--main-ref", default="main", help="the branch the candidate must be on")
    parser.add_argument(
        "--remote", default="origin", help="when the repository has it, the candidate must be on its main"
    )
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the repository (default: this one)")
    parser.add_argument("--skip-checkov", action="store_true", help="validate without checkov (faster)")
    args = parser.parse_args(argv)
    try:
        promotion = promote(
            args.repo.resolve(), args.candidate, args.main_ref, args.skip_checkov, args.remote
        )
    except PromotionRefused as error:
        print(f"promote: refused: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(promotion.diff)
    was = promotion.previous[:12] if promotion.previous else "none"
    print(
        f"promote: prod -> {promotion.commit[:12]} (candidate {promotion.candidate[:12]}, was {was}); "
        "publish with: git push origin prod",
        file=sys.stderr,
    )
    return 0
