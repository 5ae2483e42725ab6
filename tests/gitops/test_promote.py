"""Promotion on a temporary clone of this repository: real git, the real validator, real Helm renders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tooling.model import CHARTS, ENVIRONMENTS_DIR, GITOPS_DIRS, REPO_ROOT
from tooling.promote.promotion import prod_files

COPIED = (CHARTS, ENVIRONMENTS_DIR, *GITOPS_DIRS, ".yamllint.yaml")
# What is deployed, not the charts' and the app's own test suites (make validate covers their files).
IGNORED = shutil.ignore_patterns(
    "tests", "__pycache__", ".pytest_cache", ".mypy_cache", "node_modules", "*.pyc", "logs"
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Release Owner",
    "GIT_AUTHOR_EMAIL": "owner@example.org",
    "GIT_COMMITTER_NAME": "Release Owner",
    "GIT_COMMITTER_EMAIL": "owner@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    return result.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def promote(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tooling.promote", "--repo", str(repo), "--skip-checkov", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
        env={**os.environ, **GIT_ENV},
    )


def edit_yaml(path: Path, *keys: str, value: object) -> None:
    data = yaml.safe_load(path.read_text())
    node = data
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A repository with this one's deployable files on main, and prod at the same commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=IGNORED)
        else:
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q", "-b", "main")
    first = commit_all(repo, "platform")
    git(repo, "branch", "prod", first)
    git(repo, "checkout", "-q", "-b", "work")  # prod must not be checked out; main moves by branch -f
    return repo


def advance_main(repo: Path, message: str) -> str:
    commit = commit_all(repo, message)
    git(repo, "branch", "-f", "main", commit)
    return commit


def test_a_prod_change_is_shown_and_promoted(clone: Path) -> None:
    before = git(clone, "rev-parse", "prod")
    edit_yaml(clone / "environments" / "prod" / "fastapi.yaml", "env", "CANARY_PERCENT", value=15)
    candidate = advance_main(clone, "fastapi: canary 15% in prod")

    result = promote(clone)

    assert result.returncode == 0, result.stderr
    assert "+++ candidate: fastapi-prod: Deployment/fastapi-prod/" in result.stdout
    added = [
        line for line in result.stdout.splitlines() if line.startswith("+") and not line.startswith("+++")
    ]
    assert any("15" in line for line in added)
    changed = {line.split(":")[1].strip() for line in result.stdout.splitlines() if line.startswith("+++")}
    assert changed == {"fastapi-prod"}
    assert result.stderr.strip().endswith("publish with: git push origin prod")
    promoted = git(clone, "rev-parse", "prod")
    assert git(clone, "rev-parse", "prod^{tree}") == git(clone, "rev-parse", f"{candidate}^{{tree}}")
    assert git(clone, "log", "-1", "--format=%P", "prod").split() == [before, candidate]
    message = git(clone, "log", "-1", "--format=%B", "prod")
    assert message.startswith(f"Promote {candidate[:12]} to prod: fastapi: canary 15% in prod")
    assert f"Previous prod: {before}" in message
    assert "Changes prod: fastapi-prod" in message

    again = promote(clone)
    assert again.returncode == 1
    assert (
        again.stderr
        == f"promote: refused: nothing changes for prod between prod ({promoted[:12]}) and {candidate[:12]}\n"
    )

    # A rollback: an older commit of main gives prod its tree, still as a fast-forward of prod.
    rollback = promote(clone, "--candidate", before)
    assert rollback.returncode == 0, rollback.stderr
    assert git(clone, "rev-parse", "prod^{tree}") == git(clone, "rev-parse", f"{before}^{{tree}}")
    assert git(clone, "log", "-1", "--format=%P", "prod").split() == [promoted, before]


def test_a_dev_only_change_changes_nothing_for_prod(clone: Path) -> None:
    edit_yaml(clone / "environments" / "dev" / "fastapi.yaml", "env", "CANARY_PERCENT", value=30)
    candidate = advance_main(clone, "fastapi: canary 30% in dev")
    prod = git(clone, "rev-parse", "prod")

    result = promote(clone)

    assert result.returncode == 1
    assert (
        result.stderr
        == f"promote: refused: nothing changes for prod between prod ({prod[:12]}) and {candidate[:12]}\n"
    )
    assert git(clone, "rev-parse", "prod") == prod


def test_a_change_that_fails_validation_is_refused(clone: Path) -> None:
    pool = clone / "metallb" / "prod" / "pool.yaml"
    pool.write_text(pool.read_text().replace("192.168.56.220-", "192.168.56.210-"))
    candidate = advance_main(clone, "prod pool overlapping dev's")
    prod = git(clone, "rev-parse", "prod")

    assert_refused_by_validation(clone, candidate, prod, "metallb/prod/pool.yaml", "metallb-pool-overlap")


def assert_refused_by_validation(clone: Path, candidate: str, prod: str, path: str, rule: str) -> None:
    """``make promote`` refuses ``candidate`` in one line naming the file and the rule; prod stays."""
    result = promote(clone)

    assert result.returncode == 1
    assert result.stderr.startswith(f"promote: refused: {candidate[:12]} fails validation: {path}: ")
    assert rule in result.stderr
    assert result.stderr.count("\n") == 1
    assert git(clone, "rev-parse", "prod") == prod


def test_a_commit_not_on_main_is_refused(clone: Path) -> None:
    edit_yaml(clone / "environments" / "prod" / "fastapi.yaml", "env", "CANARY_PERCENT", value=5)
    side = commit_all(clone, "not merged")  # on branch work; main does not contain it

    result = promote(clone, "--candidate", side)

    assert result.returncode == 1
    assert (
        result.stderr
        == f"promote: refused: candidate {side[:12]} is not on main: only commits of main reach prod\n"
    )


def test_prod_checked_out_is_refused(clone: Path) -> None:
    git(clone, "checkout", "-q", "prod")
    result = promote(clone)
    assert result.returncode == 1
    assert (
        result.stderr
        == "promote: refused: branch prod is checked out in a worktree: switch away from it first\n"
    )


PLAIN_SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: leaked
  namespace: metallb-system
stringData:
  password: hunter2
"""


