"""CSAF export: every document passes the `csaf` package's validator (schema and mandatory tests,
and for CSAF 2.0 the recommended ones too); versions and revision history follow changes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import csaf
import pytest
from csaf.csaf import v20
from typer.testing import CliRunner

from prereview.advisories.csaf import CsafExporter
from prereview.advisories.interface import Publisher
from prereview.advisories.tracking import export_advisories
from prereview.cli.main import app
from prereview.errors import PrereviewError
from prereview.findings.details import PLAIN_CODECS
from prereview.findings.ingest import import_findings
from prereview.findings.repository import (
    advance_status,
    list_findings,
    notify_vendor,
    triage_finding,
)
from prereview.store import Database
from tests.findings.factory import write_sarif

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P"
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
MODBUS = "pkg:github/stephane/libmodbus@3.1.10"
MODBUS_OLD = "pkg:github/stephane/libmodbus@3.1.6"
S7 = "cpe:2.3:o:siemens:simatic_s7-1200_firmware:4.5:*:*:*:*:*:*:*"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _failures(report: Any) -> list[str]:
    return [
        f"{r.id} {r.title}: {[e.message for e in r.errors][:3]}"
        for r in report.results
        if not r.passed and not r.skipped and r.group != "informative"
    ]


def assert_valid_20(path: Path) -> dict[str, Any]:
    """Schema and every mandatory test pass; of the recommended tests only 6.2.3 (Missing Score)
    may fail, for a finding scored in CVSS v4.0 alone (CSAF 2.0 has no field for it) or not yet
    scored (no score is invented)."""
    report = v20.validate_file(path, preset="basic")
    assert report.overall_valid, _failures(report)
    assert {r.group for r in report.results if r.passed} >= {"schema", "mandatory"}
    extended = v20.validate_file(path, preset="extended")
    assert {f.split()[0] for f in _failures(extended)} <= {"6.2.3"}, _failures(extended)
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def assert_valid_21(path: Path) -> dict[str, Any]:
    report = csaf.validate_file(path, preset="basic")
    assert report.overall_valid, _failures(report)
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.fixture
def triaged(db: Database, tmp_path: Path) -> Database:
    """Five findings: three of libmodbus (two versions), one Siemens, one left untriaged."""
    import_findings(db, write_sarif(tmp_path / "a.sarif", 5), codecs=PLAIN_CODECS)
    ids = sorted(f.id for f in list_findings(db))
    triage_finding(db, ids[0], cvss=[V31, V40], cwe="CWE-122", product=MODBUS, evidence="poc")
    triage_finding(db, ids[1], cvss=[V31], cwe="CWE-416", product=MODBUS_OLD)
    triage_finding(db, ids[2], cwe="CWE-787", product=MODBUS)
    triage_finding(db, ids[3], cvss=[V40], cwe="CWE-125", product=S7)
    notify_vendor(db, ids[3], vendor=None, notified_on=date(2026, 2, 1))
    return db


def test_one_valid_csaf_20_advisory_per_vendor_product(triaged: Database, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = export_advisories(triaged, out, now=T0)
    assert [d.findings for d in result.documents] == [1, 3]  # Siemens (a CPE), then libmodbus
    s7, modbus = (assert_valid_20(p) for p in result.written)
    assert modbus["document"]["category"] == "csaf_security_advisory"
    assert modbus["document"]["csaf_version"] == "2.0"
    assert modbus["document"]["distribution"]["tlp"]["label"] == "AMBER"
    assert result.written[1].name == modbus["document"]["tracking"]["id"].lower() + ".json"
    vendor = modbus["product_tree"]["branches"][0]
    assert vendor["name"] == "libmodbus project"
    versions = [b["name"] for b in vendor["branches"][0]["branches"]]
    assert versions == ["3.1.10", "3.1.6"]
    first = modbus["vulnerabilities"][0]
    assert first["cwe"] == {"id": "CWE-122", "name": "Heap-based Buffer Overflow"}
    assert first["scores"][0]["cvss_v3"]["baseScore"] == 9.8
    assert first["scores"][0]["cvss_v3"]["exploitCodeMaturity"] == "PROOF_OF_CONCEPT"
    v4_note = [n for n in first["notes"] if n["title"] == "CVSS v4.0"]
    assert v4_note and V40 in v4_note[0]["text"] and "9.3" in v4_note[0]["text"]
    assert any(t["category"] == "exploit_status" for t in first["threats"])
    assert first["remediations"][0]["category"] == "mitigation"
    assert "scores" not in modbus["vulnerabilities"][2]  # no vector: no score invented
    assert s7["vulnerabilities"][0]["release_date"] == "2026-02-01T00:00:00Z"
    assert "cpe" in json.dumps(s7["product_tree"])
    tracking = modbus["document"]["tracking"]
    assert tracking["status"] == "interim" and tracking["version"] == "1"
    assert tracking["revision_history"] == [
        {"date": "2026-03-01T12:00:00Z", "number": "1", "summary": "Initial version"}
    ]


def test_untriaged_findings_never_leave(triaged: Database, tmp_path: Path) -> None:
    result = export_advisories(triaged, tmp_path / "out", now=T0)
    text = " ".join(p.read_text() for p in result.written)
    assert "src/file4.c" not in text and "src/file0.c" in text
    assert "overflow reachable" not in text  # the source's free text stays behind


def test_versions_and_revision_history_follow_changes(triaged: Database, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_advisories(triaged, out, now=T0)
    again = export_advisories(triaged, out, now=T0.replace(hour=13))
    assert again.new_versions == 0  # nothing changed: same version, same files
    s7_id = next(f.id for f in list_findings(triaged) if f.product == S7)
    advance_status(
        triaged, s7_id, "fix_available", on=date(2026, 3, 2), remediation="Update to V4.6"
    )
    later = T0.replace(day=3)
    third = export_advisories(triaged, out, now=later)
    assert third.new_versions == 1
    s7 = assert_valid_20(third.written[0])
    tracking = s7["document"]["tracking"]
    assert tracking["version"] == "2" and tracking["status"] == "interim"
    assert tracking["revision_history"][-1] == {
        "date": "2026-03-03T12:00:00Z",
        "number": "2",
        "summary": f"Updated: F-{s7_id} now fix_available",
    }
    assert tracking["initial_release_date"] == "2026-03-01T12:00:00Z"
    remediation = s7["vulnerabilities"][0]["remediations"][0]
    assert remediation["category"] == "vendor_fix" and remediation["details"] == "Update to V4.6"
    advance_status(triaged, s7_id, "published", on=date(2026, 3, 4))
    final = export_advisories(triaged, out, now=T0.replace(day=5))
    s7 = assert_valid_20(final.written[0])
    assert s7["document"]["tracking"]["status"] == "final"
    assert s7["document"]["tracking"]["version"] == "3"


def test_csaf_21_carries_cvss_v4(triaged: Database, tmp_path: Path) -> None:
    result = export_advisories(triaged, tmp_path / "out", exporter=CsafExporter("2.1"), now=T0)
    s7, modbus = (assert_valid_21(p) for p in result.written)
    assert (
        s7["vulnerabilities"][0]["metrics"][0]["content"]["cvss_v4"]["baseSeverity"] == "CRITICAL"
    )
    assert modbus["document"]["csaf_version"] == "2.1"
    assert modbus["document"]["distribution"]["tlp"]["label"] == "AMBER"
    content = modbus["vulnerabilities"][0]["metrics"][0]["content"]
    assert content["cvss_v4"]["baseScore"] == 9.3 and content["cvss_v3"]["baseScore"] == 9.8
    assert modbus["vulnerabilities"][0]["cwes"][0]["id"] == "CWE-122"


def test_publisher_and_tlp(triaged: Database, tmp_path: Path) -> None:
    publisher = Publisher("Example CERT", "https://cert.example.gov", "psirt@example.gov")
    result = export_advisories(triaged, tmp_path / "out", publisher=publisher, tlp="green", now=T0)
    doc = assert_valid_20(result.written[0])
    assert doc["document"]["publisher"]["name"] == "Example CERT"
    assert doc["document"]["distribution"]["tlp"]["label"] == "GREEN"
    with pytest.raises(PrereviewError, match="unknown TLP label 'PURPLE'"):
        export_advisories(triaged, tmp_path / "out2", tlp="purple")
    assert not (tmp_path / "out2").exists()


def test_cli_export(cli: CliRunner, tmp_path: Path) -> None:
    assert (
        cli.invoke(app, ["findings", "import", str(write_sarif(tmp_path / "a.sarif", 2))]).exit_code
        == 0
    )
    empty = cli.invoke(app, ["advisories", "export", "--out", str(tmp_path / "none")])
    assert empty.exit_code == 0 and "nothing to export" in empty.output
    assert (
        cli.invoke(app, ["findings", "triage", "F-1", "--cvss", V31, "--product", S7]).exit_code
        == 0
    )
    for version in ("2.0", "2.1"):
        out = tmp_path / f"out{version}"
        result = cli.invoke(
            app, ["advisories", "export", "--csaf-version", version, "--out", str(out), "--json"]
        )
        assert result.exit_code == 0, result.output
        (advisory,) = json.loads(result.stdout)["advisories"]
        path = Path(advisory["file"])
        (assert_valid_20 if version == "2.0" else assert_valid_21)(path)
    bad = cli.invoke(app, ["advisories", "export", "--format", "cyclonedx"])
    assert bad.exit_code == 2 and "unknown advisory format" in bad.output
