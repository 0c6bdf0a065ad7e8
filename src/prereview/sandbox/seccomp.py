"""The seccomp filter every sandboxed process runs under, compiled to BPF with libseccomp.

A deny list on top of dropped capabilities and no_new_privs: the calls below either reach kernel
surface that has no business in an agentic task (bpf, io_uring, perf, keys, modules, kexec) or
would let a process reshape its own confinement (mount, new namespaces, setns). Sockets are
limited to the families a task needs: a network namespace confines only IP (vsock reaches the
hypervisor, other families reach kernel code few hosts exercise or load a module on demand).
Everything else keeps working, so gcc, clang, ASan, gdb and python behave as on a normal host.
Calls made through another architecture's ABI (i386 `int 0x80`, x32, hence i386 socketcall too)
kill the process, so the lists cannot be sidestepped by syscall number.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os

from prereview.sandbox.errors import SandboxUnavailableError

DENIED = (
    # filesystems and the mount table
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    # namespaces
    "unshare", "setns",
    # kernel code, kernel state and the machine
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "syslog", "acct", "quotactl", "quotactl_fd", "iopl", "ioperm",
    "settimeofday", "clock_settime", "clock_adjtime", "vhangup", "uselib", "lookup_dcookie",
    "nfsservctl",
    # wide attack surface
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "pidfd_getfd",
)  # fmt: skip
"""Refused with EPERM."""

PTRACE_CALLS = ("ptrace", "process_vm_readv", "process_vm_writev")
"""Refused unless `allow_ptrace`; even when allowed, only the sandbox's own processes are seen."""

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
SOCKET_FAMILIES = (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK)
"""The families socket() and socketpair() may create; any other is refused with EAFNOSUPPORT
(as from a kernel without it). Netlink is there for iproute2 (`ip addr`, `ss`) and glibc's
getifaddrs and getaddrinfo, and only for the protocols below."""
NETLINK_PROTOCOLS = (0, 4)  # NETLINK_ROUTE, NETLINK_SOCK_DIAG
"""Netlink protocols a socket may use; others (generic netlink, audit, uevents, crypto,
netfilter, xfrm) are refused with EPROTONOSUPPORT."""

CLONE_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)
TERMINAL_INJECTION_IOCTLS = (0x5412, 0x541C)  # TIOCSTI, TIOCLINUX

_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_CMP_EQ = 4
_SCMP_CMP_GE = 5
_SCMP_CMP_MASKED_EQ = 7

Cmp = tuple[int, int, int, int]
"""(argument index, libseccomp operator, datum_a, datum_b)"""


def _act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


def _libseccomp() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        raise SandboxUnavailableError(
            "libseccomp is missing: apt-get install libseccomp2 (the sandbox's syscall filter "
            "is built with it)"
        ) from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = (ctypes.c_uint32,)
    lib.seccomp_release.argtypes = (ctypes.c_void_p,)
    lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
    lib.seccomp_rule_add_array.argtypes = (
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    )
    lib.seccomp_export_bpf.argtypes = (ctypes.c_void_p, ctypes.c_int)
    return lib


@functools.cache
def filter_program(allow_ptrace: bool) -> bytes:
    """The compiled BPF program (struct sock_filter[]), as bwrap's `--seccomp FD` reads it."""
    lib = _libseccomp()
    ctx = lib.seccomp_init(_SCMP_ACT_ALLOW)
    if not ctx:
        raise SandboxUnavailableError("libseccomp could not create a filter")
    try:
        denied = DENIED + (() if allow_ptrace else PTRACE_CALLS)
        for name in denied:
            _add(lib, ctx, name, _act_errno(errno.EPERM))
        for flag in CLONE_NAMESPACE_FLAGS:
            _add(lib, ctx, "clone", _act_errno(errno.EPERM), (0, flag, flag))
        # clone3 passes its flags in memory a filter cannot read: glibc falls back to clone
        _add(lib, ctx, "clone3", _act_errno(errno.ENOSYS))
        for request in TERMINAL_INJECTION_IOCTLS:
            _add(lib, ctx, "ioctl", _act_errno(errno.EPERM), (1, 0xFFFFFFFF, request))
        _add_socket_rules(lib, ctx)
        read_fd, write_fd = os.pipe()
        try:
            if lib.seccomp_export_bpf(ctx, write_fd) != 0:
                raise SandboxUnavailableError("libseccomp could not export the filter")
            os.close(write_fd)
            write_fd = -1
            chunks = []
            while chunk := os.read(read_fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
    finally:
        lib.seccomp_release(ctx)


def _add_socket_rules(lib: ctypes.CDLL, ctx: int) -> None:
    """Refuse every family but SOCKET_FAMILIES, and netlink protocols but NETLINK_PROTOCOLS.

    The kernel reads the family as a 32-bit int, the filter compares all 64 bits of the
    register: `>= first unlisted above the allowed` catches every value with high bits set
    (e.g. 2**32 + AF_VSOCK), and equality rules catch the unlisted values below it.
    """
    no_family = _act_errno(errno.EAFNOSUPPORT)
    top = max(SOCKET_FAMILIES) + 1
    for name in ("socket", "socketpair"):
        _add(lib, ctx, name, no_family, cmps=[(0, _SCMP_CMP_GE, top, 0)])
        for family in range(top):
            if family not in SOCKET_FAMILIES:
                _add(lib, ctx, name, no_family, cmps=[(0, _SCMP_CMP_EQ, family, 0)])
    no_protocol = _act_errno(errno.EPROTONOSUPPORT)
    netlink = (0, _SCMP_CMP_EQ, AF_NETLINK, 0)
    high = max(NETLINK_PROTOCOLS) + 1
    _add(lib, ctx, "socket", no_protocol, cmps=[netlink, (2, _SCMP_CMP_GE, high, 0)])
    for protocol in range(high):
        if protocol not in NETLINK_PROTOCOLS:
            _add(lib, ctx, "socket", no_protocol, cmps=[netlink, (2, _SCMP_CMP_EQ, protocol, 0)])
    # where socketcall is native (s390x, ppc), it could carry any family past the rules above
    _add(lib, ctx, "socketcall", _act_errno(errno.ENOSYS))


def _add(
    lib: ctypes.CDLL,
    ctx: int,
    name: str,
    action: int,
    masked: tuple[int, int, int] | None = None,
    cmps: list[Cmp] | None = None,
) -> None:
    number = lib.seccomp_syscall_resolve_name(name.encode())
    if number < 0:  # not a syscall on this architecture (e.g. iopl on arm64)
        return
    if masked is not None:
        arg, mask, value = masked
        cmps = [(arg, _SCMP_CMP_MASKED_EQ, mask, value)]
    conditions = [_ArgCmp(*cmp) for cmp in cmps or []]
    array = (_ArgCmp * len(conditions))(*conditions) if conditions else None
    rc = lib.seccomp_rule_add_array(ctx, action, number, len(conditions), array)
    if rc != 0:
        raise SandboxUnavailableError(f"libseccomp refused the rule for {name} ({-rc})")


def filter_fd(allow_ptrace: bool) -> int:
    """A readable fd holding the program (bwrap reads it to EOF); the caller closes it."""
    program = filter_program(allow_ptrace)
    fd = os.memfd_create("prereview-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
