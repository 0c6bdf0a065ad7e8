"""The `ray` executor on a cluster with Ray TLS as well as token authentication: a head and one
worker node, each its own `ray start` process group on this host (loopback only), with a CA
and node certificate made for the cluster.

Order matters and is kept: the last test stops the TLS cluster and starts a plain one in the
same process (Ray reads its TLS settings once per process unless told to read them again)."""

from __future__ import annotations

import os
import socket
import ssl
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from prereview.executors import cluster as ray_cluster
from prereview.executors.localcluster import LocalRayCluster
from prereview.executors.ray import RayExecutor
from prereview.review.assessment import run_assessment
from prereview.review.service import ReviewService
from tests.executors.test_ray_cluster import assess_on, calls, node_env, recorded, request
from tests.review.conftest import row_counts

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TLS_VARS = ("RAY_USE_TLS", "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")
OUTSIDE = {name: os.environ.get(name) for name in TLS_VARS}
"""This process's TLS settings before any cluster here set them."""

# what a gRPC client that does not speak TLS sends first: HTTP/2's preface and a SETTINGS frame
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _base_port(start: int) -> int:
    """A free port range at or after `start` (apart from test_ray_cluster's ranges)."""
    for attempt in range(20):
        base = start + ((os.getpid() + attempt * 7) % 20) * 150
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", base))
            except OSError:
                continue
            return base
    raise RuntimeError("no free port range for the test cluster")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRayCluster]:
    root = tmp_path_factory.mktemp("ray-tls")
    c = LocalRayCluster(root, _base_port(31000), tls=True)
    try:
        c.start_head(node_env(root, "head"))
        c.add_worker("w1", node_env(root, "w1"))
        c.wait_for_nodes(1)
        yield c
    finally:
        c.stop()


def trusting(cluster: LocalRayCluster, certificate: bool = True) -> ssl.SSLContext:
    """A TLS client that trusts the cluster's CA (and, with `certificate`, presents the node
    certificate, as Ray's own clients do), offering HTTP/2 as gRPC does."""
    env = cluster.driver_env()
    context = ssl.create_default_context(cafile=env["RAY_TLS_CA_CERT"])
    if certificate:
        context.load_cert_chain(env["RAY_TLS_SERVER_CERT"], env["RAY_TLS_SERVER_KEY"])
    context.set_alpn_protocols(["h2"])
    return context


def answers_http2(sock: socket.socket) -> bool:
    """Whether the other end answers HTTP/2's preface with a SETTINGS frame (a gRPC server that
    understood it); a refusal, an alert or a closed connection is no."""
    try:
        sock.sendall(PREFACE)
        head = b""
        while len(head) < 9:
            chunk = sock.recv(9 - len(head))
            if not chunk:
                return False
            head += chunk
    except OSError:  # ssl.SSLError included: the server's alert
        return False
    return head[3] == 0x04


def answers_http2_over_tls(raw: socket.socket, context: ssl.SSLContext) -> bool:
    """Like `answers_http2`, over TLS: a handshake the server refuses (TLS 1.2 asks for the
    client's certificate in it; 1.3 checks it after) is no."""
    try:
        tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
    except ssl.SSLError:
        return False
    with tls:
        return answers_http2(tls)


