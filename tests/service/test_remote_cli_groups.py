"""The command groups as clients: findings, principals, references, audit, keys, advisories and
`assess` against a real server on loopback print what they print on the agency host, with the
same exit codes; refusals (the server's or a command with no endpoint) are one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from prereview.cli.main import app
from prereview.service.app import create_app
from prereview.service.context import ServiceContext
from prereview.service.jobs import JobQueue
from tests.findings.factory import result, sarif_log
from tests.service.servers import serving
from tests.service.world import World

runner = CliRunner()


@pytest.fixture(scope="module")
def url(world: World, context: ServiceContext) -> Iterator[str]:
    with serving(create_app(world.settings, context=context)) as base:
        yield base


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """The data dir of a machine that is not the agency host: stays empty."""
    return tmp_path / "lab"


def run_remote(url: str, world: World, role: str, lab: Path, argv: list[str]) -> Result:
    env = {"PREREVIEW_HOME": str(lab), "PREREVIEW_URL": url, "PREREVIEW_TOKEN": world.tokens[role]}
    return runner.invoke(app, argv, env=env)


def run_local(world: World, role: str, argv: list[str]) -> Result:
    env = {"PREREVIEW_HOME": str(world.home), "PREREVIEW_TOKEN": world.tokens[role]}
    return runner.invoke(app, argv, env=env)


def same(here: Result, there: Result) -> None:
    assert there.exit_code == here.exit_code, there.output
    assert there.stdout == here.stdout
    assert there.stderr == here.stderr


READS = [
    ["findings", "list"],
    ["findings", "list", "--json", "--min-severity", "low"],
    ["findings", "show", "F-1"],
    ["findings", "show", "F-1", "--json"],
    ["findings", "overdue", "--today", "2099-01-01"],
    ["findings", "sectors"],
    ["principals", "list"],
    ["principals", "list", "--json"],
    ["references", "list", "--json"],
    ["keys", "list"],
    ["keys", "list", "--json"],
    ["audit", "show", "--principal", "pat", "--json"],
    ["audit", "show", "--principal", "pat"],
    ["tasks", "list", "--json"],
]


@pytest.mark.parametrize("argv", READS, ids=[" ".join(a) for a in READS])
def test_reads_print_the_same(url: str, world: World, lab: Path, argv: list[str]) -> None:
    here = run_local(world, "coordinator", argv)
    there = run_remote(url, world, "coordinator", lab, argv)
    assert here.exit_code == 0, here.output
    same(here, there)
    assert not lab.exists()  # nothing local was created


REFUSED = [
    ("submitter_other", ["findings", "show", "F-1"]),
    ("coordinator", ["findings", "show", "F-999"]),
    ("coordinator", ["findings", "status", "F-1", "nonsense"]),
    ("coordinator", ["findings", "import", "/nonexistent/agent.sarif"]),
    ("evaluator_assigned", ["principals", "list"]),
    ("coordinator", ["principals", "revoke", "nobody-here"]),
    ("evaluator_unassigned", ["references", "add", "{id}", "--label", "x"]),
    ("submitter_own", ["audit", "show"]),
    ("submitter_own", ["audit", "verify"]),
    ("auditor", ["keys", "list"]),
    ("sector_partner", ["advisories", "export"]),
    ("evaluator_unassigned", ["jobs", "cancel", "{id}"]),
    ("auditor", ["keys", "rotate"]),
    ("submitter_other", ["jobs", "list", "{id}"]),
]


@pytest.mark.parametrize(
    ("role", "argv"), REFUSED, ids=[" ".join(a[:2]) + f" ({r})" for r, a in REFUSED]
)
def test_refusals_print_the_same_line(
    url: str, world: World, lab: Path, role: str, argv: list[str]
) -> None:
    args = [a.replace("{id}", world.submission) for a in argv]
    here = run_local(world, role, args)
    there = run_remote(url, world, role, lab, args)
    assert here.exit_code != 0
    same(here, there)
    assert len(there.stderr.strip().splitlines()) == 1


def test_changes_print_what_they_print_locally(url: str, world: World, lab: Path) -> None:
    """Each change made both ways (remote, then local, then remote again where the first one
    changed something) prints the same lines."""
    triage = ["findings", "triage", "F-1", "--cwe", "CWE-787", "--product", "pkg:generic/zlib@1"]
    same(
        run_remote(url, world, "coordinator", lab, triage), run_local(world, "coordinator", triage)
    )
    notify = ["findings", "notify", "F-1", "--vendor", "Zlib", "--date", "2026-01-05"]
    notified = run_remote(url, world, "coordinator", lab, notify)
    assert notified.exit_code == 0, notified.output
    assert notified.stdout.startswith("F-1: Zlib notified 2026-01-05; publication due 2026-")
    same(
        run_local(world, "coordinator", notify), run_remote(url, world, "coordinator", lab, notify)
    )
    export = ["advisories", "export", "--json"]
    first = run_remote(url, world, "coordinator", lab, export)
    assert first.exit_code == 0, first.output
    same(
        run_local(world, "coordinator", export), run_remote(url, world, "coordinator", lab, export)
    )
    assert json.loads(first.stdout)["out"] == str(world.home / "advisories")
    brief = ["advisories", "brief", "--sector", "energy"]
    same(run_local(world, "coordinator", brief), run_remote(url, world, "coordinator", lab, brief))

    unassign = ["principals", "unassign", "eve", world.review]
    assign = ["principals", "assign", "eve", world.review]
    gone = run_remote(url, world, "coordinator", lab, unassign)
    back = run_local(world, "coordinator", assign)
    same(run_local(world, "coordinator", unassign), gone)
    same(back, run_remote(url, world, "coordinator", lab, assign))
    assert gone.stdout.strip() == f"eve unassigned from the review of {world.submission}"

    upload = lab.parent / "more.sarif"
    upload.write_text(json.dumps(sarif_log([result(7), result(8)])))
    imp = ["findings", "import", str(upload), "--submission", world.submission]
    new = run_remote(url, world, "coordinator", lab, imp)
    assert new.exit_code == 0 and "2 new finding(s)" in new.stdout, new.output
    same(run_local(world, "coordinator", imp), run_remote(url, world, "coordinator", lab, imp))

    add = ["references", "add", world.review, "--label", "agency ref"]
    added = run_remote(url, world, "coordinator", lab, add)
    same(run_local(world, "coordinator", add), added)
    remove = ["references", "remove", world.review]
    removed = run_remote(url, world, "coordinator", lab, remove)
    assert removed.stdout.strip() == f"{world.review}: no longer a reference", removed.output
    same(
        run_local(world, "coordinator", remove), run_remote(url, world, "coordinator", lab, remove)
    )


def test_principals_added_and_revoked_from_a_lab_machine(
    url: str, world: World, lab: Path, context: ServiceContext
) -> None:
    added = run_remote(
        url, world, "coordinator", lab, ["principals", "add", "zoe", "--role", "evaluator"]
    )
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert context.vault.authenticate(token).principal.name == "zoe"
    assert "added evaluator zoe (" in added.stderr and token not in added.stderr
    revoked = run_remote(url, world, "coordinator", lab, ["principals", "revoke", "zoe"])
    assert revoked.exit_code == 0 and revoked.stdout.startswith("revoked zoe (prn-")
    again = ["principals", "revoke", "zoe"]
    same(run_local(world, "coordinator", again), run_remote(url, world, "coordinator", lab, again))


def test_audit_verify_says_the_same(url: str, world: World, lab: Path) -> None:
    here = run_local(world, "auditor", ["audit", "verify", "--json"])
    there = run_remote(url, world, "auditor", lab, ["audit", "verify", "--json"])
    assert here.exit_code == there.exit_code == 0, there.output
    mine, theirs = json.loads(here.stdout), json.loads(there.stdout)
    assert theirs.keys() == mine.keys() and theirs["ok"] is True
    assert theirs["entries"] > mine["entries"]  # the trail grew by the reads in between
    text = run_remote(url, world, "auditor", lab, ["audit", "verify"])
    assert text.exit_code == 0 and text.stdout.startswith("audit trail intact: ")


def test_assess_queues_the_run_on_the_server(
    url: str, world: World, lab: Path, context: ServiceContext
) -> None:
    queued = run_remote(url, world, "coordinator", lab, ["assess", world.submission, "--json"])
    assert queued.exit_code == 0, queued.output
    job = json.loads(queued.stdout)
    assert job["status"] == "queued" and job["resume"] is False
    jobs = JobQueue(context.vault.db).jobs(world.submission)
    assert [j.id for j in jobs if j.active] == [job["id"]]
    twice = run_remote(url, world, "coordinator", lab, ["assess", world.submission])
    assert twice.exit_code == 2 and len(twice.stderr.strip().splitlines()) == 1
    cancel = runner.invoke(
        app,
        ["assess", world.submission, "--baseline-budget", "5"],
        env={"PREREVIEW_HOME": str(lab), "PREREVIEW_URL": url,
             "PREREVIEW_TOKEN": world.tokens["coordinator"]},
    )  # fmt: skip
    assert cancel.exit_code == 2 and "--baseline-budget runs on the agency host" in cancel.stderr
    handle = context.vault.authenticate(world.tokens["coordinator"]).guard
    from prereview.vault.policy import Operation

    JobQueue(context.vault.db).cancel(handle.authorize(Operation.REVIEW_ASSESS, world.submission))
    text = run_remote(url, world, "coordinator", lab, ["assess", world.submission])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("queued assessment job ")
    assert f"prereview status {world.submission}" in text.stdout
    JobQueue(context.vault.db).cancel(handle.authorize(Operation.REVIEW_ASSESS, world.submission))
    resume = ["assess", world.submission, "--resume"]  # nothing ran yet: refused both ways
    same(
        run_local(world, "coordinator", resume), run_remote(url, world, "coordinator", lab, resume)
    )
    assert not lab.exists()


def test_jobs_listed_and_cancelled_from_a_lab_machine(
    url: str, world: World, lab: Path, context: ServiceContext
) -> None:
    queued = run_remote(url, world, "coordinator", lab, ["assess", world.submission, "--json"])
    assert queued.exit_code == 0, queued.output
    job = json.loads(queued.stdout)["id"]
    for argv in (["jobs", "list"], ["jobs", "list", "--json"], ["jobs", "list", world.submission]):
        here, there = (
            run_local(world, "coordinator", argv),
            run_remote(url, world, "coordinator", lab, argv),
        )
        assert here.exit_code == 0, here.output
        same(here, there)
    listed = json.loads(
        run_remote(url, world, "evaluator_assigned", lab, ["jobs", "list", "--json"]).stdout
    )
    assert job in [j["id"] for j in listed]
    # another organization's submitter sees none of Org A's jobs
    theirs = run_remote(url, world, "submitter_other", lab, ["jobs", "list", "--json"])
    assert theirs.exit_code == 0 and json.loads(theirs.stdout) == []
    cancelled = run_remote(
        url, world, "evaluator_assigned", lab, ["jobs", "cancel", world.submission]
    )
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout.strip() == f"{job} ({world.submission}): cancelled"
    stored = JobQueue(context.vault.db).get(job)
    assert stored is not None and stored.status == "cancelled"
    again = ["jobs", "cancel", world.submission]  # nothing left to cancel: the same line
    here, there = (
        run_local(world, "coordinator", again),
        run_remote(url, world, "coordinator", lab, again),
    )
    assert here.exit_code == 2 and "has no assessment to cancel" in here.stderr
    same(here, there)
    assert not lab.exists()


def test_options_the_api_does_not_take_refuse(url: str, world: World, lab: Path) -> None:
    for argv, said in (
        (["advisories", "export", "--out", str(lab)], "--out: not available against a server"),
        (["advisories", "export", "--tlp", "RED"], "--tlp: not available against a server"),
    ):
        refused = run_remote(url, world, "coordinator", lab, argv)
        assert refused.exit_code == 2 and said in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert not lab.exists()


def test_doctor_reports_the_agency_hosts_checks(url: str, world: World, lab: Path) -> None:
    """The same checks, passed or failed alike (details may carry timings)."""
    here = run_local(world, "coordinator", ["doctor", "--json"])
    there = run_remote(url, world, "coordinator", lab, ["doctor", "--json"])
    assert there.exit_code == here.exit_code, there.output
    mine, theirs = json.loads(here.stdout), json.loads(there.stdout)
    assert theirs["ok"] == mine["ok"]
    shape = [(c["name"], c["ok"], c["required"]) for c in mine["checks"]]
    assert [(c["name"], c["ok"], c["required"]) for c in theirs["checks"]] == shape
    assert not lab.exists()


def test_refused_remotely_in_one_line(url: str, world: World, lab: Path) -> None:
    for argv, said in (
        (["init"], "`prereview init` runs on the agency host"),
        (["sandbox", "check"], "`prereview sandbox` runs on the agency host"),
        (["doctor", "--node"], "`prereview doctor --node` checks this machine"),
    ):  # fmt: skip
        refused = run_remote(url, world, "coordinator", lab, argv)
        assert refused.exit_code == 2 and said in refused.stderr, refused.output
        assert len(refused.stderr.strip().splitlines()) == 1
    # the agency host's checks name its paths and tools: its coordinators only
    doctor = run_remote(url, world, "evaluator_assigned", lab, ["doctor"])
    assert doctor.exit_code == 2 and "access denied" in doctor.stderr
    assert len(doctor.stderr.strip().splitlines()) == 1 and doctor.stdout == ""
    assert not lab.exists()


def test_keys_rotated_from_a_lab_machine(
    url: str, world: World, lab: Path, context: ServiceContext
) -> None:
    """Last in this module: every later read opens the store with the new key."""
    before = json.loads(run_local(world, "coordinator", ["keys", "list", "--json"]).stdout)
    rotated = run_remote(url, world, "coordinator", lab, ["keys", "rotate", "--json"])
    assert rotated.exit_code == 0, rotated.output
    result = json.loads(rotated.stdout)
    keks = {k["key_id"]: k["status"] for k in before if k["kind"] == "kek"}
    assert keks[result["old_kek_id"]] == "active" and result["new_kek_id"] not in keks
    after = json.loads(run_local(world, "coordinator", ["keys", "list", "--json"]).stdout)
    status = {k["key_id"]: k["status"] for k in after}
    assert status[result["old_kek_id"]] == "retired" and status[result["new_kek_id"]] == "active"
    # what was sealed before still opens, through the server and here
    assert run_remote(url, world, "coordinator", lab, ["status", world.submission]).exit_code == 0
    assert run_local(world, "coordinator", ["status", world.submission]).exit_code == 0
    assert not lab.exists()
