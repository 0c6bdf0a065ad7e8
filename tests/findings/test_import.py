"""Importing into the store, on SQLite and PostgreSQL: dedup, sightings, scoring, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from prereview.findings.details import (
    PLAIN_CODECS,
    DetailsCodec,
    DetailsCodecs,
    DetailsError,
    FindingDetails,
    PlainDetailsCodec,
)
from prereview.findings.ingest import import_findings
from prereview.findings.intake import IntakeError
from prereview.findings.repository import list_findings, sightings
from prereview.store import Database
from prereview.store.tables.findings import (
    FindingImportRow,
    FindingRow,
    FindingSightingRow,
)
from tests.findings.factory import result, sarif_log, write_json, write_sarif

TABLES = (FindingImportRow, FindingRow, FindingSightingRow)
V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def counts(db: Database) -> dict[str, int]:
    with db.session() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES}


def test_import_dedups_within_and_across_files(db: Database, tmp_path: Path) -> None:
    results = [result(i) for i in range(4)] + [result(2)]  # the third result twice
    path = write_json(tmp_path / "a.sarif", sarif_log(results))
    first = import_findings(db, path, codecs=PLAIN_CODECS, source="agent-run-1")
    assert (first.results, first.new_findings, first.duplicates) == (5, 4, 1)
    again = import_findings(db, path, codecs=PLAIN_CODECS)
    assert (again.results, again.new_findings, again.duplicates) == (5, 0, 5)
    assert counts(db) == {
        "finding_imports": 2,
        "findings": 4,
        "finding_sightings": 10,
    }
    by_uri = {f.location_uri: f for f in list_findings(db)}
    assert by_uri["src/file2.c"].sighting_count == 4
    assert by_uri["src/file0.c"].sighting_count == 2
    seen = sightings(db, by_uri["src/file2.c"].id, PLAIN_CODECS)
    assert [s.duplicate for s in seen] == [False, True, True, True]
    assert {s.import_id for s in seen} == {first.import_id, again.import_id}
    assert seen[0].details.message == "overflow reachable from record 2"
    assert seen[0].where == "$.runs[0].results[2]" and seen[1].where == "$.runs[0].results[4]"


def test_import_scores_and_maps_sectors(db: Database, tmp_path: Path) -> None:
    modbus = "pkg:github/stephane/libmodbus@3.1.10"
    log = sarif_log(
        [
            result(0, properties={"purl": modbus, "cvss": V31}),
            result(1, properties={"purl": "pkg:pypi/unmapped@1.0", "cvss": V31}),
            result(2, properties={"purl": modbus, "cvss": V31, "evidence": "poc"}),
            result(3, level="note"),
        ]
    )
    import_findings(db, write_json(tmp_path / "a.sarif", log), codecs=PLAIN_CODECS)
    f0, f1, f2, f3 = sorted(list_findings(db), key=lambda f: f.location_uri)
    assert f0.cvss_v3_score == 9.8 and f0.severity == "critical" and f0.severity_basis == "cvss_v3"
    assert f0.cwe_id == 122 and f0.vendor == "libmodbus project"
    assert "water" in f0.sectors and "energy" in f0.sectors
    assert f1.sectors == () and f1.vendor == "unmapped"
    # same severity: a lifeline-sector product and a working PoC each raise the priority
    assert f1.priority_score < f0.priority_score <= f2.priority_score
    assert f2.evidence == "poc" and f2.priority == "P1"
    # no vector: the rule's security-severity (8.1) is the estimate
    assert f3.severity_basis == "security_severity" and f3.severity == "high"
    water = list_findings(db, sector="water")
    assert {f.location_uri for f in water} == {"src/file0.c", "src/file2.c"}
    assert {f.location_uri for f in list_findings(db, min_severity="critical")} == {
        "src/file0.c",
        "src/file1.c",
        "src/file2.c",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": "2.2.0", "runs": []}', "SARIF version '2.2.0' is not supported"),
        ('{"version": "2.1.0"}', "missing required field `runs`"),
        (
            sarif_log([result(0), result(1, properties={"cvss": "CVSS:3.1/AV:N/AC:Q"})]),
            "$.runs[0].results[1]: invalid CVSS vector 'CVSS:3.1/AV:N/AC:Q'",
        ),
        (
            sarif_log([result(0), result(1, properties={"purl": "pkg:/nope"})]),
            "$.runs[0].results[1]: 'pkg:/nope' is not a valid package URL",
        ),
    ],
)
def test_bad_input_imports_nothing(
    db: Database, tmp_path: Path, content: object, message: str
) -> None:
    good = import_findings(db, write_sarif(tmp_path / "good.sarif", 3), codecs=PLAIN_CODECS)
    before = counts(db)
    path = tmp_path / "bad.sarif"
    path.write_text(content if isinstance(content, str) else __import__("json").dumps(content))
    with pytest.raises(IntakeError) as info:
        import_findings(db, path, codecs=PLAIN_CODECS)
    assert message in str(info.value) and "nothing was imported" in str(info.value)
    assert counts(db) == before
    assert good.new_findings == 3


def test_a_failure_while_writing_rolls_everything_back(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prereview.findings.ingest as ingest

    real = ingest.bulk_insert

    def failing(conn: object, table: object, rows: object) -> None:
        if getattr(table, "name", "") == "finding_sightings":
            raise RuntimeError("disk full")
        real(conn, table, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "bulk_insert", failing)
    path = write_json(
        tmp_path / "a.sarif",
        sarif_log([result(0, properties={"purl": "pkg:github/stephane/libmodbus@3"})]),
    )
    with pytest.raises(RuntimeError, match="disk full"):
        import_findings(db, path, codecs=PLAIN_CODECS)
    assert set(counts(db).values()) == {0}


class _ReversingCodec(DetailsCodec):
    """Stands in for the vault's sealing codec: stored bytes are not the plain details."""

    name = "test-reversed"

    def seal(self, submission_id: str | None, details: FindingDetails) -> bytes:
        return PlainDetailsCodec().seal(submission_id, details)[::-1]

    def open(self, submission_id: str | None, sealed: bytes) -> FindingDetails:
        return PlainDetailsCodec().open(submission_id, sealed[::-1])


def test_details_are_stored_only_through_the_callers_codec(db: Database, tmp_path: Path) -> None:
    reversing = DetailsCodecs(_ReversingCodec())
    import_findings(db, write_sarif(tmp_path / "a.sarif", 1), codecs=reversing)
    with db.session() as s:
        row = s.scalars(select(FindingSightingRow)).one()
        assert row.details_codec == "test-reversed"
        assert b"overflow reachable" not in row.details
        finding_id = row.finding_id
    (seen,) = sightings(db, finding_id, reversing)
    assert seen.details.message == "overflow reachable from record 0"
    with pytest.raises(DetailsError, match="unknown codec 'test-reversed'"):
        sightings(db, finding_id, PLAIN_CODECS)  # another caller's codecs cannot open them


def test_a_few_thousand_results_on_each_backend(db: Database, tmp_path: Path) -> None:
    path = write_sarif(tmp_path / "big.sarif", 3000)
    assert import_findings(db, path, codecs=PLAIN_CODECS).new_findings == 3000
    again = import_findings(db, path, codecs=PLAIN_CODECS)
    assert (again.new_findings, again.duplicates) == (0, 3000)
    assert counts(db)["finding_sightings"] == 6000
