"""The release controller's errors; every message is one line, fit for a terminal and for Slack."""

from __future__ import annotations


class UsageError(ValueError):
    """The request cannot be acted on as given (exit code 2): a bad setting, a wrong alias, no release."""


class ConflictError(RuntimeError):
    """An alias is not where this release expects it: someone else moved it, and it is left alone."""
