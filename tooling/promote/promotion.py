"""``make promote``: promote a commit of main to prod, after validating it and showing what prod will change.

1. The candidate (default: main's head) must be on main (an ancestor of it, or main itself).
2. It is exported to a temporary directory (``git archive``: the repository is not touched) and validated
   there by the validator library (``tooling.checks``), in this process.
3. Everything prod deploys is rendered for the current ``prod`` branch and for the candidate: each chart with
   the prod values (real Helm, as the validator renders), the generated prod Applications, and the objects in
   ``sealed-secrets/prod`` and ``metallb/prod``. The difference is printed; no difference, no promotion.
4. The local ``prod`` branch moves to a promotion commit: the candidate's tree, with the previous prod and
   the candidate as parents and a message that names both. ``git push origin prod`` publishes it as a
   fast-forward whatever the history (a rollback to an older commit of main too), and ``git log prod``
   lists the promotions.

Any refusal is one line on stderr and exit status 1.
"""

from __future__ import annotations

import difflib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tooling.checks.engine import CHECKS, validate
from tooling.infra.applicationsets import GenerationError, generated_applications
from tooling.infra.archives import extract
from tooling.infra.helm import HelmError, helm_binary, render_manifests
from tooling.infra.proc import last_line
from tooling.infra.schemas import default_locations
from tooling.model import CHARTS, COMPONENTS, METALLB_DIR, PROD, REPO_ROOT, SEALED_SECRETS_DIR, Deployment

PROD_OBJECT_DIRS = (f"{SEALED_SECRETS_DIR}/{PROD}", f"{METALLB_DIR}/{PROD}")
ZERO_OID = "0" * 40


class PromotionRefused(Exception):
    """Why a promotion did not happen, in one line."""


