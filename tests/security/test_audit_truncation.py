"""Audit truncation: someone who can write the database but not the keys dir cuts the trail back
(the newest entries, entries and the checkpoints after them, everything, or an older copy of the
whole database). `prereview audit verify` names the missing range against the signed head record
kept beside the signing key; the untouched trail verifies."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from prereview.cli.main import app
from prereview.store.database import Database
from prereview.store.tables.review import OrganizationRow
from prereview.store.tables.vault import AuditCheckpointRow, AuditEntryRow, PrincipalRow
from prereview.vault.audit import AuditChain, AuditEvent, AuditHeadAnchor
from prereview.vault.keys.local import HEAD_FILE, LocalSigningKey

runner = CliRunner()
EVERY = 5


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def verify_fails(pattern: str, *, alone: bool = True) -> str:
    """`audit verify` exits 1 with one line that matches `pattern` (`alone`: and no other)."""
    result = run("audit", "verify")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 or not alone, lines
    matching = [ln for ln in lines if re.search(pattern, ln)]
    assert len(matching) == 1, lines
    return matching[0]


def sql(home: Path, statement: str, *params: object) -> None:
    with sqlite3.connect(home / "prereview.db") as db:
        db.execute(statement, params)


def head(home: Path) -> tuple[int, int]:
    """(newest entry, newest checkpoint)."""
    with sqlite3.connect(home / "prereview.db") as db:
        seq = db.execute("SELECT max(seq) FROM vault_audit_entries").fetchone()[0]
        cp = db.execute("SELECT max(seq) FROM vault_audit_checkpoints").fetchone()[0]
    return int(seq), int(cp or 0)


@pytest.fixture
def home(prereview_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialized install with a few dozen audit entries, checkpointed every 5."""
    monkeypatch.setenv("PREREVIEW_AUDIT_CHECKPOINT_EVERY", str(EVERY))
    assert run("init").exit_code == 0
    for i in range(6):
        assert run("principals", "add", f"p{i}", "--role", "auditor").exit_code == 0
    assert run("principals", "list").exit_code == 0
    seq, cp = head(prereview_home)
    assert seq > 2 * EVERY + 1 and cp < seq  # entries past the last checkpoint exist
    return prereview_home


def test_the_untouched_trail_verifies_and_the_head_record_is_private(home: Path) -> None:
    result = run("audit", "verify")
    assert result.exit_code == 0, result.output
    record = home / "keys" / HEAD_FILE
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    report = json.loads(run("audit", "verify", "--json").stdout)
    assert report["ok"] and report["anchor"]["seq"] >= report["head"]["seq"] - 2
    # every append moves the record forward
    assert json.loads(record.read_text())["seq"] == head(home)[0]


def test_deleting_the_newest_entries_after_the_last_checkpoint_is_detected(home: Path) -> None:
    seq, cp = head(home)
    sql(home, "DELETE FROM vault_audit_entries WHERE seq > ?", cp)
    verify_fails(rf"truncated: entries #{cp + 1}\.\.#{seq} are gone")


def test_deleting_entries_and_checkpoints_across_checkpoints_is_detected(home: Path) -> None:
    seq, _ = head(home)
    cut = EVERY + 2
    sql(home, "DELETE FROM vault_audit_entries WHERE seq > ?", cut)
    sql(home, "DELETE FROM vault_audit_checkpoints WHERE seq > ?", cut)
    verify_fails(rf"truncated: entries #{cut + 1}\.\.#{seq} are gone")


def test_deleting_entries_but_leaving_checkpoints_reports_the_cut_once(home: Path) -> None:
    """The checkpoints past the cut do not repeat it (the one at #5 also says that the entry
    prereview then wrote at #5 is not the one it signed)."""
    seq, _ = head(home)
    sql(home, "DELETE FROM vault_audit_entries WHERE seq > ?", EVERY - 1)
    verify_fails(rf"truncated: entries #{EVERY}\.\.#{seq} are gone", alone=False)
    report = json.loads(run("audit", "verify", "--json").stdout)
    assert [p["kind"] for p in report["problems"]].count("truncated") == 1


def test_deleting_every_entry_is_detected(home: Path) -> None:
    seq, _ = head(home)
    sql(home, "DELETE FROM vault_audit_entries")
    sql(home, "DELETE FROM vault_audit_checkpoints")
    verify_fails(rf"truncated: entries #1\.\.#{seq} are gone")


