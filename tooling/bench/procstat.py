"""How much CPU a server used: its process group's ticks from ``/proc``."""

from __future__ import annotations

import os
from pathlib import Path


def group_cpu_seconds(leader: int) -> float:
    """CPU seconds used so far by the live processes of ``leader``'s process group (a server and its workers).

    Less sensitive to other load on the machine than req/s, so it shows what a request costs the server.
    """
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[2]) == leader:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
