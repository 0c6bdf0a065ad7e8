"""Removing what sandboxes of dead evaluators left: processes, cgroups, uid reservations, state.

Run once per process before the first sample, by `cli_cleanup` (`inspect sandbox cleanup bwrap`)
and by `prereview sandbox cleanup`. A sample counts as stale when the process that created it is
gone (pid and start time no longer match); a live one is only touched when named explicitly.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import anyio

from prereview.sandbox.cgroups import kill_members, remove_cgroups
from prereview.sandbox.state import HOST_UID_BASE, HOST_UID_SPAN, live_samples, state_root

_swept = False


async def sweep_once() -> None:
    global _swept
    if not _swept:
        _swept = True
        await anyio.to_thread.run_sync(sweep_stale)


def sweep_stale(sample_id: str | None = None) -> list[str]:
    """Clean up stale samples (or exactly `sample_id`, live or not); returns the ids removed."""
    removed = []
    for state in live_samples():
        if sample_id is not None and state.sample_id != sample_id:
            continue
        if sample_id is None and state.owner_alive():
            continue
        for directory in state.cgroups:
            kill_file = Path(directory, "cgroup.kill")
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            kill_members(Path(directory))
        _kill_uids(set(state.uids))
        remove_cgroups([Path(d) for d in state.cgroups])
        state.remove()
        removed.append(state.sample_id)
    _drop_orphan_uid_marks()
    return removed


def _kill_uids(uids: set[int]) -> None:
    """SIGKILL processes running as a sample's host uids (all of them are that sample's)."""
    uids = {u for u in uids if HOST_UID_BASE <= u < HOST_UID_BASE + HOST_UID_SPAN}
    if not uids:
        return
    for _ in range(20):
        found = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                uid = entry.stat().st_uid
            except OSError:
                continue
            if uid in uids:
                found = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
        if not found:
            return


def _drop_orphan_uid_marks() -> None:
    root = state_root()
    held = {uid for state in live_samples() for uid in state.uids}
    for mark in root.glob("uid-*"):
        with contextlib.suppress(ValueError, OSError):
            if int(mark.name[4:]) not in held:
                mark.unlink()
