"""Starting a range inside a sample: files and secrets placed, services started in dependency
order and waited for until healthy.

The agent's tools run on `scenario.agent_host`, the first host of the sample. Every other host is
a bwrap host of its own (its own namespaces and host uid), linked only on the segments the
scenario names; the sandbox enforces the flows between segments (see `sandbox/network.py`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

from prereview.errors import PrereviewError
from prereview.ranges import hostfs
from prereview.ranges.scenario import Scenario, ServiceSpec, parse_scenario, service_order
from prereview.ranges.secrets import SampleSecrets, draw_secrets
from prereview.sandbox.config import BwrapConfig, SegmentFlow
from prereview.sandbox.host import SandboxHost

LOG_DIR = "/srv/.range"
"""Service logs on each service host (the agent sees them only once it holds that host)."""
ROOT_LOG_DIR = "/srv/.range-root"
"""Logs of services run as root on a `root_user` host (root's own, 0700)."""
LOG_TAIL = 2048
_POLL = 0.02

_WRITE_FILES = r"""
import json, os, sqlite3, sys
for f in json.load(sys.stdin):
    os.makedirs(os.path.dirname(f["path"]), exist_ok=True)
    if f["sqlite"]:
        db = sqlite3.connect(f["path"]); db.executescript(f["content"]); db.commit(); db.close()
    else:
        with open(f["path"], "w") as out:
            out.write(f["content"])
    os.chmod(f["path"], f["mode"])
"""


class RangeStartError(PrereviewError):
    """The range could not be brought up (a service never got healthy, a file could not be
    written): the sample is `unknown`, never the model's failure. `log_tail` is bounded and has
    every hidden secret redacted."""

    def __init__(self, message: str, service: str | None = None, log_tail: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.log_tail = log_tail


@dataclass
class Range:
    """A started (or attached) range: its scenario, the sample's secrets and the evaluator's
    handles on the hosts. Graders use these handles, never the agent's sandbox."""

    scenario: Scenario
    seed: int | str
    secrets: SampleSecrets
    hosts: Mapping[str, SandboxHost]
    addresses: Mapping[str, str] = field(default_factory=dict)

    def host(self, name: str) -> SandboxHost:
        return self.hosts[name]

    def agent_view(self) -> dict[str, Any]:
        """What a family may show the agent: the scenario's public view, the addresses of the
        hosts, and the canaries (the names it is asked to run or send)."""
        view = self.scenario.agent_view()
        view["addresses"] = dict(self.addresses)
        view["canaries"] = self.secrets.for_agent()
        return view


def sandbox_config(scenario: Scenario, **overrides: Any) -> BwrapConfig:
    """The `bwrap` provider config of a scenario: one host per scenario host (the agent host
    first), links only within segments, routing through router hosts and filtering of flows
    between segments inside the sample, a writable /srv on every host."""
    scenario = parse_scenario(scenario)
    names = [scenario.agent_host] + [
        h.name for h in scenario.hosts if h.name != scenario.agent_host
    ]
    segments = {
        seg: [h.name for h in scenario.hosts if seg in h.segments] for seg in scenario.segments
    }
    fields: dict[str, Any] = {
        "hosts": names,
        "segments": segments,
        "routers": [h.name for h in scenario.hosts if h.router],
        "flows": [
            SegmentFlow(from_segment=f.from_segment, to_host=f.to_host, port=f.port)
            for f in scenario.flows
        ],
        "privileged_hosts": [h.name for h in scenario.hosts if h.root_user],
        "writable_dirs": ["/srv"],
        "memory_mb": 512,
        "pids": 256,
    }
    fields.update(overrides)
    return BwrapConfig(**fields)


def attach_range(scenario: Scenario, seed: int | str, environments: Mapping[str, object]) -> Range:
    """The evaluator's handle on a range already started in this sample (e.g. in a scorer):
    secrets are re-derived from the seed; `environments` are the sample's `bwrap` sandboxes
    (name -> SandboxEnvironment, as Inspect's `sandbox(name)` gives them)."""
    from prereview.sandbox.environment import host_of

    scenario = parse_scenario(scenario)
    hosts = {name: host_of(env) for name, env in environments.items()}
    missing = [h.name for h in scenario.hosts if h.name not in hosts]
    if missing:
        raise RangeStartError(f"range {scenario.name}: no sandbox host {missing[0]!r}")
    addresses = _addresses(hosts)
    return Range(scenario, seed, draw_secrets(scenario, seed), hosts, addresses)


async def start_range(
    scenario: Scenario, seed: int | str, environments: Mapping[str, object]
) -> Range:
    """Bring a range up in a sample whose sandbox is `sandbox_config(scenario)`: draw the
    secrets, write every file, start services wave by wave (dependencies first) and wait for
    each to be healthy. Raises `RangeStartError` (with the service's redacted log tail) when
    a service does not get healthy within its `start_timeout`."""
    rng = attach_range(scenario, seed, environments)
    await bring_up(rng)
    return rng


async def bring_up(rng: Range) -> None:
    """Files, then services wave by wave; `RangeStartError` when one never gets healthy (the
    first of them when several fail together, never an exception group)."""
    try:
        await _write_files(rng)
        for wave in service_order(rng.scenario):
            async with anyio.create_task_group() as group:
                for name in wave:
                    group.start_soon(_start_service, rng, rng.scenario.service(name))
    except ExceptionGroup as group:
        first = _first_start_error(group)
        if first is None:
            raise
        raise first from None


def _first_start_error(group: BaseExceptionGroup[BaseException]) -> RangeStartError | None:
    for exc in group.exceptions:
        if isinstance(exc, RangeStartError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_start_error(exc)
            if found is not None:
                return found
    return None


@asynccontextmanager
async def launch_range(
    scenario: Scenario, seed: int | str, *, pre_check: bool = True, **overrides: Any
) -> AsyncIterator[Range]:
    """A range in a sandbox sample of its own (tests, verification, benchmarks): started, and
    with `pre_check` every objective proven false before it is handed out; closed on exit."""
    from prereview.ranges.outcomes import pre_exploit_check
    from prereview.sandbox.sample import SandboxSample

    scenario = parse_scenario(scenario)
    sample = await SandboxSample.create(sandbox_config(scenario, **overrides))
    try:
        rng = attach_range_hosts(scenario, seed, sample.hosts)
        await bring_up(rng)
        if pre_check:
            await pre_exploit_check(rng)
        yield rng
    finally:
        with anyio.CancelScope(shield=True):
            await sample.close()


def attach_range_hosts(
    scenario: Scenario, seed: int | str, hosts: Mapping[str, SandboxHost]
) -> Range:
    """`attach_range` for evaluator-side host handles (a `SandboxSample`'s hosts)."""
    scenario = parse_scenario(scenario)
    return Range(scenario, seed, draw_secrets(scenario, seed), dict(hosts), _addresses(hosts))


def _addresses(hosts: Mapping[str, SandboxHost]) -> dict[str, str]:
    from prereview.sandbox.network import host_addresses

    return host_addresses(list(hosts))


async def _write_files(rng: Range) -> None:
    by_host: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for spec in rng.scenario.files:
        by_host.setdefault((spec.host, spec.owner), []).append(
            {
                "path": spec.path,
                "content": rng.secrets.substitute(spec.content),
                "mode": spec.mode,
                "sqlite": spec.sqlite,
            }
        )
    for svc in rng.scenario.services:
        by_host.setdefault((svc.host, svc.user), [])
    hosts = sorted({host for host, _ in by_host})

    async def write(host_name: str) -> None:
        host = rng.host(host_name)
        for owner in ("user", "root"):  # the user's directories first: root's may be in them
            if (host_name, owner) not in by_host:
                continue
            logs = ROOT_LOG_DIR if owner == "root" else LOG_DIR
            script = f"import os; os.makedirs({logs!r}, mode=0o700, exist_ok=True)\n"
            result = await _exec(
                host,
                ["python3", "-c", script + _WRITE_FILES],
                json.dumps(by_host[host_name, owner]),
                30,
                privileged=owner == "root",
            )
            if not result[0]:
                raise RangeStartError(
                    f"range {rng.scenario.name}: files on {host_name!r} could not be written: "
                    + rng.secrets.redact(result[1][-300:]).strip().replace("\n", " | ")
                )

    async with anyio.create_task_group() as group:
        for host_name in hosts:
            group.start_soon(write, host_name)


async def _start_service(rng: Range, svc: ServiceSpec) -> None:
    from prereview.ranges.probes import probe

    host = rng.host(svc.host)
    log = f"{_log_dir(svc)}/{svc.name}.log"
    pidfile = f"{_log_dir(svc)}/{svc.name}.pid"
    command = (
        f"( cd {shlex.quote(svc.cwd)} && exec setsid "
        + " ".join(shlex.quote(rng.secrets.substitute(a)) for a in svc.argv)
        + f" >{shlex.quote(log)} 2>&1 </dev/null ) & echo $! >{shlex.quote(pidfile)}"
    )
    env = {k: rng.secrets.substitute(v) for k, v in svc.env.items()}
    ok, output = await _exec(
        host, ["/bin/sh", "-c", command], None, 10, env, privileged=svc.user == "root"
    )
    if not ok:
        raise RangeStartError(
            f"range {rng.scenario.name}: service {svc.name!r} did not start: "
            + _one_line(rng.secrets.redact(output[-300:])),
            svc.name,
        )
    pid = await _service_pid(host, pidfile)
    reason = f"within {svc.start_timeout:g} s"
    with anyio.move_on_after(svc.start_timeout):
        while True:
            if await probe(host, svc.health, from_evaluator=False):
                return
            if pid is not None and not await _alive(host, pid):
                reason = "it exited"
                break
            await anyio.sleep(_POLL)
    tail = await service_log_tail(rng, svc.name)
    raise RangeStartError(
        f"range {rng.scenario.name}: service {svc.name!r} on {svc.host!r} did not get healthy "
        f"({reason}); log tail: {_one_line(tail[-400:]) or '(empty)'}",
        svc.name,
        tail,
    )


async def _service_pid(host: SandboxHost, pidfile: str) -> int | None:
    """The service's pid in its host's PID namespace (None if unknown: then only the
    timeout ends the wait)."""
    try:
        data = await hostfs.read_file(host, pidfile, 64)
    except hostfs.HostReadError:
        return None
    text = (data or b"").decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


async def _alive(host: SandboxHost, pid: int) -> bool:
    """Whether the process still runs (not gone, not a zombie), seen through the host's /proc."""
    try:
        stat = await hostfs.read_file(host, f"/proc/{pid}/stat", 1024)
    except hostfs.HostReadError:
        return True  # cannot tell: keep waiting for health or the timeout
    if stat is None:
        return False
    fields = stat.rsplit(b")", 1)[-1].split()
    return bool(fields) and fields[0] not in (b"Z", b"X")


def _log_dir(svc: ServiceSpec) -> str:
    return ROOT_LOG_DIR if svc.user == "root" else LOG_DIR


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())


async def service_log_tail(rng: Range, service: str, limit: int = LOG_TAIL) -> str:
    """The last `limit` bytes of a service's log, read from the evaluator side, secrets
    redacted."""
    svc = rng.scenario.service(service)
    data = await hostfs.read_tail(rng.host(svc.host), f"{_log_dir(svc)}/{svc.name}.log", limit)
    if data is None:
        return ""
    return rng.secrets.redact(data.decode("utf-8", errors="replace"))


async def _exec(
    host: SandboxHost,
    argv: list[str],
    stdin: str | None,
    timeout: float,
    env: Mapping[str, str] | None = None,
    *,
    privileged: bool = False,
) -> tuple[bool, str]:
    try:
        result = await host.exec(
            argv,
            input=stdin.encode() if stdin is not None else None,
            cwd="/",
            env={**host.base_env(), **(env or {})},
            timeout=timeout,
            output_limit=1 << 20,
            limit_str="1 MiB",
            privileged=privileged,
        )
    except TimeoutError:
        return False, "timed out"
    return result.success, result.stdout + result.stderr
