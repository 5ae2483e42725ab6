"""``make promote``: promote a commit of main to prod, after validating it and showing what prod will change.

1. The candidate (default: main's head) must be on main (an ancestor of it, or main itself); when the
   repository has a remote (``origin``), main is fetched and the candidate must be on the remote's main: an
   unpushed local commit never reaches prod.
2. The candidate's tree is written to a temporary directory blob by blob (``git ls-tree`` + ``git cat-file``:
   the repository is not touched) and validated there by the validator library (``tooling.checks``), in this
   process. Nothing in the candidate's ``.gitattributes`` applies (``git archive`` would obey its
   ``export-ignore`` and ``export-subst``, a checkout its filters): what is validated is, byte for byte, the
   tree the promotion commits. A ``.gitattributes`` that would make Argo CD's checkout differ from those bytes
   (``filter``, ``ident``, ``working-tree-encoding``) and a submodule (content the validator cannot see) are
   refused.
3. Everything the prod branch deploys is rendered for the current ``prod`` branch and for the candidate: the
   Argo CD objects in ``apps/`` (the root follows prod), the files every directory source of an Application
   there applies from the prod branch (``tooling.infra.directories``: its ``*.yaml`` files, as Argo CD selects
   them), every Application the ApplicationSets generate, and each chart with the prod values (real Helm, as
   the validator renders). The difference is printed; no difference, no promotion.
4. The local ``prod`` branch moves to a promotion commit: the candidate's tree, with the previous prod and
   the candidate as parents and a message that names both. ``git push origin prod`` publishes it as a
   fast-forward whatever the history (a rollback to an older commit of main too), and ``git log prod``
   lists the promotions.

Any refusal is one line on stderr and exit status 1.
"""

from __future__ import annotations

import difflib
import io
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tooling.checks.engine import CHECKS, validate
from tooling.infra.applicationsets import GenerationError, generated_applications, yaml_documents
from tooling.infra.archives import extract
from tooling.infra.directories import DIRECTORY_INCLUDE, applied_files, is_directory_source
from tooling.infra.helm import HelmError, helm_binary, render_manifests
from tooling.infra.proc import last_line
from tooling.infra.schemas import default_locations
from tooling.model import CHARTS, COMPONENTS, PROD, REPO_ROOT, Deployment

APPS_DIR = "apps"
"""The root Application's folder: the Argo CD objects themselves, read from the prod branch."""
ROOT_SOURCE = {"path": APPS_DIR, "directory": {"recurse": False, "include": DIRECTORY_INCLUDE}}
"""The root Application's source (``apps/bootstrap.yaml``, applied by hand): ``apps/*.yaml``, no subfolder."""
ZERO_OID = "0" * 40
BLOB_MODES = {b"100644": 0o644, b"100755": 0o755, b"120000": 0o777}
# Attributes that make a checkout (Argo CD's) differ from the blobs the validator read.
CHECKOUT_ALTERING = re.compile(r"^(filter|ident|working-tree-encoding)(=|$)")


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

    def export(self, commit: str, target: Path, *, candidate: bool = True) -> Path:
        """The commit's tree in ``target`` exactly as stored: every blob's bytes, no attribute applied.

        ``git archive`` would obey the tree's own ``.gitattributes`` (``export-ignore`` hides a file,
        ``export-subst`` rewrites one) and a checkout its filters; reading the blobs themselves obeys nothing.
        """
        entries = list(self._tree_entries(commit))
        contents = self._blobs([oid for _, oid, _ in entries])
        if candidate:  # the current prod is only read, to diff against: it was judged when it was promoted
            _refuse_checkout_altering_attributes(commit, [(path, contents[oid]) for _, oid, path in entries])
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for mode, oid, path in entries:
                info = tarfile.TarInfo(path)
                info.mode = BLOB_MODES[mode]
                if mode == b"120000":
                    info.type, info.linkname = tarfile.SYMTYPE, contents[oid].decode(errors="replace")
                    tar.addfile(info)
                else:
                    info.size = len(contents[oid])
                    tar.addfile(info, io.BytesIO(contents[oid]))
        buffer.seek(0)
        with tarfile.open(fileobj=buffer) as tar:
            try:
                extract(tar, target)
            except tarfile.TarError as error:  # a link escaping the target (either filter)
                raise PromotionRefused(f"commit {commit[:12]} cannot be unpacked safely: {error}") from None
        target.mkdir(parents=True, exist_ok=True)
        return target

    def _tree_entries(self, commit: str) -> Iterator[tuple[bytes, bytes, str]]:
        for record in self.run("ls-tree", "-r", "-z", "--full-tree", commit).split(b"\0"):
            if not record:
                continue
            meta, raw_path = record.split(b"\t", 1)
            mode, kind, oid = meta.split()
            path = raw_path.decode(errors="replace")
            if kind != b"blob" or mode not in BLOB_MODES:
                raise PromotionRefused(
                    f"commit {commit[:12]}: {path} is a {kind.decode()} (mode {mode.decode()}): the "
                    "validator cannot see what it holds"
                )
            yield mode, oid, path

    def _blobs(self, oids: Iterable[bytes]) -> dict[bytes, bytes]:
        """Each blob's stored bytes (``git cat-file --batch``: no filter, no conversion)."""
        wanted = sorted(set(oids))
        output = self.run("cat-file", "--batch", stdin=b"".join(oid + b"\n" for oid in wanted))
        contents: dict[bytes, bytes] = {}
        position = 0
        for oid in wanted:
            header_end = output.index(b"\n", position)
            size = int(output[position:header_end].split()[2])
            contents[oid] = output[header_end + 1 : header_end + 1 + size]
            position = header_end + 1 + size + 1
        return contents


