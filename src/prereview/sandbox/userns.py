"""The user namespace of a host with two uids (`BwrapConfig.privileged_hosts`).

bwrap can map only one uid when it creates the namespace itself, and newuidmap is not installed;
the evaluator is root, so it builds the namespace: a helper running as the host's own uid
unshares CLONE_NEWUSER, the evaluator writes the two-line uid and gid maps (0 -> the privileged
host uid, `uid` -> the host uid), and the helper, which holds every capability in the new
namespace until it exits, sets the namespace's user.max_user_namespaces to 0. Nothing inside
ever holds CAP_SYS_RESOURCE there (bwrap clears the bounding set), so that lock, like bwrap's
--disable-userns, cannot be lifted from inside; seccomp refuses new user namespaces besides.
bwrap then joins the namespace (`--userns FD`) instead of creating one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from prereview.sandbox.errors import SandboxUnavailableError

PRIVILEGED_UID = 0
PRIVILEGED_USER = "root"

_HELPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) != 0:
    sys.exit("unshare(CLONE_NEWUSER): " + os.strerror(ctypes.get_errno()))
os.write(1, b"u")
if os.read(0, 1) != b"m":
    sys.exit(1)
with open("/proc/sys/user/max_user_namespaces", "w") as limit:
    limit.write("0")
os.write(1, b"r")
os.read(0, 1)
"""
_TIMEOUT = 30.0


def two_uid_namespace(host_uid: int, privileged_uid: int, uid: int) -> int:
    """An fd of a new user namespace owned by `host_uid` that maps `uid` -> host_uid and
    0 -> privileged_uid (the same for gids), with no further user namespaces allowed in it."""
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    user = [f"--reuid={host_uid}", f"--regid={host_uid}", "--clear-groups"]
    helper = subprocess.Popen(
        [setpriv, *user, "--", sys.executable, "-I", "-c", _HELPER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert helper.stdin is not None and helper.stdout is not None
    try:
        if helper.stdout.read(1) != b"u":
            raise _failed(helper, "the helper did not create it")
        mapping = f"{PRIVILEGED_UID} {privileged_uid} 1\n{uid} {host_uid} 1\n".encode()
        for kind in ("uid", "gid"):
            fd = os.open(f"/proc/{helper.pid}/{kind}_map", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, mapping)
            finally:
                os.close(fd)
        helper.stdin.write(b"m")
        helper.stdin.flush()
        if helper.stdout.read(1) != b"r":
            raise _failed(helper, "the helper could not lock nested user namespaces")
        return os.open(f"/proc/{helper.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SandboxUnavailableError(
            f"cannot build a two-uid user namespace: {exc.strerror}"
        ) from None
    finally:
        helper.stdin.close()
        try:
            helper.wait(_TIMEOUT)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()
        helper.stdout.close()
        if helper.stderr is not None:
            helper.stderr.close()


def _failed(helper: subprocess.Popen[bytes], what: str) -> SandboxUnavailableError:
    helper.kill()
    helper.wait()
    detail = helper.stderr.read(300).decode(errors="replace").strip() if helper.stderr else ""
    return SandboxUnavailableError(
        f"cannot build a two-uid user namespace: {what}"
        + (f" ({detail.splitlines()[-1]})" if detail else "")
    )


def command_prefix(privileged: bool, uid: int) -> list[str]:
    """What every command on a two-uid host runs under: the exec agent there keeps CAP_SETUID,
    CAP_SETGID, CAP_SETPCAP and CAP_KILL (to start and end commands of either uid), so each
    command first drops them all (inheritable, ambient, bounding) and takes its uid."""
    target = PRIVILEGED_UID if privileged else uid
    return [
        "/usr/bin/setpriv", f"--reuid={target}", f"--regid={target}", "--clear-groups",
        "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--",
    ]  # fmt: skip
