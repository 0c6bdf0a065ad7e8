"""The exec agent (agent.c): built once, kept in a sealed memfd, started as each host's PID 1.

It is C, and static, so that a sandbox host starts in milliseconds and each exec costs about
what a local subprocess costs, and so that it runs in any root filesystem. The first sandbox of a
machine compiles it with the host's C compiler (prereview needs gcc anyway) into a cache keyed by
the source's hash; `$PREREVIEW_SANDBOX_AGENT` may name a prebuilt binary instead. bwrap executes
it from a sealed memfd (`/proc/self/fd/N`), so the binary is never a path inside the sandbox and
nothing can alter it.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from prereview.sandbox.errors import SandboxUnavailableError
from prereview.sandbox.state import state_root

SOURCE = Path(__file__).with_name("agent.c")
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def _compile(source: bytes, target: Path) -> None:
    compiler = shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")
    if compiler is None:
        raise SandboxUnavailableError(
            "the sandbox's exec agent needs a C compiler once: apt-get install gcc libc6-dev "
            "(or set PREREVIEW_SANDBOX_AGENT to a prebuilt agent)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp, "agent.c")
        src.write_bytes(source)
        built = Path(tmp, "agent")
        result = subprocess.run(
            [compiler, "-O2", "-static", "-Wall", "-o", str(built), str(src)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr.strip().splitlines() or ["no output"])[-1][:200]
            raise SandboxUnavailableError(
                f"cannot build the sandbox's exec agent ({detail}): apt-get install gcc "
                "libc6-dev (static glibc), or set PREREVIEW_SANDBOX_AGENT to a prebuilt agent"
            )
        built.replace(target)  # atomic: concurrent builders end with the same file


@functools.cache
def agent_binary() -> bytes:
    """The agent's executable bytes (prebuilt, cached, or compiled now)."""
    prebuilt = os.environ.get("PREREVIEW_SANDBOX_AGENT")
    if prebuilt:
        try:
            return Path(prebuilt).read_bytes()
        except OSError as exc:
            raise SandboxUnavailableError(
                f"PREREVIEW_SANDBOX_AGENT={prebuilt}: {exc.strerror}"
            ) from None
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    cached = state_root() / "agent" / f"agent-{digest}"
    if not cached.is_file():
        _compile(source, cached)
    return cached.read_bytes()


@functools.cache
def _sealed_memfd() -> int:
    fd = os.memfd_create("prereview-agent", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    data = memoryview(agent_binary())
    while data:
        data = data[os.write(fd, data) :]
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    return fd


def agent_fd() -> int:
    """A new descriptor of the sealed agent executable, for one bwrap to execute; caller closes."""
    return os.dup(_sealed_memfd())
