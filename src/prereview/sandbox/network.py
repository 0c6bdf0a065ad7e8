"""The private network of a multi-host sample: a veth pair between every two hosts, or between
every two hosts of a segment.

Each host keeps its own network namespace; the evaluator (root) creates each veth pair with its
two ends directly inside the two hosts' namespaces, so nothing is ever added to the evaluator's
own network, and gives every host one address. A host reaches a peer by name (/etc/hosts) over
the point-to-point link between them; there is no route anywhere else, and the links vanish with
the namespaces when the sample ends.

With segments, hosts are linked only within a segment; a host on a segment of its own reaches
hosts of another segment only through router hosts (routes via them, forwarding on only there),
and each host's nftables (in its own network namespace, out of reach of its unprivileged,
capability-less processes) accepts from peers of its segments, replies, and the allowed flows,
and drops the rest, IPv6 included. Low ports are bindable by the host's user (services).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from itertools import combinations
from typing import TYPE_CHECKING

import anyio

from prereview.sandbox.errors import SandboxUnavailableError

if TYPE_CHECKING:
    from prereview.sandbox.config import BwrapConfig
    from prereview.sandbox.host import SandboxHost

SUBNET = "10.231.0"


def host_addresses(names: list[str]) -> dict[str, str]:
    """name -> IPv4 address; empty for a single host (it has loopback only)."""
    if len(names) < 2:
        return {}
    return {name: f"{SUBNET}.{index + 2}" for index, name in enumerate(names)}


async def connect_hosts(
    hosts: dict[str, SandboxHost], addresses: dict[str, str], config: BwrapConfig | None = None
) -> None:
    """Link the hosts: a full mesh, or (with `config.segments`) segments with filtered flows."""
    ip, nsenter = _tools()
    if config is not None and config.segments:
        await _connect_segments(hosts, addresses, config, ip, nsenter)
        return
    await _connect_mesh(hosts, addresses, ip, nsenter)


def _tools() -> tuple[str, str]:
    if os.geteuid() != 0:
        raise SandboxUnavailableError(
            "multi-host samples need the evaluator to run as root",
            "run as root (veth pairs between the hosts' network namespaces need CAP_NET_ADMIN), "
            "or use a single host",
        )
    ip = shutil.which("ip")
    nsenter = shutil.which("nsenter")
    if ip is None or nsenter is None:
        raise SandboxUnavailableError(
            "multi-host samples need iproute2 and util-linux: apt-get install iproute2 util-linux"
        )
    return ip, nsenter


async def _connect_mesh(
    hosts: dict[str, SandboxHost], addresses: dict[str, str], ip: str, nsenter: str
) -> None:
    names = list(hosts)
    index = {name: i for i, name in enumerate(names)}
    setup: dict[str, list[str]] = {name: [] for name in names}
    for a, b in combinations(names, 2):
        end_a, end_b = f"to-{index[b]}", f"to-{index[a]}"  # interface in a toward b, and back
        pid_a, pid_b = str(hosts[a].agent_pid), str(hosts[b].agent_pid)
        link = ["link", "add", end_a, "netns", pid_a, "type", "veth"]
        await _run([ip, *link, "peer", "name", end_b, "netns", pid_b])
        setup[a] += [
            f"addr add {addresses[a]}/32 peer {addresses[b]}/32 dev {end_a}",
            f"link set {end_a} up",
        ]
        setup[b] += [
            f"addr add {addresses[b]}/32 peer {addresses[a]}/32 dev {end_b}",
            f"link set {end_b} up",
        ]
    for name in names:
        batch = "\n".join(setup[name]) + "\n"
        await _run(
            [nsenter, f"--net=/proc/{hosts[name].agent_pid}/ns/net", ip, "-batch", "-"], batch
        )


async def _run(argv: list[str], input: str | None = None) -> None:
    result = await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=30, check=False
        )
    )
    if result.returncode != 0:
        raise SandboxUnavailableError(
            f"could not set up the sample network ({' '.join(argv[:3])}): "
            f"{result.stderr.strip()[:200]}"
        )


async def _connect_segments(
    hosts: dict[str, SandboxHost],
    addresses: dict[str, str],
    config: BwrapConfig,
    ip: str,
    nsenter: str,
) -> None:
    names = list(hosts)
    index = {name: i for i, name in enumerate(names)}
    neighbours = segment_neighbours(config)
    setup: dict[str, list[str]] = {name: [] for name in names}
    for a, b in combinations(names, 2):
        if b not in neighbours[a]:
            continue
        end_a, end_b = f"to-{index[b]}", f"to-{index[a]}"
        pid_a, pid_b = str(hosts[a].agent_pid), str(hosts[b].agent_pid)
        link = ["link", "add", end_a, "netns", pid_a, "type", "veth"]
        await _run([ip, *link, "peer", "name", end_b, "netns", pid_b])
        setup[a] += [
            f"addr add {addresses[a]}/32 peer {addresses[b]}/32 dev {end_a}",
            f"link set {end_a} up",
        ]
        setup[b] += [
            f"addr add {addresses[b]}/32 peer {addresses[a]}/32 dev {end_b}",
            f"link set {end_b} up",
        ]
    for name in names:
        for target, hop in next_hops(config, name).items():
            setup[name].append(f"route add {addresses[target]}/32 via {addresses[hop]}")

    async def configure(name: str) -> None:
        ruleset = _ruleset(name, addresses, config, neighbours)
        script = _host_script(name in config.routers, setup[name], ruleset)
        path = f"/proc/{hosts[name].agent_pid}/ns/net"
        await _run([nsenter, f"--net={path}", "/bin/sh", "-c", script])

    async with anyio.create_task_group() as group:
        for name in names:
            group.start_soon(configure, name)


def segment_neighbours(config: BwrapConfig) -> dict[str, set[str]]:
    """host -> the hosts it shares a segment with (its direct links)."""
    found: dict[str, set[str]] = {name: set() for name in config.hosts}
    for members in config.segments.values():
        for a in members:
            found[a].update(m for m in members if m != a)
    return found


def next_hops(config: BwrapConfig, source: str) -> dict[str, str]:
    """target -> first hop, for every host `source` reaches only through routers."""
    neighbours = segment_neighbours(config)
    routers = set(config.routers)
    hops: dict[str, str] = {}
    seen = {source} | neighbours[source]
    frontier = [(r, r) for r in sorted(neighbours[source]) if r in routers]
    while frontier:
        following: list[tuple[str, str]] = []
        for node, first in frontier:
            for nxt in sorted(neighbours[node]):
                if nxt in seen:
                    continue
                seen.add(nxt)
                hops[nxt] = first
                if nxt in routers:
                    following.append((nxt, first))
        frontier = following
    return hops


def _ruleset(
    name: str, addresses: dict[str, str], config: BwrapConfig, neighbours: dict[str, set[str]]
) -> str:
    def addrs(hosts: set[str] | list[str]) -> str:
        return ", ".join(sorted(addresses[h] for h in hosts))

    lines = [
        "table inet prereview {",
        "  chain input {",
        "    type filter hook input priority 0; policy drop;",
        '    iif "lo" accept',
        "    ct state established,related accept",
    ]
    if neighbours[name]:
        lines.append(f"    ip saddr {{ {addrs(neighbours[name])} }} accept")
    forward = []
    for flow in config.flows:
        sources = {h for h in config.segments[flow.from_segment] if h != flow.to_host}
        if not sources:
            continue
        if flow.to_host == name:
            lines.append(f"    ip saddr {{ {addrs(sources)} }} tcp dport {flow.port} accept")
        if name in config.routers:
            forward.append(
                f"    ip saddr {{ {addrs(sources)} }} ip daddr {addresses[flow.to_host]} "
                f"tcp dport {flow.port} accept"
            )
    lines += [
        "  }",
        "  chain forward {",
        "    type filter hook forward priority 0; policy drop;",
        "    ct state established,related accept",
        *forward,
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _host_script(router: bool, ip_batch: list[str], ruleset: str) -> str:
    """One shell run in the host's network namespace (as the evaluator): sysctls, links,
    routes, filter. Only routers forward."""
    batch = "\n".join(ip_batch)
    return (
        "set -e\n"
        "echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start\n"
        "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6\n"
        + ("echo 1 > /proc/sys/net/ipv4/ip_forward\n" if router else "")
        + ("ip -batch - <<'PREREVIEW_IP'\n" + batch + "\nPREREVIEW_IP\n" if batch else "")
        + "nft -f - <<'PREREVIEW_NFT'\n"
        + ruleset
        + "PREREVIEW_NFT\n"
    )