def test_restoring_an_older_copy_of_the_database_is_detected(home: Path) -> None:
    db_path = home / "prereview.db"
    backup = home / "older.db"
    with sqlite3.connect(db_path) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    old_seq, _ = head(home)
    for i in range(4):
        assert run("principals", "add", f"later{i}", "--role", "auditor").exit_code == 0
    seq, _ = head(home)
    with sqlite3.connect(backup) as copy, sqlite3.connect(db_path) as live:
        copy.backup(live)
    assert head(home)[0] == old_seq
    line = verify_fails(rf"truncated: entries #{old_seq + 1}\.\.#{seq} are gone")
    assert "older copy" in line


def test_a_crash_before_the_record_moved_leaves_a_longer_trail_that_verifies(home: Path) -> None:
    """The record may lag by the entries of a command that died after its commit."""
    record = home / "keys" / HEAD_FILE
    older = record.read_bytes()
    assert run("principals", "add", "late", "--role", "auditor").exit_code == 0
    record.write_bytes(older)  # as if the process died between the commit and the update
    assert run("audit", "verify").exit_code == 0


def _store(path: Path) -> tuple[Database, AuditChain]:
    db = Database(f"sqlite:///{path / 'trail.db'}")
    wanted = {AuditEntryRow, AuditCheckpointRow, OrganizationRow, PrincipalRow}
    names = {row.__tablename__ for row in wanted}
    tables = [t for t in AuditEntryRow.metadata.sorted_tables if t.name in names]
    AuditEntryRow.metadata.create_all(db.engine, tables=tables)
    signer = LocalSigningKey.create(path / "signing.key")
    anchor = AuditHeadAnchor(path / HEAD_FILE)
    return db, AuditChain(db, signer, checkpoint_every=EVERY, anchor=anchor)


def test_an_empty_trail_on_a_store_with_data_fails(tmp_path: Path) -> None:
    """Even without a head record (a copy of the store checked elsewhere, or the record lost),
    an empty trail fails on a store that holds data; on an empty store it is fine."""
    db, chain = _store(tmp_path)
    assert chain.verify().ok
    with db.session() as s:
        s.add(PrincipalRow(id="prn-1", name="c", role="coordinator", token_sha256="0" * 64))
    chain.append(AuditEvent("principal.add", "ok", target="c"))
    assert chain.verify().ok
    (tmp_path / HEAD_FILE).unlink()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM vault_audit_entries")
        conn.exec_driver_sql("DELETE FROM vault_audit_checkpoints")
    problems = chain.verify().problems
    assert [(p.seq, p.kind) for p in problems] == [(1, "truncated")]
    assert "the trail is empty but the store holds 1 principals" in problems[0].message


def test_the_head_record_never_moves_back(tmp_path: Path) -> None:
    _db, chain = _store(tmp_path)
    for i in range(3):
        chain.append(AuditEvent("a", "ok", target=str(i)))
    chain.anchor.advance(1, "0" * 64, chain.signer)  # a slower appender, after a faster one
    record = chain.anchor.read()
    assert record is not None and record.seq == 3
    assert chain.verify().ok


def test_a_forged_head_record_is_reported(tmp_path: Path) -> None:
    _db, chain = _store(tmp_path)
    for i in range(3):
        chain.append(AuditEvent("a", "ok", target=str(i)))
    path = tmp_path / HEAD_FILE
    body = json.loads(path.read_text())
    body["seq"] = 2
    path.write_text(json.dumps(body))
    problems = chain.verify().problems
    assert [(p.kind, p.seq) for p in problems] == [("anchor", 2)]
    assert "invalid signature" in problems[0].message


@pytest.mark.parametrize("damage", ["{not json", '{"format": "prereview-audit-head/v1"}', "[1]"])
def test_a_damaged_head_record_is_reported_and_kept(tmp_path: Path, damage: str) -> None:
    _db, chain = _store(tmp_path)
    chain.append(AuditEvent("a", "ok"))
    path = tmp_path / HEAD_FILE
    path.write_text(damage)
    chain.append(AuditEvent("b", "ok"))  # appending goes on; the evidence is not overwritten
    assert path.read_text() == damage
    problems = chain.verify().problems
    assert [p.kind for p in problems] == ["anchor"] and "is damaged" in problems[0].message
