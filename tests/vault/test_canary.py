"""Canary scans, end to end through the CLI: an API key, transcript text and a finding detail go
in; afterwards none of them is anywhere on disk (data dir, Inspect's own data dir) or in any
output, and after withdrawal nothing of the submission can be decrypted."""

from __future__ import annotations

import json
import secrets
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import load_settings
from prereview.vault.errors import ShreddedError
from prereview.vault.service import CREDENTIAL_KEY, Vault

runner = CliRunner()


class Transcript:
    """Every CLI call's output, kept for the final scan."""

    def __init__(self) -> None:
        self.outputs: list[str] = []

    def __call__(self, *args: str, token: str | None = None, code: int = 0) -> Result:
        env = {"PREREVIEW_TOKEN": token} if token else None
        result = runner.invoke(app, list(args), env=env)
        self.outputs.append(result.output)
        assert result.exit_code == code, f"{args[0]} exited {result.exit_code}"
        return result


def _files(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def _where(needles: dict[str, str], files: list[Path], outputs: list[str]) -> list[str]:
    """Where each canary occurs; computed outside `assert` so a failure never prints one."""
    hits = []
    for name, needle in needles.items():
        raw = needle.encode()
        hits += [f"{name} in {p}" for p in files if raw in p.read_bytes()]
        hits += [f"{name} in output #{i}" for i, out in enumerate(outputs) if needle in out]
    return hits


@pytest.mark.slow
def test_no_canary_on_disk_or_in_output_and_nothing_after_withdrawal(
    prereview_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inspect_data = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(inspect_data))  # Inspect's own files, scanned too
    api_key = f"sk-canary-{secrets.token_hex(16)}"
    transcript = f"TRANSCRIPT-CANARY-{secrets.token_hex(8)}"
    finding = f"FINDING-CANARY-{secrets.token_hex(8)}"
    canaries = {"API key": api_key, "transcript": transcript, "finding detail": finding}

    script = tmp_path / "turns.json"  # the model's answers: outside the data dir
    script.write_text(json.dumps([f"I ran the exploit. {transcript}"] * 8))
    sarif = tmp_path / "agent.sarif"
    sarif.write_text(
        json.dumps(
            {
                "version": "2.1.0",
                "runs": [
                    {
                        "tool": {"driver": {"name": "agent"}},
                        "results": [
                            {
                                "ruleId": "heap-overflow",
                                "level": "error",
                                "message": {"text": f"overflow via crafted header {finding}"},
                                "locations": [
                                    {
                                        "physicalLocation": {
                                            "artifactLocation": {"uri": "src/a.c"},
                                            "region": {"startLine": 3},
                                        }
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        )
    )

    cli = Transcript()
    cli("init")
    dev = json.loads(
        cli(
            "principals", "add", "dev", "--role", "submitter", "--org", "Canary Labs", "--json"
        ).stdout
    )["token"]
    monkeypatch.setenv("CANARY_API_KEY", api_key)
    release = (date.today() + timedelta(days=21)).isoformat()
    sid = cli(
        "submit",
        "--org",
        "Canary Labs",
        "--model",
        "simulated/canary",
        "-M",
        f"script={script}",
        "-M",
        "latency=0.01",
        "--api-key-env",
        "CANARY_API_KEY",
        "--release-date",
        release,
        token=dev,
    ).stdout.strip()
    monkeypatch.delenv("CANARY_API_KEY")  # read once at submit; the vault holds it now
    cli("assess", sid, "--suite", "calibration", "--limit", "3", "--json")
    cli("findings", "import", str(sarif), "--submission", sid)
    cli("status", sid)
    cli("status", sid, token=dev)
    cli("list", "--json")
    shown = cli("findings", "show", "F-1", "--json")
    shown_at = len(cli.outputs) - 1
    cli("audit", "show", "--json")
    cli("report", sid, "--format", "md")  # the export lands in <data dir>/reports/

    # an authorized reader gets the content back, decrypted in memory
    assert finding in shown.stdout
    outputs = [o for i, o in enumerate(cli.outputs) if i != shown_at]
    settings = load_settings()
    with Vault.open(settings) as vault:
        assert vault.content.read(sid, CREDENTIAL_KEY).decode() == api_key
        logs = vault.content.keys(sid, "reviews/")
        opened = b"".join(vault.content.read(sid, k) for k in logs)
    assert transcript.encode() in opened  # the transcript is there, sealed
    assert api_key.encode() not in opened  # and the key never reached Inspect's logs or payloads

    assert _where(canaries, _files(prereview_home, inspect_data), outputs) == []

    exports = list((prereview_home / "reports").glob("rev-*"))
    assert exports
    cli("withdraw", sid, token=dev)
    assert not any(p.exists() for p in exports)  # the export in the data dir went with it
    outputs = [o for i, o in enumerate(cli.outputs) if i != shown_at]
    assert _where(canaries, _files(prereview_home, inspect_data), outputs) == []
    with Vault.open(settings) as vault, pytest.raises(ShreddedError):
        vault.content.read(sid, CREDENTIAL_KEY)
    gone = cli("findings", "show", "F-1", "--json")
    assert finding not in gone.stdout and "details destroyed" in gone.stdout
    assert cli("audit", "verify").exit_code == 0
