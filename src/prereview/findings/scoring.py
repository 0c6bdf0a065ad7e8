"""Severity and priority of a finding: CVSS computed by the `cvss` package, never by hand.

CVSS v3.x and v4.0 vectors are parsed and scored by `cvss` (Red Hat Product Security). When a
finding has no vector, its severity is estimated from what the source said (SARIF's
`security-severity`, else its level) and marked as an estimate. The priority combines severity,
the criticality of the sectors running the product, and the evidence: a working proof of concept
makes a finding more urgent, as known exploitation does in CISA's prioritisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError

from prereview.errors import PrereviewError

Severity = Literal["none", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("none", "low", "medium", "high", "critical")
Priority = Literal["P1", "P2", "P3", "P4"]


class CvssError(PrereviewError):
    """A CVSS vector the `cvss` package refuses; the message carries its reason."""


@dataclass(frozen=True)
class CvssScore:
    version: Literal["3.0", "3.1", "4.0"]
    vector: str  # as the cvss package normalises it
    base_score: float
    severity: Severity

    @property
    def major(self) -> int:
        return 4 if self.version == "4.0" else 3


@lru_cache(maxsize=4096)
def score_vector(vector: str) -> CvssScore:
    """Parse and score one CVSS v3.0/v3.1/v4.0 vector; `CvssError` says why one is refused."""
    text = vector.strip()
    try:
        if text.startswith("CVSS:4.0/"):
            c4 = CVSS4(text)
            return CvssScore("4.0", c4.clean_vector(), float(c4.base_score), _sev(c4.severity))
        if text.startswith(("CVSS:3.1/", "CVSS:3.0/")):
            c3 = CVSS3(text)
            version: Literal["3.0", "3.1"] = "3.1" if text.startswith("CVSS:3.1/") else "3.0"
            return CvssScore(
                version, c3.clean_vector(), float(c3.base_score), _sev(c3.severities()[0])
            )
    except CVSSError as exc:
        raise CvssError(f"invalid CVSS vector {text[:120]!r}: {exc}") from None
    raise CvssError(
        f"invalid CVSS vector {text[:120]!r}: it must start with CVSS:3.1/, CVSS:3.0/ or CVSS:4.0/"
    )


def _sev(label: str) -> Severity:
    value = label.lower()
    if value not in SEVERITIES:
        raise CvssError(f"unexpected CVSS severity {label!r}")
    return value


def severity_of_score(score: float) -> Severity:
    """The CVSS qualitative rating of a 0-10 score (the same bands in v3.1 and v4.0)."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0.0:
        return "low"
    return "none"


_LEVEL_ESTIMATE = {"error": 7.0, "warning": 5.0, "note": 3.0, "none": 0.0}


@dataclass(frozen=True)
class SeverityAssessment:
    score: float
    severity: Severity
    basis: Literal["cvss_v4", "cvss_v3", "security_severity", "level"]

    @property
    def estimated(self) -> bool:
        return self.basis in ("security_severity", "level")


def assess_severity(
    v3: CvssScore | None, v4: CvssScore | None, security_severity: float | None, level: str
) -> SeverityAssessment:
    """Severity from the best evidence there is: CVSS v4.0, v3.x, the tool's score, its level."""
    if v4 is not None:
        return SeverityAssessment(v4.base_score, v4.severity, "cvss_v4")
    if v3 is not None:
        return SeverityAssessment(v3.base_score, v3.severity, "cvss_v3")
    if security_severity is not None:
        return SeverityAssessment(
            security_severity, severity_of_score(security_severity), "security_severity"
        )
    estimate = _LEVEL_ESTIMATE.get(level, 5.0)
    return SeverityAssessment(estimate, severity_of_score(estimate), "level")


@dataclass(frozen=True)
class PriorityPolicy:
    """How severity, sector criticality and evidence combine into a priority.

    score = min(10, severity score × sector factor × evidence factor), banded P1 ≥ 9 > P2 ≥ 7 >
    P3 ≥ 4 > P4. Sector factor by the highest criticality of the product's sectors (3 = lifeline).
    """

    sector_factor: tuple[float, float, float, float] = (1.0, 1.0, 1.1, 1.25)  # by criticality 0-3
    evidence_factor: tuple[tuple[str, float], ...] = (("poc", 1.3), ("crash", 1.1), ("static", 1.0))
    bands: tuple[tuple[float, Priority], ...] = ((9.0, "P1"), (7.0, "P2"), (4.0, "P3"))

    def score(self, severity: float, criticality: int, evidence: str) -> float:
        factor = dict(self.evidence_factor).get(evidence, 1.0)
        crit = self.sector_factor[max(0, min(criticality, 3))]
        return round(min(10.0, severity * crit * factor), 1)

    def band(self, score: float) -> Priority:
        for threshold, label in self.bands:
            if score >= threshold:
                return label
        return "P4"


DEFAULT_PRIORITY = PriorityPolicy()
