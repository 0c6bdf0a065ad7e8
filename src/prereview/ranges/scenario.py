"""A range scenario as pure data: hosts on network segments, flows between segments, services,
files, per-sample secrets and the objectives a grader checks.

Loaded from a dict (JSON/YAML); `validate` refuses anything the runtime could not run or a grader
could not decide, naming the place in one line (`services[web].depends_on: ...`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError

from prereview.errors import PrereviewError

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_SECRET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
PLACEHOLDER = re.compile(r"\{\{secret:([a-z][a-z0-9_]{0,40})\}\}")
"""`{{secret:NAME}}` in file contents, service env values and objective texts: replaced by the
sample's secret at start (never in the scenario data itself)."""

WRITABLE_ROOTS = ("/srv", "/tmp", "/home/agent")  # noqa: S108 (paths inside the sandbox)
"""Where scenario files may live on a host: its writable tmpfs mounts."""

SecretKind = Literal["flag", "password", "token", "canary"]
OutcomeKind = Literal[
    "denial_of_service",
    "file_read",
    "file_creation",
    "db_modification",
    "db_secret_read",
    "admin_login",
    "privilege_escalation",
    "rce",
    "outbound_request",
]
_CONFIG = ConfigDict(extra="forbid")


class ScenarioError(PrereviewError, ValueError):
    """A scenario that cannot run or cannot be graded; the one-line message names the place."""


@dataclass(frozen=True)
class HostSpec:
    """A host: the segments it has a link on; `router` hosts forward between their segments
    (only what `flows` allow). role: attacker | server | router | collector | privileged | ..."""

    __pydantic_config__ = _CONFIG
    name: str
    segments: tuple[str, ...]
    role: str = "server"
    router: bool = False
    root_user: bool = False
    """The host also holds uid 0, 'root' (no capabilities: simply a second user), that files
    (`owner`) and services (`user`) may belong to; the sandbox user reaches it only through a
    path the scenario seeds, and privilege_escalation there needs a file written by root."""


@dataclass(frozen=True)
class FlowSpec:
    """Connections from any host of `from_segment` to `to_host:port` (tcp) through routers;
    everything else between segments is dropped."""

    __pydantic_config__ = _CONFIG
    from_segment: str
    to_host: str
    port: int


@dataclass(frozen=True)
class FileSpec:
    """A file written on `host` at start (after secrets are placed, before services start).
    `sqlite`: `content` is SQL run into a new SQLite database at `path`."""

    __pydantic_config__ = _CONFIG
    host: str
    path: str
    content: str
    mode: int = 0o644
    sqlite: bool = False
    owner: Literal["user", "root"] = "user"
    """root: written by the host's root uid (a `root_user` host), so that mode 0600 keeps the
    sandbox user out."""


@dataclass(frozen=True)
class HealthCheck:
    """tcp: connect to `port`; http: GET `path` on `port` answers 2xx/3xx; command: `argv`
    exits 0 on the service's host."""

    __pydantic_config__ = _CONFIG
    kind: Literal["tcp", "http", "command"]
    port: int | None = None
    path: str = "/"
    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    """A long-running process on `host`, started after its `depends_on` are healthy. It runs as
    the host's sandbox user, a host uid of its own (never the agent host's)."""

    __pydantic_config__ = _CONFIG
    name: str
    host: str
    argv: tuple[str, ...]
    health: HealthCheck
    depends_on: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = "/srv"
    start_timeout: float = 10.0
    user: Literal["user", "root"] = "user"
    """root: run as the host's root uid (a `root_user` host), not as its sandbox user."""


@dataclass(frozen=True)
class SecretSpec:
    """Drawn from the sample seed at start. flag/password/token never reach the agent host or
    the agent's view; a `canary` is a name the agent is told (to run or to send)."""

    __pydantic_config__ = _CONFIG
    name: str
    kind: SecretKind


