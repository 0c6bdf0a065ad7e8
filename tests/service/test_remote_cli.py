"""The CLI as a client: with PREREVIEW_URL (or --server) the review commands talk to a real
server on loopback, from a machine with no data dir, with the same output and exit codes as
on the agency host; plain HTTP to anything but loopback is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.service.app import create_app
from prereview.service.context import ServiceContext
from tests.service.servers import serving
from tests.service.world import World

runner = CliRunner()


@pytest.fixture(scope="module")
def url(world: World, context: ServiceContext) -> Iterator[str]:
    with serving(create_app(world.settings, context=context)) as base:
        yield base


def remote(url: str, world: World, role: str, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a lab machine: no data dir of the agency, a token, the server."""
    return {
        "PREREVIEW_HOME": str(home),
        "PREREVIEW_URL": url,
        "PREREVIEW_TOKEN": world.tokens[role],
        **extra,
    }


def local(world: World, role: str) -> dict[str, str]:
    return {"PREREVIEW_HOME": str(world.home), "PREREVIEW_TOKEN": world.tokens[role]}


@pytest.mark.parametrize("argv", [["status", "{id}"], ["list"], ["status", "{id}", "--json"]])
def test_same_output_as_on_the_agency_host(
    url: str, world: World, tmp_path: Path, argv: list[str]
) -> None:
    args = [a.replace("{id}", world.submission) for a in argv]
    here = runner.invoke(app, args, env=local(world, "submitter_own"))
    there = runner.invoke(app, args, env=remote(url, world, "submitter_own", tmp_path))
    assert here.exit_code == there.exit_code == 0, there.output
    assert there.stdout == here.stdout
    assert not (tmp_path / "prereview.db").exists()  # nothing local was created


def test_refusals_have_the_same_line_and_exit_code(url: str, world: World, tmp_path: Path) -> None:
    for argv in (
        ["status", world.other],
        ["status", f" {world.submission}"],
        ["withdraw", world.other],
    ):
        here = runner.invoke(app, argv, env=local(world, "submitter_own"))
        there = runner.invoke(app, argv, env=remote(url, world, "submitter_own", tmp_path))
        assert here.exit_code == there.exit_code == 2
        assert there.stderr == here.stderr and "access denied" in there.stderr


def test_submit_withdraw_and_report_from_a_lab_machine(
    url: str, world: World, tmp_path: Path, context: ServiceContext
) -> None:
    env = remote(url, world, "submitter_own", tmp_path, LAB_KEY="sk-remote-Q7secret")
    release = (date.today() + timedelta(days=20)).isoformat()
    submitted = runner.invoke(
        app,
        ["--server", url, "submit", "--org", "Org A", "--model", "simulated/remote",
         "--release-date", release, "--api-key-env", "LAB_KEY"],
        env={k: v for k, v in env.items() if k != "PREREVIEW_URL"},
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    ident = submitted.stdout.strip()
    assert "sk-remote-Q7secret" not in submitted.output
    session = context.vault.authenticate(world.tokens["submitter_own"])
    assert session.has_credential(ident)  # sealed on the server
    report = runner.invoke(
        app, ["report", world.submission, "--format", "md", "--out", str(tmp_path)], env=env
    )
    assert report.exit_code == 0, report.output
    written = Path(report.stdout.strip())
    assert written.parent == tmp_path and written.read_text().strip()
    withdrawn = runner.invoke(app, ["withdraw", ident], env=env)
    assert withdrawn.exit_code == 0 and withdrawn.stdout.strip() == f"{ident}: withdrawn"
    missing = runner.invoke(
        app,
        ["submit", "--org", "Org A", "--model", "simulated/remote", "--release-date", release,
         "--api-key-env", "UNSET_KEY"],
        env=env,
    )  # fmt: skip
    assert missing.exit_code == 2 and "UNSET_KEY" in missing.stderr


@pytest.mark.parametrize(
    "server", ["http://192.0.2.1:8400", "http://example.org", "ftp://127.0.0.1/"]
)
def test_plain_http_to_the_network_is_refused(world: World, tmp_path: Path, server: str) -> None:
    result = runner.invoke(app, ["list"], env=remote(server, world, "submitter_own", tmp_path))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "refusing plain HTTP" in result.stderr or "not an http(s) URL" in result.stderr
    assert world.tokens["submitter_own"] not in result.output


def test_commands_that_only_run_on_the_agency_host_refuse(
    url: str, world: World, tmp_path: Path
) -> None:
    for argv, said in (
        (["tasks", "verify", str(tmp_path)], "`prereview tasks verify` runs on the agency host"),
        (["logs", "keygen"], "`prereview logs keygen` runs on the agency host"),
        (["serve"], "`prereview serve` runs on the agency host"),
    ):
        result = runner.invoke(app, argv, env=remote(url, world, "coordinator", tmp_path))
        assert result.exit_code == 2, result.output
        assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "prereview.db").exists()
