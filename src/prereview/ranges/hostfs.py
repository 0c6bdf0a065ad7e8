"""The evaluator's own view of a host's files and processes, for graders.

Reads go through `/proc/<pid>/root` of the host's PID 1 from the evaluator (root), one path
component at a time with O_NOFOLLOW, so a symlink the agent planted can neither point the grader
outside the host nor at another file of it; nothing runs inside the host, so nothing the agent
changed there (shell start-up files, binaries, the exec agent's environment) takes part.
"""

from __future__ import annotations

import contextlib
import errno
import os

import anyio

from prereview.sandbox.host import SandboxHost

READ_LIMIT = 1 << 20


class HostReadError(Exception):
    """The host's file could not be read safely (a symlink, not a regular file, host gone)."""


def _open_in_root(pid: int, path: str) -> int | None:
    """An fd of the regular file `path` inside the host, or None when it does not exist."""
    parts = [p for p in path.split("/") if p]
    if not path.startswith("/") or ".." in parts or not parts:
        raise HostReadError(f"{path!r} is not a plain absolute path")
    try:
        current = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise HostReadError(f"host is not running ({exc.strerror})") from None
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(
                    part,
                    os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                    dir_fd=current,
                )
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise HostReadError(f"{path!r}: a component is not a directory") from None
                raise HostReadError(f"{path!r}: {exc.strerror}") from None
            os.close(current)
            current = nxt
        try:
            fd = os.open(
                parts[-1],
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                dir_fd=current,
            )
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise HostReadError(f"{path!r} is a symlink") from None
            raise HostReadError(f"{path!r}: {exc.strerror}") from None
        if not _is_regular(fd):
            os.close(fd)
            raise HostReadError(f"{path!r} is not a regular file")
        return fd
    finally:
        os.close(current)


def _is_regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def _read_sync(pid: int, path: str, limit: int, tail: bool) -> bytes | None:
    fd = _open_in_root(pid, path)
    if fd is None:
        return None
    try:
        if tail:
            size = os.fstat(fd).st_size
            os.lseek(fd, max(0, size - limit), os.SEEK_SET)
        chunks: list[bytes] = []
        remaining = limit
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


async def read_file(host: SandboxHost, path: str, limit: int = READ_LIMIT) -> bytes | None:
    """Up to `limit` bytes of a regular file on `host`; None when it does not exist.
    `HostReadError` when it cannot be read safely."""
    return await anyio.to_thread.run_sync(_read_sync, host.agent_pid, path, limit, False)


async def read_owned(
    host: SandboxHost, path: str, limit: int = READ_LIMIT
) -> tuple[bytes, int] | None:
    """`read_file` with the file's owner as the evaluator sees it (a host uid), both taken from
    the one open file; None when it does not exist."""

    def read() -> tuple[bytes, int] | None:
        fd = _open_in_root(host.agent_pid, path)
        if fd is None:
            return None
        try:
            owner = os.fstat(fd).st_uid
            return os.read(fd, limit), owner
        finally:
            os.close(fd)

    return await anyio.to_thread.run_sync(read)


async def read_tail(host: SandboxHost, path: str, limit: int) -> bytes | None:
    """The last `limit` bytes of a file on `host` (None when missing or unreadable)."""
    try:
        return await anyio.to_thread.run_sync(_read_sync, host.agent_pid, path, limit, True)
    except HostReadError:
        return None


async def exists(host: SandboxHost, path: str) -> bool:
    """Whether `path` exists on `host` as anything (file, directory, symlink)."""

    def check() -> bool:
        head, _, name = path.rpartition("/")
        parent = _parent_fd(host.agent_pid, head)
        if parent is None:
            return False
        try:
            os.stat(name, dir_fd=parent, follow_symlinks=False)
            return True
        except FileNotFoundError:
            return False
        finally:
            os.close(parent)

    return await anyio.to_thread.run_sync(check)


def _parent_fd(pid: int, directory: str) -> int | None:
    parts = [p for p in directory.split("/") if p]
    try:
        current = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise HostReadError(f"host is not running ({exc.strerror})") from None
    for part in parts:
        try:
            nxt = os.open(
                part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=current
            )
        except OSError:
            os.close(current)
            return None
        os.close(current)
        current = nxt
    return current


async def process_cmdlines(host: SandboxHost) -> list[str]:
    """The command lines of every process in the host's PID namespace, read from the
    evaluator's /proc (a process cannot hide from it by changing its own view)."""

    def scan() -> list[str]:
        try:
            target = os.readlink(f"/proc/{host.agent_pid}/ns/pid")
        except OSError as exc:
            raise HostReadError(f"host is not running ({exc.strerror})") from None
        found: list[str] = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/ns/pid") != target:
                    continue
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    found.append(handle.read(4096).replace(b"\0", b" ").decode(errors="replace"))
        return found

    return await anyio.to_thread.run_sync(scan)
