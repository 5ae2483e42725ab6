"""Supply chain: every image starts from a base pinned by digest and installs Python packages only from a lock
that carries a sha256 for every package, with pip checking them (docs/pins.md)."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule
from tooling.infra.repository import Repository, is_dockerfile

PIP_RULE = "dockerfile-pip-hashes"
BASE_RULE = "dockerfile-base-digest"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
INSTALLERS = (("pip", "install"), ("pip3", "install"), ("uv", "pip", "install"))
REQUIRED_FLAGS = ("--require-hashes", "--no-deps")
"""pip checks every hash only with --require-hashes; --no-deps keeps it from fetching what the lock lacks."""


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    arguments: str


def instructions(text: str) -> Iterator[Instruction]:
    """A Dockerfile's instructions with continuation lines joined and comments dropped."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        pending.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            keyword, _, arguments = " ".join(pending).partition(" ")
            pending = []
            yield Instruction(start, keyword.upper(), arguments.strip())


def pip_installs(command: str) -> Iterator[list[str]]:
    """The arguments of every pip install in a shell command (after `install`)."""
    for part in re.split(r"&&|\|\||;", command):
        words = shlex.split(part)
        for installer in INSTALLERS:
            for index in range(len(words) - len(installer) + 1):
                if tuple(words[index : index + len(installer)]) == installer:
                    yield words[index + len(installer) :]


def requirement_files(arguments: list[str]) -> tuple[list[str], list[str]]:
    """(the -r files, the packages named on the command line)."""
    files, packages = [], []
    words = iter(arguments)
    for word in words:
        if word in ("-r", "--requirement"):
            files.append(next(words, ""))
        elif word.startswith("--requirement="):
            files.append(word.split("=", 1)[1])
        elif word in ("-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f", "--find-links"):
            next(words, None)
        elif not word.startswith("-"):
            packages.append(word)
    return files, packages


def unhashed_requirements(lock: str) -> list[str]:
    """A lock's requirements not pinned with ``==`` and a sha256 (what pip --require-hashes refuses)."""
    joined = re.sub(r"\\\n", " ", lock)
    missing = []
    for line in joined.splitlines():
        requirement = line.split(" #", 1)[0].strip()
        if not requirement or requirement.startswith(("#", "-")):
            continue
        name = re.split(r"[=<>!~;\[ ]", requirement, maxsplit=1)[0]
        if "==" not in requirement or "--hash=sha256:" not in requirement:
            missing.append(name)
    return missing


class Build:
    """Where a Dockerfile's COPY put each file of the build context (its own folder), as RUN sees it."""

    def __init__(self, context: str) -> None:
        self.context = context
        self.workdir = "/"
        self.copies: dict[str, str] = {}

    def follow(self, instruction: Instruction) -> None:
        if instruction.keyword == "WORKDIR":
            self.workdir = self.absolute(instruction.arguments)
        elif instruction.keyword in ("COPY", "ADD"):
            all_words = shlex.split(instruction.arguments)
            words = [word for word in all_words if not word.startswith("--")]
            if len(words) < 2 or any(word.startswith("--from") for word in all_words):
                return  # another stage's files, not the build context's
            *sources, destination = words
            into_folder = destination.endswith("/") or destination == "." or len(sources) > 1
            for source in sources:
                target = destination
                if into_folder:
                    target = posixpath.join(destination, posixpath.basename(source))
                self.copies[self.absolute(target)] = posixpath.normpath(posixpath.join(self.context, source))

    def absolute(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.workdir, path))


def check_pip_hashes(repo: Repository) -> Iterator[Finding]:
    for path, text in sorted(repo.build_files.items()):
        if not is_dockerfile(PurePosixPath(path).name):
            continue
        build = Build(str(PurePosixPath(path).parent))
        for instruction in instructions(text):
            build.follow(instruction)
            if instruction.keyword != "RUN":
                continue
            for arguments in pip_installs(instruction.arguments):
                yield from _install_problems(repo, path, instruction, build, arguments)


def _install_problems(
    repo: Repository, path: str, instruction: Instruction, build: Build, arguments: list[str]
) -> Iterator[Finding]:
    where = f"line {instruction.line}"
    absent = [flag for flag in REQUIRED_FLAGS if flag not in arguments]
    if absent:
        yield Finding(path, where, PIP_RULE, f"pip install without {' '.join(absent)}")
    files, packages = requirement_files(arguments)
    if packages or not files:
        named = ", ".join(packages) or "nothing"
        yield Finding(path, where, PIP_RULE, f"pip install must install only a lock (-r), and names {named}")
    for file in files:
        source = build.copies.get(build.absolute(file))
        lock = repo.build_files.get(source or "")
        if lock is None:
            reason = f"installs {file}, which no COPY brings from the build context"
            yield Finding(path, where, PIP_RULE, reason)
            continue
        missing = unhashed_requirements(lock)
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            yield Finding(
                path,
                where,
                PIP_RULE,
                f"installs {source}, where these lack an == pin with a sha256: {shown} (run bin/lock)",
            )


def check_base_digest(repo: Repository) -> Iterator[Finding]:
    for path, text in sorted(repo.build_files.items()):
        if not is_dockerfile(PurePosixPath(path).name):
            continue
        stages: set[str] = set()
        for instruction in instructions(text):
            if instruction.keyword != "FROM":
                continue
            words = [word for word in instruction.arguments.split() if not word.startswith("--")]
            image = words[0] if words else ""
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2])
            if image == "scratch" or image in stages or DIGEST.search(image):
                continue
            yield Finding(
                path,
                f"line {instruction.line}",
                BASE_RULE,
                f"base image {image!r} is not pinned by digest (<image>:<tag>@sha256:<digest>)",
            )


RULES = (
    Rule(
        PIP_RULE,
        "images install Python packages only from a lock with a sha256 per package, hash-checked by pip",
        check_pip_hashes,
    ),
    Rule(BASE_RULE, "images start from a base image pinned by digest", check_base_digest),
)