def answers_plaintext_http2(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        return answers_http2(sock)


def test_the_head_and_a_worker_node_speak_only_tls_with_the_clusters_certificate(
    cluster: LocalRayCluster,
) -> None:
    env = cluster.driver_env()
    assert stat.S_IMODE(Path(env["RAY_TLS_SERVER_KEY"]).stat().st_mode) == 0o600
    assert stat.S_IMODE(cluster.tls_dir.stat().st_mode) == 0o700
    # the CA's key was never written: the only key on disk is the node's
    files = {p.name: p.read_text() for p in cluster.tls_dir.iterdir()}
    assert sorted(files) == ["ca.pem", "node-key.pem", "node.pem"]
    assert [name for name, text in files.items() if "PRIVATE KEY" in text] == ["node-key.pem"]
    worker = cluster.workers[0]
    for port in (cluster.base_port, worker.node_manager_port):  # the GCS, the worker's raylet
        assert not answers_plaintext_http2(port)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            trusting(cluster).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            peer = tls.getpeercert()
            assert peer is not None and ("IP Address", "127.0.0.1") in peer["subjectAltName"]
            assert answers_http2(tls)  # over TLS the same port is gRPC's HTTP/2
        # a client without a certificate from the cluster's CA gets no gRPC
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            assert not answers_http2_over_tls(raw, trusting(cluster, certificate=False))
        # and a client that trusts only the system's CAs does not accept the server
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


def test_an_assessment_completes_on_the_tls_cluster(
    cluster: LocalRayCluster,
    sqlite_service: ReviewService,
    sqlite_reviewer: ReviewService,
    tmp_path: Path,
) -> None:
    import ray

    assert os.environ["RAY_USE_TLS"] == "1"  # this driver joins with TLS
    record = sqlite_service.submit(request(0.01, 2, None, tmp_path / "calls.jsonl"))
    outcome = run_assessment(
        sqlite_reviewer,
        record.id,
        suite="calibration",
        limit=2,
        executor=RayExecutor(cluster.address),
    )
    assert outcome.status == "completed", outcome.detail
    assert Counter(recorded(sqlite_service, record.id)) == Counter(
        {("cal-0", 1): 1, ("cal-1", 1): 1}
    )
    assert calls(tmp_path / "calls.jsonl")  # the model was called from the worker node
    assert not ray.is_initialized()


def test_a_driver_without_the_tls_settings_is_refused_in_one_line(
    cluster: LocalRayCluster,
    sqlite_service: ReviewService,
    sqlite_reviewer: ReviewService,
    tmp_path: Path,
) -> None:
    record = sqlite_service.submit(request(0.01, 1, None, tmp_path / "calls.jsonl"))
    before = row_counts(sqlite_service)
    # the token it has, Ray's default retries (which alone would wait for minutes): prereview
    # sees the GCS hang up on plaintext before Ray tries
    env = {k: v for k, v in os.environ.items() if k not in TLS_VARS}
    refused = assess_on(cluster, record.id, env)
    assert refused.returncode != 0
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert lines[-1] == (
        f"error: cannot join the Ray cluster at {cluster.address}: it requires TLS (set "
        "RAY_USE_TLS=1 and RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY, RAY_TLS_CA_CERT as on its "
        "nodes)"
    )
    secrets = cluster.driver_env()
    key_lines = Path(secrets["RAY_TLS_SERVER_KEY"]).read_text().splitlines()[1:-1]
    assert key_lines and not any(line in refused.stderr + refused.stdout for line in key_lines)
    assert "PRIVATE KEY" not in refused.stderr
    assert Path(secrets["RAY_AUTH_TOKEN_PATH"]).read_text() not in refused.stderr
    assert row_counts(sqlite_service) == before
    assert sqlite_reviewer.get(record.id).review is None
    assert calls(tmp_path / "calls.jsonl") == []


def test_a_plain_cluster_after_the_tls_one_in_the_same_process(
    cluster: LocalRayCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import ray

    cluster.stop()
    assert {name: os.environ.get(name) for name in TLS_VARS} == OUTSIDE
    root = tmp_path_factory.mktemp("ray-plain")  # short: Ray's socket paths have a limit
    plain = LocalRayCluster(root, _base_port(cluster.base_port + 300))
    try:
        plain.start_head()
        plain.wait_for_nodes(0, timeout_s=60)  # this process's GCS client, in plaintext now
        assert answers_plaintext_http2(plain.base_port)  # the check above can tell the two
        ray_cluster.join(plain.address, timeout_s=5.0)
        assert ray.is_initialized()
    finally:
        ray_cluster.leave()
        plain.stop()
