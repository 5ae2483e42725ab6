"""Which variant serves a request: the routing rule, as a pure function identical in every process."""

from __future__ import annotations

import hashlib

from serving.config import RoutingMode


def bucket(client_id: str) -> int:
    """A stable bucket 0-99 per client (sha256, so every replica and every restart agrees)."""
    return int(hashlib.sha256(client_id.encode()).hexdigest(), 16) % 100


def choose_variant(
    client_id: str | None, mode: RoutingMode, live: str, canary_percent: int, ab_split_percent: int
) -> str:
    """``live`` is the effective live colour: blue-green's side, and where clients without an id go."""
    if mode is RoutingMode.BLUE_GREEN or not client_id:
        return live
    if mode is RoutingMode.AB_TEST:
        return "A" if bucket(client_id) < ab_split_percent else "B"
    # Canary: B is the new version. Buckets below the weight go to B, so as the weight grows a client
    # only ever moves from A to B, never back.
    return "B" if bucket(client_id) < canary_percent else "A"
