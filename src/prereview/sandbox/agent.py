"""The exec agent: PID 1 of every sandbox host, forking the commands the evaluator asks for.

Runs inside the sandbox under the sandbox's own python3 (>= 3.9, standard library only; this file
is passed with `python3 -I -S -c`), already confined by bwrap: its own namespaces, no
capabilities, the seccomp filter, no_new_privs. It speaks only over the control socket the
evaluator handed to bwrap; nothing in the sandbox can connect to it.

Why PID 1: the kernel never delivers a signal to a namespace's init from inside the namespace
unless init handles it, so `kill -9 -1` from the agent's commands cannot take the agent down, and
when the agent exits (evaluator gone, socket closed) the kernel kills every process of the sample.
It is also made non-dumpable, which keeps same-uid commands from ptrace, /proc/1/mem and
pidfd_getfd on it.

Requests (JSON, one per SOCK_SEQPACKET message, fds passed alongside with SCM_RIGHTS):
- exec  {id, argv, env, cwd, rlimits}  fds: stdout, stderr, status[, stdin]
  A supervisor child (a subreaper in a new session, so every process the command starts stays
  its descendant) writes `started PID`, then `exit CODE` or `error STAGE ERRNO`, to status.
- kill  {id}                    kill that exec's supervisor and every descendant
- sink  {}                      fds: pipes to drain and discard (their readers left, background
                                 processes still write: they must neither block nor get SIGPIPE)
- open  {path, mode}            fds: reply socket; answered with {ok} + an fd, or {errno}
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import resource
import selectors
import signal
import socket
import stat
import sys

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
MAX_MESSAGE = 1 << 20
MAX_FDS = 8

_libc = ctypes.CDLL(None, use_errno=True)
_supervisors: dict[int, str] = {}
"""supervisor pid -> the evaluator's id for that exec request"""


def _reap(_signum: int = 0, _frame: object = None) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _supervisors.pop(pid, None)


def _close_all_but(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(name))
    return tree


def _descendants(root: int) -> list[int]:
    tree = _children_map()
    found: list[int] = []
    todo = list(tree.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def kill_request(request_id: str) -> None:
    for pid, owner in list(_supervisors.items()):
        if owner == request_id:
            kill_tree(pid)


def kill_tree(root: int) -> None:
    """SIGKILL a supervisor's descendants until none is left, then the supervisor itself.

    Descendants go first: while the supervisor (a subreaper) lives, orphans in the tree are
    re-parented to it, so a process that double-forks or calls setsid cannot slip out.
    """
    if root not in _supervisors:
        return
    for _ in range(1000):
        victims = _descendants(root)
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(root, signal.SIGKILL)


_RLIMITS = {"cpu": resource.RLIMIT_CPU, "as": resource.RLIMIT_AS, "nproc": resource.RLIMIT_NPROC}
_ALL_SIGNALS = set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}


def _supervise(
    request: dict[str, object], stdout: int, stderr: int, status: int, stdin: int
) -> None:
    """The supervisor: subreaper and session leader for one command; reports its fate.

    The command itself is started with posix_spawn (vfork speed; signal dispositions and mask
    reset), after the supervisor has put in place what the command inherits: its cwd and its
    rlimits (the supervisor's own use of either is nil).
    """
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    os.write(status, f"started {os.getpid()}\n".encode())
    argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
    env = {str(k): str(v) for k, v in request["env"].items()}  # type: ignore[attr-defined]
    limits = {str(k): int(v) for k, v in request.get("rlimits", {}).items()}  # type: ignore[attr-defined]
    stage = "cwd"
    try:
        os.chdir(str(request["cwd"]))
        stage = "limits"
        for name, value in limits.items():
            hard = value + 1 if name == "cpu" else value  # SIGXCPU first, SIGKILL a second later
            resource.setrlimit(_RLIMITS[name], (value, hard))
        stage = "exec"
        os.environ.clear()
        os.environ.update(env)  # posix_spawnp searches the caller's PATH: make it the command's
        actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1),
                   (os.POSIX_SPAWN_DUP2, stderr, 2)]  # fmt: skip
        for fd in (stdin, stdout, stderr, status):
            os.set_inheritable(fd, False)
        child = os.posix_spawnp(
            argv[0], argv, env, file_actions=actions, setsigmask=(), setsigdef=_ALL_SIGNALS
        )
    except OSError as exc:
        os.write(status, f"error {stage} {exc.errno or errno.EIO}\n".encode())
        os._exit(0)
    for fd in (stdin, stdout, stderr):
        os.close(fd)
    while True:
        try:
            pid, wstatus = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == child:
            break
    code = os.waitstatus_to_exitcode(wstatus)
    os.write(status, f"exit {code if code >= 0 else 128 - code}\n".encode())
    os.close(status)  # the evaluator returns on this EOF, before our own exit is done
    os._exit(0)


