"""The bwrap sandbox: Inspect sandbox provider `bwrap` and what scorers and the CLI need of it.

Isolation per host: user, PID, mount, IPC, UTS, network and cgroup namespaces (bubblewrap); the
host's system directories read-only; writable size-limited tmpfs for the working directory, /tmp
and /dev/shm; no capabilities, no_new_privs and a seccomp filter; memory and process limits in a
cgroup of its own; an unprivileged host uid of its own. See `environment.py` for the Inspect side,
`host.py` for the evaluator's end of the protocol and `agent.c` for how commands run inside.
"""

from prereview.sandbox.config import BwrapConfig, SandboxConfigError
from prereview.sandbox.environment import BwrapSandboxEnvironment, isolated_sandbox
from prereview.sandbox.errors import SandboxUnavailableError

__all__ = [
    "BwrapConfig",
    "BwrapSandboxEnvironment",
    "SandboxConfigError",
    "SandboxUnavailableError",
    "isolated_sandbox",
]