@dataclass(frozen=True)
class ObjectiveSpec:
    """An outcome the grader checks on `host` from the evaluator side. Fields by kind:
    denial_of_service: service, failures; file_read / db_secret_read: secret (the agent submits
    it); file_creation: path; db_modification: path (SQLite), query, expect (the untouched
    result); admin_login: path (server-side evidence log), contains; privilege_escalation:
    path, secret (a canary file on the privileged host; on a `root_user` host, one written
    by root); rce: secret (a process whose command line holds the canary, or `path` holding
    it); outbound_request: secret (the canary the collector must receive), from_host
    (optional: the request must come from there)."""

    __pydantic_config__ = _CONFIG
    name: str
    kind: OutcomeKind
    host: str
    secret: str | None = None
    path: str | None = None
    service: str | None = None
    failures: int = 3
    query: str | None = None
    expect: str | None = None
    contains: str | None = None
    from_host: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A whole range. `agent_host` is where the agent's tools run (first host of the sample)."""

    __pydantic_config__ = _CONFIG
    name: str
    agent_host: str
    segments: tuple[str, ...]
    hosts: tuple[HostSpec, ...]
    services: tuple[ServiceSpec, ...] = ()
    files: tuple[FileSpec, ...] = ()
    secrets: tuple[SecretSpec, ...] = ()
    objectives: tuple[ObjectiveSpec, ...] = ()
    flows: tuple[FlowSpec, ...] = ()

    def host(self, name: str) -> HostSpec:
        return next(h for h in self.hosts if h.name == name)

    def service(self, name: str) -> ServiceSpec:
        return next(s for s in self.services if s.name == name)

    def objective(self, name: str) -> ObjectiveSpec:
        return next(o for o in self.objectives if o.name == name)

    def agent_view(self) -> dict[str, Any]:
        """What the agent may be shown of the scenario: host names, roles and segments, the
        ports of services, the objectives' names and kinds. No file contents, no secrets."""
        return {
            "agent_host": self.agent_host,
            "hosts": [
                {"name": h.name, "role": h.role, "segments": list(h.segments)} for h in self.hosts
            ],
            "services": [
                {"host": s.host, "port": s.health.port}
                for s in self.services
                if s.health.port is not None
            ],
            "objectives": [
                {"name": o.name, "kind": o.kind, "host": o.host} for o in self.objectives
            ],
        }


_ADAPTER: TypeAdapter[Scenario] = TypeAdapter(Scenario)


def parse_scenario(data: object) -> Scenario:
    """A validated scenario from a dict (as JSON/YAML gives it); `ScenarioError` otherwise."""
    if isinstance(data, Scenario):
        validate(data)
        return data
    try:
        scenario = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(part) for part in first["loc"]) or "scenario"
        raise ScenarioError(f"scenario {place}: {first['msg']}") from None
    validate(scenario)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """A validated scenario from a .json or .yaml file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"scenario {path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScenarioError(f"scenario {path}: does not parse ({line})") from None
    try:
        return parse_scenario(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The JSON-ready form `parse_scenario` reads back."""
    result: dict[str, Any] = _ADAPTER.dump_python(scenario, mode="json")
    return result


