"""The finding as the rest of prereview sees it: triage and disclosure metadata, no details.

Advisories and sector briefs are pure functions over these; the store maps rows to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from prereview.findings.scoring import SEVERITIES


@dataclass(frozen=True)
class Finding:
    id: int
    fingerprint: str
    fingerprint_kind: str
    tool: str
    rule_id: str
    title: str
    level: str
    location_uri: str
    location_line: int | None
    location_function: str
    crash_kind: str | None
    evidence: str
    cwe_id: int | None
    cvss_v3_vector: str | None
    cvss_v3_score: float | None
    cvss_v4_vector: str | None
    cvss_v4_score: float | None
    severity: str
    severity_score: float
    severity_basis: str
    product: str | None
    product_key: str | None
    product_name: str | None
    product_version: str | None
    vendor: str | None
    sectors: tuple[str, ...]
    priority_score: float
    priority: str
    status: str
    disclosure_policy: str | None
    vendor_contact: str | None
    notified_on: date | None
    fixed_on: date | None
    deadline: date | None
    published_on: date | None
    remediation: str | None
    sighting_count: int
    first_seen: datetime
    last_seen: datetime

    @property
    def ref(self) -> str:
        """The id people type and advisories cite: `F-42`."""
        return f"F-{self.id}"

    @property
    def location(self) -> str:
        text = self.location_uri or "?"
        if self.location_line:
            text += f":{self.location_line}"
        if self.location_function:
            text += f" ({self.location_function})"
        return text

    def at_least(self, severity: str) -> bool:
        return SEVERITIES.index(self.severity) >= SEVERITIES.index(severity)

    def as_dict(self) -> dict[str, Any]:
        """The finding as `findings --json` and the REST API show it."""
        return {
            "id": self.ref,
            "title": self.title,
            "rule": self.rule_id,
            "tool": self.tool,
            "location": self.location,
            "evidence": self.evidence,
            "cwe": f"CWE-{self.cwe_id}" if self.cwe_id else None,
            "cvss_v3": {"vector": self.cvss_v3_vector, "score": self.cvss_v3_score}
            if self.cvss_v3_vector
            else None,
            "cvss_v4": {"vector": self.cvss_v4_vector, "score": self.cvss_v4_score}
            if self.cvss_v4_vector
            else None,
            "severity": self.severity,
            "severity_score": self.severity_score,
            "severity_basis": self.severity_basis,
            "product": self.product,
            "vendor": self.vendor,
            "sectors": list(self.sectors),
            "priority": self.priority,
            "priority_score": self.priority_score,
            "status": self.status,
            "disclosure_policy": self.disclosure_policy,
            "notified_on": self.notified_on,
            "deadline": self.deadline,
            "fixed_on": self.fixed_on,
            "published_on": self.published_on,
            "sightings": self.sighting_count,
            "fingerprint": self.fingerprint,
            "fingerprint_kind": self.fingerprint_kind,
        }


def parse_finding_ref(text: str | int) -> int:
    """`F-42`, `f42` or `42` as 42."""
    from prereview.errors import PrereviewError

    raw = str(text).strip()
    digits = raw[2:] if raw[:2].upper() == "F-" else raw[1:] if raw[:1] in "fF" else raw
    if not digits.isdigit() or len(digits) > 12:
        raise PrereviewError(f"{raw[:30]!r} is not a finding id (e.g. F-42)")
    return int(digits)
