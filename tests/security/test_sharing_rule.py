"""One sharing rule, asked by every feature that lets something of a submission leave it: sector
briefs name only findings that may leave (the others are counted), advisories carry only those,
a reference run needs its submitter's election and consent, and another organization's reference
never shows its identity in a report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import Settings, load_settings
from prereview.domain.submission import Confidentiality
from prereview.vault.policy import AccessPolicy, Operation, Resource, ResourceKind
from prereview.vault.principals import Principal, Role
from prereview.vault.sharing import Purpose, SourceFacts, may_leave
from tests.findings.factory import result, sarif_log, write_json
from tests.reports.store_seed import memsafety_samples, seed_review

runner = CliRunner()
MODBUS = "pkg:github/stephane/libmodbus@3.1.10"  # a water-sector product
V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P"
SHARED = Confidentiality.SHARE_SANITIZED
CONFIDENTIAL = Confidentiality.CONFIDENTIAL


def ok(*args: str) -> str:
    done = runner.invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.stdout


@pytest.fixture
def settings(prereview_home: Path) -> Settings:
    ok("init")
    return load_settings()


# -- the rule itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", list(Purpose))
def test_the_rule_follows_the_submitters_election(purpose: Purpose) -> None:
    assert may_leave(SourceFacts.agency(), purpose).allowed
    shared = SourceFacts("sub-1", "org-a", SHARED, compare_in_later_reviews=True)
    assert may_leave(shared, purpose).allowed
    for refused in (
        SourceFacts("sub-1", "org-a", CONFIDENTIAL, compare_in_later_reviews=True),
        SourceFacts("sub-1", "org-a", SHARED, withdrawn=True, compare_in_later_reviews=True),
        SourceFacts("sub-1"),  # nothing known: fail closed
    ):
        assert not may_leave(refused, purpose).allowed
    # identity goes only to the source's own organization
    assert not may_leave(shared, purpose, audience_organization="org-b").identity
    assert may_leave(shared, purpose, audience_organization="org-a").identity


def test_a_reference_run_needs_consent_and_leaves_its_organization_only_when_shared() -> None:
    no_consent = SourceFacts("sub-1", "org-a", SHARED, compare_in_later_reviews=False)
    assert not may_leave(no_consent, Purpose.REFERENCE_RUN).allowed
    assert not may_leave(no_consent, Purpose.REFERENCE_RUN, audience_organization="org-a").allowed
    private = SourceFacts("sub-1", "org-a", CONFIDENTIAL, compare_in_later_reviews=True)
    assert not may_leave(private, Purpose.REFERENCE_RUN, audience_organization="org-b").allowed
    # beside the same developer's later model it does not leave the organization
    assert may_leave(private, Purpose.REFERENCE_RUN, audience_organization="org-a").identity


def test_the_policy_asks_the_rule_for_sanitized_reports() -> None:
    partner = Principal("prn-p", "partner", Role.SECTOR_PARTNER, None, None)
    policy = AccessPolicy()
    for election, allowed in ((SHARED, True), (CONFIDENTIAL, False)):
        resource = Resource(ResourceKind.SUBMISSION, "sub-1", "org-a", None, election)
        decision = policy.decide(partner, Operation.REPORT_READ_SANITIZED, resource)
        assert decision.allowed is allowed
        expected = may_leave(SourceFacts("sub-1", "org-a", election), Purpose.SANITIZED_REPORT)
        assert decision.reason == expected.reason


# -- sector briefs and advisories --------------------------------------------------------------


def _findings(settings: Settings, tmp_path: Path) -> None:
    """F-1 seen only in a confidential review; F-2 there too, but also by the agency's own tool;
    F-3 agency-only; F-4 from a share-sanitized review. All triaged, all water products."""
    private, _ = seed_review(settings, organization="Org A", model_name="Ptarmigan", samples=None)
    shared, _ = seed_review(
        settings,
        organization="Org B",
        model_name="Kestrel",
        samples=None,
        confidentiality="share-sanitized",
    )

    def sarif(name: str, *ids: int) -> str:
        results = [result(i, properties={"purl": MODBUS}) for i in ids]
        return str(write_json(tmp_path / name, sarif_log(results)))

    ok("findings", "import", sarif("private.sarif", 1, 2), "--submission", private)
    ok("findings", "import", sarif("agency.sarif", 3, 2))
    ok("findings", "import", sarif("shared.sarif", 4), "--submission", shared)
    listed = json.loads(ok("findings", "list", "--json"))
    assert sorted(f["id"] for f in listed) == ["F-1", "F-2", "F-3", "F-4"]
    for ref in ("F-1", "F-2", "F-3", "F-4"):
        ok("findings", "triage", ref, "--cvss", V31, "--cwe", "787")


def test_a_brief_counts_but_never_names_a_confidential_review_s_finding(
    settings: Settings, tmp_path: Path
) -> None:
    _findings(settings, tmp_path)
    out = tmp_path / "briefs"
    (water,) = json.loads(
        ok("advisories", "brief", "--sector", "water", "--out", str(out), "--json")
    )
    assert water["findings"] == 3
    text = (out / "sector-brief-water.md").read_text()
    named = {ref for ref in ("F-1", "F-2", "F-3", "F-4") if f"| {ref} |" in text}
    assert named == {"F-2", "F-3", "F-4"}
    assert "F-1" not in text
    assert "1 further finding(s) come from reviews whose submitters did not elect" in text
    assert "critical 4" in text  # counted with the others
    assert "Ptarmigan" not in text and "Kestrel" not in text


def test_advisories_leave_out_findings_seen_only_in_confidential_reviews(
    settings: Settings, tmp_path: Path
) -> None:
    _findings(settings, tmp_path)
    out = tmp_path / "advisories"
    exported = json.loads(ok("advisories", "export", "--out", str(out), "--json"))
    assert exported["withheld"] == 1
    (advisory,) = exported["advisories"]
    assert advisory["findings"] == 3
    document = json.loads(Path(advisory["file"]).read_text())
    refs = {i["text"] for v in document["vulnerabilities"] for i in v["ids"]}
    assert refs == {"F-2", "F-3", "F-4"}
    said = runner.invoke(app, ["advisories", "export", "--out", str(out)])
    assert "1 finding(s) seen only in reviews whose submitters did not elect" in said.stdout


# -- reference runs ----------------------------------------------------------------------------


def _review(settings: Settings, tmp_path: Path, org: str, model: str, **kw: object) -> str:
    _, review = seed_review(
        settings,
        organization=org,
        model_name=model,
        samples=memsafety_samples({1: 6, 2: 3}, tmp_path / model, prefix=model.lower()),
        created_at=datetime.now(UTC) - timedelta(days=30),
        **kw,  # type: ignore[arg-type]
    )
    assert review is not None
    return review


@pytest.mark.parametrize(
    ("election", "consent", "why"),
    [
        ("share-sanitized", False, "did not consent to comparison"),
        ("confidential", True, "elected confidential"),
    ],
)
def test_a_review_without_its_submitters_consent_cannot_become_a_reference(
    settings: Settings, tmp_path: Path, election: str, consent: bool, why: str
) -> None:
    review = _review(
        settings,
        tmp_path,
        "Org A",
        "Ptarmigan",
        confidentiality=election,
        compare_in_later_reviews=consent,
    )
    refused = runner.invoke(app, ["references", "add", review, "--label", "yardstick"])
    assert refused.exit_code == 2, refused.output
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert len(lines) <= 2 and "Traceback" not in refused.output  # one line, console-wrapped
    assert "cannot serve as a reference" in refused.stderr and why in " ".join(lines)
    assert json.loads(ok("references", "list", "--json")) == []  # nothing written


def test_another_organizations_reference_shows_no_identity_in_a_report(
    settings: Settings, tmp_path: Path
) -> None:
    reference = _review(
        settings, tmp_path, "Agency models", "Ptarmigan", confidentiality="share-sanitized"
    )
    ok("references", "add", reference, "--label", "Ptarmigan by Agency models")
    mine = _review(settings, tmp_path, "Org B", "Kestrel", confidentiality="share-sanitized")
    for variant in ([], ["--sanitized"]):
        path = tmp_path / f"report{len(variant)}.md"
        ok("report", mine, "-f", "md", "-o", str(path), *variant)
        text = path.read_text().replace("\\_", "_")
        assert "agency reference R1" in text
        assert "Ptarmigan" not in text and "Agency models" not in text
    # in a report of the reference's own organization it keeps its name
    own = _review(settings, tmp_path, "Agency models", "Merlin")
    path = tmp_path / "own.md"
    ok("report", own, "-f", "md", "-o", str(path))
    assert "Ptarmigan by Agency models" in path.read_text().replace("\\_", "_")
