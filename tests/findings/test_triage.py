"""Triage and coordinated disclosure through the store and the CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from cvss import CVSS3, CVSS4
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.errors import PrereviewError
from prereview.findings.cwe import UnknownCweError
from prereview.findings.details import PLAIN_CODECS
from prereview.findings.disclosure import DisclosureError, policy
from prereview.findings.ingest import import_findings
from prereview.findings.products import ProductError
from prereview.findings.repository import (
    advance_status,
    get_finding,
    list_findings,
    notify_vendor,
    overdue_findings,
    triage_finding,
)
from prereview.findings.scoring import CvssError
from prereview.store import Database
from tests.findings.factory import write_sarif

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
S7 = "cpe:2.3:o:siemens:simatic_s7-1200_firmware:4.5:*:*:*:*:*:*:*"


@pytest.fixture
def one(db: Database, tmp_path: Path) -> int:
    import_findings(db, write_sarif(tmp_path / "a.sarif", 1), codecs=PLAIN_CODECS)
    return list_findings(db)[0].id


def test_triage_sets_scores_from_the_cvss_package(db: Database, one: int) -> None:
    f = triage_finding(db, one, cvss=[V31, V40], cwe="CWE-787", product=S7)
    # published reference values: NVD's 9.8 for this v3.1 vector, FIRST's 9.3 for this v4.0 one
    assert f.cvss_v3_score == 9.8 == float(CVSS3(V31).base_score)
    assert f.cvss_v4_score == 9.3 == float(CVSS4(V40).base_score)
    assert f.severity == "critical" and f.severity_basis == "cvss_v4"
    assert f.cwe_id == 787 and f.vendor == "Siemens" and f.product_version == "4.5"
    assert "energy" in f.sectors and f.status == "triaged"
    assert [x.id for x in list_findings(db, sector="dams")] == [one]


BAD_TRIAGE: list[tuple[dict[str, object], type[Exception], str]] = [
    ({"cvss": ["CVSS:3.1/AV:N/AC:L"]}, CvssError, "Missing mandatory metrics"),
    (
        {"cvss": ["CVSS:4.0/AV:Z/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"]},
        CvssError,
        "AV:Z",
    ),
    ({"cvss": ["AV:N/AC:L"]}, CvssError, "must start with CVSS:3.1/"),
    ({"cwe": "CWE-99999"}, UnknownCweError, "not in the MITRE CWE list 4.20"),
    ({"cwe": "CWE-132"}, UnknownCweError, "deprecated"),
    ({"cwe": "banana"}, UnknownCweError, "is not a CWE id"),
    ({"product": "cpe:2.3:a:only"}, ProductError, "not a CPE 2.3 formatted string"),
    ({"product": "openssl"}, ProductError, "neither a package URL"),
]


def test_bad_triage_is_refused_with_the_reason_and_changes_nothing(db: Database, one: int) -> None:
    before = get_finding(db, one)
    for kwargs, error, reason in BAD_TRIAGE:
        with pytest.raises(error, match=reason):
            # a valid vector alongside: nothing of a refused triage is applied
            triage_finding(db, one, **{"cvss": [V31], **kwargs})  # type: ignore[arg-type]
        assert get_finding(db, one) == before


def test_disclosure_path_deadlines_and_overdue(db: Database, one: int) -> None:
    triage_finding(db, one, product=S7)
    with pytest.raises(DisclosureError, match="cannot become published; next: vendor_notified"):
        advance_status(db, one, "published", on=date(2026, 1, 1))
    f = notify_vendor(db, one, vendor=None, notified_on=date(2026, 1, 1), policy_name="cisa-45")
    assert f.status == "vendor_notified" and f.deadline == date(2026, 2, 15)
    assert overdue_findings(db, date(2026, 2, 15)) == []
    assert [x.id for x in overdue_findings(db, date(2026, 2, 16))] == [one]
    f = advance_status(db, one, "published", on=date(2026, 2, 16))
    assert f.status == "published" and overdue_findings(db, date(2026, 3, 1)) == []
    with pytest.raises(DisclosureError, match="published is final"):
        advance_status(db, one, "fix_available", on=date(2026, 3, 1))


def test_ninety_plus_thirty(db: Database, one: int) -> None:
    triage_finding(db, one, product=S7)
    notify_vendor(db, one, vendor="Siemens", notified_on=date(2026, 1, 1), policy_name="90+30")
    assert get_finding(db, one).deadline == date(2026, 4, 1)
    f = advance_status(db, one, "fix_available", on=date(2026, 2, 1), remediation="update to 4.6")
    assert f.deadline == date(2026, 3, 3)  # 30 days after the fix
    assert [x.id for x in overdue_findings(db, date(2026, 3, 4))] == [one]
    # a fix after the 90 days does not extend the deadline
    p = policy("90+30")
    assert p.deadline(date(2026, 1, 1), date(2026, 5, 1)) == date(2026, 4, 1)


def test_notify_needs_a_vendor_and_a_known_policy(db: Database, one: int) -> None:
    triage_finding(db, one, cvss=[V31])
    with pytest.raises(PrereviewError, match="has no vendor"):
        notify_vendor(db, one, vendor=None, notified_on=date(2026, 1, 1))
    with pytest.raises(
        DisclosureError, match="unknown disclosure policy 'fast'; known: cisa-45, 90\\+30"
    ):
        notify_vendor(db, one, vendor="X", notified_on=date(2026, 1, 1), policy_name="fast")
    assert get_finding(db, one).status == "triaged"


def _json(runner: CliRunner, *args: str) -> object:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_round_trip(cli: CliRunner, tmp_path: Path) -> None:
    path = write_sarif(tmp_path / "a.sarif", 3)
    summary = _json(cli, "findings", "import", str(path), "--source", "agent-run")
    assert summary == {**summary, "results": 3, "new_findings": 3, "duplicates": 0}  # type: ignore[dict-item]
    assert _json(cli, "findings", "import", str(path))["duplicates"] == 3  # type: ignore[index]
    listed = _json(cli, "findings", "list")
    assert isinstance(listed, list) and len(listed) == 3 and listed[0]["sightings"] == 2
    ref = listed[0]["id"]
    triaged = _json(cli, "findings", "triage", ref, "--cvss", V31, "--cwe", "787", "--product", S7)
    assert triaged["cwe"] == "CWE-787" and triaged["status"] == "triaged"  # type: ignore[index]
    assert len(_json(cli, "findings", "list", "--sector", "water")) == 1  # type: ignore[arg-type]
    assert len(_json(cli, "findings", "list", "--min-severity", "critical")) == 1  # type: ignore[arg-type]
    notified = _json(cli, "findings", "notify", ref, "--date", "2026-01-01", "--policy", "90+30")
    assert notified["deadline"] == "2026-04-01"  # type: ignore[index]
    late = _json(cli, "findings", "overdue", "--today", "2026-05-01")
    assert [x["id"] for x in late] == [ref] and late[0]["days_overdue"] == 30  # type: ignore[index]
    shown = _json(cli, "findings", "show", ref)
    assert shown["sighting_details"][0]["message"].startswith("overflow reachable")  # type: ignore[index]


CLI_ERRORS = [
    (["findings", "triage", "F-1", "--cvss", "CVSS:3.1/AV:N"], "invalid CVSS vector"),
    (["findings", "triage", "F-1", "--cwe", "CWE-99999"], "not in the MITRE CWE list"),
    # unknown or not a finding reference: refused like any finding the principal may not touch
    (["findings", "triage", "F-99", "--cwe", "CWE-787"], "may not findings.write on 'F-99'"),
    (["findings", "triage", "x-1"], "may not findings.write on 'x-1'"),
    (["findings", "list", "--sector", "space"], "unknown sector 'space'"),
    (["findings", "list", "--min-severity", "huge"], "unknown severity 'huge'"),
    (["findings", "status", "F-1", "published"], "cannot become published"),
    (["findings", "notify", "F-1", "--date", "soon"], "is not a date"),
    (["findings", "import", "/nonexistent.sarif"], "cannot read the file"),
]


def test_cli_errors_are_one_line_exit_2_and_change_nothing(cli: CliRunner, tmp_path: Path) -> None:
    path = write_sarif(tmp_path / "a.sarif", 1)
    assert cli.invoke(app, ["findings", "import", str(path)]).exit_code == 0
    before = cli.invoke(app, ["findings", "show", "F-1", "--json"]).stdout
    for args, message in CLI_ERRORS:
        result = cli.invoke(app, args)
        assert result.exit_code == 2, args
        assert message in result.output and "Traceback" not in result.output, args
        assert cli.invoke(app, ["findings", "show", "F-1", "--json"]).stdout == before


def test_cli_import_of_malformed_sarif(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.sarif"
    bad.write_text('{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": 3}}}]}')
    result = cli.invoke(app, ["findings", "import", str(bad)])
    assert result.exit_code == 2
    assert "at $.runs[0].tool.driver.name: Expected `str`, got `int`" in " ".join(
        result.output.split()
    )
    assert cli.invoke(app, ["findings", "list", "--json"]).stdout.strip() == "[]"