def _refuse_checkout_altering_attributes(commit: str, files: list[tuple[str, bytes]]) -> None:
    for path, content in files:
        if Path(path).name != ".gitattributes":
            continue
        for line in content.decode(errors="replace").splitlines():
            tokens = line.split()
            if not tokens or tokens[0].startswith("#"):
                continue
            altering = [token for token in tokens[1:] if CHECKOUT_ALTERING.match(token)]
            if altering:
                raise PromotionRefused(
                    f"commit {commit[:12]}: {path} sets {altering[0]!r}: a checkout would differ from the "
                    "validated files"
                )


@dataclass(frozen=True)
class Promotion:
    candidate: str
    previous: str | None
    commit: str
    diff: str


def promote(
    repo: Path,
    candidate: str = "main",
    main_ref: str = "main",
    skip_checkov: bool = False,
    remote: str = "origin",
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
    _refuse_if_not_pushed(git, target, remote, main_ref)
    _refuse_if_checked_out(git, PROD)
    previous = git.commit(f"refs/heads/{PROD}")
    with tempfile.TemporaryDirectory(prefix="promote-") as tmp:
        checkout = git.export(target, Path(tmp) / "candidate")
        _validate(checkout, target, skip_checkov)
        before = prod_objects(git.export(previous, Path(tmp) / PROD, candidate=False)) if previous else {}
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


def _refuse_if_not_pushed(git: Git, target: str, remote: str, main_ref: str) -> None:
    """With a remote, the candidate must be on the remote's main (pushed, reviewed), not a local one."""
    if remote not in git.text("remote").split():
        return
    tracking = f"refs/remotes/{remote}/{main_ref}"
    git.run("fetch", "--quiet", "--no-tags", remote, f"+refs/heads/{main_ref}:{tracking}")
    if not git.is_ancestor(target, tracking):
        raise PromotionRefused(
            f"candidate {target[:12]} is not on {remote}/{main_ref}: push it (through review) first"
        )


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
    """Everything the prod branch deploys from ``root``, as YAML keyed ``<where>: <Kind>/<namespace>/<name>``.

    The Argo CD objects of ``apps/`` (the root Application follows prod), the objects of every file an
    Application there applies from prod (``prod_files``), every Application the ApplicationSets generate, and
    the charts rendered with the prod values.
    """
    objects: dict[str, str] = {}
    try:
        for component in COMPONENTS:
            deployment = Deployment(component, PROD, root)
            for obj in render_manifests(deployment):
                objects[_key(deployment.release, obj, deployment.namespace)] = _dump(obj)
        for app in generated_applications(root):
            objects[_key("applicationsets", app, "argocd")] = _dump(app)
    except (HelmError, GenerationError) as error:
        raise PromotionRefused(f"{root.name}: cannot render prod: {error}") from None
    for relative, obj in _yaml_objects(root, prod_files(root)):
        objects[_key(relative, obj, "")] = _dump(obj)
    return objects


def prod_files(root: Path) -> list[Path]:
    """The files of plain objects the prod branch deploys: what the root applies from ``apps/``, then what
    each directory source of an Application there that follows prod applies (``tooling.infra.directories``,
    the definition the validator's rules hold every directory source to)."""
    files = set(applied_files(root, ROOT_SOURCE))
    for _, obj in _yaml_objects(root, sorted(files)):
        if obj.get("kind") != "Application":
            continue
        spec = obj.get("spec") or {}
        for source in filter(None, [spec.get("source"), *(spec.get("sources") or [])]):
            if source.get("targetRevision") != PROD or not is_directory_source(root, source):
                continue
            if not (root / str(source["path"])).resolve().is_relative_to(root.resolve()):
                raise PromotionRefused(
                    f"{APPS_DIR}/: Application {obj['metadata'].get('name')} syncs {source['path']}, "
                    "outside the tree"
                )
            files.update(applied_files(root, source))
    return sorted(files)


def _yaml_objects(root: Path, files: list[Path]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in files:
        try:
            documents = yaml_documents(path, root)
        except GenerationError as error:
            raise PromotionRefused(str(error)) from None
        for obj in documents:
            if isinstance(obj, dict):
                yield str(path.relative_to(root).parent), obj


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
