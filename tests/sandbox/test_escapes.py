"""Escape and abuse attempts, each run through `exec` as an agent would, each asserted contained.

Egress attempts aim only at this machine (a listener on its loopback or its own interface
address, its unix sockets). Dangerous powers are probed without being used: a call is made with
arguments that would do nothing harmful even if the filter let it through, or only the
permission is checked (is /proc/sysrq-trigger writable).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from prereview.sandbox import BwrapSandboxEnvironment
from tests.sandbox.conftest import host_addresses, needs_bwrap, probe, sh

pytestmark = needs_bwrap


@contextlib.contextmanager
def listener(family: int, kind: int, address: str) -> Iterator[socket.socket]:
    sock = socket.socket(family, kind)
    sock.bind((address, 0))
    if kind == socket.SOCK_STREAM:
        sock.listen(4)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def reached(sock: socket.socket) -> bool:
    try:
        if sock.type == socket.SOCK_STREAM:
            sock.accept()[0].close()
        else:
            sock.recvfrom(64)
        return True
    except BlockingIOError:
        return False


# --- network -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "kind", "address"),
    [
        (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"),
        (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"),
        (socket.AF_INET6, socket.SOCK_STREAM, "::1"),
        (socket.AF_INET6, socket.SOCK_DGRAM, "::1"),
    ],
    ids=["tcp-loopback", "udp-loopback", "tcp6-loopback", "udp6-loopback"],
)
async def test_host_loopback_listener_is_unreachable(
    sandbox: BwrapSandboxEnvironment, family: int, kind: int, address: str
) -> None:
    with listener(family, kind, address) as sock:
        port = sock.getsockname()[1]
        fam = "socket.AF_INET6" if family == socket.AF_INET6 else "socket.AF_INET"
        code = (
            f"s = socket.socket({fam}, {kind})\n"
            f"print(json.dumps(attempt(lambda: (s.settimeout(2), s.connect(('{address}', {port})),"
            f" s.send(b'x')))))"
        )
        outcome = await probe(sandbox, code)
        assert not reached(sock)
    if kind == socket.SOCK_STREAM:
        assert outcome == "ECONNREFUSED"  # the sandbox's own loopback, where nothing listens


async def test_host_interface_addresses_are_unreachable(sandbox: BwrapSandboxEnvironment) -> None:
    addresses = host_addresses()
    if not addresses:
        pytest.skip("this machine has no global interface address")
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with listener(family, kind, address) as sock:
                port = sock.getsockname()[1]
                code = (
                    f"s = socket.socket({int(family)}, {int(kind)})\n"
                    f"print(json.dumps(attempt(lambda: (s.settimeout(2), "
                    f"s.connect(('{address}', {port})), s.send(b'x')))))"
                )
                outcome = await probe(sandbox, code)
                assert outcome in ("ENETUNREACH", "EHOSTUNREACH", "EADDRNOTAVAIL"), address
                assert not reached(sock)


async def test_raw_and_packet_sockets_are_refused(sandbox: BwrapSandboxEnvironment) -> None:
    code = (
        "out = {}\n"
        "out['raw'] = attempt(socket.socket, socket.AF_INET, socket.SOCK_RAW, "
        "socket.IPPROTO_ICMP)\n"
        "out['raw6'] = attempt(socket.socket, socket.AF_INET6, socket.SOCK_RAW, 58)\n"
        "out['packet'] = attempt(socket.socket, socket.AF_PACKET, socket.SOCK_RAW, 0)\n"
        "print(json.dumps(out))"
    )
    # raw IP needs CAP_NET_RAW; packet sockets are not a family the filter allows at all
    assert await probe(sandbox, code) == {"raw": "EPERM", "raw6": "EPERM", "packet": "EAFNOSUPPORT"}


async def test_icmp_echo_to_own_address_goes_nowhere(sandbox: BwrapSandboxEnvironment) -> None:
    addresses = [a for a in host_addresses() if ":" not in a] or ["127.0.0.2"]
    code = (
        "def ping():\n"
        "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)\n"
        f"    s.sendto(b'\\x08\\0\\0\\0\\0\\0\\0\\0', ('{addresses[0]}', 0))\n"
        "print(json.dumps(attempt(ping)))"
    )
    # ICMP sockets are off in a fresh network namespace; were they on, there is no route
    assert await probe(sandbox, code) in ("EACCES", "EPERM", "ENETUNREACH")


async def test_only_loopback_interface(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sh(sandbox, "ip -o link show | cut -d: -f2; ip route; ip -6 route")
    assert result.stdout.split() == ["lo"]


async def test_host_unix_sockets_are_out_of_reach(
    sandbox: BwrapSandboxEnvironment, tmp_path: Path
) -> None:
    path = tmp_path / "host.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0prereview-escape-test")
    abstract.listen(1)
    server.setblocking(False)
    abstract.setblocking(False)
    try:
        code = (
            "def conn(addr):\n"
            "    s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(addr)\n"
            f"print(json.dumps([attempt(conn, '{path}'), "
            "attempt(conn, '\\0prereview-escape-test'),"
            " attempt(conn, '/run/postgresql/.s.PGSQL.5432'),"
            " attempt(conn, '/run/dbus/system_bus_socket')]))"
        )
        outcome = await probe(sandbox, code)
        assert outcome == ["ENOENT", "ECONNREFUSED", "ENOENT", "ENOENT"]
        assert not reached(server)
        assert not reached(abstract)
    finally:
        server.close()
        abstract.close()


# --- filesystem --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/usr/bin/planted", "/planted", "/etc/passwd", "/etc/ld.so.preload", "/bin/sh"]
)
async def test_system_paths_are_read_only(sandbox: BwrapSandboxEnvironment, path: str) -> None:
    code = f"print(json.dumps(attempt(lambda: open('{path}', 'w').write('x'))))"
    assert await probe(sandbox, code) in ("EROFS", "EACCES")


async def test_host_files_are_not_in_view(sandbox: BwrapSandboxEnvironment, tmp_path: Path) -> None:
    secret = tmp_path / "ground-truth.txt"
    secret.write_text("flag{host}")
    candidates = [
        "/etc/shadow", "/etc/ssh", "/root", "/work", "/home/agent/../../root",
        "/run/prereview-sandbox", "/var/lib", str(secret), str(Path.cwd()),
        os.path.expanduser("~"), "/proc/1/root/etc/shadow",
    ]  # fmt: skip
    code = f"print(json.dumps([os.path.exists(p) for p in {candidates!r}]))"
    assert await probe(sandbox, code) == [False] * len(candidates)
    result = await sh(sandbox, "grep -rs 'flag{host}' /etc /home /tmp /var /dev/shm /opt | head -1")
    assert "flag{host}" not in result.stdout


async def test_proc_1_root_and_agent_memory_are_closed(sandbox: BwrapSandboxEnvironment) -> None:
    code = (
        "print(json.dumps([attempt(os.listdir, '/proc/1/root'),"
        " attempt(lambda: open('/proc/1/mem', 'rb').read(1)),"
        " attempt(lambda: open('/proc/1/environ', 'rb').read()),"
        " attempt(os.listdir, '/proc/1/fd')]))"
    )
    assert await probe(sandbox, code) == ["EACCES"] * 4


async def test_proc_sys_and_sysrq_are_not_writable(sandbox: BwrapSandboxEnvironment) -> None:
    # permission checks only: nothing is written
    paths = [
        "/proc/sysrq-trigger", "/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern",
        "/proc/sys/vm/drop_caches", "/proc/sys/net/ipv4/ip_forward",
    ]  # fmt: skip
    code = f"print(json.dumps([os.access(p, os.W_OK) for p in {paths!r}]))"
    assert await probe(sandbox, code) == [False] * len(paths)
    # the one write tried would only rename the sandbox's own UTS namespace, were it allowed
    code = "print(json.dumps(attempt(lambda: open('/proc/sys/kernel/hostname', 'w').write('x'))))"
    assert await probe(sandbox, code) in ("EACCES", "EROFS", "EPERM")


async def test_no_sysfs_and_no_dangerous_devices(sandbox: BwrapSandboxEnvironment) -> None:
    code = (
        "devs = sorted(os.listdir('/dev'))\n"
        "print(json.dumps([os.path.exists('/sys/kernel'), os.path.exists('/sys/module'), devs]))"
    )
    sys_kernel, sys_module, devices = await probe(sandbox, code)
    assert not sys_kernel and not sys_module
    dangerous = {"mem", "kmem", "port", "kmsg", "sda", "vda", "nvme0", "fuse", "kvm", "loop0"}
    assert not dangerous & set(devices)


async def test_device_nodes_cannot_be_made(sandbox: BwrapSandboxEnvironment) -> None:
    code = (
        "print(json.dumps([attempt(os.mknod, 'mem', 0o600 | 0o020000, os.makedev(1, 1)),"
        " attempt(os.mknod, '/tmp/vda', 0o600 | 0o060000, os.makedev(253, 0))]))"
    )
    assert await probe(sandbox, code) == ["EPERM", "EPERM"]


async def test_kernel_memory_files_are_unreadable(sandbox: BwrapSandboxEnvironment) -> None:
    code = "print(json.dumps(attempt(lambda: open('/proc/kcore', 'rb').read(1))))"
    assert await probe(sandbox, code) in ("EACCES", "EPERM", "ENOENT")


@pytest.mark.parametrize(
    ("call", "nr_args"),
    [
        ("mount", "165, 0, 0, 0, 0, 0"),
        ("umount2", "166, 0, 0"),
        ("pivot_root", "155, 0, 0"),
        ("chroot", "161, 0"),
        ("open_tree", "428, -1, 0, 0"),
        ("fsopen", "430, 0, 0"),
    ],
)
async def test_mount_table_calls_are_refused(
    sandbox: BwrapSandboxEnvironment, call: str, nr_args: str
) -> None:
    assert await probe(sandbox, f"print(json.dumps(sysc({nr_args})))") == "EPERM"


async def test_mount_tool_cannot_remount_root(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sh(sandbox, "mount -o remount,rw / 2>&1; mount -t tmpfs none /tmp/x 2>&1; :")
    assert result.stdout.count("must be superuser") == 2
    assert not (await sh(sandbox, "touch /planted")).success


# --- processes, privileges, kernel -------------------------------------------------------------


async def test_no_capabilities_and_no_new_privileges(sandbox: BwrapSandboxEnvironment) -> None:
    code = (
        "st = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())\n"
        "print(json.dumps({k: st[k].strip() for k in "
        "('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp')}))"
    )
    status = await probe(sandbox, code)
    assert {k: int(v, 16) for k, v in status.items() if k.startswith("Cap")} == dict.fromkeys(
        ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), 0
    )
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"


async def test_setuid_binaries_grant_nothing(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sh(sandbox, "su -c id root </dev/null 2>&1; echo rc=$?")
    assert "uid=0" not in result.stdout
    mounts = await sh(sandbox, "grep ' /usr ' /proc/self/mountinfo")
    assert "nosuid" in mounts.stdout


async def test_ptrace_of_the_agent_is_refused(sandbox: BwrapSandboxEnvironment) -> None:
    # PTRACE_ATTACH to pid 1 (the exec agent, non-dumpable) and to the test process's pid
    code = f"print(json.dumps([sysc(101, 16, 1, 0, 0), sysc(101, 16, {os.getpid()}, 0, 0)]))"
    assert await probe(sandbox, code) == ["EPERM", "ESRCH"]


async def test_host_processes_cannot_be_signalled(sandbox: BwrapSandboxEnvironment) -> None:
    pid = os.getpid()
    code = f"print(json.dumps([attempt(os.kill, {pid}, 0), attempt(os.kill, {pid}, 9)]))"
    assert await probe(sandbox, code) == ["ESRCH", "ESRCH"]
    ps = await sh(sandbox, "ls /proc | grep -c '^[0-9]'")
    assert int(ps.stdout) < 10  # only the sandbox's own processes


async def test_kill_all_spares_the_exec_agent(sandbox: BwrapSandboxEnvironment) -> None:
    await sh(sandbox, "kill -9 -1; kill -9 1; kill -STOP 1; :")
    assert (await sandbox.exec(["echo", "alive"])).stdout == "alive\n"


@pytest.mark.parametrize(
    ("name", "nr_args"),
    [
        ("unshare-user", "272, 0x10000000"),
        ("unshare-net", "272, 0x40000000"),
        ("unshare-mount", "272, 0x00020000"),
        ("setns", "308, os.open('/proc/self/ns/net', os.O_RDONLY), 0"),
        ("clone-newuser", "56, 0x10000000 | 17, 0, 0, 0, 0"),
        ("clone3", "435, 0, 0"),
    ],
)
async def test_new_namespaces_are_refused(
    sandbox: BwrapSandboxEnvironment, name: str, nr_args: str
) -> None:
    code = f"r = sysc({nr_args})\nprint(json.dumps(r))"
    assert await probe(sandbox, code) in ("EPERM", "ENOSYS")


async def test_unshare_tool_fails(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sh(sandbox, "unshare -Ur id 2>&1; unshare -n true 2>&1; echo rc=$?")
    assert "uid=0" not in result.stdout
    assert "rc=0" not in result.stdout


@pytest.mark.parametrize(
    ("name", "nr_args"),
    [
        ("init_module", "175, 0, 0, 0"),
        ("finit_module", "313, -1, 0, 0"),
        ("delete_module", "176, 0, 0"),
        ("kexec_load", "246, 0, 0, 0, 0xdead0000"),
        ("kexec_file_load", "320, -1, -1, 0, 0, 0xdead0000"),
        ("bpf", "321, -1, 0, 0"),
        ("keyctl", "250, 0, -3, 0"),
        ("add_key", "248, 0, 0, 0, 0, 0"),
        ("userfaultfd", "323, 0"),
        ("perf_event_open", "298, 0, 0, -1, -1, 0"),
        ("io_uring_setup", "425, 1, 0"),
        ("pidfd_getfd", "438, -1, 0, 0"),
        ("settimeofday", "164, 0, 0"),
        ("sethostname", "170, 0, 0"),
        ("swapon", "167, 0, 0"),
        ("iopl", "172, 3"),
    ],
)
async def test_kernel_attack_surface_is_refused(
    sandbox: BwrapSandboxEnvironment, name: str, nr_args: str
) -> None:
    assert await probe(sandbox, f"print(json.dumps(sysc({nr_args})))") == "EPERM"


async def test_terminal_injection_ioctl_is_refused(sandbox: BwrapSandboxEnvironment) -> None:
    code = "import fcntl\nprint(json.dumps(attempt(fcntl.ioctl, 0, 0x5412, b'x')))"
    assert await probe(sandbox, code) == "EPERM"


async def test_foreign_syscall_abis_are_killed(sandbox: BwrapSandboxEnvironment) -> None:
    # i386 getpid through int 0x80, and x32 getpid: a filter keyed on x86_64 numbers must not
    # be sidestepped by another ABI, so both kill the process (SIGSYS, 128 + 31)
    source = (
        "int main(int c, char **v) {\n"
        "  long r;\n"
        '  if (v[1][0] == \'i\') __asm__ volatile ("int $0x80" : "=a"(r) : "a"(20));\n'
        '  else __asm__ volatile ("syscall" : "=a"(r) : "a"(0x40000000 + 39)'
        ' : "rcx", "r11", "memory");\n'
        "  return 0;\n}\n"
    )
    await sandbox.write_file("abi.c", source)
    built = await sandbox.exec(["gcc", "-O0", "abi.c", "-o", "abi"], timeout=120)
    assert built.success, built.stderr
    for abi in ("i386", "x32"):
        result = await sandbox.exec(["./abi", abi])
        assert result.returncode == 128 + 31, (abi, result)


async def test_hostname_cannot_be_changed(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sh(sandbox, "hostname evil 2>&1; hostname")
    assert result.stdout.strip().endswith("default")


async def test_host_environment_does_not_leak(
    sandbox: BwrapSandboxEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREREVIEW_SECRET_PROBE", "s3cr3t-value")
    result = await sh(sandbox, "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'")
    assert "s3cr3t-value" not in result.stdout
    assert "PREREVIEW_SECRET_PROBE" not in result.stdout