def validate(scenario: Scenario) -> None:
    """Raise `ScenarioError` naming the first place that is wrong: names, references to unknown
    hosts/segments/services/secrets, dependency cycles, secrets on the agent host, objectives
    the agent host cannot reach through links, routers and allowed flows."""
    _check_names(scenario)
    hosts = {h.name: h for h in scenario.hosts}
    segments = set(scenario.segments)
    services = {s.name: s for s in scenario.services}
    secrets = {s.name: s for s in scenario.secrets}
    if scenario.agent_host not in hosts:
        raise ScenarioError(f"scenario agent_host: {scenario.agent_host!r} is not a host")
    for h in scenario.hosts:
        if not h.segments:
            raise ScenarioError(f"scenario hosts[{h.name}].segments: a host needs a segment")
        for seg in h.segments:
            if seg not in segments:
                raise ScenarioError(f"scenario hosts[{h.name}].segments: unknown segment {seg!r}")
        if h.router and len(h.segments) < 2:
            raise ScenarioError(f"scenario hosts[{h.name}].router: a router needs two segments")
    for i, flow in enumerate(scenario.flows):
        place = f"scenario flows[{i}]"
        if flow.from_segment not in segments:
            raise ScenarioError(f"{place}.from_segment: unknown segment {flow.from_segment!r}")
        if flow.to_host not in hosts:
            raise ScenarioError(f"{place}.to_host: unknown host {flow.to_host!r}")
        if not 1 <= flow.port <= 65535:
            raise ScenarioError(f"{place}.port: {flow.port} is not a port")
    for svc in scenario.services:
        place = f"scenario services[{svc.name}]"
        if svc.host not in hosts:
            raise ScenarioError(f"{place}.host: unknown host {svc.host!r}")
        if svc.host == scenario.agent_host:
            raise ScenarioError(f"{place}.host: services do not run on the agent host")
        if not svc.argv:
            raise ScenarioError(f"{place}.argv: empty")
        for dep in svc.depends_on:
            if dep not in services:
                raise ScenarioError(f"{place}.depends_on: unknown service {dep!r}")
        if svc.health.kind in ("tcp", "http") and svc.health.port is None:
            raise ScenarioError(f"{place}.health.port: a {svc.health.kind} check needs a port")
        if svc.health.kind == "command" and not svc.health.argv:
            raise ScenarioError(f"{place}.health.argv: a command check needs argv")
        for key, value in svc.env.items():
            _check_placeholders(f"{place}.env.{key}", value, secrets)
        if svc.user == "root" and not hosts[svc.host].root_user:
            raise ScenarioError(f"{place}.user: host {svc.host!r} has no root_user")
    _check_cycles(scenario)
    for i, spec in enumerate(scenario.files):
        place = f"scenario files[{i}]"
        if spec.host not in hosts:
            raise ScenarioError(f"{place}.host: unknown host {spec.host!r}")
        _check_path(f"{place}.path", spec.path)
        if spec.owner == "root" and not hosts[spec.host].root_user:
            raise ScenarioError(f"{place}.owner: host {spec.host!r} has no root_user")
        uses = _check_placeholders(f"{place}.content", spec.content, secrets)
        hidden = [name for name in uses if secrets[name].kind != "canary"]
        if spec.host == scenario.agent_host and hidden:
            raise ScenarioError(f"{place}: secret {hidden[0]!r} would be placed on the agent host")
    reachable = _reachable(scenario)
    for obj in scenario.objectives:
        _check_objective(scenario, obj, hosts, services, secrets, reachable)


def _check_names(scenario: Scenario) -> None:
    groups: list[tuple[str, Sequence[str], re.Pattern[str]]] = [
        ("segments", scenario.segments, _NAME),
        ("hosts", [h.name for h in scenario.hosts], _NAME),
        ("services", [s.name for s in scenario.services], _NAME),
        ("secrets", [s.name for s in scenario.secrets], _SECRET_NAME),
        ("objectives", [o.name for o in scenario.objectives], _NAME),
    ]
    if not scenario.hosts:
        raise ScenarioError("scenario hosts: at least one host is needed")
    if len(scenario.hosts) > 16:
        raise ScenarioError("scenario hosts: at most 16 hosts per sample")
    for label, names, pattern in groups:
        seen: set[str] = set()
        for name in names:
            if not pattern.match(name):
                raise ScenarioError(f"scenario {label}[{name}]: invalid name")
            if name in seen:
                raise ScenarioError(f"scenario {label}[{name}]: duplicate name")
            seen.add(name)


def _check_placeholders(place: str, text: str, secrets: Mapping[str, SecretSpec]) -> list[str]:
    names = PLACEHOLDER.findall(text)
    for name in names:
        if name not in secrets:
            raise ScenarioError(f"{place}: unknown secret {name!r}")
    return names


def _check_path(place: str, path: str) -> None:
    parts = path.split("/")
    if not path.startswith("/") or ".." in parts or "" in parts[1:] or "\0" in path:
        raise ScenarioError(f"{place}: {path!r} must be a plain absolute path")
    if not any(path.startswith(root + "/") for root in WRITABLE_ROOTS):
        raise ScenarioError(f"{place}: {path!r} must be under one of {', '.join(WRITABLE_ROOTS)}")


def _check_cycles(scenario: Scenario) -> None:
    deps = {s.name: s.depends_on for s in scenario.services}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*trail[trail.index(name) :], name])
            raise ScenarioError(f"scenario services[{name}].depends_on: dependency cycle {cycle}")
        state[name] = 1
        for dep in deps[name]:
            visit(dep, [*trail, name])
        state[name] = 2

    for name in deps:
        visit(name, [])


def service_order(scenario: Scenario) -> list[list[str]]:
    """Services in start waves: each wave depends only on earlier ones."""
    done: set[str] = set()
    waves: list[list[str]] = []
    pending = [s for s in scenario.services]
    while pending:
        wave = [s.name for s in pending if all(d in done for d in s.depends_on)]
        if not wave:  # validate() rules this out
            raise ScenarioError("scenario services: dependency cycle")
        waves.append(wave)
        done.update(wave)
        pending = [s for s in pending if s.name not in done]
    return waves


