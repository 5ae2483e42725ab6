"""Which variant serves a request: the routing rule, as a pure function identical in every process."""

from __future__ import annotations

import hashlib

from serving.config import RoutingMode


def bucket(client_id: str, experiment_id: str | None = None) -> int:
    """A stable bucket 0-99 per client and experiment (sha256: every replica and restart agrees).

    The experiment id salts the hash, so a new experiment re-randomizes who sees what; without one the
    bucket is ``sha256(client_id) % 100``, the rule the first version shipped with.
    """
    key = f"{experiment_id}:{client_id}" if experiment_id else client_id
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % 100


def choose_variant(
    client_id: str | None,
    mode: RoutingMode,
    live: str,
    canary_percent: int,
    ab_split_percent: int,
    experiment_id: str | None = None,
) -> str:
    """``live`` is the effective live colour: blue-green's and shadow's side, and where id-less clients go."""
    if mode in (RoutingMode.BLUE_GREEN, RoutingMode.SHADOW) or not client_id:
        return live
    if mode is RoutingMode.AB_TEST:
        return "A" if bucket(client_id, experiment_id) < ab_split_percent else "B"
    # Canary: B is the new version. Buckets below the weight go to B, so as the weight grows a client
    # only ever moves from A to B, never back.
    return "B" if bucket(client_id, experiment_id) < canary_percent else "A"


def randomized(client_id: str | None, mode: RoutingMode) -> bool:
    """Whether the request's variant was drawn by the bucket (what the sample-ratio check counts)."""
    return bool(client_id) and mode in (RoutingMode.AB_TEST, RoutingMode.CANARY)


def b_share_percent(mode: RoutingMode, canary_percent: int, ab_split_percent: int) -> int:
    """The share of randomized clients the configuration sends to B."""
    return canary_percent if mode is RoutingMode.CANARY else 100 - ab_split_percent
