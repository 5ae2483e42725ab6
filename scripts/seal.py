"""``make seal``: seal a Secret for an environment into ``sealed-secrets/<env>/<namespace>--<name>.yaml``.

Values come from stdin (``KEY=value`` lines) or from named environment variables (``--from-env KEY``), never
from the command line, and are never written anywhere in plain text. Sealing uses the environment's controller
certificate (``sealed-secrets/<env>/cert.pem``; ``kubeseal --fetch-cert > ...`` replaces it with a cluster's).
``kubeseal`` does the sealing when installed; otherwise ``scripts.sealing.crypto`` implements the same format.
An existing file is updated: the given keys are (re)sealed, the others kept, unless ``--replace``.

    printf 'RELOAD_SECRET_TOKEN=%s\\n' "$TOKEN" |
        make seal ENV=dev NAMESPACE=fastapi-dev NAME=fastapi-reload-token
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from scripts.platform import REPO_ROOT
from scripts.sealing.crypto import Scope
from scripts.sealing.inputs import InputError, from_environment, parse_lines
from scripts.sealing.store import SealCommandError, write_sealed_secret


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--env", required=True, help="dev or prod")
    parser.add_argument(
        "--namespace", required=True, help="the namespace that uses the Secret, e.g. fastapi-dev"
    )
    parser.add_argument("--name", required=True, help="the Secret's name, e.g. fastapi-reload-token")
    parser.add_argument("--scope", choices=[scope.value for scope in Scope], default=Scope.STRICT.value)
    parser.add_argument(
        "--from-env", action="append", default=[], metavar="KEY", help="take KEY's value from the environment"
    )
    parser.add_argument("--replace", action="store_true", help="drop keys of an existing file not given now")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        values = from_environment(args.from_env, os.environ) if args.from_env else parse_lines(_read_stdin())
        target = write_sealed_secret(
            args.repo, args.env, args.namespace, args.name, Scope(args.scope), values, args.replace
        )
    except (SealCommandError, InputError) as error:
        print(f"seal: {error}", file=sys.stderr)
        return 1
    print(f"seal: wrote {target} (keys: {', '.join(sorted(values))})", file=sys.stderr)
    return 0


def _read_stdin() -> str:
    if sys.stdin.isatty():
        print("seal: reading KEY=value lines from stdin (end with Ctrl-D)", file=sys.stderr)
    return sys.stdin.read()


if __name__ == "__main__":
    sys.exit(main())
