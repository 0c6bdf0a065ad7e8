"""The `ray` executor on a real cluster: a head and two worker nodes, each its own `ray start`
process group on this host (loopback only), shared by the tests of this module.

Order matters and is kept: the refusals first (extra nodes join, then leave), the withdrawal, a
node that joins mid-run and fails readiness, then one worker node is killed mid-run, and last the
whole cluster goes away mid-run."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from prereview.domain.submission import ModelAccess, Throughput
from prereview.executors import ExecutorError
from prereview.executors.localcluster import LocalRayCluster
from prereview.executors.node import NODE_TAG
from prereview.executors.ray import RayExecutor
from prereview.review.assessment import run_assessment
from prereview.review.service import ReviewService, SubmissionRequest
from prereview.store.tables.review import ReviewRow, SampleResultRow
from prereview.vault.workspace import PlaintextWorkspace
from tests.review.conftest import ORG, SUBMITTER_TOKEN, row_counts

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PREREVIEW = str(Path(sys.executable).parent / "prereview")


def _base_port() -> int:
    import socket

    for attempt in range(20):
        base = 20000 + ((os.getpid() + attempt * 7) % 60) * 150
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", base))
            except OSError:
                continue
            return base
    raise RuntimeError("no free port range for the test cluster")


def node_env(root: Path, name: str) -> dict[str, str]:
    return {
        "PREREVIEW_PLAINTEXT_DIR": str(root / f"plaintext-{name}"),
        "PREREVIEW_HOME": str(root / f"home-{name}"),
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRayCluster]:
    root = tmp_path_factory.mktemp("ray")
    c = LocalRayCluster(root, _base_port())
    try:
        c.start_head(node_env(root, "head"))
        for n, name in enumerate(("w1", "w2"), start=1):
            c.add_worker(name, node_env(root, name))
            c.wait_for_nodes(n)
        yield c
    finally:
        c.stop()


def plaintext_of(cluster: LocalRayCluster, name: str) -> Path:
    """The node's own root in its plaintext window."""
    base = Path(node_env(cluster.root, name)["PREREVIEW_PLAINTEXT_DIR"])
    return PlaintextWorkspace(base, NODE_TAG).root


def unit_dirs(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.is_dir() and p.name != "traces"] if root.exists() else []


def request(latency: float, connections: int, rpm: float | None, record: Path) -> SubmissionRequest:
    return SubmissionRequest(
        organization=ORG,
        access=ModelAccess("simulated/test"),
        release_date=date.today() + timedelta(days=21),
        throughput=Throughput(rpm, connections, max(latency, 0.01)),
        model_args={
            "latency": latency,
            "connections": connections,
            "record": str(record),
            "after_script": "hello",
        },
    )