def test_what_is_validated_is_the_committed_tree_not_the_archive(clone: Path) -> None:
    """``git archive`` obeys the candidate's own export-ignore: the Secret would hide from the validator."""
    leak = clone / "metallb" / "prod" / "leak.yaml"  # any file of the tree: the validator reads every one
    leak.write_text(PLAIN_SECRET)
    (clone / ".gitattributes").write_text("metallb/prod/leak.yaml export-ignore\n")
    candidate = advance_main(clone, "a plain Secret hidden from git archive")
    assert "leak.yaml" not in git(clone, "archive", "--format=tar", candidate, "metallb/prod")
    prod = git(clone, "rev-parse", "prod")

    assert_refused_by_validation(clone, candidate, prod, "metallb/prod/leak.yaml", "no-plain-secret")


def test_attributes_that_change_a_checkout_are_refused(clone: Path) -> None:
    (clone / ".gitattributes").write_text("# a checkout runs this filter\nsealed-secrets/** filter=reveal\n")
    candidate = advance_main(clone, "a filter on the secrets")

    result = promote(clone)

    assert result.returncode == 1
    assert result.stderr == (
        f"promote: refused: commit {candidate[:12]}: .gitattributes sets 'filter=reveal': a checkout would "
        "differ from the validated files\n"
    )


def test_an_unpushed_commit_is_refused(clone: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(clone, "remote", "add", "origin", str(remote))
    git(clone, "push", "-q", "origin", "main", "prod")
    edit_yaml(clone / "environments" / "prod" / "fastapi.yaml", "env", "CANARY_PERCENT", value=5)
    local = advance_main(clone, "merged locally, never pushed")
    prod = git(clone, "rev-parse", "prod")

    result = promote(clone)

    assert result.returncode == 1
    assert result.stderr == (
        f"promote: refused: candidate {local[:12]} is not on origin/main: push it (through review) first\n"
    )
    assert git(clone, "rev-parse", "prod") == prod

    git(clone, "push", "-q", "origin", "main")
    pushed = promote(clone)
    assert pushed.returncode == 0, pushed.stderr
    assert git(clone, "rev-parse", "prod^{tree}") == git(clone, "rev-parse", f"{local}^{{tree}}")


def test_the_diff_covers_the_argo_cd_objects_prod_syncs(clone: Path) -> None:
    """The root follows prod: a change to apps/ (here the ingress controllers' chart) is a prod change."""
    infrastructure = clone / "apps" / "infrastructure.yaml"
    infrastructure.write_text(
        infrastructure.read_text().replace("targetRevision: 4.12.1", "targetRevision: 4.12.2")
    )
    advance_main(clone, "ingress-nginx 4.12.2")

    result = promote(clone)

    assert result.returncode == 0, result.stderr
    changed = {line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("+++")}
    assert changed == {
        "apps: Application/argocd/ingress-nginx-dev",
        "apps: Application/argocd/ingress-nginx-prod",
    }
    assert "Changes prod: apps" in git(clone, "log", "-1", "--format=%B", "prod")


def test_the_diff_reads_every_folder_an_application_syncs_from_prod() -> None:
    files = [path.relative_to(REPO_ROOT) for path in prod_files(REPO_ROOT)]
    assert {str(path.parent) for path in files} == {
        "apps",
        "apps/cluster-issuers",
        "applicationsets",
        "metallb/dev",
        "metallb/prod",
        "sealed-secrets/prod",
    }
    assert {path.suffix for path in files} == {".yaml"}
