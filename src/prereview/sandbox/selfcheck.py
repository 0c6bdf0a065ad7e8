"""The isolation self-test behind `prereview sandbox check`: each property probed, pass or fail.

Probes check a power without using it where using it could harm the host (is /proc/sysrq-trigger
writable, not a write to it) and send traffic only to this host's own listener.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import anyio

from prereview.sandbox.cgroups import detect
from prereview.sandbox.config import BwrapConfig
from prereview.sandbox.environment import BwrapSandboxEnvironment, isolated_sandbox
from prereview.sandbox.errors import SandboxUnavailableError


@dataclass(frozen=True)
class PropertyResult:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Probe = Callable[[BwrapSandboxEnvironment], Awaitable[PropertyResult]]

_NS_SCRIPT = """
import json, os
print(json.dumps({n: os.readlink(f"/proc/self/ns/{n}")
                  for n in ("user", "pid", "net", "mnt", "ipc", "uts", "cgroup")}))
"""

_SYSCALL_SCRIPT = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    rc = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return 0 if rc >= 0 else ctypes.get_errno()
# calls an unprivileged process may normally make: only the filter can refuse them
print(json.dumps({
    "unshare(CLONE_NEWUSER)": call(272, 0x10000000),
    "keyctl(GET_KEYRING_ID)": call(250, 0, -3, 0),
    "io_uring_setup": call(425, 1, 0),
    "userfaultfd": call(323, 0),
    "clone3": call(435, 0, 0),
}))
"""

_SOCKET_SCRIPT = """
import ctypes, errno, json, socket
libc = ctypes.CDLL(None, use_errno=True)
def sock(family, kind, protocol=0):
    fd = libc.syscall(ctypes.c_long(41), ctypes.c_long(family), ctypes.c_long(kind),
                      ctypes.c_long(protocol))
    if fd < 0:
        return errno.errorcode.get(ctypes.get_errno(), "?")
    libc.close(fd)
    return "ok"
refused = {f: sock(f, 3 if f in (17, 44) else 1) for f in range(64) if f not in (1, 2, 10, 16)}
refused[2**32 + 40] = sock(2**32 + 40, 1)  # AF_VSOCK with high bits the kernel ignores
listener = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(listener.getsockname(), 2)
a, b = socket.socketpair()
a.send(b"x")
allowed = {
    "tcp loopback": client.send(b"x") == 1 and listener.accept()[0].recv(1) == b"x",
    "unix socketpair": b.recv(1) == b"x",
    "inet6": sock(10, 2) == "ok",
    "netlink route": sock(16, 3, 0) == "ok",
}
print(json.dumps({"refused": refused, "allowed": allowed}))
"""

_STATUS_SCRIPT = """
import json
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({k: status[k].strip() for k in ("CapEff", "CapBnd", "CapPrm", "NoNewPrivs",
                                                  "Seccomp", "Uid")}))
"""

_WRITABLE_SCRIPT = """
import json, os
paths = ["/", "/usr", "/etc", "/proc/sys/kernel", "/proc/sysrq-trigger", "/sys"]
print(json.dumps({p: os.path.exists(p) and os.access(p, os.W_OK) for p in paths}))
"""


async def _py(sandbox: BwrapSandboxEnvironment, script: str, **kwargs: Any) -> Any:
    result = await sandbox.exec(["python3", "-c", script], timeout=30, **kwargs)
    if not result.success:
        raise RuntimeError(result.stderr.strip()[-200:])
    return json.loads(result.stdout)


