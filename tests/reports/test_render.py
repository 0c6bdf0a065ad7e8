"""Rendering: self-contained HTML, a PDF with visible pages and markings, Markdown with tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prereview.domain.markings import VOLUNTARY_STATEMENT, DocumentMarking
from prereview.reports.builder import build_report
from prereview.reports.document import CapabilityReport
from prereview.reports.evidence import ReviewEvidence
from prereview.reports.render import css_string, md_cell, render, render_html, render_markdown
from prereview.reports.rubric import load_rubric
from tests.reports import evidence_factory as ef
from tests.reports.conftest import ink_fraction, pdf_page_png, pdf_text

RUBRIC = load_rubric()
CASES = {"many": ef.many_results, "one": ef.one_result, "zero": ef.no_results}


def _report(evidence: ReviewEvidence, **kwargs: object) -> CapabilityReport:
    return build_report(evidence, rubric=RUBRIC, replicates=200, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def many() -> CapabilityReport:
    return _report(ef.many_results())


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fmt", ["html", "md"])
def test_every_case_renders_with_markings_first_and_last(case: str, fmt: str) -> None:
    text = render(_report(CASES[case]()), fmt).decode("utf-8")  # type: ignore[arg-type]
    assert text.count("CUI//SP-PCII") >= 2
    assert text.count(VOLUNTARY_STATEMENT) >= 2
    if fmt == "md":
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines[0] == "**CUI//SP-PCII**"
        assert lines[-1] == "**CUI//SP-PCII**"
    if case == "zero":
        assert "No completed runs" in text
    else:
        assert "memsafety_poc" in text.replace("\\_", "_")


def test_html_is_one_self_contained_file(many: CapabilityReport) -> None:
    html = render_html(many)
    assert "<script" not in html
    assert "<link" not in html
    assert "@import" not in html
    assert "url(" not in html
    assert not re.search(r"\ssrc=", html)
    # the only URL in markup is the SVG namespace, a name that is never fetched (the model's
    # endpoint appears as text)
    in_attributes = set(re.findall(r"=\"([a-z]+://[^\"]*)\"", html))
    assert in_attributes == {"http://www.w3.org/2000/svg"}
    # one tier chart per task plus the comparison chart, all inline
    assert html.count("<svg") == len(many.tasks) + 1
    assert "success by tier" in html
    assert "The model against reference runs and the non-AI baseline" in html


def test_charts_carry_the_numbers_as_text_alternatives(many: CapabilityReport) -> None:
    html = render_html(many)
    poc = next(t for t in many.tasks if t.task == "memsafety_poc")
    tier1 = poc.tiers[0]
    assert f"tier 1: {tier1.rate.successes}/{tier1.rate.n} solved" in html


def test_banner_is_configurable_and_escaped_everywhere(tmp_path: Path) -> None:
    banner = 'SECRET//REL TO "X" </style><b>'
    report = _report(ef.one_result(), markings=DocumentMarking(banner=banner))
    html = render_html(report)
    assert "</style><b>" not in html.split("</style>", 1)[1]  # never raw HTML in the body
    assert "SECRET//REL TO &#34;X&#34; &lt;/style&gt;&lt;b&gt;" in html
    assert html.count("</style>") == 1  # the CSS string did not end the style element
    md = render_markdown(report)
    assert md.splitlines()[0].startswith("**SECRET//REL TO")
    assert "<b>" not in md
    text = pdf_text(render(report, "pdf"), tmp_path)
    assert 'SECRET//REL TO "X" </style><b>' in text


def test_markings_must_be_one_line() -> None:
    with pytest.raises(ValueError, match="one non-empty line"):
        DocumentMarking(banner="CUI\nSP-PCII")
    with pytest.raises(ValueError, match="one non-empty line"):
        DocumentMarking(banner="  ")


def test_pdf_pages_are_not_blank_and_every_page_is_marked(
    many: CapabilityReport, tmp_path: Path
) -> None:
    pdf = render(many, "pdf")
    assert pdf.startswith(b"%PDF-")
    page = pdf_page_png(pdf, tmp_path, page=2)  # the page with the first tier chart
    assert ink_fraction(page) > 0.02
    text = pdf_text(pdf, tmp_path)
    pages = [p for p in text.split("\f") if p.strip()]
    assert len(pages) >= 3
    for p in pages:
        assert "CUI//SP-PCII" in p
        assert "not a license or preclearance" in p
    assert "Advisory capability level" in text


def test_zero_results_pdf_is_readable(tmp_path: Path) -> None:
    pdf = render(_report(ef.no_results()), "pdf")
    assert ink_fraction(pdf_page_png(pdf, tmp_path)) > 0.005
    assert "No completed runs" in pdf_text(pdf, tmp_path)


def test_markdown_tables_hold_their_shape(many: CapabilityReport) -> None:
    md = render_markdown(many)
    for block in re.findall(r"((?:^\|.*\|\n)+)", md, flags=re.MULTILINE):
        rows = block.strip("\n").splitlines()
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
        assert len(widths) == 1, block


def test_escaping_helpers() -> None:
    assert md_cell("a|b\nc *d*") == "a\\|b c \\*d\\*"
    assert css_string('a"b\\c<d>') == "a\\22 b\\5c c\\3c d\\3e "
