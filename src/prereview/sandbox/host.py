"""One sandbox host: a bwrap process whose PID 1 is the exec agent, and the evaluator's side of
the protocol (exec with pipes passed by SCM_RIGHTS, kill, file opens).

Commands' stdio are plain pipes between the command and the evaluator: the agent only forks, so
an exec costs about what a local subprocess costs, and output never passes through sandbox code
the model could tamper with.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from inspect_ai.util import ExecResult, OutputLimitExceededError

from prereview.sandbox.agent import agent_fd
from prereview.sandbox.cgroups import HostCgroups, detect
from prereview.sandbox.config import BwrapConfig
from prereview.sandbox.errors import SandboxUnavailableError
from prereview.sandbox.filesystem import MIB, HostFiles, mount_args
from prereview.sandbox.seccomp import filter_fd
from prereview.sandbox.userns import command_prefix, two_uid_namespace

INLINE_PAYLOAD = 32 * 1024
"""Larger exec payloads (argv + env) travel in a memfd: a datagram must fit the socket buffer."""
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
START_TIMEOUT = 30.0
KILL_GRACE = 5.0
_CHUNK = 65536


@dataclass
class _Exchange:
    """The evaluator's ends of one exec's pipes, and what came through them."""

    stdout: int
    stderr: int
    status: int
    stdin: int | None
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    status_text: bytearray = field(default_factory=bytearray)
    open_fds: set[int] = field(default_factory=set)

    def close(self) -> None:
        for fd in self.open_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.open_fds.clear()


class _OverLimit(Exception):
    pass


class SandboxHost:
    """A running sandbox host; create with `launch`, end with `close`."""

    def __init__(
        self,
        name: str,
        config: BwrapConfig,
        process: subprocess.Popen[bytes],
        control: socket.socket,
        agent_pid: int,
        agent_pidfd: int,
        cgroups: HostCgroups,
        log: Path,
        privileged_uid: int | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.privileged_uid = privileged_uid
        """the host uid of the host's root (two-uid hosts only), for graders' ownership checks"""
        self.agent_pid = agent_pid
        """the agent's pid on the evaluator's side (for namespaces and the network setup)"""
        self._process = process
        self._agent_pidfd = agent_pidfd
        self._control = control
        self._cgroups = cgroups
        self._log = log
        self._closed = False
        self._rlimits: dict[str, int] = {}
        if config.cpu_seconds is not None:
            self._rlimits["cpu"] = config.cpu_seconds
        if not cgroups.directories:
            # no cgroups: fall back to per-process rlimits, applied to every command
            self._rlimits["as"] = config.memory_mb * MIB
            self._rlimits["nproc"] = config.pids

    @classmethod
    async def launch(
        cls,
        name: str,
        config: BwrapConfig,
        directory: Path,
        files: HostFiles,
        host_uid: int | None,
        cgroups: HostCgroups,
        privileged_uid: int | None = None,
    ) -> SandboxHost:
        """`privileged_uid`: the host uid of root on a two-uid host (`privileged_hosts`)."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailableError("bubblewrap is not installed: apt-get install bubblewrap")
        two_uids = name in config.privileged_hosts
        if two_uids and (host_uid is None or privileged_uid is None):
            raise SandboxUnavailableError(
                f"host {name!r}: privileged_hosts need the evaluator to run as root"
            )
        userns = -1
        if two_uids:
            assert host_uid is not None and privileged_uid is not None
            userns = await anyio.to_thread.run_sync(
                two_uid_namespace, host_uid, privileged_uid, config.uid
            )
        try:
            executable = agent_fd()
        except BaseException:
            if userns >= 0:
                os.close(userns)
            raise
        control, agent_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        info_read, info_write = os.pipe2(os.O_CLOEXEC)
        seccomp = filter_fd(config.allow_ptrace)
        data = files.open_fds()
        log = directory / f"{name}.log"
        argv = [
            bwrap,
            "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net",
            "--unshare-uts", "--unshare-cgroup-try",
            "--disable-userns",  # a second lock on new user namespaces, besides seccomp
            "--die-with-parent", "--as-pid-1", "--new-session",
            "--cap-drop", "ALL",
            "--uid", str(config.uid), "--gid", str(config.uid),
            "--hostname", name,
            *mount_args(config, data, two_uids),
            "--chdir", config.workdir,
            "--clearenv",
            "--seccomp", str(seccomp),
            "--info-fd", str(info_write),
            "--",
            f"/proc/self/fd/{executable}", str(agent_end.fileno()), str(executable),
        ]  # fmt: skip
        extra_fds: tuple[int, ...] = ()
        passed = [*data.values()]
        if two_uids:
            argv = _joined_namespace(argv, userns)
            extra_fds = (userns,)
            passed.append(userns)
        if host_uid is not None:
            argv = _as_host_user(argv, host_uid, cgroups)
        try:
            with open(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as log_file:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    pass_fds=(agent_end.fileno(), info_write, seccomp, executable, *passed),
                    close_fds=True,
                )
        except OSError as exc:
            raise SandboxUnavailableError(f"cannot start bwrap: {exc.strerror}") from None
        finally:
            agent_end.close()
            os.close(info_write)
            os.close(seccomp)
            os.close(executable)
            for fd in (*data.values(), *extra_fds):
                os.close(fd)
        control.setblocking(False)
        agent = -1
        try:
            with anyio.fail_after(START_TIMEOUT):
                info = await _read_to_end(info_read)
                agent_pid = int(json.loads(info)["child-pid"])
                # a pidfd, taken while the agent is surely alive, never hits a reused pid
                agent = os.pidfd_open(agent_pid)
                await anyio.wait_readable(control)
                if control.recv(64) != b"R":
                    raise ValueError("agent did not start")
        except BaseException as exc:
            control.close()
            if agent >= 0:
                os.close(agent)
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()
            if isinstance(exc, ValueError | KeyError | OSError | TimeoutError):
                raise SandboxUnavailableError(_start_failure(log)) from None
            raise
        finally:
            os.close(info_read)
        root_uid = privileged_uid if two_uids else None
        return cls(name, config, process, control, agent_pid, agent, cgroups, log, root_uid)

    def base_env(self) -> dict[str, str]:
        home = self.config.workdir
        env = {
            "PATH": DEFAULT_PATH,
            "HOME": home,
            "USER": self.config.user,
            "LOGNAME": self.config.user,
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",  # noqa: S108 (inside the sandbox)
            "HOSTNAME": self.name,
        }
        env.update(self.config.env)
        return env

    async def _send(self, fields: list[bytes], fds: list[int]) -> None:
        message = b"".join(field + b"\0" for field in fields)
        while True:
            try:
                socket.send_fds(self._control, [message], fds)
                return
            except BlockingIOError:
                await anyio.wait_writable(self._control)
            except OSError as exc:
                raise SandboxUnavailableError(
                    f"sandbox host {self.name!r} is not running ({exc.strerror})"
                ) from None

    async def exec(
        self,
        argv: list[str],
        *,
        input: bytes | None,
        cwd: str,
        env: dict[str, str],
        timeout: float | None,
        output_limit: int,
        limit_str: str,
        privileged: bool = False,
    ) -> ExecResult[str]:
        """Run `argv` as the sandbox user, or with `privileged` as root of a two-uid host (for
        the evaluator's own setup: services and files of root; never the agent's tools)."""
        if self._closed:
            raise SandboxUnavailableError(f"sandbox host {self.name!r} has been cleaned up")
        if self.privileged_uid is not None:
            # the exec agent of a two-uid host holds CAP_SETUID/SETGID/SETPCAP/KILL: every
            # command drops them, whoever it runs as
            argv = [*command_prefix(privileged, self.config.uid), *argv]
        elif privileged:
            raise ValueError(f"sandbox host {self.name!r} has no privileged uid")
        request_id = secrets.token_hex(8)
        payload = _exec_payload(argv, env, cwd, self._rlimits)
        out_r, out_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        err_r, err_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        st_r, st_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        child_ends = [out_w, err_w, st_w]
        in_w: int | None = None
        if input is not None:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(in_w, False)
            child_ends.append(in_r)
        for fd in (out_w, err_w, st_w):
            os.set_blocking(fd, True)
        exchange = _Exchange(out_r, err_r, st_r, in_w)
        exchange.open_fds = {out_r, err_r, st_r} | ({in_w} if in_w is not None else set())
        flags = b"i" if input is not None else b""
        request = [b"E", request_id.encode()]
        if len(payload) > INLINE_PAYLOAD:
            flags += b"m"
            memfd = os.memfd_create("prereview-exec", os.MFD_CLOEXEC)
            child_ends.append(memfd)
            view = memoryview(payload)
            while view:
                view = view[os.write(memfd, view) :]
            request.append(flags)
        else:
            request += [flags, payload.removesuffix(b"\0")]
        try:
            try:
                await self._send(request, child_ends)
            finally:
                for fd in child_ends:
                    os.close(fd)
            try:
                with anyio.fail_after(timeout):
                    await self._pump(exchange, input, output_limit)
            except TimeoutError:
                await self._kill(request_id, exchange)
                error = TimeoutError(f"Command timed out after {timeout} seconds")
                partial = _decode(exchange.out) + _decode(exchange.err)
                if partial:
                    error.truncated_output = partial  # type: ignore[attr-defined]
                raise error from None
            except _OverLimit:
                await self._kill(request_id, exchange)
                raise OutputLimitExceededError(
                    limit_str, _decode(bytes(exchange.out[:output_limit]))
                ) from None
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._kill(request_id, exchange)
                raise
            return self._result(argv, exchange)
        finally:
            await self._release(exchange)

    async def _pump(self, exchange: _Exchange, input: bytes | None, limit: int) -> None:
        """Feed stdin and collect output until the supervisor reports (status pipe EOF)."""
        over_limit = False

        async def collect(fd: int, sink: bytearray, scope: anyio.CancelScope) -> None:
            nonlocal over_limit
            while True:
                await anyio.wait_readable(fd)
                if not _read_available(fd, sink, exchange):
                    return
                if len(sink) > limit:
                    over_limit = True
                    scope.cancel()
                    return

        async def feed() -> None:
            assert exchange.stdin is not None and input is not None
            view = memoryview(input)
            try:
                while view:
                    await anyio.wait_writable(exchange.stdin)
                    with contextlib.suppress(BlockingIOError):
                        view = view[os.write(exchange.stdin, view[:_CHUNK]) :]
            except OSError:
                pass  # the command did not read all of its input: not an error
            finally:
                _close(exchange, exchange.stdin)

        async with anyio.create_task_group() as group:
            group.start_soon(collect, exchange.stdout, exchange.out, group.cancel_scope)
            group.start_soon(collect, exchange.stderr, exchange.err, group.cancel_scope)
            if exchange.stdin is not None:
                group.start_soon(feed)
            await collect(exchange.status, exchange.status_text, group.cancel_scope)
            group.cancel_scope.cancel()
        if over_limit:
            raise _OverLimit
        # the command has exited: what it wrote is in the pipes already
        for fd, sink in ((exchange.stdout, exchange.out), (exchange.stderr, exchange.err)):
            if fd in exchange.open_fds:
                _read_available(fd, sink, exchange)
                if len(sink) > limit:
                    raise _OverLimit

    async def _kill(self, request_id: str, exchange: _Exchange) -> None:
        """Kill the command's whole process tree and wait (bounded) for its supervisor to go."""
        with contextlib.suppress(SandboxUnavailableError):
            await self._send([b"K", request_id.encode()], [])
        with anyio.move_on_after(KILL_GRACE):
            while exchange.status in exchange.open_fds:
                await anyio.wait_readable(exchange.status)
                _read_available(exchange.status, exchange.status_text, exchange)

    async def _release(self, exchange: _Exchange) -> None:
        """Close our ends; pipes still held by background processes go to the agent's sink, so
        that those processes neither block on a full pipe nor die of SIGPIPE."""
        if exchange.stdin is not None:
            _close(exchange, exchange.stdin)
        _close(exchange, exchange.status)
        held = [fd for fd in (exchange.stdout, exchange.stderr) if fd in exchange.open_fds]
        if held and not self._closed:
            with contextlib.suppress(SandboxUnavailableError):
                await self._send([b"S"], held)
        exchange.close()

    def _result(self, argv: list[str], exchange: _Exchange) -> ExecResult[str]:
        lines = exchange.status_text.decode(errors="replace").split("\n")
        started = any(line.startswith("started ") for line in lines)
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "exit":
                code = int(rest)
                return ExecResult(code == 0, code, _decode(exchange.out), _decode(exchange.err))
            if kind == "error":
                stage, _, number = rest.partition(" ")
                return _failed_start(argv, stage, int(number))
        if not started:
            raise SandboxUnavailableError(f"sandbox host {self.name!r} did not run the command")
        # the supervisor died without reporting (killed from inside, or by the OOM killer)
        return ExecResult(False, 137, _decode(exchange.out), _decode(exchange.err))

    @contextlib.asynccontextmanager
    async def opened(self, path: str, mode: str) -> AsyncIterator[int]:
        """An fd for `path` opened by the agent as the sandbox user (mode 'r' or 'w')."""
        if "\0" in path:
            raise ValueError("embedded null byte in the path")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = -1
        try:
            try:
                await self._send([b"O", mode.encode(), os.fsencode(path)], [theirs.fileno()])
            finally:
                theirs.close()
            ours.setblocking(False)
            with anyio.fail_after(60):
                await anyio.wait_readable(ours)
                message, fds, _flags, _addr = socket.recv_fds(ours, 64, 1)
            if fds:
                fd = fds[0]
            if message == b"OK" and fd >= 0:
                yield fd
                return
            if not message.startswith(b"E"):
                raise SandboxUnavailableError(f"sandbox host {self.name!r} is not running")
            code = int(message[1:])
            if code == errno.EROFS:
                raise PermissionError(code, "Read-only file system", path)
            raise OSError(code, os.strerror(code), path)
        finally:
            ours.close()
            if fd >= 0:
                os.close(fd)

    async def close(self) -> None:
        """Kill every process of this host and release what it held; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._control.close()  # the agent exits, and with PID 1 the whole PID namespace
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self._agent_pidfd, signal.SIGKILL)
        with anyio.move_on_after(KILL_GRACE):
            # PID 1's exit completes only once every process of its namespace has been reaped;
            # bwrap, its parent, then reaps it and exits (killing bwrap first would leave the
            # agent a zombie of the host's init)
            await anyio.wait_readable(self._agent_pidfd)
            while self._process.poll() is None:
                await anyio.sleep(0.001)
        os.close(self._agent_pidfd)
        with contextlib.suppress(OSError):
            self._process.kill()
        self._cgroups.kill()
        with anyio.move_on_after(KILL_GRACE):
            while self._process.poll() is None:
                await anyio.sleep(0.001)
        await anyio.to_thread.run_sync(self._cgroups.remove)


def _exec_payload(argv: list[str], env: dict[str, str], cwd: str, limits: dict[str, int]) -> bytes:
    """cwd, limits (cpu, as, nproc; "-" for none), argc, argv..., envc, env... (NUL-ended)."""
    fields = [cwd, *(str(limits[k]) if k in limits else "-" for k in ("cpu", "as", "nproc"))]
    fields += [str(len(argv)), *argv, str(len(env)), *(f"{k}={v}" for k, v in env.items())]
    encoded = [os.fsencode(f) for f in fields]
    if any(b"\0" in f for f in encoded):
        raise ValueError("embedded null byte in the command, its environment or cwd")
    return b"".join(f + b"\0" for f in encoded)


def _joined_namespace(argv: list[str], userns: int) -> list[str]:
    """bwrap's arguments for a two-uid host: join the evaluator-built user namespace instead of
    creating one (its nested-namespace lock is checked by bwrap), and keep for the exec agent
    the capabilities that switch uids inside that namespace (and CAP_KILL, to end root's
    commands on a timeout); every command drops them."""
    out: list[str] = []
    for arg in argv:
        if arg == "--unshare-user":
            out += ["--userns", str(userns)]
        elif arg == "--disable-userns":
            out.append("--assert-userns-disabled")
        elif arg == "ALL" and out and out[-1] == "--cap-drop":
            out += ["ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            out += ["--cap-add", "CAP_SETPCAP", "--cap-add", "CAP_KILL"]
        else:
            out.append(arg)
    return out


def _as_host_user(argv: list[str], host_uid: int, cgroups: HostCgroups) -> list[str]:
    """Run bwrap as an unprivileged host uid of its own, after joining the host's cgroups.

    The joins happen as root (a v2 cgroup move needs write access at the common ancestor) in
    a one-line shell that then execs setpriv, so that every process of the sandbox is born in the
    cgroups and maps to `host_uid`, never to host root, should it ever get out of its namespaces.
    """
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    joins = [str(p) for p in cgroups.procs_files]
    script = (
        'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; '
        'shift; exec "$@"'
    )
    return [
        "/bin/sh", "-c", script, "sh", *joins, "--",
        setpriv, f"--reuid={host_uid}", f"--regid={host_uid}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--",
        *argv,
    ]  # fmt: skip


async def _read_to_end(fd: int) -> bytes:
    os.set_blocking(fd, False)
    data = bytearray()
    while True:
        await anyio.wait_readable(fd)
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            continue
        if not chunk:
            return bytes(data)
        data += chunk


def _read_available(fd: int, sink: bytearray, exchange: _Exchange) -> bool:
    """Read what the pipe holds now; False (and the fd closed) at EOF."""
    while True:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            chunk = b""
        if not chunk:
            _close(exchange, fd)
            return False
        sink += chunk
        if len(chunk) < _CHUNK:
            return True


def _close(exchange: _Exchange, fd: int) -> None:
    if fd in exchange.open_fds:
        exchange.open_fds.discard(fd)
        os.close(fd)


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _failed_start(argv: list[str], stage: str, number: int) -> ExecResult[str]:
    reason = os.strerror(number)
    if stage == "exec" and number in (errno.EACCES, errno.EPERM):
        raise PermissionError(number, reason, argv[0] if argv else "")
    if stage == "exec":
        return ExecResult(False, 127, "", f"{argv[0] if argv else ''}: {reason}\n")
    if stage == "cwd":
        return ExecResult(False, 1, "", f"cannot enter the working directory: {reason}\n")
    if stage == "fork":
        return ExecResult(False, 126, "", f"cannot start the command: {reason}\n")
    return ExecResult(False, 126, "", f"cannot start the command ({stage}): {reason}\n")


def _start_failure(log: Path) -> str:
    try:
        detail = log.read_text(errors="replace").strip().splitlines()[-1][:300]
    except (OSError, IndexError):
        detail = "no error output"
    hint = ""
    if "namespace" in detail.lower() or "permission" in detail.lower():
        hint = (
            ": enable user namespaces (sysctl user.max_user_namespaces=15000; on Debian "
            "kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 allow bwrap under AppArmor) "
            "or run as root"
        )
    cgroups = "" if detect().available else " (cgroups unavailable: rlimits in use)"
    return f"bwrap could not start a sandbox: {detail}{hint}{cgroups}"
