"""The vault at the command line: token bootstrap, principals, audit, and bad input (one clear
line, exit 2, an audit entry; never garbage or a traceback)."""

from __future__ import annotations

import json
import sqlite3
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import load_settings
from prereview.vault.keys.local import KEK_FILE
from prereview.vault.service import Vault

runner = CliRunner()


def run(*args: str, token: str | None = None) -> Result:
    return runner.invoke(app, list(args), env={"PREREVIEW_TOKEN": token} if token else None)


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in result.output
    assert len(lines) <= 3  # one message, wrapped by the console at 80 columns
    return " ".join(lines)


def last_audit(home: Path) -> tuple[str, str, str | None]:
    with sqlite3.connect(home / "prereview.db") as db:
        row = db.execute(
            "SELECT action, outcome, principal FROM vault_audit_entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    return row[0], row[1], row[2]


def add(name: str, role: str, org: str | None = None) -> str:
    args = ["principals", "add", name, "--role", role, "--json"]
    result = run(*args, *(["--org", org] if org else []))
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["token"])


def test_init_prints_the_token_once_and_saves_it_private(prereview_home: Path) -> None:
    first = run("init", "--json")
    token = json.loads(first.stdout)["token"]
    assert token.startswith("prv_")
    config = prereview_home / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert load_settings().token == token
    again = json.loads(run("init", "--json").stdout)
    assert again["token"] is None and again["created"] is False
    with sqlite3.connect(prereview_home / "prereview.db") as db:
        digests = [r[0] for r in db.execute("SELECT token_sha256 FROM vault_principals")]
    assert token not in str(digests) and len(digests[0]) == 64


def test_missing_token_is_refused_in_one_line_and_audited(prereview_home: Path) -> None:
    assert run("init", "--no-save-token").exit_code == 0
    assert not (prereview_home / "config.toml").exists()
    message = one_line_error(run("list"))
    assert "no API token" in message and "PREREVIEW_TOKEN" in message
    assert last_audit(prereview_home) == ("auth", "denied", "anonymous")


@pytest.mark.parametrize("token", ["prv_" + "x" * 43, "not-even-a-token", "prv_short"])
def test_wrong_token_is_refused_in_one_line_and_audited(prereview_home: Path, token: str) -> None:
    assert run("init").exit_code == 0
    message = one_line_error(run("list", token=token))
    assert "not recognized" in message and token not in message
    assert last_audit(prereview_home) == ("auth", "denied", "unknown token")
    trail = run("audit", "show", "--json").stdout
    assert token not in trail


def test_revoked_token_stops_working(prereview_home: Path) -> None:
    run("init")
    token = add("eve", "evaluator")
    assert run("list", token=token).exit_code == 0
    assert run("principals", "revoke", "eve").exit_code == 0
    assert "not recognized" in one_line_error(run("list", token=token))


def test_principals_are_for_coordinators_and_list_shows_no_token(prereview_home: Path) -> None:
    run("init")
    dev = add("dev", "submitter", "Acme AI")
    listed = run("principals", "list", "--json")
    assert dev not in listed.stdout and "token" not in listed.stdout
    assert {p["name"]: p["role"] for p in json.loads(listed.stdout)} == {
        "coordinator": "coordinator",
        "dev": "submitter",
    }
    message = one_line_error(run("principals", "add", "x", "--role", "coordinator", token=dev))
    assert "access denied" in message
    assert last_audit(prereview_home) == ("principals.manage", "denied", "dev")
    assert "needs --org" in one_line_error(run("principals", "add", "y", "--role", "submitter"))
    assert "last active coordinator" in one_line_error(run("principals", "revoke", "coordinator"))


def test_audit_verify_and_show_for_auditors_only(prereview_home: Path) -> None:
    run("init")
    auditor = add("aud", "auditor")
    dev = add("dev", "submitter", "Acme AI")
    assert run("audit", "verify", token=auditor).exit_code == 0
    shown = json.loads(run("audit", "show", "--principal", "dev", "--json", token=auditor).stdout)
    assert shown == []
    one_line_error(run("audit", "show", token=dev))
    by_dev = json.loads(run("audit", "show", "--principal", "dev", "--json", token=auditor).stdout)
    assert [(e["action"], e["outcome"]) for e in by_dev] == [("audit.read", "denied")]


def test_audit_verify_says_where_the_trail_was_tampered_with(prereview_home: Path) -> None:
    run("init")
    add("a", "auditor")
    add("b", "evaluator")
    with sqlite3.connect(prereview_home / "prereview.db") as db:
        db.execute("UPDATE vault_audit_entries SET outcome = 'allowed' WHERE seq = 3")
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert "TAMPERED" in result.stderr and "#3 modified" in result.stderr
    report = json.loads(run("audit", "verify", "--json").stdout)
    assert report["ok"] is False and report["problems"][0]["seq"] == 3


def _submitted(prereview_home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    run("init")
    dev = add("dev", "submitter", "Acme AI")
    monkeypatch.setenv("ACME_KEY", "sk-acme-0123456789")
    release = (date.today() + timedelta(days=21)).isoformat()
    result = run(
        "submit", "--org", "Acme AI", "--model", "simulated/x", "--api-key-env", "ACME_KEY",
        "--release-date", release, token=dev,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout.strip(), dev


def test_corrupted_ciphertext_is_an_integrity_error_naming_the_artifact(
    prereview_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid, _ = _submitted(prereview_home, monkeypatch)
    path = prereview_home / "artifacts" / sid / "credentials" / "api-key"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x80
    path.write_bytes(bytes(blob))
    message = one_line_error(run("assess", sid, "--suite", "calibration", "--limit", "1"))
    assert f"integrity check failed for {sid}/credentials/api-key" in message
    assert "sk-acme" not in message


def test_missing_key_file_refuses_every_command_with_instructions(
    prereview_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _submitted(prereview_home, monkeypatch)
    (prereview_home / "keys" / KEK_FILE).unlink()
    for args in (["list"], ["init"], ["audit", "verify"]):
        message = one_line_error(run(*args))
        assert "missing" in message and "restore" in message
    assert not (prereview_home / "keys" / KEK_FILE).exists()


def test_withdrawal_by_the_submitter_shreds_and_is_audited(
    prereview_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid, dev = _submitted(prereview_home, monkeypatch)
    other = add("other", "submitter", "Other Org")
    message = one_line_error(run("withdraw", sid, token=other))
    assert "access denied" in message and "Other Org" not in message and "Acme" not in message
    coordinator_says = one_line_error(run("withdraw", sid))  # the coordinator cannot withdraw
    assert "access denied" in coordinator_says
    assert run("withdraw", sid, token=dev).exit_code == 0
    assert not (prereview_home / "artifacts" / sid).exists()
    entries = json.loads(run("audit", "show", "--submission", sid, "--json").stdout)
    withdrawals = [
        (e["principal"], e["outcome"]) for e in entries if e["action"] == "submission.withdraw"
    ]
    # two refusals, the decision that allowed dev, then the state change itself
    assert withdrawals == [
        ("other", "denied"),
        ("coordinator", "denied"),
        ("dev", "allowed"),
        ("dev", "ok"),
    ]
    shredded = [e for e in entries if e["action"] == "submission.shredded"]
    assert len(shredded) == 1 and shredded[0]["detail"]["reason"] == "withdrawn"
    with Vault.open(load_settings()) as vault:
        assert vault.keys.shredded(sid) is not None
