"""`prereview sandbox check` on two-uid hosts: it proves that a service of the host's root uid
is out of the sandbox user's reach, and it fails when it is not."""

from __future__ import annotations

import os

import anyio
import pytest

from prereview.sandbox import host as sandbox_host
from prereview.sandbox import selfcheck
from prereview.sandbox.selfcheck import check_two_uids
from prereview.sandbox.userns import command_prefix
from tests.sandbox.conftest import needs_bwrap

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="two-uid hosts need a root evaluator")


@needs_bwrap
@as_root
def test_the_check_proves_roots_service_and_files_out_of_the_users_reach() -> None:
    got = anyio.run(check_two_uids)
    assert got.ok, got.detail
    assert "service uid 0" in got.detail and "user uid 1000" in got.detail
    assert "12 attempts refused" in got.detail
    assert check_two_uids in selfcheck.PROBES


@needs_bwrap
@as_root
def test_the_check_fails_when_roots_commands_run_as_the_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a broken two-uid host: what should run as root runs as the sandbox user
    monkeypatch.setattr(
        sandbox_host, "command_prefix", lambda privileged, uid: command_prefix(False, uid)
    )
    got = anyio.run(check_two_uids)
    assert not got.ok
    assert got.detail.startswith("ALLOWED: signal 0, SIGKILL")
    assert "read a 0600 file" in got.detail and "uids inside [1000, 1000]" in got.detail


def test_without_a_root_evaluator_it_says_two_uid_hosts_refuse_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    got = anyio.run(check_two_uids)
    assert got.ok and "refuse to start" in got.detail
