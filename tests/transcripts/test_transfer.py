"""`prereview logs export|import`: only the receiving host's key opens a bundle, a tampered or
misdirected bundle is refused with nothing written, and the imported review reads like the
original."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import load_settings
from prereview.home import initialize_home
from prereview.store.tables.review import SampleResultRow, SubmissionRow
from prereview.transcripts.bundle import (
    MAGIC,
    load_host_key,
    open_bundle,
    pack_payload,
    seal_bundle,
    unpack_payload,
)
from prereview.vault.keys.local import SIGNING_FILE, LocalSigningKey
from prereview.vault.service import Vault
from tests.transcripts.conftest import Install


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict[str, str]) -> Ran:
    """`prereview ARGS` in this process (a subprocess per call would double the test's time)."""
    result = CliRunner().invoke(app, list(args), env=env)
    return Ran(result.exit_code, result.stdout, result.stderr)


def other_install(tmp_path: Path, name: str, *, keygen: bool) -> dict[str, str]:
    """The environment of another, freshly initialized install (coordinator token saved)."""
    env = {k: v for k, v in os.environ.items() if k != "PREREVIEW_TOKEN"}
    env["PREREVIEW_HOME"] = str(tmp_path / name)
    env["PREREVIEW_PLAINTEXT_DIR"] = str(tmp_path / f"{name}-plaintext")
    initialize_home(load_settings(env))
    if keygen:
        made = cli("logs", "keygen", "--json", env=env)
        assert made.returncode == 0, made.stderr
    return env


def _rows(env: dict[str, str]) -> tuple[int, int]:
    with Vault.open(load_settings(env)) as vault, vault.db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(SubmissionRow)) or 0,
            s.scalar(select(func.count()).select_from(SampleResultRow)) or 0,
        )


def test_export_opens_only_on_the_receiving_host_and_tampering_is_refused(
    install: Install, tmp_path: Path
) -> None:
    receiver = other_install(tmp_path, "receiver", keygen=True)
    bystander = other_install(tmp_path, "bystander", keygen=True)
    keyless = other_install(tmp_path, "keyless", keygen=False)
    recipient = Path(receiver["PREREVIEW_HOME"]) / "keys" / "host-transfer.pub"
    bundle = tmp_path / "review.bundle"

    refused = cli(
        "logs",
        "export",
        install.review_id,
        "--out",
        str(bundle),
        "--recipient",
        str(recipient),
        env=install.env("evaluator"),
    )
    assert refused.returncode == 2 and "access denied" in refused.stderr
    assert not bundle.exists()

    done = cli(
        "logs",
        "export",
        install.review_id,
        "--out",
        str(bundle),
        "--recipient",
        str(recipient),
        "--json",
        env=install.env(),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["logs"] == 1
    blob = bundle.read_bytes()
    assert blob.startswith(MAGIC) and b"PK\x03\x04" not in blob and b"calibration" not in blob
    assert os.stat(bundle).st_mode & 0o077 == 0
    again = cli(
        "logs",
        "export",
        install.review_id,
        "--out",
        str(bundle),
        "--recipient",
        str(recipient),
        env=install.env(),
    )
    assert again.returncode == 2 and "exists" in again.stderr and bundle.read_bytes() == blob

    sender_pub = str(install.settings.keys_dir / "audit-signing.pub")
    before = {name: _rows(env) for name, env in (("bystander", bystander), ("keyless", keyless))}
    wrong_host = cli("logs", "import", str(bundle), "--sender", sender_pub, env=bystander)
    assert wrong_host.returncode == 2 and "sealed to host key" in wrong_host.stderr
    no_key = cli("logs", "import", str(bundle), "--sender", sender_pub, env=keyless)
    assert no_key.returncode == 2 and "logs keygen" in no_key.stderr
    tampered = tmp_path / "tampered.bundle"
    flipped = bytearray(blob)
    flipped[len(flipped) // 2] ^= 0x01
    tampered.write_bytes(bytes(flipped))
    altered = cli("logs", "import", str(tampered), "--sender", sender_pub, env=receiver)
    assert altered.returncode == 2 and "altered" in altered.stderr
    # signed by the right key, but not what prereview writes: a terminal escape in a name
    hostile = tmp_path / "hostile.bundle"
    signer = LocalSigningKey.load(install.settings.keys_dir / SIGNING_FILE)
    host = load_host_key(Path(receiver["PREREVIEW_HOME"]) / "keys")
    manifest, files = unpack_payload(open_bundle(blob, host, "b", signer.public_key).payload, "b")
    manifest["origin"]["model_name"] = "\x1b]0;pwned\x07model"
    hostile.write_bytes(seal_bundle(pack_payload(manifest, files), host.public_raw, signer))
    crafted = cli("logs", "import", str(hostile), "--sender", sender_pub, env=receiver)
    assert crafted.returncode == 2 and "unexpected review metadata" in crafted.stderr
    for result in (wrong_host, no_key, altered, crafted):
        assert len(result.stderr.strip().splitlines()) == 1
    assert {"bystander": _rows(bystander), "keyless": _rows(keyless)} == before
    assert _rows(receiver) == (0, 0)

    wrong_sender = cli(
        "logs",
        "import",
        str(bundle),
        "--sender",
        str(Path(receiver["PREREVIEW_HOME"]) / "keys" / "audit-signing.pub"),
        env=receiver,
    )
    assert wrong_sender.returncode == 2 and "expected sender" in wrong_sender.stderr
    imported = cli("logs", "import", str(bundle), "--sender", sender_pub, "--json", env=receiver)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["samples"] == len(install.samples)
    assert _rows(receiver) == (1, len(install.samples))

    listed = cli("logs", "list", install.review_id, "--json", env=receiver)
    assert listed.returncode == 0, listed.stderr
    samples = json.loads(listed.stdout)["logs"][0]["samples"]
    assert sorted(s["sample"] for s in samples) == list(install.samples)
    twice = cli("logs", "import", str(bundle), "--sender", sender_pub, env=receiver)
    assert twice.returncode == 2 and "already on this install" in twice.stderr
    with Vault.open(load_settings(receiver)) as vault:
        [sealed] = vault.content.keys(install.submission_id, f"reviews/{install.review_id}/logs/")
        assert vault.content.read(install.submission_id, sealed)[:2] == b"PK"
        assert vault.content.inner.read(install.submission_id, sealed).startswith(b"PRVSEAL1")
        actions = [e.action for e in vault.audit.entries()]
    assert "logs.import" in actions
