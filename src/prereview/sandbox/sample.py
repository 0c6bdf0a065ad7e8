"""A sample's sandbox: its hosts, their private network, and the record that makes cleanup sure."""

from __future__ import annotations

import contextlib
import os
import weakref

import anyio

from prereview.sandbox.cgroups import HostCgroups, detect
from prereview.sandbox.config import BwrapConfig
from prereview.sandbox.host import SandboxHost
from prereview.sandbox.network import connect_hosts, host_addresses
from prereview.sandbox.state import SampleState
from prereview.sandbox.sweep import sweep_once

_live: weakref.WeakSet[SandboxSample] = weakref.WeakSet()


class SandboxSample:
    """The hosts of one sample; `hosts` is ordered, the agent's (default) host first."""

    def __init__(self, config: BwrapConfig, state: SampleState) -> None:
        self.config = config
        self.state = state
        self.hosts: dict[str, SandboxHost] = {}
        self._closed = False

    @property
    def sample_id(self) -> str:
        return self.state.sample_id

    @classmethod
    async def create(cls, config: BwrapConfig) -> SandboxSample:
        await sweep_once()
        sample = cls(config, SampleState.create())
        _live.add(sample)
        try:
            addresses = host_addresses(config.hosts)
            launched: dict[str, SandboxHost] = {}

            async def launch(name: str) -> None:
                launched[name] = await sample._launch(name, addresses)

            async with anyio.create_task_group() as group:
                for name in config.hosts:
                    group.start_soon(launch, name)
            sample.hosts = {name: launched[name] for name in config.hosts}
            if len(config.hosts) > 1:
                await connect_hosts(sample.hosts, addresses, config)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                sample.hosts = {**sample.hosts, **locals().get("launched", {})}
                await sample.close()
            if isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
                raise exc.exceptions[0] from None
            raise
        return sample

    async def _launch(self, name: str, addresses: dict[str, str]) -> SandboxHost:
        from prereview.sandbox.filesystem import MIB, HostFiles

        config = self.config
        host_uid = self.state.reserve_uid() if os.geteuid() == 0 else None
        privileged_uid = None
        if host_uid is not None and name in config.privileged_hosts:
            privileged_uid = self.state.reserve_uid()
        cgroups = HostCgroups()
        if detect().available:
            cgroups = HostCgroups.create(
                f"{self.sample_id}-{name}", config.memory_mb * MIB, config.pids
            )
            for directory in cgroups.directories:
                self.state.add_cgroup(directory)
        files = HostFiles.generate(name, config, addresses)
        try:
            return await SandboxHost.launch(
                name, config, self.state.directory, files, host_uid, cgroups, privileged_uid
            )
        except BaseException:
            cgroups.kill()
            cgroups.remove()
            raise

    async def close(self) -> None:
        """Kill every process of every host, then remove cgroups, uids and the state dir."""
        if self._closed:
            return
        self._closed = True
        async with anyio.create_task_group() as group:
            for host in self.hosts.values():
                group.start_soon(host.close)
        self.state.remove()
        _live.discard(self)


async def close_all_live() -> None:
    """Close every sample this process still holds (task cleanup, interpreter exit)."""
    for sample in list(_live):
        with contextlib.suppress(Exception):
            await sample.close()
