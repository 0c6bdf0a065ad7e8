"""What a sandbox host sees: the bwrap arguments that build its filesystem view.

The root is bwrap's own tmpfs, remounted read-only once the view is built. System directories
come read-only from the host (or from `config.root`), /etc holds only the entries
`config.etc_files` names plus generated passwd, group, hosts and hostname, and the only writable
places are size-limited tmpfs mounts: the working directory, /tmp and /dev/shm. Nothing of the
evaluator (its home, the project, logs, ground truth) is reachable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from prereview.sandbox.config import BwrapConfig

MIB = 1024 * 1024
_ROOT_SKIP = frozenset({"proc", "dev", "sys", "tmp", "run", "etc", "home", "root", "var", "mnt"})
SHM_MB = 64
_GENERATED_ETC = frozenset({"passwd", "group", "hosts", "hostname"})


@dataclass(frozen=True)
class HostFiles:
    """Generated files a host binds over /etc, as contents: bwrap copies each from a memfd
    (`--ro-bind-data`), so no sandbox needs a path into the evaluator's private state dir."""

    passwd: bytes
    group: bytes
    hosts: bytes
    hostname: bytes

    @classmethod
    def generate(cls, name: str, config: BwrapConfig, addresses: dict[str, str]) -> HostFiles:
        passwd = (
            "root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"{config.user}:x:{config.uid}:{config.uid}::{config.workdir}:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        group = f"root:x:0:\n{config.user}:x:{config.uid}:\nnogroup:x:65534:\n"
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        if name not in addresses:
            lines.append(f"127.0.1.1\t{name}")
        lines += [f"{address}\t{peer}" for peer, address in addresses.items()]
        hosts = "\n".join(lines) + "\n"
        return cls(passwd.encode(), group.encode(), hosts.encode(), (name + "\n").encode())

    def open_fds(self) -> dict[str, int]:
        """/etc path -> a fresh memfd holding its contents (the caller passes and closes them)."""
        contents = {
            "passwd": self.passwd,
            "group": self.group,
            "hosts": self.hosts,
            "hostname": self.hostname,
        }
        fds: dict[str, int] = {}
        try:
            for entry, data in contents.items():
                fd = os.memfd_create(f"prereview-{entry}", os.MFD_CLOEXEC)
                fds[f"/etc/{entry}"] = fd
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.lseek(fd, 0, os.SEEK_SET)
        except BaseException:
            for fd in fds.values():
                os.close(fd)
            raise
        return fds


def mount_args(config: BwrapConfig, files: dict[str, int], privileged: bool = False) -> list[str]:
    """bwrap's filesystem arguments; `files` maps /etc paths to data fds (`HostFiles.open_fds`).
    `privileged`: a host with a root uid too, whose writable dirs are sticky 1777 (as /tmp)."""
    args: list[str] = []
    if config.root is None:
        for directory in config.system_dirs:
            args += _mirror(Path(directory), Path(directory))
        args += ["--dir", "/etc"]
        for name in config.etc_files:
            if name not in _GENERATED_ETC:
                args += _mirror(Path("/etc", name), Path("/etc", name))
    else:
        root = Path(config.root)
        for entry in sorted(os.listdir(root)):
            if entry not in _ROOT_SKIP:
                args += _mirror(root / entry, Path("/", entry))
        args += ["--dir", "/etc"]
        if (root / "etc").is_dir():  # the root's /etc entry by entry: ours go over four of them
            for entry in sorted(os.listdir(root / "etc")):
                if entry not in _GENERATED_ETC:
                    args += _mirror(root / "etc" / entry, Path("/etc", entry))
    # paths from here on are inside the sandbox's own mount namespace
    for target, fd in sorted(files.items()):
        args += ["--perms", "0644", "--ro-bind-data", str(fd), target]
    args += [
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(SHM_MB * MIB), "--perms", "1777", "--tmpfs", "/dev/shm",  # noqa: S108
        "--size", str(config.tmp_mb * MIB), "--perms", "1777", "--tmpfs", "/tmp",  # noqa: S108
        "--dir", "/var",
        "--symlink", "../tmp", "/var/tmp",  # noqa: S108
        "--size", str(config.workdir_mb * MIB), "--perms", "0755", "--tmpfs", config.workdir,
    ]  # fmt: skip
    shared = "1777" if privileged else "0755"
    for directory in config.writable_dirs:
        args += ["--size", str(config.workdir_mb * MIB), "--perms", shared, "--tmpfs", directory]
    for source, target in config.ro_binds.items():
        args += ["--ro-bind", source, target]
    args += ["--remount-ro", "/"]
    return args


def _mirror(source: Path, target: Path) -> list[str]:
    """A read-only bind of `source` at `target`, or the same symlink when `source` is one."""
    if source.is_symlink():
        return ["--symlink", os.readlink(source), str(target)]
    if source.exists():
        return ["--ro-bind", str(source), str(target)]
    return []
