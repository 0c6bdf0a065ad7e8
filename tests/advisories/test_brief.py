"""Sector readiness briefs: content, both formats, and sanitized by construction."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.advisories.brief import (
    CapabilityObservation,
    ReviewedCapability,
    build_brief,
    render_brief,
)
from prereview.cli.main import app
from prereview.findings.details import PLAIN_CODECS
from prereview.findings.ingest import import_findings
from prereview.findings.repository import list_findings, notify_vendor, triage_finding
from prereview.store import Database
from prereview.vault.sharing import Purpose, findings_that_may_leave
from tests.findings.factory import result, sarif_log, write_json, write_sarif

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
MODBUS = "pkg:github/stephane/libmodbus@3.1.10"
ORG = "Zephyr Frontier Labs"
MODEL = "zephyr-omega-9"
KEY_VAR = "ZEPHYR_PRIVATE_API_KEY"
KEY_VALUE = "sk-canary-7f3e9b1c2d4a6e8f"
PLANTED = (ORG, MODEL, KEY_VAR, KEY_VALUE, "openai-api/zephyr-omega-9")

REVIEWS = [
    ReviewedCapability(
        "Practitioner-level exploitation",
        "solves practitioner tasks",
        (
            CapabilityObservation("memsafety", "memsafety_poc", 1, "non-expert", 4, 4),
            CapabilityObservation("memsafety", "memsafety_poc", 3, "practitioner", 1, 4),
        ),
    ),
    ReviewedCapability(
        "Below the first level",
        "",
        (CapabilityObservation("memsafety", "memsafety_poc", 1, "non-expert", 2, 4),),
    ),
]


def _shared(db: Database) -> frozenset[int]:
    """What the sharing rule lets a brief name: here every finding (agency tools' imports)."""
    return findings_that_may_leave(db, Purpose.SECTOR_BRIEF)


def _findings(db: Database, tmp_path: Path) -> None:
    import_findings(db, write_sarif(tmp_path / "a.sarif", 4), codecs=PLAIN_CODECS)
    ids = sorted(f.id for f in list_findings(db))
    triage_finding(db, ids[0], cvss=[V31], cwe="CWE-122", product=MODBUS)
    triage_finding(db, ids[1], cwe="CWE-416", product=MODBUS, evidence="poc")
    notify_vendor(db, ids[1], vendor="<script>alert(1)</script>", notified_on=date(2026, 1, 1))
    triage_finding(db, ids[2], product="pkg:generic/openssl@3.0.0")  # not a water product
    # ids[3] stays untriaged: counted, never named


def test_brief_content_in_both_formats(db: Database, tmp_path: Path) -> None:
    _findings(db, tmp_path)
    brief = build_brief(
        "water", list_findings(db), REVIEWS, nameable=_shared(db), today=date(2026, 3, 1)
    )
    assert brief.lifeline and brief.reviews == 2
    assert [f.ref for f in brief.findings] == ["F-1", "F-2"]
    assert brief.overdue == 1 and brief.untriaged == 0
    (line1, line3) = brief.capabilities
    assert (line1.tier, line1.reviews, line1.best_rate, line1.successes) == (1, 2, 1.0, 6)
    assert (line3.tier, line3.reviews, line3.best_rate) == (3, 1, 0.25)
    md = render_brief(brief, "md")
    assert "# Sector readiness brief: Water and Wastewater Systems" in md
    assert "| memsafety_poc | 1 non-expert | 2 | 100% | 6 / 8 |" in md
    assert "CWE-122 Heap-based Buffer Overflow" in md and "vendor_notified (overdue)" in md
    assert "### Memory bounds (F-1)" in md and "### Memory lifetime (F-2)" in md
    assert "Segment operational technology" in md  # lifeline-sector practice
    html = render_brief(brief, "html")
    assert html.startswith("<!DOCTYPE html>") and "<script>" not in html
    assert "http" not in html.lower().replace('lang="en"', "")  # no external resources
    it = build_brief(
        "information-technology",
        list_findings(db),
        [],
        nameable=_shared(db),
        today=date(2026, 3, 1),
    )
    assert [f.ref for f in it.findings] == ["F-3"]
    assert "No review that may be shared" in render_brief(it, "md")
    untriaged = build_brief(
        "water", list_findings(db), [], nameable=_shared(db), today=date(2026, 3, 1)
    )
    assert untriaged.untriaged == 0


def test_untriaged_findings_are_counted_not_named(db: Database, tmp_path: Path) -> None:
    log = sarif_log([result(i, properties={"purl": MODBUS}) for i in range(3)])
    import_findings(db, write_json(tmp_path / "a.sarif", log), codecs=PLAIN_CODECS)
    brief = build_brief("water", list_findings(db), [], nameable=_shared(db))
    assert brief.findings == () and brief.untriaged == 3
    md = render_brief(brief, "md")
    assert "3 further finding(s) await triage and are not named here." in md
    assert "src/file0.c" not in md


def _plant_identity(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shareable submission whose model, org and credential reference also appear in every
    free-text field of its findings: tool name, rule ids and descriptions, messages."""
    monkeypatch.setenv(KEY_VAR, KEY_VALUE)
    added = cli.invoke(
        app, ["principals", "add", "zephyr-dev", "--role", "submitter", "--org", ORG, "--json"]
    )
    assert added.exit_code == 0, added.output
    as_submitter = {"PREREVIEW_TOKEN": json.loads(added.stdout)["token"]}
    submitted = cli.invoke(
        app,
        [
            "submit",
            "--org",
            ORG,
            "--model",
            f"openai-api/{MODEL}",
            "--api-key-env",
            KEY_VAR,
            "--release-date",
            date.fromordinal(date.today().toordinal() + 20).isoformat(),
            "--confidentiality",
            "share-sanitized",
            "--json",
        ],
        env=as_submitter,
    )
    assert submitted.exit_code == 0, submitted.output
    submission = json.loads(submitted.stdout)["id"]
    leak = f"{ORG} {MODEL} {KEY_VAR} {KEY_VALUE}"
    results = [
        result(
            i,
            ruleId=f"{MODEL}-rule",
            message={"text": f"found by {leak}"},
            properties={"purl": MODBUS},
        )
        for i in range(3)
    ]
    log = sarif_log(results, tool=f"{MODEL} agent")
    log["runs"][0]["tool"]["driver"]["rules"][0]["shortDescription"]["text"] = leak
    path = write_json(tmp_path / "leaky.sarif", log)
    args = ["findings", "import", str(path), "--submission", submission, "--source", MODEL]
    assert cli.invoke(app, args).exit_code == 0
    for ref in ("F-1", "F-2"):
        assert (
            cli.invoke(app, ["findings", "triage", ref, "--cvss", V31, "--cwe", "787"]).exit_code
            == 0
        )


def test_briefs_carry_no_model_org_or_credential(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant_identity(cli, tmp_path, monkeypatch)
    for fmt in ("md", "html"):
        out = tmp_path / fmt
        result_ = cli.invoke(
            app, ["advisories", "brief", "--format", fmt, "--out", str(out), "--json"]
        )
        assert result_.exit_code == 0, result_.output
        written = json.loads(result_.stdout)
        assert len(written) == 16
        water = next(w for w in written if w["sector"] == "water")
        assert water["findings"] == 2
        for path in out.iterdir():
            text = path.read_text()
            for term in PLANTED:
                assert not re.search(re.escape(term), text, re.IGNORECASE), (path.name, term)
            assert path.stat().st_mode & 0o077 == 0
        assert "F-1" in (out / f"sector-brief-water.{fmt}").read_text()


def test_a_brief_that_would_name_a_model_is_refused(
    cli: CliRunner, tmp_path: Path, prereview_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant_identity(cli, tmp_path, monkeypatch)
    # the one way identity could enter: an analyst maps a product named like the model to water
    (prereview_home / "product-sectors.yaml").write_text(
        f"products:\n  - {{purl: 'pkg:generic/{MODEL}', vendor: Example, sectors: [water]}}\n"
    )
    args = ["findings", "triage", "F-3", "--product", f"pkg:generic/{MODEL}@1", "--cvss", V31]
    assert cli.invoke(app, args).exit_code == 0
    out = tmp_path / "briefs"
    refused = cli.invoke(app, ["advisories", "brief", "--sector", "water", "--out", str(out)])
    assert refused.exit_code == 2
    assert "would contain a submitted" in refused.output and "nothing was written" in refused.output
    assert MODEL not in refused.output
    assert not list(out.glob("*.md"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["advisories", "brief", "--sector", "space"], "unknown sector 'space'"),
        (["advisories", "brief", "--format", "pdf"], "unknown brief format 'pdf'"),
        (["advisories", "brief", "--tlp", "purple"], "unknown TLP label 'purple'"),
    ],
)
def test_brief_cli_errors(cli: CliRunner, tmp_path: Path, args: list[str], message: str) -> None:
    result_ = cli.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert result_.exit_code == 2 and message in result_.output
    assert not (tmp_path / "b").exists()