@dataclass(frozen=True)
class Git:
    repo: Path

    def run(self, *args: str, stdin: bytes | None = None) -> bytes:
        result = subprocess.run(
            ["git", "-C", str(self.repo), *args], input=stdin, capture_output=True, check=False
        )
        if result.returncode != 0:
            raise PromotionRefused(
                f"git {args[0]} failed: {last_line(result.stderr.decode(errors='replace'))}"
            )
        return result.stdout

    def text(self, *args: str) -> str:
        return self.run(*args).decode().strip()

    def commit(self, ref: str) -> str | None:
        result = subprocess.run(
            ["git", "-C", str(self.repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() or None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        result = subprocess.run(
            ["git", "-C", str(self.repo), "merge-base", "--is-ancestor", ancestor, descendant], check=False
        )
        return result.returncode == 0

    def export(self, commit: str, target: Path) -> Path:
        """The commit's files in ``target``, without a worktree or any change to the repository."""
        archive = self.run("archive", "--format=tar", commit)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            try:
                extract(tar, target)
            except tarfile.TarError as error:  # a member escaping the target (either filter)
                raise PromotionRefused(f"commit {commit[:12]} cannot be unpacked safely: {error}") from None
        return target


@dataclass(frozen=True)
class Promotion:
    candidate: str
    previous: str | None
    commit: str
    diff: str


def promote(
    repo: Path, candidate: str = "main", main_ref: str = "main", skip_checkov: bool = False
) -> Promotion:
    git = Git(repo)
    target = git.commit(candidate)
    if target is None:
        raise PromotionRefused(f"candidate {candidate!r} is not a commit of {repo}")
    main = git.commit(main_ref)
    if main is None:
        raise PromotionRefused(f"no branch {main_ref!r} in {repo}")
    if not git.is_ancestor(target, main):
        raise PromotionRefused(
            f"candidate {target[:12]} is not on {main_ref}: only commits of {main_ref} reach prod"
        )
    _refuse_if_checked_out(git, PROD)
    previous = git.commit(f"refs/heads/{PROD}")
    with tempfile.TemporaryDirectory(prefix="promote-") as tmp:
        checkout = git.export(target, Path(tmp) / "candidate")
        _validate(checkout, target, skip_checkov)
        before = prod_objects(git.export(previous, Path(tmp) / PROD)) if previous else {}
        after = prod_objects(checkout)
    diff = manifest_diff(before, after)
    if not diff:
        where = f"prod ({previous[:12]})" if previous else "an empty prod"
        raise PromotionRefused(f"nothing changes for prod between {where} and {target[:12]}")
    message = promotion_message(git, target, previous, before, after)
    parents = ["-p", previous, "-p", target] if previous else ["-p", target]
    commit = git.run(
        "commit-tree", f"{target}^{{tree}}", *parents, "-F", "-", stdin=message.encode()
    ).decode()
    commit = commit.strip()
    # Compare-and-swap: if prod moved meanwhile, nothing is overwritten.
    git.run(
        "update-ref",
        "-m",
        f"promote {target[:12]} to prod",
        f"refs/heads/{PROD}",
        commit,
        previous or ZERO_OID,
    )
    return Promotion(target, previous, commit, diff)


def _refuse_if_checked_out(git: Git, branch: str) -> None:
    listing = git.text("worktree", "list", "--porcelain")
    if f"branch refs/heads/{branch}" in listing.splitlines():
        raise PromotionRefused(f"branch {branch} is checked out in a worktree: switch away from it first")


def _validate(checkout: Path, commit: str, skip_checkov: bool) -> None:
    if not (checkout / CHARTS).is_dir():
        raise PromotionRefused(f"the validator could not run on {commit[:12]}: no {CHARTS}/ in it")
    try:
        helm_binary()
    except HelmError as error:
        raise PromotionRefused(f"the validator could not run on {commit[:12]}: {error}") from None
    # The schema locations are the ones of this checkout's environment: the default is relative to the repo.
    checks = frozenset(CHECKS) - ({"checkov"} if skip_checkov else set())
    report = validate(checkout, schema_locations=default_locations(REPO_ROOT), checks=checks)
    if report.findings:
        first = str(report.findings[0]).replace(str(checkout.resolve()) + "/", "")
        more = f" (+{len(report.findings) - 1} more)" if len(report.findings) > 1 else ""
        raise PromotionRefused(f"{commit[:12]} fails validation: {first}{more}")


def prod_objects(root: Path) -> dict[str, str]:
    """Everything prod deploys from ``root``, keyed ``<where>: <Kind>/<namespace>/<name>``, as sorted YAML."""
    objects: dict[str, str] = {}
    try:
        for component in COMPONENTS:
            deployment = Deployment(component, PROD, root)
            for obj in render_manifests(deployment):
                objects[_key(deployment.release, obj, deployment.namespace)] = _dump(obj)
        for app in generated_applications(root):
            if app["spec"].get("project") == PROD:
                objects[_key("applicationsets", app, "argocd")] = _dump(app)
    except (HelmError, GenerationError) as error:
        raise PromotionRefused(f"{root.name}: cannot render prod: {error}") from None
    for relative, obj in _yaml_objects(root):
        objects[_key(relative, obj, "")] = _dump(obj)
    return objects


def _yaml_objects(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for folder in PROD_OBJECT_DIRS:
        for path in sorted((root / folder).glob("*.yaml")):
            for obj in yaml.safe_load_all(path.read_text()):
                if isinstance(obj, dict):
                    yield folder, obj


def _key(where: str, obj: dict[str, Any], namespace: str) -> str:
    metadata = obj.get("metadata") or {}
    return f"{where}: {obj.get('kind')}/{metadata.get('namespace') or namespace}/{metadata.get('name')}"


def _dump(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=True, width=1_000_000)


def manifest_diff(before: dict[str, str], after: dict[str, str]) -> str:
    """A unified diff per object that differs (added, removed or changed), in key order."""
    chunks = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key, ""), after.get(key, "")
        if old != new:
            lines = difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"prod: {key}" if old else "/dev/null",
                tofile=f"candidate: {key}" if new else "/dev/null",
            )
            chunks.append("".join(lines))
    return "".join(chunks)


def promotion_message(
    git: Git, target: str, previous: str | None, before: dict[str, str], after: dict[str, str]
) -> str:
    subject = git.text("log", "-1", "--format=%s", target)
    changed = sorted(
        {key.split(":", 1)[0] for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    )
    return (
        f"Promote {target[:12]} to prod: {subject}\n\n"
        f"Candidate: {target}\n"
        f"Previous prod: {previous or 'none'}\n"
        f"Changes prod: {', '.join(changed)}\n"
    )
