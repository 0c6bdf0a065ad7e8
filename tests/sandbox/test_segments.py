"""Segments in the bwrap provider's config: refused when they name what is not there; links,
routes and filters as the segments say (the traffic itself: tests/ranges and sandbox check)."""

from __future__ import annotations

import pytest

from prereview.sandbox import BwrapConfig, SandboxConfigError
from prereview.sandbox.config import SegmentFlow, load_config
from prereview.sandbox.environment import BwrapSandboxEnvironment
from prereview.sandbox.network import next_hops, segment_neighbours
from prereview.sandbox.sample import SandboxSample
from tests.sandbox.conftest import needs_bwrap, sh

HOSTS = ["attacker", "web", "gw", "db"]
SEGMENTS = {"public": ["attacker", "web", "gw"], "internal": ["web", "gw", "db"]}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"segments": {"public": ["attacker", "nope"]}}, "segments[public]: 'nope' is not one of"),
        ({"segments": {"public": ["attacker", "web"]}}, "host 'gw' is on no segment"),
        ({"segments": SEGMENTS, "routers": ["attacker"]}, "routers: 'attacker' must be on two"),
        (
            {"segments": SEGMENTS, "flows": [{"from_segment": "dmz", "to_host": "db", "port": 1}]},
            "flows: unknown segment 'dmz'",
        ),
        ({"writable_dirs": ["/etc"]}, "writable_dirs '/etc'"),
    ],
)
def test_bad_segments_are_refused_naming_the_field(
    fields: dict[str, object], expected: str
) -> None:
    with pytest.raises(SandboxConfigError, match="invalid bwrap sandbox config") as caught:
        load_config({"hosts": HOSTS, **fields})
    assert expected in str(caught.value)


def test_routes_go_through_routers_only() -> None:
    config = BwrapConfig(hosts=HOSTS, segments=SEGMENTS, routers=["gw"])
    assert segment_neighbours(config)["attacker"] == {"web", "gw"}
    assert next_hops(config, "attacker") == {"db": "gw"}
    assert next_hops(config, "db") == {"attacker": "gw"}
    without = BwrapConfig(hosts=HOSTS, segments=SEGMENTS)
    assert next_hops(without, "attacker") == {}  # web is on both, but does not forward


@needs_bwrap
async def test_segmented_sample_links_only_segment_peers() -> None:
    config = BwrapConfig(
        hosts=HOSTS,
        segments=SEGMENTS,
        routers=["gw"],
        flows=[SegmentFlow(from_segment="public", to_host="db", port=80)],
    )
    sample = await SandboxSample.create(config)
    try:
        envs = {n: BwrapSandboxEnvironment(h, sample) for n, h in sample.hosts.items()}
        attacker_routes = (await sh(envs["attacker"], "ip -4 route")).stdout
        db_links = (await sh(envs["db"], "ip -o link | wc -l")).stdout
        forward = (await sh(envs["web"], "cat /proc/sys/net/ipv4/ip_forward")).stdout
        gw_forward = (await sh(envs["gw"], "cat /proc/sys/net/ipv4/ip_forward")).stdout
    finally:
        await sample.close()
    assert "10.231.0.5 via 10.231.0.4" in attacker_routes  # db through gw, nothing else
    assert db_links.strip() == "3"  # lo and its two internal peers
    assert forward.strip() == "0" and gw_forward.strip() == "1"
