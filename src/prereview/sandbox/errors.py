"""Why a sandbox could not be had: one error type the CLI and Inspect both understand."""

from __future__ import annotations

from inspect_ai.util._sandbox.environment import (
    SandboxUnavailableError as InspectSandboxUnavailableError,
)

from prereview.errors import PrereviewError


class SandboxUnavailableError(PrereviewError, InspectSandboxUnavailableError):
    """bwrap, namespaces or the sandbox itself cannot run commands; the message says what to fix.

    It is Inspect's `SandboxUnavailableError` too, so a tool call that meets it becomes a
    `sandbox_unavailable` tool error instead of output shown to the model as the command's own.
    `fix` repeats, on its own, what to install or enable (for `prereview doctor`).
    """

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(f"{message}: {fix}" if fix else message)
        self.fix = fix
