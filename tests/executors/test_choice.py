"""Choosing an executor, cutting units, and what is refused before anything runs."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from prereview.config import Settings, load_settings
from prereview.executors import ExecutorError, configured_executor, executor_for
from prereview.executors.local import LocalExecutor
from prereview.executors.ray import RayExecutor
from prereview.executors.units import cut_units
from prereview.review.assessment import run_assessment
from prereview.review.service import ReviewService
from tests.review.conftest import row_counts, simulated_request

PREREVIEW = str(Path(sys.executable).parent / "prereview")


def test_local_is_the_default_and_ray_needs_an_address(sqlite_install: Settings) -> None:
    assert isinstance(configured_executor(sqlite_install), LocalExecutor)
    chosen = configured_executor(sqlite_install, "ray", "127.0.0.1:6379")
    assert isinstance(chosen, RayExecutor) and chosen.port == 6379
    with pytest.raises(ExecutorError, match="needs --address"):
        executor_for("ray")
    with pytest.raises(ExecutorError, match="--address is for --executor ray"):
        executor_for("local", "127.0.0.1:6379")
    with pytest.raises(ExecutorError, match="unknown executor 'spark'"):
        executor_for("spark")
    with pytest.raises(ExecutorError, match="HOST:PORT"):
        executor_for("ray", "head-without-port")


def test_the_config_file_names_the_executor(sqlite_install: Settings) -> None:
    config = sqlite_install.home / "config.toml"
    text = config.read_text() if config.exists() else ""
    config.write_text(text + '\nexecutor = "ray"\nray_address = "127.0.0.1:7000"\n')
    chosen = configured_executor(load_settings())
    assert isinstance(chosen, RayExecutor) and chosen.address == "127.0.0.1:7000"


def test_units_cover_what_is_not_recorded_once(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService
) -> None:
    record = sqlite_service.submit(simulated_request())
    plan = sqlite_reviewer.plan(record.id, suite="calibration", limit=5)
    units = cut_units(plan, [], size=2)
    assert [u.sample_ids for u in units] == [["cal-0", "cal-1"], ["cal-2", "cal-3"], ["cal-4"]]
    assert len({u.unit_id for u in units}) == 3
    left = cut_units(plan, [("calibration", "cal-1", 1), ("calibration", "cal-4", 1)], size=2)
    assert [u.sample_ids for u in left] == [["cal-0", "cal-2"], ["cal-3"]]
    with pytest.raises(ValueError, match="at least one sample"):
        cut_units(plan, [], size=0)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


def test_an_unreachable_cluster_is_one_line_and_nothing_is_written(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService
) -> None:
    record = sqlite_service.submit(simulated_request())
    before = row_counts(sqlite_service)
    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(ExecutorError, match=f"cannot reach the Ray cluster at {address}"):
        run_assessment(
            sqlite_reviewer, record.id, suite="calibration", executor=RayExecutor(address)
        )
    done = subprocess.run(
        [
            PREREVIEW,
            "assess",
            record.id,
            "--suite",
            "calibration",
            "--executor",
            "ray",
            "--address",
            address,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot reach the Ray cluster at {address}" in lines[0]
    assert row_counts(sqlite_service) == before  # no plan, no run, no state change
    assert sqlite_reviewer.get(record.id).review is None


def test_the_plan_families_guess_reads_refs_only_and_gives_up_on_old_ones() -> None:
    from prereview.executors.cluster import plan_families

    assert plan_families(["memsafety/memsafety_poc", "ics/ics_attack", "memsafety/x"]) == [
        "ics",
        "memsafety",
    ]
    assert plan_families(["memsafety/memsafety_poc", "prereview.tasks:old_task"]) is None
    assert plan_families([]) is None


@pytest.mark.parametrize("who", ["submitter", "submitter, id upper-cased with a space"])
def test_a_caller_who_may_not_assess_never_reaches_the_cluster(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService, who: str
) -> None:
    """`assess --executor ray` joins the cluster early, but only after the access check: a
    submitter (who may not assess), also naming the id in other case with a space, is refused
    with the access error and the address never hears from this host."""
    import os

    from tests.review.conftest import SUBMITTER_TOKEN

    record = sqlite_service.submit(simulated_request())
    ident = record.id if who == "submitter" else record.id.upper() + " "
    before = row_counts(sqlite_service)
    token = SUBMITTER_TOKEN[str(sqlite_service.settings.home)]
    with socket.socket() as listener:  # stands where a cluster head would be
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(0.5)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        done = subprocess.run(
            [PREREVIEW, "assess", ident, "--executor", "ray", "--address", address],
            env={**os.environ, "PREREVIEW_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        with pytest.raises(TimeoutError):
            listener.accept()[0].close()  # nothing ever connected
    assert done.returncode != 0 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "access denied" in lines[0], done.stderr
    assert "Ray cluster" not in done.stderr
    assert row_counts(sqlite_service) == before
    assert sqlite_reviewer.get(record.id).review is None
