"""Replica discovery (pure, and real DNS for localhost); per-replica reload and verify against real apps."""

from __future__ import annotations

import pytest

from mlpipeline.replicas import DiscoveryError, Resolver, discover, resolve_ipv4
from tooling.infra.localstack import LOOPBACK


def fake_dns(records: dict[str, list[str]]) -> Resolver:
    """Stands in for cluster DNS, which does not exist here: the headless Service's A records."""

    def resolve(host: str, port: int) -> list[str]:
        assert port == 8000
        return records.get(host, [])

    return resolve


def test_a_list_of_base_urls_is_used_as_given_without_duplicates() -> None:
    spec = " http://127.0.0.1:8001/ , http://127.0.0.1:8002,http://127.0.0.1:8001 "
    assert discover(spec) == ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]


def test_dns_discovery_turns_every_a_record_into_a_replica() -> None:
    host = "fastapi-dev-headless.fastapi-dev.svc.cluster.local"
    resolver = fake_dns({host: ["10.0.0.7", "10.0.0.9"]})
    assert discover(f"dns+http://{host}:8000", resolver) == ["http://10.0.0.7:8000", "http://10.0.0.9:8000"]


def test_dns_discovery_with_no_ready_pod_is_an_error() -> None:
    with pytest.raises(DiscoveryError, match="no ready serving replicas behind headless"):
        discover("dns+http://headless:8000", fake_dns({}))


def test_real_dns_resolution_of_localhost() -> None:
    assert LOOPBACK in resolve_ipv4("localhost", 8000)
    assert discover("dns+http://localhost:8000") == [f"http://{LOOPBACK}:8000"]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("", "SERVING_REPLICAS is empty"),
        ("dns+http://headless", "must look like dns\\+http://<host>:<port>"),
        ("dns+ftp://headless:8000", "must look like"),
        ("127.0.0.1:8000", "is not an http\\(s\\) base URL"),
        ("http://ok:1,nohost", "'nohost' is not an http"),
    ],
)
def test_an_unusable_spec_is_one_line_naming_the_problem(spec: str, reason: str) -> None:
    with pytest.raises(DiscoveryError, match=reason):
        discover(spec)


def test_unresolvable_host_is_a_discovery_error() -> None:
    with pytest.raises(DiscoveryError, match=r"cannot resolve serving replicas host 'no-such-host\.invalid'"):
        discover("dns+http://no-such-host.invalid:8000")
