"""A real multi-node Ray cluster on this one host: a head and worker nodes, each its own
`ray start --block` process group, addressed on loopback. For tests, benchmarks and trying the
`ray` executor before a real cluster; `stop` always ends every process it started (by process
group).

Every node gets its own ports and environment (its plaintext window, say), all nodes one temp
dir; the head has no CPUs, so units run on the workers only.

Ray's gRPC servers (GCS, raylets, workers) listen on every interface whatever the node address
(Ray 2.x has no option to bind them to loopback), so the cluster requires Ray's token
authentication: a random token per cluster, in an owner-only file that every node and the
driver name (`RAY_AUTH_MODE=token`, `RAY_AUTH_TOKEN_PATH`). `start_head` sets them in this
process, for its drivers and subprocesses, and `stop` restores what was there. A process
elsewhere that reaches the ports cannot join the cluster or submit work without the token.

With `tls`, every gRPC connection of the cluster is also Ray TLS (mutual: Ray's servers require
a client certificate from the same CA): a CA made in memory for this cluster signs one node
certificate for 127.0.0.1/localhost (and this host's address, which Ray dials when told
127.0.0.1) that the head, the workers and the driver all present
(`RAY_USE_TLS=1`, `RAY_TLS_SERVER_CERT`, `RAY_TLS_SERVER_KEY`, `RAY_TLS_CA_CERT`); the CA's key
is never written, the node key only owner-only. Without `tls` the cluster says `RAY_USE_TLS=0`,
so TLS settings inherited from elsewhere do not leak into a plain cluster.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from prereview.errors import PrereviewError

_RAY = str(Path(sys.executable).parent / "ray")


class ClusterStartError(PrereviewError):
    pass


@dataclass
class LocalNode:
    name: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path
    node_manager_port: int = 0
    """The node's raylet gRPC port (with TLS, one more place that speaks only TLS)."""

    def kill(self) -> None:
        """SIGKILL the node's whole process group, as a lost host would go."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@dataclass
class LocalRayCluster:
    root: Path
    base_port: int
    tls: bool = False
    head: LocalNode | None = None
    workers: list[LocalNode] = field(default_factory=list)
    _next_port: int = 0
    _saved_env: dict[str, str | None] = field(default_factory=dict)

    @property
    def token_file(self) -> Path:
        return self.root / "ray-auth-token"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    def driver_env(self) -> dict[str, str]:
        """What a process that joins this cluster (a driver, `prereview assess`) needs in its
        environment: token authentication and the token's file, and with `tls` Ray's TLS
        settings and files (all created on first use)."""
        if not self.token_file.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            _write_private(self.token_file, secrets.token_hex(32).encode())
        env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_file)}
        if not self.tls:
            return {**env, "RAY_USE_TLS": "0"}
        ca, cert, key = (self.tls_dir / n for n in ("ca.pem", "node.pem", "node-key.pem"))
        if not ca.exists():
            _make_certificates(self.tls_dir, ca, cert, key)
        return {
            **env,
            "RAY_USE_TLS": "1",
            "RAY_TLS_SERVER_CERT": str(cert),
            "RAY_TLS_SERVER_KEY": str(key),
            "RAY_TLS_CA_CERT": str(ca),
        }

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.base_port}"

    @property
    def temp_dir(self) -> Path:
        return self.root / "ray"

    def _ports(self, count: int) -> list[int]:
        start = self.base_port + 1 + self._next_port
        self._next_port += count
        return list(range(start, start + count))

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> LocalNode:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        log = self.root / f"{name}.log"
        p = self._ports(6)
        ports = [
            f"--node-manager-port={p[0]}",
            f"--object-manager-port={p[1]}",
            f"--metrics-export-port={p[2]}",
            f"--dashboard-agent-listen-port={p[3]}",
            f"--dashboard-agent-grpc-port={p[4]}",
            f"--runtime-env-agent-port={p[5]}",
        ]
        workers = self._ports(16)
        with log.open("ab") as out:
            process = subprocess.Popen(
                [
                    _RAY,
                    "start",
                    "--block",
                    "--node-ip-address=127.0.0.1",
                    f"--temp-dir={self.temp_dir}",
                    "--disable-usage-stats",
                    f"--min-worker-port={workers[0]}",
                    f"--max-worker-port={workers[-1]}",
                    *ports,
                    *args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env={
                    **{k: v for k, v in os.environ.items() if k != "RAY_AUTH_TOKEN"},
                    "RAY_USAGE_STATS_ENABLED": "0",
                    **self.driver_env(),
                    **env,
                },
                start_new_session=True,
            )
        return LocalNode(name, process, env, log, node_manager_port=p[0])

    def start_head(self, env: dict[str, str] | None = None) -> LocalNode:
        for name, value in self.driver_env().items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        _reload_ray_auth()
        self.head = self._start(
            "head",
            [
                "--head",
                f"--port={self.base_port}",
                "--num-cpus=0",
                "--include-dashboard=false",
                # a lost node is noticed in seconds, not the default half minute
                '--system-config={"health_check_period_ms":500,"health_check_failure_threshold":4}',
            ],
            env or {},
        )
        return self.head

    def add_worker(
        self, name: str, env: dict[str, str] | None = None, num_cpus: int = 1
    ) -> LocalNode:
        worker = self._start(
            name, [f"--address={self.address}", f"--num-cpus={num_cpus}"], env or {}
        )
        self.workers.append(worker)
        return worker

    def wait_for_nodes(self, count: int, timeout_s: float = 90.0, exact: bool = False) -> None:
        """Until `count` worker nodes are alive, as the head's GCS sees them; with `exact`, no
        more either (a killed node noticed as lost)."""
        # the head's own view, without joining the cluster as a driver
        from ray._raylet import GcsClient  # type: ignore[attr-defined]
        from ray.core.generated import gcs_pb2

        alive_state = gcs_pb2.GcsNodeInfo.ALIVE  # type: ignore[attr-defined]
        deadline = time.monotonic() + timeout_s
        client: Any = None
        while time.monotonic() < deadline:
            for n in [self.head, *self.workers]:
                if n is not None and n.process.poll() is not None:
                    raise ClusterStartError(f"ray node {n.name} exited; see {n.log}")
            try:
                client = client or GcsClient(address=self.address)
                nodes = client.get_all_node_info(timeout=5).values()
                seen = sum(1 for v in nodes if v.state == alive_state and not v.is_head_node)
            except Exception:  # the head is still starting
                client, seen = None, -1
            if seen == count or (seen > count and not exact):
                return
            time.sleep(0.25)
        raise ClusterStartError(f"{count} ray worker nodes did not come up in {timeout_s:.0f} s")

    def stop(self) -> None:
        for n in [*self.workers, self.head]:
            if n is not None:
                n.kill()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        _reload_ray_auth()


def _write_private(path: Path, data: bytes) -> None:
    """A new owner-only file (never one that is already there)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _make_certificates(folder: Path, ca_path: Path, cert_path: Path, key_path: Path) -> None:
    """A CA for this cluster only (its key stays in memory and is gone after this call) and one
    node certificate it signs, for 127.0.0.1, localhost and this host's address, usable as server
    and as client: Ray's gRPC servers require the client's certificate from the same CA."""
    folder.mkdir(mode=0o700, parents=True)
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prereview test cluster CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    node_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prereview ray node")])
    # Ray replaces a loopback address to join by this host's own address (the one a route out
    # would use) and dials that: the certificate names it too
    from ray._common import network_utils

    own = network_utils.node_ip_address_from_perspective()  # type: ignore[attr-defined]
    addresses = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address(own)}
    sans: list[x509.GeneralName] = [
        *(x509.IPAddress(a) for a in sorted(addresses)),
        x509.DNSName("localhost"),
    ]
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        x509.CertificateBuilder()
        .subject_name(node_name)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))  # last: marks them done


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _reload_ray_auth() -> None:
    """Make Ray in this process read its authentication and TLS settings again. Ray caches its
    token and auth mode on first use (an earlier `ray.init`, another cluster's token), and the
    head's own GCS client would then be refused by this cluster; its C++ config (`RAY_USE_TLS`,
    `RAY_TLS_*`) is likewise read from the environment once, when first used, and again only
    by `Config.initialize`, so a plain client would knock on a TLS cluster (or the reverse).
    Skipped while a driver is connected."""
    if "ray._raylet" not in sys.modules:
        return  # nothing cached yet
    import ray
    from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

    if not ray.is_initialized():
        Config.initialize("")  # before the cache, as Ray's own test helpers do
        AuthenticationTokenLoader.instance().reset_cache()
