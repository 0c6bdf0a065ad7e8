"""Can this host run bwrap sandboxes at all? One check, with an answer that says what to fix."""

from __future__ import annotations

import functools
import shutil
import subprocess

from prereview.sandbox.errors import SandboxUnavailableError


@functools.cache
def require_bwrap() -> str:
    """The bwrap path, after proving it can create the namespaces a sandbox needs."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailableError(
            "bubblewrap is not installed",
            "apt-get install bubblewrap (or your distribution's bubblewrap package)",
        )
    argv = [
        bwrap, "--unshare-all", "--die-with-parent",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--proc", "/proc", "--dev", "/dev", "true",
    ]  # fmt: skip
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailableError(f"bwrap could not run: {exc}") from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no error output"])[-1][:200]
        raise SandboxUnavailableError(
            f"bwrap cannot create namespaces ({detail})",
            "enable user namespaces (sysctl user.max_user_namespaces=15000; on Debian kernels "
            "kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 allow bwrap under AppArmor) "
            "or run as root",
        )
    return bwrap
