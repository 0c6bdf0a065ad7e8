"""What a report must never carry: identity in the sanitized variant, credentials in any variant.

Tested by search, in every format (PDF through its extracted text).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from prereview.domain.submission import Confidentiality
from prereview.reports.builder import build_report
from prereview.reports.evidence import ReferenceRun, ReviewEvidence
from prereview.reports.leak_check import LeakError, find_leaks, identity_terms
from prereview.reports.publish import render_checked
from prereview.reports.render import Format
from prereview.reports.rubric import load_rubric
from prereview.vault.sharing import SourceFacts
from tests.reports import evidence_factory as ef
from tests.reports.conftest import pdf_text

RUBRIC = load_rubric()
CANARY = "sk-canary-4f1d9e7a0b2c"
ENV = {ef.CREDENTIAL_ENV: CANARY}
NEVER_IN_SANITIZED = (
    ef.MODEL_NAME,
    ef.DEVELOPER,
    "Quillfeather",
    ef.CREDENTIAL_ENV,
    "api.quillfeather.example",
    "zephyrine",
    ef.PRIOR_MODEL,
    "hunter2",
    "abc123",
    CANARY,
)


def _text(data: bytes, fmt: Format, tmp_path: Path) -> str:
    return pdf_text(data, tmp_path) if fmt == "pdf" else data.decode("utf-8")


@pytest.mark.parametrize("fmt", ["md", "html", "pdf"])
def test_sanitized_variant_carries_no_identity_or_credential(fmt: Format, tmp_path: Path) -> None:
    evidence = ef.many_results(share=True)
    report = build_report(evidence, rubric=RUBRIC, sanitized=True, replicates=200)
    text = _text(render_checked(report, evidence, fmt, ENV), fmt, tmp_path).lower()
    for term in NEVER_IN_SANITIZED:
        assert term.lower() not in text, term
    assert "memsafety" in text  # the results themselves are there
    assert "agency reference r1" in text


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_full_report_names_the_model_but_no_secret(fmt: Format, tmp_path: Path) -> None:
    evidence = ef.many_results()
    report = build_report(evidence, rubric=RUBRIC, replicates=200)
    text = _text(render_checked(report, evidence, fmt, ENV), fmt, tmp_path)
    assert ef.MODEL_NAME in text
    assert ef.CREDENTIAL_ENV in text.replace("\\_", "_")  # the reference, not its value
    for secret in (CANARY, "hunter2", "abc123", "svc-user"):
        assert secret not in text


def test_a_credential_value_in_any_field_stops_the_report_without_echoing_it() -> None:
    evidence = ef.many_results()
    leaky = replace(evidence, elicitation=replace(evidence.elicitation, scaffold=f"agent {CANARY}"))
    report = build_report(leaky, rubric=RUBRIC, replicates=50)
    for fmt in ("md", "html"):
        with pytest.raises(LeakError) as info:
            render_checked(report, leaky, fmt, ENV)  # type: ignore[arg-type]
        assert "a credential value" in str(info.value)
        assert CANARY not in str(info.value)


def test_identity_in_free_text_stops_the_sanitized_variant() -> None:
    evidence = ef.many_results(share=True)
    labelled = ReferenceRun(
        label=f"{ef.DEVELOPER} internal baseline",
        kind="agency_reference",
        model_name="ref",
        attempts=evidence.references[0].attempts,
        # of the developer's own organization: the only reference whose label a report shows
        source=SourceFacts(
            "sub-own", ef.DEVELOPER_ORG, Confidentiality.SHARE_SANITIZED, False, True
        ),
    )
    leaky = replace(evidence, references=(labelled,))
    report = build_report(leaky, rubric=RUBRIC, sanitized=True, replicates=50)
    with pytest.raises(LeakError, match="the developer's name") as info:
        render_checked(report, leaky, "html", ENV)
    assert ef.DEVELOPER not in str(info.value)


def test_search_sees_through_html_and_markdown_escaping() -> None:
    evidence: ReviewEvidence = ef.many_results()
    evidence = replace(evidence, model=replace(evidence.model, developer="Quill & Feather_Labs"))
    terms = identity_terms(evidence)
    assert find_leaks("made by Quill &amp; Feather_Labs", terms)
    assert find_leaks("made by Quill & Feather\\_Labs", terms)
    assert not find_leaks("made by Quill", terms)
    # a term only counts standing alone, not inside a longer word
    plain = replace(evidence.model, name="Ion")
    assert not find_leaks("the region of interest", identity_terms(replace(evidence, model=plain)))
