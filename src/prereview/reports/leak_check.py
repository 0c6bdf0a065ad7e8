"""The last check before a report leaves prereview: nothing it must not carry is in its text.

A sanitized report is built without the model's identity, but identity can leak through
free text (a reference label, a scaffold name, a tool list). So every sanitized rendering is
searched for the model's name, developer, model string, endpoint host and credential reference,
and every rendering of either variant for credential values, before anything is written.
Matching ignores case and the escaping each format applies (HTML entities, Markdown
backslashes), and needs the term to stand alone (not inside a longer word).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from prereview.errors import PrereviewError
from prereview.reports.evidence import ReviewEvidence

MIN_SECRET_LENGTH = 8
"""Credential values shorter than this are not searched for (they would match ordinary text)."""


class LeakError(PrereviewError):
    """A report would carry something it must not; nothing was written."""


@dataclass(frozen=True)
class ForbiddenTerm:
    what: str
    """What the term is, for the error message (the term itself is never echoed)."""
    term: str


def identity_terms(evidence: ReviewEvidence) -> list[ForbiddenTerm]:
    """What identifies the model under review and its developer (kept out of sanitized reports)."""
    model = evidence.model
    terms = [
        ForbiddenTerm("the model's name", model.name),
        ForbiddenTerm("the developer's name", model.developer),
        ForbiddenTerm("the Inspect model string", model.inspect_model),
    ]
    _, _, served_name = model.inspect_model.partition("/")
    if served_name:
        terms.append(ForbiddenTerm("the served model name", served_name))
    if model.version:
        terms.append(ForbiddenTerm("the model's name and version", f"{model.name} {model.version}"))
    if model.base_url:
        host = urlsplit(model.base_url).hostname
        if host:
            terms.append(ForbiddenTerm("the model endpoint's host", host))
    if model.credential_reference:
        terms.append(ForbiddenTerm("the credential reference", model.credential_reference))
    for ref in evidence.references:
        if ref.kind == "developer_prior":
            terms.append(ForbiddenTerm("an earlier model of the developer", ref.model_name))
    return [t for t in terms if t.term.strip()]


def secret_terms(values: Iterable[str | None]) -> list[ForbiddenTerm]:
    return [
        ForbiddenTerm("a credential value", v)
        for v in values
        if v is not None and len(v.strip()) >= MIN_SECRET_LENGTH
    ]


def _visible_text(text: str) -> str:
    unescaped = html.unescape(text)
    return re.sub(r"\\([\\`*_\[\]#|{}()+.!>-])", r"\1", unescaped)


def find_leaks(text: str, terms: Sequence[ForbiddenTerm]) -> list[ForbiddenTerm]:
    """The terms that occur in `text` (as rendered HTML or Markdown)."""
    haystacks = (text, _visible_text(text))
    found = []
    for t in terms:
        pattern = re.compile(
            r"(?<![A-Za-z0-9])" + re.escape(t.term.strip()) + r"(?![A-Za-z0-9])", re.IGNORECASE
        )
        if any(pattern.search(h) for h in haystacks):
            found.append(t)
    return found


def check_leaks(text: str, terms: Sequence[ForbiddenTerm], variant: str) -> None:
    """Raise LeakError naming what would leak (never the value itself)."""
    found = find_leaks(text, terms)
    if found:
        what = ", ".join(sorted({t.what for t in found}))
        raise LeakError(
            f"the {variant} report would contain {what}; nothing was written. Check the labels, "
            "scaffold and tool names recorded for this review."
        )
