from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from prereview.cli.main import app

runner = CliRunner()


def test_init_creates_private_data_dir_idempotently(prereview_home: Path) -> None:
    first = runner.invoke(app, ["init", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["created"] is True
    assert stat.S_IMODE(prereview_home.stat().st_mode) == 0o700
    for sub in ("logs", "artifacts", "keys", "reports"):
        assert (prereview_home / sub).is_dir()
    second = runner.invoke(app, ["init", "--json"])
    assert second.exit_code == 0
    assert json.loads(second.stdout)["created"] is False


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and "prereview" in result.stdout


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "prereview"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert "advisory" in proc.stdout.lower() or "never approve" in proc.stdout.lower()


def test_inspect_sees_our_extensions_through_the_entry_point() -> None:
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="inspect_ai") if ep.name == "prereview"]
    assert eps and eps[0].value == "prereview._registry"
    # a fresh interpreter, importing nothing of ours: Inspect must find `local` on its own
    code = (
        "from inspect_ai.model import get_model\n"
        "m = get_model('scripted/x', turns=[])\n"
        "print(type(m.api).__module__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "prereview.models.scripted"


def test_unknown_local_model_is_one_line_and_exit_2() -> None:
    result = runner.invoke(app, ["demo", "--model", "local/gpt-17"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "unknown local model 'gpt-17'" in lines[0] and "local/smollm2" in lines[0]
    assert "Traceback" not in result.output


def test_not_a_gguf_file_is_exit_2_naming_the_file(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_text("<html>404 not found</html>")
    result = runner.invoke(app, ["demo", "--model", f"local/{bogus}"])
    assert result.exit_code == 2
    assert "model.gguf" in result.output and "not a GGUF" in result.output
    assert "Traceback" not in result.output


def test_doctor_fails_with_fix_when_data_dir_missing() -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["data dir writable"]["ok"] is False
    assert checks["data dir writable"]["fix"] == "prereview init"


def test_doctor_passes_on_an_initialized_host() -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(app, ["doctor", "--json"])
    report = json.loads(result.stdout)
    # optional tools may be missing (a baseline rung's KLEE is not packaged in Debian 12):
    # they are reported, not required
    failed = [c for c in report["checks"] if not c["ok"] and c["required"]]
    assert failed == []
    assert result.exit_code == 0
