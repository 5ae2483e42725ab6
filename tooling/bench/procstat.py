"""What a server cost: its process group's CPU ticks and peak memory, from ``/proc``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def _group_members(leader: int) -> Iterator[tuple[Path, list[str]]]:
    """The ``/proc/<pid>`` folder and the ``stat`` fields after the command name of each live process in
    ``leader``'s process group (a server and its workers)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[2]) == leader:
            yield stat.parent, fields


def group_cpu_seconds(leader: int) -> float:
    """CPU seconds used so far by the live processes of ``leader``'s process group.

    Less sensitive to other load on the machine than req/s, so it shows what a request costs the server.
    """
    ticks = sum(int(fields[11]) + int(fields[12]) for _, fields in _group_members(leader))
    return ticks / os.sysconf("SC_CLK_TCK")


def group_peak_rss_bytes(leader: int) -> int:
    """The sum of each live group member's peak resident memory (``VmHWM``) so far.

    A process's own peak, kept by the kernel, so no sampling can miss it; the sum is an upper bound of the
    group's simultaneous peak (its members need not peak at the same moment), close to it for servers whose
    processes stay up.
    """
    total_kib = 0
    for folder, _ in _group_members(leader):
        try:
            status = (folder / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kib += int(line.split()[1])
    return total_kib * 1024
