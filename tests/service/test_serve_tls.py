"""`prereview serve`: loopback only without TLS; under TLS (a self-signed certificate made
here) the real server speaks TLS 1.2+ only, sends HSTS, and marks the session cookie Secure."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.service.app import create_app
from prereview.service.context import ServiceContext
from tests.service.conftest import auth
from tests.service.servers import serving
from tests.service.world import World


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.org"])  # noqa: S104 - refused
def test_serve_refuses_a_network_bind_without_tls(host: str) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", host, "--no-worker"])
    assert result.exit_code == 2
    assert "without TLS" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_serve_refuses_half_or_bad_tls(tmp_path: Path) -> None:
    cert, _key = self_signed(tmp_path)
    half = CliRunner().invoke(app, ["serve", "--tls-cert", str(cert), "--no-worker"])
    assert half.exit_code == 2 and "go together" in half.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    bad = CliRunner().invoke(
        app, ["serve", "--tls-cert", str(cert), "--tls-key", str(garbage), "--no-worker"]
    )
    assert bad.exit_code == 2 and "not a usable certificate" in bad.stderr


def test_the_real_server_under_tls(world: World, context: ServiceContext, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    context.tls = True
    try:
        with serving(create_app(world.settings, tls=True, context=context), cert, key) as url:
            trusted = ssl.create_default_context(cafile=str(cert))
            with httpx.Client(verify=trusted) as client:
                health = client.get(url + "/healthz")
                assert health.status_code == 200
                assert health.headers["strict-transport-security"].startswith("max-age=")
                listed = client.get(url + "/api/v1/submissions", headers=auth(world, "auditor"))
                assert listed.status_code == 200
                signin = client.get(url + "/signin")
                pre = re.search(r'name="csrf" value="([^"]+)"', signin.text)
                assert pre is not None
                session = client.post(
                    url + "/signin",
                    data={"csrf": pre.group(1), "token": world.tokens["auditor"], "next": "/"},
                )
                assert session.status_code == 303
                cookie = session.headers["set-cookie"]
                assert "Secure" in cookie and "HttpOnly" in cookie
                assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
            old = ssl.create_default_context(cafile=str(cert))
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            with pytest.raises(httpx.ConnectError), httpx.Client(verify=old) as client:
                client.get(url + "/healthz")
    finally:
        context.tls = False
