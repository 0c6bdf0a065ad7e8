"""The seccomp filter every sandboxed process runs under, compiled to BPF with libseccomp.

A deny list on top of dropped capabilities and no_new_privs: the calls below either reach kernel
surface that has no business in an agentic task (bpf, io_uring, perf, keys, modules, kexec) or
would let a process reshape its own confinement (mount, new namespaces, setns). Everything else
keeps working, so gcc, clang, ASan, gdb and python behave as on a normal host. Calls made through
another architecture's ABI (i386 `int 0x80`, x32) kill the process, so the list cannot be
sidestepped by syscall number.
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
_SCMP_CMP_MASKED_EQ = 7


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


def _add(
    lib: ctypes.CDLL, ctx: int, name: str, action: int, masked: tuple[int, int, int] | None = None
) -> None:
    number = lib.seccomp_syscall_resolve_name(name.encode())
    if number < 0:  # not a syscall on this architecture (e.g. iopl on arm64)
        return
    if masked is None:
        rc = lib.seccomp_rule_add_array(ctx, action, number, 0, None)
    else:
        arg, mask, value = masked
        cmp = _ArgCmp(arg, _SCMP_CMP_MASKED_EQ, mask, value)
        rc = lib.seccomp_rule_add_array(ctx, action, number, 1, ctypes.byref(cmp))
    if rc != 0:
        raise SandboxUnavailableError(f"libseccomp refused the rule for {name} ({-rc})")


def filter_fd(allow_ptrace: bool) -> int:
    """A readable fd holding the program (bwrap reads it to EOF); the caller closes it."""
    program = filter_program(allow_ptrace)
    fd = os.memfd_create("prereview-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
