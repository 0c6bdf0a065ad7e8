from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from prereview.config import NotInitializedError, Settings
from prereview.store import Database, DatabaseError, migrate, open_database, schema_status
from prereview.store.migration import MIGRATIONS_DIR, alembic_config, load_tables
from prereview.store.tables.review import OrganizationRow

REVIEW_TABLES = {
    "organizations",
    "submissions",
    "submission_events",
    "reviews",
    "assessment_runs",
    "sample_results",
}


def test_migrate_reaches_every_head_and_is_idempotent(database_url: str) -> None:
    status = migrate(database_url)
    assert status.up_to_date and status.current
    assert "review_0001_initial" in status.current or any(
        r.startswith("review_") for r in status.current
    )
    again = migrate(database_url)
    assert again == status
    with Database(database_url) as db:
        assert set(inspect(db.engine).get_table_names()) >= REVIEW_TABLES


def test_migrated_schema_matches_the_table_classes(database_url: str) -> None:
    """No drift: what the migrations build is exactly what the ORM declares, on both backends."""
    migrate(database_url)
    metadata = load_tables()
    with Database(database_url) as db, db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []


def test_downgrade_to_root_and_upgrade_again(database_url: str) -> None:
    migrate(database_url)
    with Database(database_url) as db:
        with db.engine.connect() as conn:
            command.downgrade(alembic_config(database_url, conn), "0001_root")
            conn.commit()
        assert not REVIEW_TABLES & set(inspect(db.engine).get_table_names())
    assert migrate(database_url).up_to_date


def test_concurrent_migrations_do_not_collide(database_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: migrate(database_url), range(4)))
    assert all(s.up_to_date for s in statuses)


def test_timestamps_come_back_timezone_aware_utc(database_url: str) -> None:
    migrate(database_url)
    stamp = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))
    with Database(database_url) as db:
        with db.session() as s:
            s.add(OrganizationRow(id="org-1", name="Example Labs", created_at=stamp))
        with db.session() as s:
            row = s.execute(select(OrganizationRow)).scalar_one()
    assert row.created_at == stamp
    assert row.created_at.tzinfo is not None
    assert row.created_at.utcoffset() == UTC.utcoffset(None)


def test_every_branch_folder_holds_one_labelled_branch_from_the_root() -> None:
    """The layout other domains follow: versions/<branch>/ holds branch <branch> off 0001_root."""
    scripts = ScriptDirectory.from_config(alembic_config())
    assert list(scripts.get_bases()) == ["0001_root"]
    for folder in (MIGRATIONS_DIR / "versions").iterdir():
        if not folder.is_dir() or folder.name in ("root", "__pycache__"):
            continue
        revisions = [r for r in scripts.walk_revisions() if Path(r.path).parent == folder]
        assert revisions, f"empty branch folder {folder.name}"
        assert all(r.revision.startswith(f"{folder.name}_") for r in revisions)
        first = [r for r in revisions if r.down_revision == "0001_root"]
        assert len(first) == 1 and folder.name in first[0].branch_labels


def test_commands_refuse_a_missing_data_dir(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "nope", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(NotInitializedError, match="prereview init"):
        open_database(settings)


def test_commands_refuse_an_unmigrated_database(database_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=database_url)
    with pytest.raises(DatabaseError, match="run `prereview init`"):
        open_database(settings)
    migrate(settings)
    with open_database(settings) as db:
        assert schema_status(db.engine).up_to_date


def test_bad_database_url_is_reported_without_its_password(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql+psycopg://u:hunter2@[bad")
    with pytest.raises(DatabaseError) as err:
        open_database(settings)
    assert "hunter2" not in str(err.value)


def test_migrate_ships_without_alembic_ini() -> None:
    """Users never need alembic.ini: the env is package data run from code."""
    proc = subprocess.run(
        [sys.executable, "-m", "prereview.store", "heads"],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Branch names: review" in proc.stdout and "(head)" in proc.stdout


def test_unreachable_database_fails_migrate_cleanly_without_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://u:s3cretpw@/nodb?host={tmp_path}"  # no server on that socket
    with pytest.raises(DatabaseError) as err:
        migrate(url)
    assert "s3cretpw" not in str(err.value) and "cannot use database" in str(err.value)


def test_doctor_reports_an_unmigrated_then_migrated_database(
    database_url: str, tmp_path: Path
) -> None:
    from prereview.doctor import check_database

    settings = Settings(home=tmp_path, database_url=database_url)
    before = check_database(settings)
    assert not before.ok and before.fix == "prereview init"
    migrate(settings)
    after = check_database(settings)
    assert after.ok and "review_" in after.detail
