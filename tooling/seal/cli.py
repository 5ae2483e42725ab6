"""``python -m tooling.seal``: seal Secrets into ``sealed-secrets/<env>/``; a refusal is one line, exit 1.

``secret``: seal one Secret into ``sealed-secrets/<env>/<namespace>--<name>.yaml`` (``make seal``).
Values come from stdin (``KEY=value`` lines) or from named environment variables (``--from-env KEY``), never
from the command line, and are never written anywhere in plain text. Sealing uses the environment's controller
certificate (``sealed-secrets/<env>/cert.pem``; ``kubeseal --fetch-cert > ...`` replaces it with a cluster's).
``kubeseal`` does the sealing when installed; otherwise ``tooling.seal.crypto`` implements the same format.
An existing file is updated: the given keys are (re)sealed, the others kept, unless ``--replace``.

    printf 'RELOAD_SECRET_TOKEN=%s\\n' "$TOKEN" |
        make seal ENV=dev NAMESPACE=fastapi-dev NAME=fastapi-reload-token

``placeholders``: reseal every Secret the charts reference with fresh random placeholders
(``--new-certificate``: replace each environment's certificate by a new one first).

    python -m tooling.seal placeholders [--env dev] [--new-certificate]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tooling.model import ENVIRONMENTS, REPO_ROOT
from tooling.seal.crypto import Scope
from tooling.seal.inputs import InputError, from_environment, parse_lines
from tooling.seal.manifest import certificate_path
from tooling.seal.placeholders import new_controller_certificate, seal_placeholders
from tooling.seal.store import SealCommandError, write_sealed_secret


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.seal", description=(__doc__ or "").split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    secret = commands.add_parser("secret", help="seal one Secret (make seal)")
    secret.add_argument("--env", required=True, help="dev or prod")
    secret.add_argument(
        "--namespace", required=True, help="the namespace that uses the Secret, e.g. fastapi-dev"
    )
    secret.add_argument("--name", required=True, help="the Secret's name, e.g. fastapi-reload-token")
    secret.add_argument("--scope", choices=[scope.value for scope in Scope], default=Scope.STRICT.value)
    secret.add_argument(
        "--from-env", action="append", default=[], metavar="KEY", help="take KEY's value from the environment"
    )
    secret.add_argument("--replace", action="store_true", help="drop keys of an existing file not given now")
    placeholders = commands.add_parser("placeholders", help="reseal every Secret with fresh placeholders")
    placeholders.add_argument(
        "--env", action="append", choices=ENVIRONMENTS, help="default: every environment"
    )
    placeholders.add_argument(
        "--new-certificate", action="store_true", help="replace cert.pem by a new one first"
    )
    for command in (secret, placeholders):
        command.add_argument("--repo", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return seal_secret(args) if args.command == "secret" else seal_every_placeholder(args)
    except (SealCommandError, InputError) as error:
        print(f"seal: {error}", file=sys.stderr)
        return 1


def seal_secret(args: argparse.Namespace) -> int:
    values = from_environment(args.from_env, os.environ) if args.from_env else parse_lines(_read_stdin())
    target = write_sealed_secret(
        args.repo, args.env, args.namespace, args.name, Scope(args.scope), values, args.replace
    )
    print(f"seal: wrote {target} (keys: {', '.join(sorted(values))})", file=sys.stderr)
    return 0


def seal_every_placeholder(args: argparse.Namespace) -> int:
    for env in args.env or ENVIRONMENTS:
        if args.new_certificate:
            path = certificate_path(args.repo, env)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(new_controller_certificate(env))
        written = seal_placeholders(args.repo, env)
        print(f"seal: {env}: sealed {len(written)} placeholder Secrets", file=sys.stderr)
    return 0


def _read_stdin() -> str:
    if sys.stdin.isatty():
        print("seal: reading KEY=value lines from stdin (end with Ctrl-D)", file=sys.stderr)
    return sys.stdin.read()
