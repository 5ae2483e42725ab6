"""The routing rule: distribution over 10,000 client ids, and the same answer in every process."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter

import pytest

from serving.config import RoutingMode
from serving.inference.routing import bucket, choose_variant
from tooling.model import APP_DIR

CLIENT_IDS = [f"user-{i}" for i in range(10_000)]
TOLERANCE_POINTS = 2.0


def share_of(variant: str, mode: RoutingMode, *, canary: int = 10, split: int = 90) -> float:
    counts = Counter(choose_variant(cid, mode, "A", canary, split) for cid in CLIENT_IDS)
    return 100.0 * counts[variant] / len(CLIENT_IDS)


@pytest.mark.parametrize("split", [90, 70, 50, 10])
def test_ab_split_sends_the_configured_share_to_a(split: int) -> None:
    assert share_of("A", RoutingMode.AB_TEST, split=split) == pytest.approx(split, abs=TOLERANCE_POINTS)


@pytest.mark.parametrize("canary", [10, 20, 50])
def test_canary_sends_the_configured_share_to_b(canary: int) -> None:
    assert share_of("B", RoutingMode.CANARY, canary=canary) == pytest.approx(canary, abs=TOLERANCE_POINTS)


@pytest.mark.parametrize("live", ["A", "B"])
def test_blue_green_sends_everyone_to_the_live_colour(live: str) -> None:
    chosen = {choose_variant(cid, RoutingMode.BLUE_GREEN, live, 50, 50) for cid in CLIENT_IDS[:1000]}
    assert chosen == {live}


def test_as_the_canary_weight_grows_clients_only_move_from_a_to_b() -> None:
    on_b: set[str] = set()
    for weight in (0, 5, 25, 50, 100):
        chosen = {cid: choose_variant(cid, RoutingMode.CANARY, "A", weight, 0) for cid in CLIENT_IDS}
        now_on_b = {cid for cid, variant in chosen.items() if variant == "B"}
        assert on_b <= now_on_b, f"a client went back to A at {weight} %"
        on_b = now_on_b
    assert on_b == set(CLIENT_IDS)


@pytest.mark.parametrize("mode", [RoutingMode.AB_TEST, RoutingMode.CANARY])
def test_clients_without_an_id_get_the_live_colour(mode: RoutingMode) -> None:
    assert choose_variant(None, mode, "B", 100, 100) == "B"
    assert choose_variant("", mode, "A", 100, 0) == "A"


@pytest.mark.parametrize(
    ("mode", "percent", "only"), [(RoutingMode.CANARY, 0, "A"), (RoutingMode.AB_TEST, 100, "A")]
)
def test_boundaries_are_exact(mode: RoutingMode, percent: int, only: str) -> None:
    chosen = {choose_variant(cid, mode, "B", percent, percent) for cid in CLIENT_IDS[:2000]}
    assert chosen == {only}


@pytest.mark.parametrize("experiment_id", ["", "exp-7"])
def test_a_client_keeps_its_variant_in_another_process(experiment_id: str) -> None:
    """Hash randomisation differs per interpreter; the bucket must not (sha256, not hash())."""
    script = (
        "import sys; from serving.inference.routing import bucket; "
        f"print(','.join(str(bucket(line.strip(), {experiment_id!r})) for line in sys.stdin))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script], input="\n".join(CLIENT_IDS[:500]), capture_output=True, text=True,
        cwd=APP_DIR, env={"PYTHONHASHSEED": "12345", "PATH": ""}, check=True,
    )  # fmt: skip
    assert other.stdout.strip().split(",") == [str(bucket(cid, experiment_id)) for cid in CLIENT_IDS[:500]]


def test_without_an_experiment_id_the_bucket_is_the_first_versions_rule() -> None:
    for client in (f"client-{index}" for index in range(200)):
        expected = int(hashlib.sha256(client.encode()).hexdigest(), 16) % 100
        assert bucket(client) == bucket(client, "") == bucket(client, None) == expected


def test_a_new_experiment_re_randomizes_clients_and_keeps_each_one_sticky() -> None:
    clients = [f"client-{index}" for index in range(2000)]
    first = [choose_variant(c, RoutingMode.AB_TEST, "A", 0, 50, "exp-1") for c in clients]
    again = [choose_variant(c, RoutingMode.AB_TEST, "A", 0, 50, "exp-1") for c in clients]
    second = [choose_variant(c, RoutingMode.AB_TEST, "A", 0, 50, "exp-2") for c in clients]
    assert first == again
    moved = sum(before != after for before, after in zip(first, second, strict=True))
    # Independent draws at 50/50 disagree for about half of the clients (1000 +- 3 sigma ~ 67).
    assert 900 < moved < 1100
    assert 900 < second.count("A") < 1100


def test_shadow_sends_every_client_to_the_live_colour() -> None:
    assert {choose_variant(f"c{index}", RoutingMode.SHADOW, "B", 50, 50, "e") for index in range(100)} == {
        "B"
    }
