"""Multi-host samples: each host isolated, peers reachable by name on a private network only."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from prereview.sandbox import BwrapConfig, BwrapSandboxEnvironment, isolated_sandbox
from prereview.sandbox.sample import SandboxSample
from tests.sandbox.conftest import host_addresses, needs_bwrap, sh

pytestmark = needs_bwrap

SERVE = "python3 -m http.server {port} >/dev/null 2>&1 & sleep 0.1"
FETCH = (
    "import sys, time, urllib.request\n"
    "for _ in range(50):\n"
    "    try:\n"
    "        print(urllib.request.urlopen(sys.argv[1], timeout=2).status); break\n"
    "    except OSError as exc:\n"
    "        err = exc; time.sleep(0.1)\n"
    "else:\n"
    "    print(type(err).__name__)\n"
)


def _envs(sample: SandboxSample) -> dict[str, BwrapSandboxEnvironment]:
    return {name: BwrapSandboxEnvironment(host, sample) for name, host in sample.hosts.items()}


def _host_links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


async def test_hosts_reach_each_other_by_name_and_nothing_else() -> None:
    links_before = _host_links()
    sample = await SandboxSample.create(BwrapConfig(hosts=["default", "target", "plc"]))
    try:
        envs = _envs(sample)
        assert list(envs) == ["default", "target", "plc"]
        await sh(envs["target"], SERVE.format(port=8080))
        fetched = await envs["default"].exec(
            ["python3", "-c", FETCH, "http://target:8080/"], timeout=30
        )
        assert fetched.stdout == "200\n"
        # each host is its own machine: own hostname, processes, files
        assert (await envs["plc"].exec(["hostname"])).stdout == "plc\n"
        assert (await envs["default"].exec(["pgrep", "-c", "-f", "http.server"])).stdout == "0\n"
        await envs["default"].write_file("only-here", "x")
        assert not (await envs["target"].exec(["test", "-e", "only-here"])).success
        # no route beyond the peers; the evaluator's addresses stay out of reach
        routes = await sh(envs["default"], "ip -4 route")
        assert sorted(line.split()[0] for line in routes.stdout.splitlines()) == [
            "10.231.0.3",
            "10.231.0.4",
        ]
        for address in host_addresses():
            if ":" not in address:
                probe = await envs["default"].exec(
                    ["python3", "-c", FETCH, f"http://{address}:9/"], timeout=30
                )
                assert probe.stdout == "URLError\n"
        assert _host_links() == links_before  # nothing added to the evaluator's network
    finally:
        await sample.close()


async def test_samples_have_separate_networks() -> None:
    first = await SandboxSample.create(BwrapConfig(hosts=["default", "target"]))
    second = await SandboxSample.create(BwrapConfig(hosts=["default", "target"]))
    try:
        await sh(_envs(second)["target"], SERVE.format(port=8081))
        # same name, same address, but the first sample's target runs nothing on 8081
        probe = await _envs(first)["default"].exec(
            ["python3", "-c", FETCH, "http://target:8081/"], timeout=30
        )
        assert probe.stdout == "URLError\n"
    finally:
        await first.close()
        await second.close()


async def test_a_configured_root_replaces_the_host_system() -> None:
    root = Path(tempfile.mkdtemp(prefix="prereview-root-", dir="/tmp"))
    try:
        root.chmod(0o755)
        (root / "bin").mkdir(mode=0o755)
        (root / "etc").mkdir(mode=0o755)
        (root / "etc" / "marker").write_text("custom root\n")
        source = root / "hello.c"
        source.write_text('#include <stdio.h>\nint main(void){puts("from the root");return 0;}\n')
        subprocess.run(
            ["gcc", "-static", "-O1", str(source), "-o", str(root / "bin" / "hello")], check=True
        )
        async with isolated_sandbox(BwrapConfig(root=str(root))) as env:
            result = await env.exec(["hello"], env={"PATH": "/bin"})
            assert result.stdout == "from the root\n"
            assert await env.read_file("/etc/marker") == "custom root\n"
            # the host's system is not there: no shell, no /usr
            assert (await env.exec(["/bin/sh", "-c", "true"])).returncode == 127
            assert (await env.exec(["/usr/bin/true"])).returncode == 127
    finally:
        shutil.rmtree(root)
