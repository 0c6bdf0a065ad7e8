"""Inside the sandbox only unix, inet, inet6 and netlink (route, sock_diag) sockets can be made.

A network namespace confines IP only: vsock reaches the hypervisor, packet and XDP sockets the
raw link, and the rest reach kernel code few hosts exercise (or load a module on demand). Each
family is tried inside a real bwrap sandbox as an agent would; where this host itself can make a
family, the sandbox's refusal is the filter's doing, not a missing kernel feature.
"""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.sandbox import BwrapSandboxEnvironment
from tests.sandbox.conftest import needs_bwrap, probe, sandbox, sh

pytestmark = needs_bwrap
__all__ = ["sandbox"]  # the fixture, shared with tests/sandbox

# family -> socket type that family supports (so that on a host, the call can succeed)
FORBIDDEN = {
    "AF_UNSPEC": (0, 1),
    "AF_KEY": (15, 3),
    "AF_PACKET": (17, 3),
    "AF_RDS": (21, 5),
    "AF_CAN": (29, 3),
    "AF_TIPC": (30, 5),
    "AF_BLUETOOTH": (31, 1),
    "AF_ALG": (38, 5),
    "AF_VSOCK": (40, 1),
    "AF_XDP": (44, 3),
    "AF_VSOCK+2**32": (2**32 + 40, 1),  # the kernel reads an int: high bits must not help
}

_TRY = """
def sock(family, kind, protocol=0):
    fd = libc.syscall(ctypes.c_long(41), ctypes.c_long(family), ctypes.c_long(kind),
                      ctypes.c_long(protocol))
    if fd < 0:
        return errno.errorcode.get(ctypes.get_errno(), "?")
    os.close(fd)
    return "ok"
def pair(family, kind):
    fds = (ctypes.c_int * 2)()
    rc = libc.syscall(ctypes.c_long(53), ctypes.c_long(family), ctypes.c_long(kind),
                      ctypes.c_long(0), fds)
    return "ok" if rc >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
"""


def _on_host(family: int, kind: int) -> bool:
    try:
        socket.socket(family & 0xFFFFFFFF, kind).close()
    except OSError:
        return False
    return True


async def test_forbidden_families_are_refused(sandbox: BwrapSandboxEnvironment) -> None:
    cases = json.dumps(FORBIDDEN)
    code = (
        f"{_TRY}\ncases = json.loads({cases!r})\n"
        "print(json.dumps({name: [sock(f, k), pair(f, k)] for name, (f, k) in cases.items()}))"
    )
    seen = await probe(sandbox, code)
    assert seen == {name: ["EAFNOSUPPORT", "EAFNOSUPPORT"] for name in FORBIDDEN}


async def test_refusal_is_the_filter_not_the_kernel(sandbox: BwrapSandboxEnvironment) -> None:
    # families this host makes for us (as root: packet and XDP; vsock on a VM) must be refused
    # inside with the filter's EAFNOSUPPORT, not the EPERM a missing capability would give
    usable = {n: fk for n, fk in FORBIDDEN.items() if fk[0] < 2**32 and _on_host(*fk)}
    if not usable:
        pytest.skip("this host cannot make any of the forbidden families itself")
    code = f"{_TRY}\nprint(json.dumps({{n: sock(f, k) for n, (f, k) in {usable!r}.items()}}))"
    assert await probe(sandbox, code) == dict.fromkeys(usable, "EAFNOSUPPORT")


async def test_netlink_only_route_and_sock_diag(sandbox: BwrapSandboxEnvironment) -> None:
    protocols = {"route": 0, "sock_diag": 4, "audit": 9, "uevent": 15, "generic": 16, "crypto": 21}
    code = f"{_TRY}\nprint(json.dumps({{n: sock(16, 3, p) for n, p in {protocols!r}.items()}}))"
    assert await probe(sandbox, code) == {
        "route": "ok",
        "sock_diag": "ok",
        "audit": "EPROTONOSUPPORT",
        "uevent": "EPROTONOSUPPORT",
        "generic": "EPROTONOSUPPORT",
        "crypto": "EPROTONOSUPPORT",
    }


async def test_allowed_families_still_work(sandbox: BwrapSandboxEnvironment) -> None:
    code = (
        "server = socket.create_server(('127.0.0.1', 0))\n"
        "client = socket.create_connection(server.getsockname(), 5)\n"
        "client.sendall(b'tcp')\n"
        "got = server.accept()[0].recv(3)\n"
        "a, b = socket.socketpair()\n"
        "a.sendall(b'unix')\n"
        "six = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
        "six.bind(('::1', 0))\n"
        "six.sendto(b'v6', six.getsockname())\n"
        "print(json.dumps([got.decode(), b.recv(4).decode(), six.recv(2).decode()]))"
    )
    assert await probe(sandbox, code) == ["tcp", "unix", "v6"]
    # iproute2 speaks netlink (route) and ss sock_diag: both keep working
    tools = await sh(sandbox, "ip -o addr show lo && ss -tln")
    assert tools.success, tools.stderr
    assert "127.0.0.1" in tools.stdout


async def test_x32_socket_call_kills_the_process(sandbox: BwrapSandboxEnvironment) -> None:
    # the x32 ABI (syscall number | 0x40000000) must not carry AF_VSOCK past the family rules
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.syscall(ctypes.c_long(0x40000000 + 41), ctypes.c_long(40), ctypes.c_long(1), "
        "ctypes.c_long(0))\nprint('survived')"
    )
    result = await sandbox.exec(["python3", "-c", code])
    assert result.returncode == 128 + 31 and "survived" not in result.stdout  # SIGSYS


@pytest.mark.slow
def test_sandbox_check_reports_the_socket_property() -> None:
    result = CliRunner().invoke(app, ["sandbox", "check", "--json"])
    report = json.loads(result.output)
    (prop,) = [p for p in report["properties"] if p["name"].startswith("sockets only")]
    assert prop["ok"] is True, prop
