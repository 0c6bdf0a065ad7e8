"""`BwrapConfig`: what a sample's sandbox looks like and how much it may use.

Passed as `sandbox=("bwrap", BwrapConfig(...))`, as a dict, or as the path of a JSON, YAML or
TOML file holding the same fields. Every field has a default that suits agentic cyber tasks on a
stock Debian host: the host's /usr (gcc, clang, python3, coreutils) read-only, a writable home
that is also the working directory, and no network but loopback.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prereview.errors import PrereviewError

_HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DEFAULT_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""Bound read-only from the host (or from `root`); a host symlink (merged /usr) stays a symlink.
Not /opt or /srv: hosts keep site software and data there; bind what a task needs with
`ro_binds`."""

DEFAULT_ETC_FILES = (
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "debian_version",
    "environment",
    "gai.conf",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "magic",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "profile",
    "profile.d",
    "protocols",
    "python3",
    "python3.11",
    "services",
    "ssl",
    "terminfo",
    "timezone",
    "vim",
    "xdg",
)
"""Entries of the host's /etc the sandbox sees: what compilers, shells and python need, and no
host secrets (no shadow, ssh keys, credentials, or the host's own service configs)."""


class SandboxConfigError(PrereviewError, ValueError):
    """A sandbox configuration that cannot be used; the message names the field."""


class SegmentFlow(BaseModel):
    """Connections allowed from any host of `from_segment` to `to_host:port` (tcp) on another
    segment, through router hosts; all other traffic between segments is dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_segment: str
    to_host: str
    port: int = Field(ge=1, le=65535)


class BwrapConfig(BaseModel):
    """Configuration of the `bwrap` sandbox provider (all sizes in MiB, times in seconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hosts: list[str] = Field(default_factory=lambda: ["default"])
    """Named environments of a sample. The first is the agent's (`sandbox()`); with more than one,
    each gets its own namespaces and they reach each other by name on a private network."""
    segments: dict[str, list[str]] = Field(default_factory=dict)
    """Named network segments -> their hosts. Empty: every host reaches every other (a full
    mesh). Otherwise hosts are linked only to hosts sharing a segment, `routers` forward between
    their segments, and `flows` say what may cross; the filtering runs inside each host's own
    network namespace (nftables), where no sandboxed process can change it."""
    routers: list[str] = Field(default_factory=list)
    flows: list[SegmentFlow] = Field(default_factory=list)
    writable_dirs: list[str] = Field(default_factory=list)
    """Extra size-limited tmpfs directories on every host (ranges put services' files in /srv)."""
    root: str | None = None
    """A root filesystem directory to use instead of the host's system directories (each of its
    top-level entries and of its /etc bound read-only). Any root works: the exec agent is static."""
    system_dirs: list[str] = Field(default_factory=lambda: list(DEFAULT_SYSTEM_DIRS))
    etc_files: list[str] = Field(default_factory=lambda: list(DEFAULT_ETC_FILES))
    ro_binds: dict[str, str] = Field(default_factory=dict)
    """Extra read-only binds, host path -> sandbox path (toolchains, task inputs; never ground
    truth)."""
    user: str = "agent"
    uid: int = Field(default=1000, ge=1, le=65533)
    workdir: str = "/home/agent"
    env: dict[str, str] = Field(default_factory=dict)
    memory_mb: int = Field(default=2048, ge=16)
    """Memory of each host (all its processes and tmpfs contents), via cgroups; without cgroups,
    an address-space limit per process."""
    pids: int = Field(default=512, ge=8)
    cpu_seconds: int | None = Field(default=600, ge=1)
    """CPU time of each command (RLIMIT_CPU); None for no limit."""
    tmp_mb: int = Field(default=512, ge=1)
    workdir_mb: int = Field(default=1024, ge=1)
    allow_ptrace: bool = True
    """ptrace of the sandbox's own processes (gdb); the host's are out of reach either way."""
    privileged_hosts: list[str] = Field(default_factory=list)
    """Hosts that hold a second uid, 0 ('root'), besides `uid` (needs a root evaluator). Root
    there owns files and runs services but has no capabilities (empty bounding set, seccomp,
    no_new_privs), so it is simply the other user; commands run as `uid` unless the evaluator
    asks for root, and `user` reaches root only through what a scenario seeds. Writable dirs
    there are sticky and world-writable (1777) so that root can keep files of its own in them."""

    def __hash__(self) -> int:  # Inspect keys its sandbox caches by config
        return hash(self.model_dump_json())

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one host is needed")
        if len(set(value)) != len(value):
            raise ValueError("host names must be unique")
        if len(value) > 16:
            raise ValueError("at most 16 hosts per sample")
        for name in value:
            if not _HOST_NAME.match(name):
                raise ValueError(f"host name {name!r}: lowercase letters, digits and '-' only")
        return value

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, value: str) -> str:
        reserved = ("", "/proc", "/dev", "/tmp", "/etc", "/usr")  # noqa: S108 (sandbox paths)
        if not value.startswith("/") or value.rstrip("/") in reserved:
            raise ValueError(
                "workdir must be an absolute path other than /, /proc, /dev, /tmp, /etc, /usr"
            )
        return value.rstrip("/")

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value) or value == "root":
            raise ValueError("user must be a plain login name other than root")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME.match(key):
                raise ValueError(f"environment variable name {key!r} is invalid")
        return value

    @field_validator("ro_binds")
    @classmethod
    def _binds(cls, value: dict[str, str]) -> dict[str, str]:
        for src, dst in value.items():
            if not src.startswith("/") or not dst.startswith("/"):
                raise ValueError(f"ro_binds {src!r} -> {dst!r}: both paths must be absolute")
        return value

    @field_validator("writable_dirs")
    @classmethod
    def _writable(cls, value: list[str]) -> list[str]:
        for path in value:
            parts = path.split("/")
            if (
                not path.startswith("/")
                or ".." in parts
                or path.rstrip("/")
                in (
                    "",
                    "/proc",
                    "/dev",
                    "/etc",
                    "/usr",
                    "/tmp",  # noqa: S108 (sandbox path)
                )
            ):
                raise ValueError(f"writable_dirs {path!r}: an absolute path outside system dirs")
        return value

    @model_validator(mode="after")
    def _segments_known(self) -> BwrapConfig:
        hosts = set(self.hosts)
        for segment, members in self.segments.items():
            if not _HOST_NAME.match(segment):
                raise ValueError(f"segment name {segment!r}: lowercase letters, digits and '-'")
            for name in members:
                if name not in hosts:
                    raise ValueError(f"segments[{segment}]: {name!r} is not one of hosts")
        if self.segments:
            placed = {name for members in self.segments.values() for name in members}
            for name in self.hosts:
                if name not in placed:
                    raise ValueError(f"host {name!r} is on no segment")
        for name in self.privileged_hosts:
            if name not in hosts:
                raise ValueError(f"privileged_hosts: {name!r} is not one of hosts")
        for name in self.routers:
            if sum(name in m for m in self.segments.values()) < 2:
                raise ValueError(f"routers: {name!r} must be on two segments")
        for flow in self.flows:
            if flow.from_segment not in self.segments:
                raise ValueError(f"flows: unknown segment {flow.from_segment!r}")
            if flow.to_host not in hosts:
                raise ValueError(f"flows: {flow.to_host!r} is not one of hosts")
        return self

    @model_validator(mode="after")
    def _root_exists(self) -> BwrapConfig:
        if self.root is not None and not Path(self.root).is_dir():
            raise ValueError(f"root {self.root!r} is not a directory")
        return self


