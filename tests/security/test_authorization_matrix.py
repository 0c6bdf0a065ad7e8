"""Every CLI command × every role × every spelling of an id: zero unauthorized successes.

The commands are enumerated from the Typer app itself: a command that is not in `COMMANDS`
below fails `test_every_command_is_in_the_matrix`, so a new command cannot ship without its row.
For each role the expected outcome comes from the policy table written out here (not read from
the code under test), so a policy regression fails too.

A refusal must: exit 2 with one line on stderr that names what was refused and not why, leave a
`denied` entry in the audit trail, and write nothing (rows other than the audit trail, files in
the data dir and the output dir are compared before and after).

One data dir is built per module; commands run in-process through CliRunner.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import Settings
from prereview.store.base import Base
from prereview.store.database import Database
from prereview.store.tables.vault import AuditEntryRow
from prereview.vault.errors import AccessDeniedError
from prereview.vault.policy import Operation
from prereview.vault.service import Vault
from tests.findings.factory import result, sarif_log, write_json, write_sarif
from tests.security.world import (
    EVERYONE,
    EXPECTED_ON_SUBMISSION,
    NAMES,
    ROLES,
    by_op,
    populate,
    roles,
)

Op = Operation
runner = CliRunner()

# -- the matrix: one row per CLI command ------------------------------------------------------


@dataclass(frozen=True)
class ById:
    """A command naming a resource by id: `{ref}` in `argv` is replaced by each variant."""

    argv: tuple[str, ...]
    allowed: frozenset[str]  # roles for which the exact id succeeds
    finding: bool = False  # the id is a finding's (F-<n>), else a submission's
    mutates: bool = False  # allowed cases change state: decided in-process, not run here


@dataclass(frozen=True)
class NoId:
    """A protected command without a resource id: each role succeeds or is refused as a whole."""

    argv: tuple[str, ...]
    allowed: frozenset[str]
    mutates: bool = False  # allowed cases are not run (state would change for later cases)


@dataclass(frozen=True)
class Unprotected:
    """Needs no principal and touches no protected data (why: `reason`)."""

    reason: str


SUB = "{ref}"
COMMANDS: dict[str, ById | NoId | Unprotected] = {
    "status": ById(("status", SUB), by_op(Op.SUBMISSION_READ)),
    "assess": ById(("assess", SUB, "--plan-only"), by_op(Op.REVIEW_ASSESS), mutates=True),
    "withdraw": ById(("withdraw", SUB), by_op(Op.SUBMISSION_WITHDRAW), mutates=True),
    "jobs list": ById(("jobs", "list", SUB), by_op(Op.SUBMISSION_READ)),
    "jobs cancel": ById(("jobs", "cancel", SUB), by_op(Op.REVIEW_ASSESS), mutates=True),
    "close": ById(("close", SUB), by_op(Op.REVIEW_CLOSE), mutates=True),
    "report": ById(("report", SUB, "--format", "md", "--out", "{out}"), by_op(Op.REPORT_READ)),
    "report --sanitized": ById(
        ("report", SUB, "--sanitized", "--format", "md", "--out", "{out}"),
        by_op(Op.REPORT_READ_SANITIZED),
    ),
    "references add": ById(
        ("references", "add", SUB, "--label", "yardstick"),
        by_op(Op.REFERENCES_MANAGE),
        mutates=True,
    ),
    "references remove": ById(
        ("references", "remove", SUB), by_op(Op.REFERENCES_MANAGE), mutates=True
    ),
    "principals assign": ById(
        ("principals", "assign", NAMES["evaluator_unassigned"], SUB),
        by_op(Op.REVIEW_ASSIGN),
        mutates=True,
    ),
    "principals unassign": ById(
        ("principals", "unassign", NAMES["evaluator_assigned"], SUB),
        by_op(Op.REVIEW_ASSIGN),
        mutates=True,
    ),
    "findings import": ById(
        ("findings", "import", "{sarif}", "--submission", SUB),
        by_op(Op.FINDINGS_WRITE),
        mutates=True,
    ),
    "logs list": ById(("logs", "list", SUB), by_op(Op.LOGS_READ)),
    "logs view": ById(
        ("logs", "view", SUB, "--port", "1"), by_op(Op.LOGS_READ), mutates=True
    ),  # allowed: it serves until Ctrl-C
    "logs export": ById(
        ("logs", "export", SUB, "--out", "{out}/bundle", "--recipient", "{sarif}"),
        by_op(Op.LOGS_EXPORT),
        mutates=True,
    ),
    # F-1 is sighted in Org A's submission only
    "findings show": ById(("findings", "show", SUB), by_op(Op.FINDINGS_READ), finding=True),
    "findings triage": ById(
        ("findings", "triage", SUB, "--cwe", "CWE-787"),
        by_op(Op.FINDINGS_WRITE),
        finding=True,
        mutates=True,
    ),
    "findings notify": ById(
        ("findings", "notify", SUB, "--vendor", "V"),
        by_op(Op.FINDINGS_WRITE),
        finding=True,
        mutates=True,
    ),
    "findings status": ById(
        ("findings", "status", SUB, "published"),
        by_op(Op.FINDINGS_WRITE),
        finding=True,
        mutates=True,
    ),
    # without an id: listings are filtered (checked below), administration is coordinators'
    "list": NoId(("list", "--json"), frozenset(EVERYONE)),
    "submit": NoId(
        (
            "submit",
            "--org",
            "Org A",
            "--model",
            "simulated/x",
            "--release-date",
            (date.today() + timedelta(days=30)).isoformat(),
        ),
        roles("submitter_own"),
        mutates=True,
    ),
    "demo": NoId(("demo", "--model", "simulated/x"), roles("coordinator"), mutates=True),
    "keys list": NoId(("keys", "list"), roles("coordinator")),
    "keys rotate": NoId(("keys", "rotate"), roles("coordinator"), mutates=True),
    "audit verify": NoId(("audit", "verify"), roles("coordinator", "auditor")),
    "audit show": NoId(("audit", "show", "--limit", "5"), roles("coordinator", "auditor")),
    "principals add": NoId(
        ("principals", "add", "intruder", "--role", "coordinator"),
        roles("coordinator"),
        mutates=True,
    ),
    "principals list": NoId(("principals", "list"), roles("coordinator")),
    "principals revoke": NoId(
        ("principals", "revoke", NAMES["auditor"]), roles("coordinator"), mutates=True
    ),
    "references list": NoId(("references", "list"), roles("coordinator")),
    "findings list": NoId(("findings", "list", "--json"), frozenset(EVERYONE)),
    "findings overdue": NoId(("findings", "overdue", "--json"), frozenset(EVERYONE)),
    "advisories export": NoId(
        ("advisories", "export", "--out", "{out}"), roles("coordinator"), mutates=True
    ),
    "advisories brief": NoId(
        ("advisories", "brief", "--out", "{out}"), roles("coordinator"), mutates=True
    ),
    "logs keygen": NoId(("logs", "keygen"), roles("coordinator"), mutates=True),
    "logs import": NoId(
        ("logs", "import", "{sarif}", "--sender", "{sarif}"), roles("coordinator"), mutates=True
    ),
    "serve": Unprotected(
        "starts the REST API: each request authenticates and is decided by the same guard"
    ),
    "worker": Unprotected("runs assessments that authorized requests queued; the host's operator"),
    "init": Unprotected("creates a data dir and its first coordinator; idempotent"),
    "doctor": Unprotected("checks the host; reads no submission"),
    "findings sectors": Unprotected("the static sector catalog"),
    "tasks list": Unprotected("the installed task families"),
    "tasks generate": Unprotected("local task generation; no store"),
    "tasks verify": Unprotected("checks a local task dir; no store"),
    "tasks baseline": Unprotected("runs a fuzzer on a local task dir; no store"),
    "sandbox check": Unprotected("checks the host's sandbox"),
    "sandbox cleanup": Unprotected("removes this user's leftover sandboxes"),
}


def cli_commands() -> set[str]:
    """Every leaf command of the app, as space-separated paths ("findings import")."""
    root = typer.main.get_command(app)
    ctx = root.context_class(root)  # typer may vendor click: use the command's own classes
    out: set[str] = set()

    def walk(group: Any, prefix: str) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            path = f"{prefix}{name}"
            if hasattr(command, "list_commands"):  # a group
                walk(command, path + " ")
            else:
                out.add(path)

    walk(root, "")
    return out


def test_every_command_is_in_the_matrix() -> None:
    rows = {name.removesuffix(" --sanitized") for name in COMMANDS}
    commands = cli_commands()
    assert commands - rows == set(), "add these commands to COMMANDS (and decide their policy)"
    assert rows - commands == set(), "these matrix rows name no command any more"


# -- the world: built once for the module -----------------------------------------------------


@dataclass
class World:
    settings: Settings
    db: Database  # read by the checks, without keys: they only count and compare rows
    env: dict[str, dict[str, str]]  # per role: PREREVIEW_HOME, PREREVIEW_TOKEN, …
    submission: str
    review: str
    finding: str
    sarif: Path
    out: Path
    tokens: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("matrix")
    home, out = base / "home", base / "out"
    out.mkdir()
    common = {
        "PREREVIEW_HOME": str(home),
        "PREREVIEW_PLAINTEXT_DIR": str(base / "plaintext"),
        "INSPECT_LOG_DIR": str(base / "inspect-logs"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PREREVIEW_TOKEN", "PREREVIEW_CONFIG", "PREREVIEW_DATABASE_URL"):
            mp.delenv(var, raising=False)
        for key, value in common.items():
            mp.setenv(key, value)
        population = populate()
        settings, tokens, record_id = population.settings, population.tokens, population.submission
        mp.setenv("PREREVIEW_TOKEN", tokens["coordinator"])
        sarif = write_sarif(base / "found.sarif", 1)
        env = {role: {**common, "PREREVIEW_TOKEN": tokens[role]} for role in ROLES}
        imported = runner.invoke(
            app,
            ["findings", "import", str(sarif), "--submission", record_id],
            env=env["coordinator"],
        )
        assert imported.exit_code == 0, imported.output
        # F-2, F-3: the agency's own (other locations than F-1)
        agency = write_json(base / "agency.sarif", sarif_log([result(5), result(6)]))
        imported = runner.invoke(app, ["findings", "import", str(agency)], env=env["coordinator"])
        assert imported.exit_code == 0, imported.output
        db = Database(settings.database_url)
        try:
            yield World(settings, db, env, record_id, population.review, "F-1", sarif, out, tokens)
        finally:
            db.dispose()


# -- id variants -----------------------------------------------------------------------------

_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def submission_variants(world: World) -> dict[str, str]:
    """The spellings every role tries on every command."""
    ident = world.submission
    return {
        "exact": ident,
        "padded": f" {ident} ",
        "tab": f"{ident}\t",
        "upper case": ident.upper(),
        "cyrillic s": "\u0455" + ident[1:],  # ѕ, CYRILLIC SMALL LETTER DZE
        "prefix": ident[:-2],
        "unknown": "sub-0000000000",
    }


def more_submission_variants(world: World) -> dict[str, str]:
    """Further spellings: tried by the coordinator (allowed the exact id everywhere, so only
    the spelling can refuse), and by every role through the guard."""
    ident = world.submission
    return {
        "review id": world.review,
        "newline": f"{ident}\n",
        "fullwidth digits": ident[:4] + ident[4:].translate(_FULLWIDTH),
        "zero width space": ident[:4] + "\u200b" + ident[4:],
    }


def finding_variants(world: World) -> dict[str, str]:
    return {
        "exact": world.finding,
        "padded": f" {world.finding} ",
        "tab": f"\t{world.finding}",
        "lower case": world.finding.lower(),
        "fullwidth digit": "F-\uff11",
        "prefix": "F-",
        "unknown": "F-999999",
    }


def more_finding_variants(world: World) -> dict[str, str]:
    return {"bare number": world.finding[2:], "leading zero": "F-01", "newline": "F-1\n"}


EXACT = {"exact", "review id"}

# -- what "nothing written" means --------------------------------------------------------------


def _files(*roots: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                path = Path(dirpath) / name
                if name.startswith("prereview.db") or "audit" in name:
                    continue  # the audit trail (and its head record) grows with each refusal
                st = path.stat()
                found[str(path)] = (st.st_size, st.st_mtime_ns)
    return found


def snapshot(world: World) -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    """A digest of every row outside the audit trail, and every file outside it."""
    tables: dict[str, str] = {}
    with world.db.session() as s:
        for table in Base.metadata.sorted_tables:
            if "audit" in table.name:
                continue
            rows = s.execute(select(table)).all()
            tables[table.name] = hashlib.sha256(
                repr(sorted(repr(tuple(r)) for r in rows)).encode()
            ).hexdigest()
    return tables, _files(world.settings.home, world.out)


def denied_count(world: World, role: str) -> int:
    with world.db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(AuditEntryRow)
                .where(AuditEntryRow.outcome == "denied", AuditEntryRow.principal == NAMES[role])
            )
            or 0
        )


# -- running one case ----------------------------------------------------------------------


def argv_for(world: World, argv: tuple[str, ...], ref: str) -> list[str]:
    subs = {"{ref}": ref, "{out}": str(world.out), "{sarif}": str(world.sarif)}
    out = []
    for arg in argv:
        for key, value in subs.items():
            arg = arg.replace(key, value)
        out.append(arg)
    return out


@dataclass
class Tally:
    unauthorized: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    refusals: int = 0


REASONS = ("another organization", "no such", "assigned", "elected", "revoked", "role")


def refused(world: World, tally: Tally, role: str, label: str, argv: list[str]) -> None:
    """Run one case that must be refused: exit 2, one line naming what (not why), and a
    denied entry in the audit trail."""
    denied = denied_count(world, role)
    result = runner.invoke(app, argv, env=world.env[role])
    tally.refusals += 1
    if result.exit_code == 0:
        tally.unauthorized.append(f"{role}: {label}")
        return
    if denied_count(world, role) <= denied:
        tally.problems.append(f"{role}: {label}: no denied entry in the audit trail")
    err = result.stderr.strip()
    if result.exit_code != 2 or len(err.splitlines()) != 1 or "access denied" not in err:
        tally.problems.append(f"{role}: {label}: exit {result.exit_code}: {err[-300:]!r}")
    if any(reason in err for reason in REASONS):
        tally.problems.append(f"{role}: {label}: the refusal says why: {err!r}")


def check_refused(
    world: World, tally: Tally, role: str, cases: list[tuple[str, list[str]]]
) -> None:
    """Run cases that must all be refused for `role`; together they write nothing (compared
    once around the group: the cases are many, and any write would persist to the end)."""
    if not cases:
        return
    before = snapshot(world)
    for label, argv in cases:
        refused(world, tally, role, label, argv)
    if snapshot(world) != before:
        tally.problems.append(f"{role}: {cases[0][0]}…: something was written")


def check_allowed(world: World, tally: Tally, role: str, label: str, argv: list[str]) -> None:
    result = runner.invoke(app, argv, env=world.env[role])
    if result.exit_code != 0:
        tally.problems.append(f"{role}: {label}: refused though allowed: {result.stderr[-300:]}")


def _id_rows(finding: bool) -> list[tuple[str, ById]]:
    return [
        (name, spec)
        for name, spec in COMMANDS.items()
        if isinstance(spec, ById) and spec.finding is finding
    ]


def _run_by_id(world: World, rows: list[tuple[str, ById]], variants: dict[str, str]) -> Tally:
    tally = Tally()
    for name, spec in rows:
        for role in ROLES:
            cases = []
            for variant, ref in variants.items():
                argv = argv_for(world, spec.argv, ref)
                label = f"{name} [{variant}]"
                if variant in EXACT and role in spec.allowed:
                    if not spec.mutates:
                        check_allowed(world, tally, role, label, argv)
                    continue
                cases.append((label, argv))
            check_refused(world, tally, role, cases)
    return tally


@pytest.mark.slow
@pytest.mark.parametrize("finding", [False, True], ids=["submission ids", "finding ids"])
def test_commands_by_id_refuse_every_unauthorized_role_and_spelling(
    world: World, finding: bool
) -> None:
    variants = finding_variants(world) if finding else submission_variants(world)
    tally = _run_by_id(world, _id_rows(finding), variants)
    assert tally.unauthorized == []
    assert tally.problems == [], "\n".join(tally.problems)
    assert tally.refusals > 0


def test_the_coordinator_is_refused_every_other_spelling(world: World) -> None:
    """The coordinator may act on the exact id with nearly every command: here only the
    spelling can be the reason for a refusal."""
    tally = Tally()
    for finding in (False, True):
        variants = more_finding_variants(world) if finding else more_submission_variants(world)
        for name, spec in _id_rows(finding):
            cases = []
            for variant, ref in variants.items():
                argv = argv_for(world, spec.argv, ref)
                if variant in EXACT:
                    if not spec.mutates and "coordinator" in spec.allowed:
                        check_allowed(world, tally, "coordinator", f"{name} [{variant}]", argv)
                    continue
                cases.append((f"{name} [{variant}]", argv))
            check_refused(world, tally, "coordinator", cases)
    assert tally.unauthorized == []
    assert tally.problems == [], "\n".join(tally.problems)


def test_commands_without_an_id_refuse_every_unauthorized_role(world: World) -> None:
    tally = Tally()
    for name, spec in COMMANDS.items():
        if not isinstance(spec, NoId):
            continue
        for role in ROLES:
            argv = argv_for(world, spec.argv, "")
            if role in spec.allowed:
                if not spec.mutates:
                    check_allowed(world, tally, role, name, argv)
                continue
            check_refused(world, tally, role, [(name, argv)])
    assert tally.unauthorized == []
    assert tally.problems == [], "\n".join(tally.problems)


@pytest.mark.parametrize("command", ["list", "findings list", "findings overdue"])
def test_listings_show_only_what_each_role_may_see(world: World, command: str) -> None:
    spec = COMMANDS[command]
    assert isinstance(spec, NoId)
    op = Op.SUBMISSION_READ if command == "list" else Op.FINDINGS_READ
    needle = world.submission if command == "list" else f'"{world.finding}"'
    for role in ROLES:
        result = runner.invoke(app, list(spec.argv), env=world.env[role])
        assert result.exit_code == 0, result.stderr
        if command == "findings overdue":
            assert needle not in result.stdout  # nothing is overdue: nobody sees F-1 here
            continue
        assert (needle in result.stdout) == (op in EXPECTED_ON_SUBMISSION[role]), role


def _guard_cases(world: World) -> list[tuple[str, Operation, str, str]]:
    """(role, operation, spelling, reference): every operation × role on the exact ids (the
    policy), and every spelling for every operation (as the coordinator) and every role (on
    one operation each role may do, where it has one)."""
    spellings = submission_variants(world) | more_submission_variants(world)
    exact = {name: ref for name, ref in spellings.items() if name in EXACT}
    cases = [
        (role, op, name, ref)
        for role in ROLES
        for op in Operation
        for name, ref in (exact if role != "coordinator" else spellings).items()
    ]
    for role in ROLES:
        op = min(EXPECTED_ON_SUBMISSION[role] or {Op.SUBMISSION_READ})
        cases += [(role, op, name, ref) for name, ref in spellings.items() if name not in EXACT]
    return cases


def test_every_operation_role_and_spelling_through_the_guard(world: World) -> None:
    """The service layer: `authorize` for every operation × role. Only the exact ids of the
    policy table pass; every refusal raises one line and is audited."""
    unauthorized, over_restricted, multiline = [], [], 0
    refusals = dict.fromkeys(ROLES, 0)
    before = {role: denied_count(world, role) for role in ROLES}
    with Vault.open(world.settings) as vault:
        guards = {role: vault.authenticate(world.tokens[role]).guard for role in ROLES}
        for role, op, variant, ref in _guard_cases(world):
            try:
                handle = guards[role].authorize(op, ref)
            except AccessDeniedError as exc:
                refusals[role] += 1
                multiline += "\n" in str(exc)
                if variant in EXACT and op in EXPECTED_ON_SUBMISSION[role]:
                    over_restricted.append((role, op.value, variant))
                continue
            if handle.submission_id != world.submission or handle.operation is not op:
                unauthorized.append((role, op.value, f"{variant}: a handle for something else"))
            if variant not in EXACT or op not in EXPECTED_ON_SUBMISSION[role]:
                unauthorized.append((role, op.value, variant))
    assert unauthorized == []
    assert over_restricted == []
    assert multiline == 0
    assert {role: denied_count(world, role) - before[role] for role in ROLES} == refusals


def test_a_handle_is_bound_to_its_principal_and_operation(world: World) -> None:
    with Vault.open(world.settings) as vault:
        coordinator = vault.authenticate(world.tokens["coordinator"]).guard
        auditor = vault.authenticate(world.tokens["auditor"]).guard
        handle = coordinator.authorize(Op.SUBMISSION_READ, world.submission)
        with pytest.raises(AccessDeniedError):
            auditor.authorize(Op.SUBMISSION_READ, handle)  # someone else's handle
        with pytest.raises(AccessDeniedError, match=r"submission\.withdraw"):
            handle.check(Op.SUBMISSION_WITHDRAW)  # a read handle does not withdraw
        with pytest.raises(TypeError, match="issued only by"):  # a forged copy is no handle
            dataclasses.replace(handle, operation=Op.SUBMISSION_WITHDRAW)
        # another operation on the same handle is decided (and refused) again
        with pytest.raises(AccessDeniedError):
            coordinator.authorize(Op.SUBMISSION_WITHDRAW, handle)


def test_the_audit_trail_still_verifies(world: World) -> None:
    with Vault.open(world.settings) as vault:
        assert vault.audit.verify().ok