def _spawn(control: socket.socket, request: dict[str, object], fds: list[int]) -> None:
    stdout, stderr, status = fds[0], fds[1], fds[2]
    stdin = fds[3] if len(fds) > 3 else os.open("/dev/null", os.O_RDONLY)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])  # add before the reaper looks
    try:
        pid = os.fork()
    except OSError as exc:
        os.write(status, f"error fork {exc.errno}\n".encode())
        pid = -1
    if pid == 0:
        try:
            control.close()
            _close_all_but({stdout, stderr, status, stdin})
            _supervise(request, stdout, stderr, status, stdin)
        finally:
            os._exit(0)
    if pid > 0:
        _supervisors[pid] = str(request["id"])
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
    for fd in (stdout, stderr, status, stdin):
        os.close(fd)


def _open(request: dict[str, object], reply: int, proc_dev: int) -> None:
    """Open a file as the sandbox user sees it and hand the fd back: host code never resolves a
    path the agent controls, so planted symlinks and `..` stay inside the sandbox's view."""
    sock = socket.socket(fileno=reply)
    try:
        path = str(request["path"])
        flags = os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        try:
            if request["mode"] == "w":
                parent = os.path.dirname(path)
                if parent:
                    os.makedirs(parent, exist_ok=True)
                fd = os.open(path, flags | os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            else:
                fd = os.open(path, flags | os.O_RDONLY)
            try:
                info = os.fstat(fd)
                if info.st_dev == proc_dev:  # /proc/1/* would be the agent's own memory
                    raise PermissionError(errno.EACCES, "procfs")
                if stat.S_ISDIR(info.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "directory")
                if not stat.S_ISREG(info.st_mode):
                    raise OSError(errno.EINVAL, "not a regular file")
                os.set_blocking(fd, True)
                socket.send_fds(sock, [b'{"ok": true}'], [fd])
            finally:
                os.close(fd)
        except OSError as exc:
            sock.send(json.dumps({"errno": exc.errno or errno.EIO}).encode())
    except OSError:
        pass  # the evaluator gave up waiting
    finally:
        sock.close()


def _drain(selector: selectors.BaseSelector, fd: int) -> None:
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:
        selector.unregister(fd)
        os.close(fd)


def serve(control_fd: int) -> None:
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    os.umask(0o022)
    signal.signal(signal.SIGCHLD, _reap)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    control = socket.socket(fileno=control_fd)
    control.set_inheritable(False)
    proc_dev = os.stat("/proc").st_dev
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    control.send(b'{"ready": true}')
    while True:
        for key, _ in selector.select():
            if key.fileobj is not control:
                _drain(selector, key.fd)
                continue
            try:
                message, fds, _flags, _addr = socket.recv_fds(control, MAX_MESSAGE, MAX_FDS)
            except OSError:
                os._exit(0)
            if not message:
                os._exit(0)  # the evaluator is gone: PID 1 exits and the kernel kills the rest
            consumed = False
            try:
                request = json.loads(message)
                op = request["op"]
                if op == "exec" and len(fds) in (3, 4):
                    consumed = True
                    _spawn(control, request, fds)
                elif op == "kill":
                    kill_request(str(request["id"]))
                elif op == "sink":
                    consumed = True
                    for fd in fds:
                        os.set_blocking(fd, False)
                        selector.register(fd, selectors.EVENT_READ)
                elif op == "open" and len(fds) == 1:
                    consumed = True
                    _open(request, fds[0], proc_dev)
            except Exception:  # noqa: S110 (a malformed request must never take PID 1 down)
                pass
            finally:
                if not consumed:
                    for fd in fds:
                        with contextlib.suppress(OSError):
                            os.close(fd)
            _reap()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
