"""Unpack tar archives (a commit's tree, a packaged subchart) without letting a member escape its folder.

Python's ``filter="data"`` does that from 3.11.4 on; Debian 12's own ``python3`` is 3.11.2, where the core of
the same rule is applied here: folders, regular files and links only, each landing and pointing inside it.
"""

from __future__ import annotations

import tarfile
from pathlib import Path


class UnsafeArchiveError(tarfile.TarError):
    """A member that would land or point outside the target, or is a device or a pipe."""


def extract(archive: tarfile.TarFile, target: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        archive.extractall(target, filter="data")
        return
    root = target.resolve()
    for member in archive.getmembers():
        landing = root / member.name
        if member.issym():
            pointed = landing.parent / member.linkname
        elif member.islnk():
            pointed = root / member.linkname
        elif member.isfile() or member.isdir():
            pointed = landing
        else:
            raise UnsafeArchiveError(f"{member.name}: only files, folders and links are unpacked")
        if not (_inside(landing, root) and _inside(pointed, root)):
            raise UnsafeArchiveError(f"{member.name}: outside the folder it is unpacked into")
    archive.extractall(target)  # noqa: S202  # every member was checked above


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)
