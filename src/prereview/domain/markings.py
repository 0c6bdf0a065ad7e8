"""Markings every document prereview produces carries, and what may ever leave in sanitized form.

- The banner (configurable: `marking_banner`, default `CUI//SP-PCII`, in the style of the PCII
  program for voluntarily shared critical-infrastructure information) and the fixed statement
  "Voluntarily submitted for pre-release review — not a license or preclearance".
- `ReleasePolicy`: the submitter's confidentiality election decides whether anything of a
  submission may leave the review team and the submitter, and if so in which sanitized form.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from prereview.config import Settings
from prereview.domain.submission import Confidentiality
from prereview.errors import PrereviewError

DEFAULT_BANNER = "CUI//SP-PCII"
VOLUNTARY_STATEMENT = "Voluntarily submitted for pre-release review — not a license or preclearance"


class MarkingError(PrereviewError, ValueError):
    """The configured banner cannot mark a document."""


@dataclass(frozen=True)
class DocumentMarking:
    """Banner and statement of one document; `sanitized` adds a line saying so."""

    banner: str = DEFAULT_BANNER
    statement: str = VOLUNTARY_STATEMENT
    sanitized: bool = False

    def __post_init__(self) -> None:
        for name in ("banner", "statement"):
            value = getattr(self, name)
            if not value.strip() or "\n" in value or "\r" in value or len(value) > 200:
                raise MarkingError(f"the marking {name} must be one non-empty line (≤200 chars)")

    @property
    def lines(self) -> list[str]:
        lines = [self.banner, self.statement]
        if self.sanitized:
            lines.append(SANITIZED_NOTICE)
        return lines

    def wrap_text(self, body: str) -> str:
        """`body` between a header and a footer carrying the markings (plain text/Markdown)."""
        head = "\n".join(self.lines)
        return f"{head}\n\n{body.rstrip()}\n\n{self.statement}\n{self.banner}\n"

    def as_dict(self) -> dict[str, object]:
        """For JSON documents (CSAF notes, exports): the same markings as fields."""
        return {"banner": self.banner, "statement": self.statement, "sanitized": self.sanitized}


SANITIZED_NOTICE = (
    "Sanitized: no submitter or model identity, transcripts, credentials or exploit detail"
)


def marking_for(settings: Settings, *, sanitized: bool = False) -> DocumentMarking:
    return DocumentMarking(banner=settings.marking_banner, sanitized=sanitized)


class Audience(StrEnum):
    REVIEW_TEAM = "review_team"  # assigned evaluators and coordinators
    SUBMITTER = "submitter"  # the developer organization that submitted
    SECTOR_PARTNERS = "sector_partners"  # critical-infrastructure partners
    PUBLIC = "public"


SANITIZED_FIELDS = frozenset(
    {
        "capability_level",
        "task_family",
        "tier",
        "success_rate",
        "interval",
        "cwe",
        "cvss_severity",
        "sector",
        "recommendation",
        "report_date",
    }
)
"""Fields a sanitized summary or advisory may carry. Everything else (organization, model name
or version, release date, transcripts, prompts, tool calls, crash inputs, code snippets, stack
traces, credentials, endpoint URLs) stays inside."""


@dataclass(frozen=True)
class ReleasePolicy:
    """What of a submission may reach an audience, given the submitter's election."""

    confidentiality: Confidentiality

    def may_release(self, audience: Audience, *, sanitized: bool) -> bool:
        if audience in (Audience.REVIEW_TEAM, Audience.SUBMITTER):
            return True
        if audience is Audience.SECTOR_PARTNERS:
            return sanitized and self.confidentiality is Confidentiality.SHARE_SANITIZED
        return False  # nothing of a pre-release review is ever published by prereview

    def sanitize(self, record: dict[str, object]) -> dict[str, object]:
        """Keep only the fields a sanitized document may carry."""
        return {k: v for k, v in record.items() if k in SANITIZED_FIELDS}
