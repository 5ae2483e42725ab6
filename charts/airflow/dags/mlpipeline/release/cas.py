"""Compare-and-set for alias moves, as a pure decision the registry stores share.

A move names the version the alias must point at now (``expected``) and the one it should point at (``new``):

- already at ``new``: the move is done (a retried move is a no-op, and never learns ``new`` as "previous": the
  version to go back to comes from the release state's ``before``, recorded before anything moved);
- at ``expected``: move it;
- anywhere else: someone moved it during the run, so :class:`ConflictError` and nothing is overwritten.
"""

from __future__ import annotations

from mlpipeline.release.errors import ConflictError
from mlpipeline.release.state import version_label


def must_move(alias: str, current: str | None, expected: str | None, new: str | None) -> bool:
    """True when the alias must be set to ``new``; False when it already is; ConflictError otherwise."""
    if current == new:
        return False
    if current == expected:
        return True
    raise ConflictError(
        f"@{alias} is at {version_label(current)}, not {version_label(expected)} as this release expects "
        f"(moved by someone else?): left at {version_label(current)}, not moved to {version_label(new)}"
    )