def calls(record: Path) -> list[dict[str, float]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def recorded(service: ReviewService, submission_id: str) -> list[tuple[str, int]]:
    with service.db.session() as s:
        rows = s.execute(
            select(SampleResultRow.sample_id, SampleResultRow.epoch)
            .join(ReviewRow, ReviewRow.id == SampleResultRow.review_id)
            .where(ReviewRow.submission_id == submission_id)
        ).all()
    return [(r[0], r[1]) for r in rows]


def when(condition: Callable[[], bool], action: Callable[[], None]) -> threading.Thread:
    """Run `action` on a helper thread once `condition` holds (the run stays on the main one)."""

    def wait() -> None:
        deadline = time.monotonic() + 120
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.1)
        action()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def assess_on(
    cluster: LocalRayCluster, submission_id: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`prereview assess` of two calibration samples on `cluster`, run with `env`."""
    return subprocess.run(
        [
            PREREVIEW,
            "assess",
            submission_id,
            "--suite",
            "calibration",
            "--limit",
            "2",
            "--executor",
            "ray",
            "--address",
            cluster.address,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fake_release(root: Path, version: str) -> Path:
    """A path entry that makes `prereview` report another release on the node that has it."""
    info = root / f"prereview-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: prereview\nVersion: {version}\n")
    return root


def test_nodes_that_cannot_run_are_refused_in_one_line_before_anything_runs(
    cluster: LocalRayCluster,
    sqlite_service: ReviewService,
    sqlite_reviewer: ReviewService,
    tmp_path: Path,
) -> None:
    passed = RayExecutor(cluster.address)
    passed.preflight()  # the two good nodes pass: this head remembers them for later runs
    passed.close()
    old = cluster.add_worker(
        "old",
        {
            **node_env(cluster.root, "old"),
            "PYTHONPATH": str(fake_release(tmp_path / "old-release", "0.0.1")),
        },
    )
    cluster.wait_for_nodes(3)
    bad = cluster.add_worker(
        "bad", {**node_env(cluster.root, "bad"), "PREREVIEW_PLAINTEXT_DIR": "/proc/none"}
    )
    try:
        cluster.wait_for_nodes(4)
        record = sqlite_service.submit(request(0.01, 2, None, tmp_path / "calls.jsonl"))
        before = row_counts(sqlite_service)
        with pytest.raises(ExecutorError) as refused:
            run_assessment(
                sqlite_reviewer,
                record.id,
                suite="calibration",
                limit=2,
                executor=RayExecutor(cluster.address),
            )
        line = str(refused.value)
        assert "\n" not in line and "nothing was scheduled" in line
        assert re.search(r"version mismatch: node \w+ \(.*\) runs prereview 0\.0\.1", line)
        assert "fails readiness: plaintext window" in line
        assert line.count("node ") == 2  # the two good nodes are not named
        assert row_counts(sqlite_service) == before
        assert sqlite_reviewer.get(record.id).review is None
        assert calls(tmp_path / "calls.jsonl") == []
    finally:
        for node in (old, bad):
            node.kill()
            cluster.workers.remove(node)
        cluster.wait_for_nodes(2, exact=True)


def test_a_head_without_the_clusters_token_is_refused_in_one_line(
    cluster: LocalRayCluster,
    sqlite_service: ReviewService,
    sqlite_reviewer: ReviewService,
    tmp_path: Path,
) -> None:
    # the test cluster's ports listen on every interface: without its token nothing joins
    record = sqlite_service.submit(request(0.01, 1, None, tmp_path / "calls.jsonl"))
    before = row_counts(sqlite_service)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    refused = assess_on(cluster, record.id, env)
    assert refused.returncode != 0
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert f"cannot join the Ray cluster at {cluster.address}" in lines[-1], refused.stderr
    assert Path(os.environ["RAY_AUTH_TOKEN_PATH"]).read_text() not in refused.stderr
    assert row_counts(sqlite_service) == before
    assert sqlite_reviewer.get(record.id).review is None
    assert calls(tmp_path / "calls.jsonl") == []


def test_an_early_start_checks_the_nodes_while_the_head_starts_and_the_run_keeps_its_job(
    cluster: LocalRayCluster,
    sqlite_service: ReviewService,
    sqlite_reviewer: ReviewService,
    tmp_path: Path,
) -> None:
    """`prereview assess --executor ray` joins and probes the nodes for the stored plan's
    families before it imports Inspect; the preflight takes those reports (one Ray job, no
    second check) and the run completes."""
    import ray

    from prereview.executors.cluster import plan_families, start_early, take_warming

    record = sqlite_service.submit(request(0.01, 2, None, tmp_path / "calls.jsonl"))
    plan = sqlite_reviewer.plan(record.id, suite="calibration", limit=2)
    families = plan_families([t.factory for t in plan.tasks])
    assert families is not None
    start_early(cluster.address, families, check=True)
    job = ray.get_runtime_context().get_job_id()
    early = take_warming(cluster.address)
    assert len(early) == 2  # one probe per worker node
    reports = ray.get(early, timeout=180)
    assert all(r.checked and r.checked_for == families and r.failed == [] for r in reports)
    assert take_warming(cluster.address) == []  # handed out once
    start_early(cluster.address, families, check=True)  # again, for the preflight to take
    executor = RayExecutor(cluster.address)
    executor.preflight(sqlite_reviewer.get(record.id))
    assert ray.get_runtime_context().get_job_id() == job  # joined once
    assert take_warming(cluster.address) == []  # the preflight took them
    outcome = run_assessment(sqlite_reviewer, record.id, executor=executor)
    assert outcome.status == "completed", outcome.detail
    assert sorted(recorded(sqlite_service, record.id)) == [("cal-0", 1), ("cal-1", 1)]
    assert not ray.is_initialized()  # the run left the cluster


def test_an_early_start_that_cannot_reach_the_cluster_is_reported_by_the_preflight(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService, tmp_path: Path
) -> None:
    import socket

    import ray

    from prereview.executors.cluster import start_early

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    start_early(address, None, check=False)  # says nothing: the preflight does
    assert not ray.is_initialized()
    record = sqlite_service.submit(request(0.01, 1, None, tmp_path / "calls.jsonl"))
    before = row_counts(sqlite_service)
    with pytest.raises(ExecutorError) as refused:
        run_assessment(
            sqlite_reviewer,
            record.id,
            suite="calibration",
            limit=1,
            executor=RayExecutor(address),
        )
    assert str(refused.value).startswith(f"cannot reach the Ray cluster at {address}: ")
    assert "\n" not in str(refused.value)
    assert row_counts(sqlite_service) == before
    assert sqlite_reviewer.get(record.id).review is None


def test_withdrawal_stops_every_unit_on_every_node(
    cluster: LocalRayCluster,
    sqlite_service: ReviewService,
    sqlite_reviewer: ReviewService,
    tmp_path: Path,
) -> None:
    record_file = tmp_path / "calls.jsonl"
    # slow model calls: the run is still going when the withdrawal lands, however busy the host
    record = sqlite_service.submit(request(1.5, 2, None, record_file))
    withdrawn_at: list[float] = []
    token = SUBMITTER_TOKEN[str(sqlite_service.settings.home)]

    def withdraw() -> None:
        subprocess.run(
            [PREREVIEW, "withdraw", record.id],
            env={**os.environ, "PREREVIEW_TOKEN": token},
            capture_output=True,
            timeout=60,
            check=True,
        )
        withdrawn_at.append(time.time())

    helper = when(lambda: len(calls(record_file)) >= 2, withdraw)
    outcome = run_assessment(
        sqlite_reviewer,
        record.id,
        suite="calibration",
        limit=12,
        executor=RayExecutor(cluster.address, unit_samples=2),
    )
    returned = time.time()
    helper.join(timeout=60)
    assert outcome.status == "stopped_withdrawn"
    assert withdrawn_at and returned - withdrawn_at[0] < 30  # within seconds, not the run's end
    seen = len(calls(record_file))
    time.sleep(2)  # a unit that was still running anywhere would call the model again by now
    assert len(calls(record_file)) == seen
    assert max(c["start"] for c in calls(record_file)) < returned
    assert seen < 12 * 2  # it did stop: the plan had 24 model calls
    for name in ("w1", "w2"):
        assert unit_dirs(plaintext_of(cluster, name)) == []


def test_a_node_that_joins_mid_run_and_fails_readiness_gets_no_unit(
    cluster: LocalRayCluster,
    sqlite_service: ReviewService,
    sqlite_reviewer: ReviewService,
    tmp_path: Path,
) -> None:
    record_file = tmp_path / "calls.jsonl"
    record = sqlite_service.submit(request(1.5, 1, None, record_file))  # >= 18 s of model calls
    executor = RayExecutor(cluster.address, unit_samples=1)
    executor.preflight(sqlite_reviewer.get(record.id))  # the run's nodes: w1 and w2
    # then a node without a usable plaintext window joins: it would fail readiness
    env = {**node_env(cluster.root, "late"), "PREREVIEW_PLAINTEXT_DIR": "/proc/none"}
    late = cluster.add_worker("late", env)
    try:
        cluster.wait_for_nodes(3)
        outcome = run_assessment(
            sqlite_reviewer, record.id, suite="calibration", limit=12, executor=executor
        )
        assert outcome.status == "completed", outcome.detail
        assert Counter(recorded(sqlite_service, record.id)) == Counter(
            {(f"cal-{i}", 1): 1 for i in range(12)}
        )
        checked = {n.node_id for n in executor.nodes}
        assert len(checked) == 2 and set(executor.ran_on) <= checked
        assert sum(executor.ran_on.values()) == 12
        assert len(executor.timings) == 12  # each unit's phases, timed on its node and here
        for t in executor.timings:
            assert t["submitted"] <= t["started"] <= t["ended"] <= t["ready"] + 0.5
            assert t["eval"] > 0 and t["record"] >= 0
        assert len(executor.refused_nodes) == 1  # seen mid-run, probed, and refused
        assert not executor.refused_nodes & checked
    finally:
        late.kill()
        cluster.workers.remove(late)
        cluster.wait_for_nodes(2, exact=True)


def test_a_worker_node_killed_mid_run_still_records_every_sample_once(
    cluster: LocalRayCluster,
    sqlite_service: ReviewService,
    sqlite_reviewer: ReviewService,
    tmp_path: Path,
) -> None:
    record_file = tmp_path / "calls.jsonl"
    rpm = 240.0  # one request start each 0.25 s, cluster-wide; one connection at a time
    record = sqlite_service.submit(request(0.05, 1, rpm, record_file))
    victim = next(w for w in cluster.workers if w.name == "w2")
    helper = when(lambda: len(calls(record_file)) >= 3, victim.kill)
    outcome = run_assessment(
        sqlite_reviewer,
        record.id,
        suite="calibration",
        limit=8,
        executor=RayExecutor(cluster.address, unit_samples=2),
    )
    helper.join(timeout=60)
    assert victim.process.poll() is not None  # it was killed during the run
    assert outcome.status == "completed", outcome.detail
    rows = recorded(sqlite_service, record.id)
    assert Counter(rows) == Counter({(f"cal-{i}", 1): 1 for i in range(8)})

    # the limits held across both nodes: no two requests at once, starts 60/rpm apart
    spans = sorted((c["start"], c["end"]) for c in calls(record_file))
    for (start_a, end_a), (start_b, _) in itertools.pairwise(spans):
        assert start_b >= end_a - 0.02
        assert start_b - start_a >= 60 / rpm - 0.02

    # both nodes ran units; the killed one left its plaintext until the node's sweep
    killed = plaintext_of(cluster, "w2")
    assert list((plaintext_of(cluster, "w1") / "traces").glob("trace-*.log"))
    assert list((killed / "traces").glob("trace-*.log"))
    # the sweep keeps a live process's workspace (it may be a running unit): a killed node's
    # Ray workers notice their raylet is gone within seconds, so wait for them to exit first
    _wait_for_exit(int(p.stem.removeprefix("trace-")) for p in killed.rglob("trace-*.log"))
    done = subprocess.run(
        [PREREVIEW, "doctor", "--node", "--json"],
        env={**os.environ, **node_env(cluster.root, "w2")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert json.loads(done.stdout)["ok"] is True
    assert unit_dirs(killed) == []
    assert not list(killed.rglob("trace-*"))


def _wait_for_exit(pids: Iterable[int], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)


def test_a_cluster_lost_mid_run_leaves_the_review_resumable(
    cluster: LocalRayCluster,
    sqlite_service: ReviewService,
    sqlite_reviewer: ReviewService,
    tmp_path: Path,
) -> None:
    record_file = tmp_path / "calls.jsonl"
    record = sqlite_service.submit(request(0.3, 1, None, record_file))
    cli = subprocess.Popen(
        [
            PREREVIEW,
            "assess",
            record.id,
            "--suite",
            "calibration",
            "--limit",
            "6",
            "--json",
            "--executor",
            "ray",
            "--address",
            cluster.address,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RAY_gcs_rpc_server_reconnect_timeout_s": "3"},
    )
    try:
        deadline = time.monotonic() + 120
        while not recorded(sqlite_service, record.id) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert recorded(sqlite_service, record.id), "nothing was recorded before the loss"
        cluster.stop()
        cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
    before = recorded(sqlite_service, record.id)
    assert len(before) == len(set(before)) and len(before) < 6
    for result in sqlite_reviewer.results(record.id):  # nothing half-recorded
        assert result.payload_key is not None
        assert json.loads(sqlite_reviewer.content.read(record.id, result.payload_key))
    outcome = run_assessment(sqlite_reviewer, record.id, resume=True)  # on the local executor
    assert outcome.status == "completed", outcome.detail
    assert Counter(recorded(sqlite_service, record.id)) == Counter(
        {(f"cal-{i}", 1): 1 for i in range(6)}
    )
    with sqlite_service.db.session() as s:
        assert s.execute(select(func.count()).select_from(SampleResultRow)).scalar_one() == 6