def load_config(config: object) -> BwrapConfig:
    """Turn whatever Inspect hands a provider (None, a model, a dict, a file path) into a config."""
    if config is None:
        return BwrapConfig()
    if isinstance(config, BwrapConfig):
        return config
    try:
        if isinstance(config, BaseModel):
            return BwrapConfig.model_validate(config.model_dump())
        if isinstance(config, dict):
            return BwrapConfig.model_validate(config)
        if isinstance(config, str):
            return BwrapConfig.model_validate(_read_config_file(Path(config)))
    except SandboxConfigError:
        raise
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise SandboxConfigError(f"invalid bwrap sandbox config: {exc}") from None
    raise SandboxConfigError(f"bwrap sandbox config of type {type(config).__name__} not understood")


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SandboxConfigError(
            f"cannot read bwrap sandbox config {path}: {exc.strerror}"
        ) from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise SandboxConfigError(
                f"bwrap sandbox config {path}: use a .json, .toml or .yaml file"
            )
    except (ValueError, yaml.YAMLError) as exc:  # JSON and TOML decode errors are ValueErrors
        if isinstance(exc, SandboxConfigError):
            raise
        raise SandboxConfigError(f"bwrap sandbox config {path} does not parse: {exc}") from None
    if not isinstance(data, dict):
        raise SandboxConfigError(f"bwrap sandbox config {path} must hold a table of fields")
    return data
