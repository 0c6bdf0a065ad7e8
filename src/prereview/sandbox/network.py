"""The private network of a multi-host sample: a veth pair between every two hosts.

Each host keeps its own network namespace; the evaluator (root) creates each veth pair with its
two ends directly inside the two hosts' namespaces, so nothing is ever added to the evaluator's
own network, and gives every host one address. A host reaches a peer by name (/etc/hosts) over
the point-to-point link between them; there is no route anywhere else, and the links vanish with
the namespaces when the sample ends.
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
    from prereview.sandbox.host import SandboxHost

SUBNET = "10.231.0"


def host_addresses(names: list[str]) -> dict[str, str]:
    """name -> IPv4 address; empty for a single host (it has loopback only)."""
    if len(names) < 2:
        return {}
    return {name: f"{SUBNET}.{index + 2}" for index, name in enumerate(names)}


async def connect_hosts(hosts: dict[str, SandboxHost], addresses: dict[str, str]) -> None:
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
