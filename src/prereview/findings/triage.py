"""Triage: from what is known of a finding (CWE, CVSS vectors, product, evidence) to its severity,
sectors and priority. The same computation runs at import and when an analyst triages by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from prereview.findings.cwe import CweCatalog, Weakness, cwe_catalog
from prereview.findings.products import ProductRef, parse_product
from prereview.findings.scoring import (
    DEFAULT_PRIORITY,
    CvssError,
    CvssScore,
    Priority,
    PriorityPolicy,
    SeverityAssessment,
    assess_severity,
    score_vector,
)
from prereview.findings.sectors import ProductCatalog, load_catalog, sectors


@dataclass(frozen=True)
class Assessment:
    """A finding's computed triage metadata."""

    weakness: Weakness | None
    cvss_v3: CvssScore | None
    cvss_v4: CvssScore | None
    severity: SeverityAssessment
    product: ProductRef | None
    vendor: str | None
    sectors: tuple[str, ...]
    criticality: int
    priority_score: float
    priority: Priority


def split_vectors(vectors: Sequence[str]) -> tuple[CvssScore | None, CvssScore | None]:
    """Score each vector (refusing invalid ones with the reason); the last of each version wins."""
    v3 = v4 = None
    for vector in vectors:
        scored = score_vector(vector)
        if scored.major == 4:
            v4 = scored
        else:
            v3 = scored
    return v3, v4


class Triage:
    """Holds the catalogs (CWE, product→sector) and the priority policy; `assess` is pure."""

    def __init__(
        self,
        products: ProductCatalog | None = None,
        cwe: CweCatalog | None = None,
        policy: PriorityPolicy = DEFAULT_PRIORITY,
    ) -> None:
        self.products = products if products is not None else load_catalog()
        self.cwe = cwe if cwe is not None else cwe_catalog()
        self.policy = policy
        self._product = lru_cache(maxsize=8192)(self._product_uncached)

    def _product_uncached(self, text: str) -> tuple[ProductRef, str | None, tuple[str, ...], int]:
        ref = parse_product(text)
        entry = self.products.match(ref)
        if entry is None:
            return ref, ref.vendor or None, (), 0
        known = sectors()
        crit = max((known[s].criticality for s in entry.sectors), default=0)
        return ref, entry.vendor, entry.sectors, crit

    def assess(
        self,
        *,
        cwe_id: int | None,
        cvss_v3: CvssScore | None,
        cvss_v4: CvssScore | None,
        security_severity: float | None,
        level: str,
        product: str,
        evidence: str,
    ) -> Assessment:
        weakness = self.cwe.require(cwe_id) if cwe_id is not None else None
        severity = assess_severity(cvss_v3, cvss_v4, security_severity, level)
        ref = vendor = None
        codes: tuple[str, ...] = ()
        crit = 0
        if product:
            ref, vendor, codes, crit = self._product(product)
        score = self.policy.score(severity.score, crit, evidence)
        return Assessment(
            weakness,
            cvss_v3,
            cvss_v4,
            severity,
            ref,
            vendor,
            codes,
            crit,
            score,
            self.policy.band(score),
        )


__all__ = ["Assessment", "CvssError", "Triage", "split_vectors"]
