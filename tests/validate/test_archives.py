"""Unpacking a commit's tree or a packaged subchart never writes outside the target folder, on every Python
this project runs on: with tarfile's "data" filter (3.11.4+) and without it (Debian 12's python3: 3.11.2)."""

from __future__ import annotations

import contextlib
import io
import tarfile
from pathlib import Path

import pytest

from tooling.infra.archives import extract


def _archive(members: list[tarfile.TarInfo]) -> tarfile.TarFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for member in members:
            data = b"x" * member.size
            archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer)


def _file(name: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.size = 3
    return member


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, target
    return member


@pytest.fixture(params=["data filter", "without the data filter"])
def python_filter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "without the data filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python's tarfile has no data filter")
    return str(request.param)


def test_files_folders_and_inner_links_unpack(tmp_path: Path, python_filter: str) -> None:
    target = tmp_path / "target"
    extract(_archive([_file("chart/values.yaml"), _link("chart/link.yaml", "values.yaml")]), target)
    assert (target / "chart" / "values.yaml").read_bytes() == b"xxx"
    assert (target / "chart" / "link.yaml").resolve() == (target / "chart" / "values.yaml").resolve()


@pytest.mark.parametrize(
    "member",
    [
        _file("../escaped.txt"),
        _link("chart/out", "../../escaped.txt"),
        _link("chart/hard", "../escaped.txt", tarfile.LNKTYPE),
    ],
    ids=["dot-dot", "symlink out", "hard link out"],
)
def test_a_member_escaping_the_target_is_refused(
    tmp_path: Path, python_filter: str, member: tarfile.TarInfo
) -> None:
    (tmp_path / "escaped.txt").write_text("outside")
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(tarfile.TarError):
        extract(_archive([member]), target)
    assert (tmp_path / "escaped.txt").read_text() == "outside"


def test_an_absolute_member_never_lands_at_its_absolute_path(tmp_path: Path, python_filter: str) -> None:
    """The data filter re-roots it inside the target; without the filter it is refused. Either is safe."""
    outside = tmp_path / "absolute-escape.txt"
    target = tmp_path / "target"
    target.mkdir()
    with contextlib.suppress(tarfile.TarError):
        extract(_archive([_file(str(outside))]), target)
    assert not outside.exists()