async def _namespaces(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    inside = await _py(sandbox, _NS_SCRIPT)
    shared = [n for n, link in inside.items() if os.readlink(f"/proc/self/ns/{n}") == link]
    return PropertyResult(
        "own user/pid/net/mount/ipc/uts/cgroup namespaces",
        not shared,
        f"shared with the host: {', '.join(shared)}" if shared else "all 7 distinct",
    )


async def _processes(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    result = await sandbox.exec(["sh", "-c", "ls /proc | grep -c '^[0-9]'; cat /proc/1/comm"])
    count, comm = [*result.stdout.split(), "?", "?"][:2]
    visible = await sandbox.exec(["test", "-e", f"/proc/{os.getpid()}"])
    ok = result.success and int(count) < 10 and not visible.success
    return PropertyResult("host processes invisible", ok, f"{count} pids visible, pid 1 = {comm}")


async def _privileges(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    status = await _py(sandbox, _STATUS_SCRIPT)
    ok = (
        int(status["CapEff"], 16) == 0
        and int(status["CapBnd"], 16) == 0
        and status["NoNewPrivs"] == "1"
        and status["Seccomp"] == "2"
    )
    return PropertyResult(
        "no capabilities, no_new_privs, seccomp",
        ok,
        f"CapEff={status['CapEff']} CapBnd={status['CapBnd']} "
        f"NoNewPrivs={status['NoNewPrivs']} Seccomp={status['Seccomp']}",
    )


async def _seccomp(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    refused = await _py(sandbox, _SYSCALL_SCRIPT)
    allowed = [name for name, err in refused.items() if err not in (1, 38)]  # EPERM, ENOSYS
    return PropertyResult(
        "seccomp refuses namespaces, keys, io_uring, userfaultfd",
        not allowed,
        f"not refused: {', '.join(allowed)}" if allowed else f"{len(refused)} calls refused",
    )


async def _socket_families(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    seen = await _py(sandbox, _SOCKET_SCRIPT)
    created = [family for family, err in seen["refused"].items() if err != "EAFNOSUPPORT"]
    broken = [name for name, ok in seen["allowed"].items() if not ok]
    detail = f"{len(seen['refused'])} other families refused; unix, inet, inet6, netlink work"
    if created or broken:
        detail = f"not refused: families {', '.join(created) or 'none'}; broken: "
        detail += ", ".join(broken) or "none"
    return PropertyResult(
        "sockets only unix/inet/inet6/netlink", not created and not broken, detail
    )


async def _filesystem(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    writable = await _py(sandbox, _WRITABLE_SCRIPT)
    bad = [path for path, can in writable.items() if can]
    host_paths = [p for p in ("/root", "/work", "/run", "/var/lib", "/etc/shadow")]
    seen = []
    for path in host_paths:
        if (await sandbox.exec(["test", "-e", path])).success:
            seen.append(path)
    home = await sandbox.exec(["sh", "-c", "touch probe && rm probe"])
    ok = not bad and not seen and home.success
    detail = "system read-only, host paths absent, workdir writable"
    if not ok:
        detail = f"writable: {bad}; host paths visible: {seen}; workdir writable: {home.success}"
    return PropertyResult("filesystem confined", ok, detail)


async def _network(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        links = await sandbox.exec(["ip", "-o", "link", "show"])
        names = [line.split(":")[1].strip() for line in links.stdout.splitlines()]
        probe = await sandbox.exec(
            ["python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)"]
        )
        try:
            listener.accept()
            reached = True
        except BlockingIOError:
            reached = False
    finally:
        listener.close()
    ok = names == ["lo"] and not probe.success and not reached
    return PropertyResult(
        "no network but loopback", ok, f"interfaces {names}; host listener reached: {reached}"
    )


async def _agent(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    attempt = await sandbox.exec(["sh", "-c", "kill -9 -1; kill -9 1; cat /proc/1/environ"])
    still = await sandbox.exec(["true"])
    return PropertyResult(
        "exec agent survives kill -9 -1, unreadable",
        still.success and not attempt.stdout,
        "sandbox usable after kill -9 -1" if still.success else "sandbox died",
    )


async def _limits(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    support = detect()
    if support.available:
        mechanism = "cgroups (v2)" if support.v2_controllers else "cgroups (v1 memory, pids)"
    else:
        mechanism = "rlimits (no cgroups: not root)"
    tmp = await sandbox.exec(["sh", "-c", "df -k /tmp | tail -1"])
    limit = await sandbox.exec(["sh", "-c", "ulimit -t"])
    ok = tmp.success and limit.stdout.strip() != "unlimited"
    size = tmp.stdout.split()[1] if tmp.success and len(tmp.stdout.split()) > 1 else "?"
    return PropertyResult(
        "memory, process, CPU and disk limits",
        ok,
        f"{mechanism}; /tmp {size} KiB; cpu {limit.stdout.strip()} s/command",
    )


async def _timeout(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    try:
        await sandbox.exec(["sh", "-c", "sleep 300 & sleep 301"], timeout=1)
        return PropertyResult("timeout kills the process tree", False, "no TimeoutError")
    except TimeoutError:
        pass
    left = await sandbox.exec(["sh", "-c", "pgrep -c sleep || true"])
    ok = left.stdout.strip() == "0"
    return PropertyResult(
        "timeout kills the process tree", ok, f"{left.stdout.strip()} sleep left after timeout"
    )


async def _peers(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    """A two-host sample: the hosts reach each other by name, and have no other route."""
    from prereview.sandbox.sample import SandboxSample

    sample = await SandboxSample.create(BwrapConfig(hosts=["default", "target"]))
    try:
        default, target = (BwrapSandboxEnvironment(h, sample) for h in sample.hosts.values())
        await target.exec(["sh", "-c", "python3 -m http.server 8080 >/dev/null 2>&1 &"])
        fetch = (
            "import time, urllib.request\n"
            "for _ in range(50):\n"
            "    try:\n"
            "        print(urllib.request.urlopen('http://target:8080/', timeout=2).status)\n"
            "        break\n"
            "    except OSError: time.sleep(0.1)\n"
        )
        reached = await default.exec(["python3", "-c", fetch], timeout=30)
        routes = await default.exec(["ip", "-4", "route"])
    finally:
        await sample.close()
    peers_only = [line.split()[0] for line in routes.stdout.splitlines()] == ["10.231.0.3"]
    ok = reached.stdout.strip() == "200" and peers_only
    return PropertyResult(
        "multi-host: peers by name, nothing else",
        ok,
        f"default -> target:8080 {reached.stdout.strip() or 'unreachable'}; "
        f"routes: {routes.stdout.strip().replace(chr(10), '; ')}",
    )


_REACH = """
for target in "$@"; do
  ( timeout 1 bash -c "exec 3<>/dev/tcp/${target%:*}/${target#*:}" 2>/dev/null \\
    && echo "$target open" || echo "$target closed" ) &
done
wait
"""
_LISTEN = (
    "import socket, time\n"
    "s = [socket.create_server(('0.0.0.0', p)) for p in (80, 81)]\n"
    "open('/tmp/listening', 'w').close()\n"
    "time.sleep(120)\n"
)


async def _reach(host: BwrapSandboxEnvironment, targets: list[str]) -> set[str]:
    result = await host.exec(["bash", "-c", _REACH, "reach", *targets], timeout=10)
    return {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" open")}


async def _segments(sandbox: BwrapSandboxEnvironment) -> PropertyResult:
    """Segments: attacker on public, web on public+internal (no forwarding), a router with one
    allowed flow public -> db:81, db on internal. Only the flow and pivots through a host get
    in; the sandboxed user cannot change the filter; the evaluator's listener hears nothing."""
    from prereview.sandbox.config import SegmentFlow
    from prereview.sandbox.sample import SandboxSample

    config = BwrapConfig(
        hosts=["attacker", "web", "router", "db"],
        segments={"public": ["attacker", "web", "router"], "internal": ["web", "router", "db"]},
        routers=["router"],
        flows=[SegmentFlow(from_segment="public", to_host="db", port=81)],
    )
    listener = socket.create_server(("0.0.0.0", 0))  # noqa: S104 (must hear any address)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    outside = [f"{address}:{port}" for address in ("127.0.0.1", *evaluator_addresses())]
    sample = await SandboxSample.create(config)
    try:
        hosts = {n: BwrapSandboxEnvironment(h, sample) for n, h in sample.hosts.items()}
        await hosts["db"].exec(
            ["sh", "-c", f"python3 -c {_shell_quote(_LISTEN)} >/dev/null 2>&1 &"]
        )
        await hosts["web"].exec(
            ["sh", "-c", f"python3 -c {_shell_quote(_LISTEN)} >/dev/null 2>&1 &"]
        )
        for name in ("db", "web"):
            ready = (
                "for i in $(seq 100); do [ -e /tmp/listening ] && exit 0; sleep 0.05; done; exit 1"
            )
            await hosts[name].exec(["sh", "-c", ready], timeout=10)
        from_attacker = await _reach(hosts["attacker"], ["web:80", "db:80", "db:81", *outside])
        from_web = await _reach(hosts["web"], ["db:80", "db:81", *outside])
        tamper = await hosts["attacker"].exec(["sh", "-c", "nft flush ruleset; ip route flush all"])
        after = await _reach(hosts["attacker"], ["db:80"])
        try:
            listener.accept()
            heard = True
        except BlockingIOError:
            heard = False
    finally:
        listener.close()
        await sample.close()
    expected_attacker = {"web:80", "db:81"}
    ok = (
        from_attacker == expected_attacker
        and from_web == {"db:80", "db:81"}
        and not tamper.success
        and not after
        and not heard
    )
    return PropertyResult(
        "segments: flows only, pivot through a held host",
        ok,
        f"attacker reaches {sorted(from_attacker)}; web reaches {sorted(from_web)}; "
        f"filter change by sandbox user {'refused' if not tamper.success else 'ALLOWED'}; "
        f"evaluator listener heard: {heard}",
    )


_ROOT_SETUP = """
umask 077
mkdir -p /tmp/root-only /tmp/root-files && chmod 755 /tmp/root-files
echo "$1" > /tmp/root-only/secret && echo "$1" > /tmp/root-files/secret
chmod 700 /tmp/root-only && chmod 600 /tmp/root-files/secret
PROBE_SECRET="$1" setsid sleep 300 </dev/null >/dev/null 2>&1 &
echo $!
"""
_USER_ATTEMPTS = """
import ctypes, errno, json, os, signal, sys
pid = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
def ptrace():
    if libc.ptrace(ctypes.c_long(16), ctypes.c_long(pid), None, None) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), "ptrace")
def read(path):
    with open(path, "rb") as fh:
        fh.read(1)
def write(path):
    with open(path, "ab") as fh:
        fh.write(b"x")
status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines())
print(json.dumps({
    "uids": [os.getuid(), int(status["Uid"].split()[0])],
    "attempts": {
        "signal 0": attempt(lambda: os.kill(pid, 0)),
        "SIGKILL": attempt(lambda: os.kill(pid, signal.SIGKILL)),
        "SIGSTOP": attempt(lambda: os.kill(pid, signal.SIGSTOP)),
        "ptrace attach": attempt(ptrace),
        "read /proc/pid/environ": attempt(lambda: read(f"/proc/{pid}/environ")),
        "read /proc/pid/mem": attempt(lambda: read(f"/proc/{pid}/mem")),
        "read a 0600 file": attempt(lambda: read("/tmp/root-files/secret")),
        "write a 0600 file": attempt(lambda: write("/tmp/root-files/secret")),
        "remove a 0600 file": attempt(lambda: os.unlink("/tmp/root-files/secret")),
        "add a file to root's directory": attempt(lambda: write("/tmp/root-files/new")),
        "list a 0700 directory": attempt(lambda: os.listdir("/tmp/root-only")),
        "read inside a 0700 directory": attempt(lambda: read("/tmp/root-only/secret")),
    },
}))
"""


async def check_two_uids(sandbox: BwrapSandboxEnvironment | None = None) -> PropertyResult:
    """A two-uid host (`privileged_hosts`, what a range's `root_user` host runs on): a service
    of its root uid, with a secret in its environment and in 0600/0700 files, cannot be
    signalled, traced or read by the host's sandbox user, and lives on after every attempt.
    Runs on a sample of its own (`sandbox` is not used)."""
    import secrets

    from prereview.sandbox.sample import SandboxSample

    name = "two uids: root's service and files out of the user's reach"
    if os.geteuid() != 0:
        return PropertyResult(
            name,
            True,
            "not available here (needs a root evaluator): root_user hosts refuse to start",
        )
    sample = await SandboxSample.create(BwrapConfig(hosts=["box"], privileged_hosts=["box"]))
    secret = secrets.token_hex(12)
    try:
        box = sample.hosts["box"]

        async def run(argv: list[str], privileged: bool) -> tuple[bool, str]:
            got = await box.exec(
                argv, input=None, cwd="/", env=box.base_env(), timeout=30,
                output_limit=1 << 16, limit_str="64 KiB", privileged=privileged,
            )  # fmt: skip
            return got.success, got.stdout

        started, pid = await run(["sh", "-c", _ROOT_SETUP, "setup", secret], privileged=True)
        if not started or not pid.strip().isdigit():
            return PropertyResult(name, False, "root's service did not start")
        _, report = await run(["python3", "-c", _USER_ATTEMPTS, pid.strip()], privileged=False)
        alive, _ = await run(["kill", "-0", pid.strip()], privileged=True)
        # the sample's own /tmp (a tmpfs inside the host), not the evaluator's
        kept, text = await run(["cat", "/tmp/root-files/secret"], privileged=True)  # noqa: S108
        host_uids = (box.privileged_uid, _status_uid(box.agent_pid))
    finally:
        await sample.close()
    seen = json.loads(report)
    allowed = [what for what, err in seen["attempts"].items() if err == "ok"]
    inner = seen["uids"]
    ok = (
        not allowed
        and alive
        and kept
        and text.strip() == secret
        and inner[0] != inner[1]
        and host_uids[0] is not None
        and host_uids[0] != host_uids[1]
        and secret not in report
    )
    errors = ", ".join(sorted(set(seen["attempts"].values())))
    detail = (
        f"service uid {inner[1]} (host uid {host_uids[0]}), user uid {inner[0]} (host uid "
        f"{host_uids[1]}); {len(seen['attempts'])} attempts refused ({errors}: signal, ptrace, "
        "/proc environ and mem, 0600/0700 files); service alive, file intact"
    )
    if not ok:
        detail = (
            f"ALLOWED: {', '.join(allowed) or 'none'}; service alive: {alive}; file intact: "
            f"{kept and text.strip() == secret}; uids inside {inner}, host {list(host_uids)}"
        )
    return PropertyResult(name, ok, detail)


def _status_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return int(next(x for x in handle if x.startswith("Uid:")).split()[1])


def evaluator_addresses() -> list[str]:
    """The evaluator's own non-loopback IPv4 addresses (targets no sandbox may reach)."""
    import shutil
    import subprocess

    ip = shutil.which("ip")
    if ip is None:
        return []
    shown = subprocess.run(
        [ip, "-4", "-o", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    return [
        line.split()[3].split("/")[0] for line in shown.stdout.splitlines() if len(line.split()) > 3
    ]


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


PROBES: tuple[Probe, ...] = (
    _namespaces,
    _processes,
    _privileges,
    _seccomp,
    _socket_families,
    _filesystem,
    _network,
    _limits,
    _timeout,
    _agent,
    _peers,
    _segments,
    check_two_uids,
)


async def run_self_check(config: BwrapConfig | None = None) -> list[PropertyResult]:
    """Start a sandbox and probe each isolation property; a sandbox that cannot start is one
    failing result that says why."""
    results: list[PropertyResult] = []
    try:
        async with isolated_sandbox(config) as sandbox:
            assert isinstance(sandbox, BwrapSandboxEnvironment)
            results.append(PropertyResult("sandbox starts", True, f"sample {sandbox.sample_id}"))
            for probe in PROBES:
                name = probe.__name__.lstrip("_")
                try:
                    results.append(await probe(sandbox))
                except Exception as exc:  # a probe that breaks is a failed property
                    results.append(PropertyResult(name, False, f"{type(exc).__name__}: {exc}"))
    except SandboxUnavailableError as exc:
        results.append(PropertyResult("sandbox starts", False, str(exc)))
    return results


def self_check(config: BwrapConfig | None = None) -> list[PropertyResult]:
    return anyio.run(run_self_check, config)