def _reachable(scenario: Scenario) -> set[str]:
    """Hosts the agent could reach: those sharing a segment with a host it reaches (it may
    compromise each host it reaches and go on from there), plus the targets of allowed flows
    from a segment it is on, when a chain of routers links the two."""
    hosts = {h.name: h for h in scenario.hosts}
    routed = routed_segments(scenario)
    reached = {scenario.agent_host}
    frontier = [scenario.agent_host]
    while frontier:
        current = hosts[frontier.pop()]
        for other in scenario.hosts:
            if other.name in reached:
                continue
            shared = set(current.segments) & set(other.segments)
            flow = any(
                f.to_host == other.name
                and f.from_segment in current.segments
                and any(
                    seg in routed.get(f.from_segment, set()) or seg == f.from_segment
                    for seg in other.segments
                )
                for f in scenario.flows
            )
            if shared or flow:
                reached.add(other.name)
                frontier.append(other.name)
    return reached


def routed_segments(scenario: Scenario) -> dict[str, set[str]]:
    """segment -> the segments its packets can reach through router hosts."""
    links: dict[str, set[str]] = {seg: {seg} for seg in scenario.segments}
    for h in scenario.hosts:
        if h.router:
            for seg in h.segments:
                links[seg].update(h.segments)
    changed = True
    while changed:
        changed = False
        for reach in links.values():
            extra = set().union(*(links[s] for s in reach)) - reach
            if extra:
                reach.update(extra)
                changed = True
    return links


def _check_objective(
    scenario: Scenario,
    obj: ObjectiveSpec,
    hosts: Mapping[str, HostSpec],
    services: Mapping[str, ServiceSpec],
    secrets: Mapping[str, SecretSpec],
    reachable: set[str],
) -> None:
    place = f"scenario objectives[{obj.name}]"
    if obj.host not in hosts:
        raise ScenarioError(f"{place}.host: unknown host {obj.host!r}")
    if obj.host == scenario.agent_host:
        raise ScenarioError(f"{place}.host: an objective cannot be on the agent host")
    if obj.host not in reachable:
        raise ScenarioError(
            f"{place}: host {obj.host!r} is unreachable from {scenario.agent_host!r}"
        )
    needs: dict[str, tuple[str, ...]] = {
        "denial_of_service": ("service",),
        "file_read": ("secret",),
        "db_secret_read": ("secret",),
        "file_creation": ("path",),
        "db_modification": ("path", "query", "expect"),
        "admin_login": ("path", "contains"),
        "privilege_escalation": ("path", "secret"),
        "rce": ("secret",),
        "outbound_request": ("secret",),
    }
    for name in needs[obj.kind]:
        if getattr(obj, name) is None:
            raise ScenarioError(f"{place}.{name}: required for {obj.kind}")
    if obj.service is not None:
        if obj.service not in services:
            raise ScenarioError(f"{place}.service: unknown service {obj.service!r}")
        if services[obj.service].host != obj.host:
            raise ScenarioError(f"{place}.service: {obj.service!r} does not run on {obj.host!r}")
    if obj.secret is not None and obj.secret not in secrets:
        raise ScenarioError(f"{place}.secret: unknown secret {obj.secret!r}")
    hidden = obj.secret is not None and secrets[obj.secret].kind != "canary"
    if obj.kind in ("rce", "outbound_request", "privilege_escalation") and hidden:
        raise ScenarioError(f"{place}.secret: {obj.kind} needs a canary secret")
    if obj.kind in ("file_read", "db_secret_read") and not hidden:
        raise ScenarioError(f"{place}.secret: the agent is told canaries; use a flag")
    if obj.path is not None:
        _check_path(f"{place}.path", obj.path)
    if obj.from_host is not None and obj.from_host not in hosts:
        raise ScenarioError(f"{place}.from_host: unknown host {obj.from_host!r}")
    for text_field in ("expect", "contains", "query"):
        value = getattr(obj, text_field)
        if value is not None:
            _check_placeholders(f"{place}.{text_field}", value, secrets)
    if obj.failures < 1:
        raise ScenarioError(f"{place}.failures: at least 1")
