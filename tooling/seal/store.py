"""Sealing values into the repository (sealed-secrets/<env>/<namespace>--<name>.yaml), by kubeseal or not."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from tooling.model import ENVIRONMENTS
from tooling.seal import kubeseal
from tooling.seal.crypto import Scope, SealingError, label, public_key_from_pem, seal
from tooling.seal.manifest import certificate_path, dump, path_for, scope_of, sealed_secret

DNS_LABEL_MAX = 63


class SealCommandError(Exception):
    """A one-line refusal naming the file, object and rule."""


def seal_values(
    certificate: Path,
    name: str,
    namespace: str,
    scope: Scope,
    values: dict[str, str],
    use_kubeseal: bool = True,
) -> dict[str, str]:
    """encryptedData for ``values``: by kubeseal when installed (and allowed), else by our implementation."""
    tool = kubeseal.binary() if use_kubeseal else None
    if tool:
        return kubeseal.seal_with_kubeseal(tool, certificate, name, namespace, scope, values)
    public_key = public_key_from_pem(certificate.read_bytes())
    bound = label(scope, namespace, name)
    return {
        key: base64.b64encode(seal(public_key, value.encode(), bound)).decode()
        for key, value in values.items()
    }


def write_sealed_secret(
    root: Path,
    env: str,
    namespace: str,
    name: str,
    scope: Scope,
    values: dict[str, str],
    replace: bool = False,
    use_kubeseal: bool = True,
) -> Path:
    _check_target(env, namespace, name)
    certificate = certificate_path(root, env)
    if not certificate.is_file():
        raise SealCommandError(
            f"{certificate}: missing: fetch it with `kubeseal --fetch-cert > {certificate}`"
        )
    if not values:
        raise SealCommandError(f"SealedSecret {namespace}/{name}: no values given (stdin or --from-env)")
    target = path_for(root, env, namespace, name)
    kept: dict[str, str] = {}
    if target.exists() and not replace:
        existing = yaml.safe_load(target.read_text()) or {}
        if scope_of(existing) is not scope:
            raise SealCommandError(
                f"{target}: SealedSecret {namespace}/{name}: sealed {scope_of(existing).value}, "
                f"not {scope.value}; use --replace to reseal every key"
            )
        kept = dict(existing.get("spec", {}).get("encryptedData") or {})
    try:
        sealed = seal_values(certificate, name, namespace, scope, values, use_kubeseal)
    except SealingError as error:
        raise SealCommandError(f"{certificate}: SealedSecret {namespace}/{name}: {error}") from None
    target.write_text(dump(sealed_secret(name, namespace, scope, {**kept, **sealed})))
    return target


def _check_target(env: str, namespace: str, name: str) -> None:
    if env not in ENVIRONMENTS:
        raise SealCommandError(f"--env {env!r}: not one of {', '.join(ENVIRONMENTS)}")
    if not namespace.endswith(f"-{env}"):
        raise SealCommandError(f"--namespace {namespace!r}: not a namespace of {env} (<component>-{env})")
    for flag, value in (("--namespace", namespace), ("--name", name)):
        if not value or len(value) > DNS_LABEL_MAX or not all(c.isalnum() or c == "-" for c in value):
            raise SealCommandError(
                f"{flag} {value!r}: not a Kubernetes name (lower-case letters, digits, '-')"
            )
        if value != value.lower() or value.startswith("-") or value.endswith("-"):
            raise SealCommandError(
                f"{flag} {value!r}: not a Kubernetes name (lower-case letters, digits, '-')"
            )
