"""CSAF 2.0 security advisories (profile `csaf_security_advisory`), one per vendor and product.

What goes in is built from the findings' structured, triaged fields only (CWE, CVSS, product,
location, evidence, disclosure dates); the free text a source reported stays behind the details
seam. CSAF 2.0 carries CVSS v3 in `scores`; a CVSS v4.0 vector goes into a vulnerability note
(category `other`, title "CVSS v4.0"), the place the standard leaves for what it has no field for.
`CsafExporter(version="2.1")` writes CSAF 2.1 instead, whose `metrics` carry v4.0 natively.

The documents are checked in the test suite with the `csaf` package's validator (schema and
mandatory tests) for both versions.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from cvss import CVSS3, CVSS4

from prereview import __version__
from prereview.advisories.interface import (
    AdvisoryExporter,
    AdvisoryGroup,
    Publisher,
    Tracking,
)
from prereview.advisories.mitigations import mitigations
from prereview.findings.cwe import cwe_catalog
from prereview.findings.records import Finding
from prereview.findings.sectors import sectors

_EVIDENCE = {
    "poc": "a working proof of concept reproduced the crash in prereview's scoring sandbox",
    "crash": "a sanitizer crash report",
    "static": "static analysis",
}
_TLP21 = {"WHITE": "CLEAR", "GREEN": "GREEN", "AMBER": "AMBER", "RED": "RED"}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _product_label(f: Finding) -> str:
    return f"{f.vendor or ''} {f.product_name or f.product}".strip()


class CsafExporter(AdvisoryExporter):
    name = "csaf"

    def __init__(self, version: Literal["2.0", "2.1"] = "2.0") -> None:
        self.version = version

    def file_name(self, tracking_id: str) -> str:
        """The file name CSAF section 5.1 requires: the tracking id, lower-cased, sanitised."""
        return re.sub(r"[^+\-a-z0-9]+", "_", tracking_id.lower()) + ".json"

    def build(
        self, group: AdvisoryGroup, tracking: Tracking, publisher: Publisher, tlp: str
    ) -> dict[str, Any]:
        product_ids, tree = self._product_tree(group)
        vulnerabilities = [self._vulnerability(f, product_ids) for f in group.findings]
        document = self._document(group, tracking, publisher, tlp)
        document["references"] = [
            {
                "category": "self",
                "summary": "Canonical URL",
                "url": f"{publisher.namespace.rstrip('/')}/advisories/"
                f"{self.file_name(tracking.id)}",
            }
        ]
        doc: dict[str, Any] = {}
        if self.version == "2.1":
            doc["$schema"] = "https://docs.oasis-open.org/csaf/csaf/v2.1/schema/csaf.json"
        doc |= {
            "document": document,
            "product_tree": tree,
            "vulnerabilities": vulnerabilities,
        }
        return doc

    # -- document -----------------------------------------------------------------------------

    def _document(
        self, group: AdvisoryGroup, tracking: Tracking, publisher: Publisher, tlp: str
    ) -> dict[str, Any]:
        n = len(group.findings)
        worst = max(group.findings, key=lambda f: f.severity_score)
        codes = sorted({s for f in group.findings for s in f.sectors})
        known = sectors()
        sector_text = (
            "Critical-infrastructure sectors that run this product: "
            + ", ".join(known[c].name for c in codes if c in known)
            + "."
            if codes
            else "No critical-infrastructure sector is mapped to this product yet."
        )
        pub: dict[str, Any] = {
            "category": "coordinator",
            "name": publisher.name,
            "namespace": publisher.namespace,
        }
        if publisher.contact:
            pub["contact_details"] = publisher.contact
        label = tlp if self.version == "2.0" else _TLP21[tlp]
        tlp_url = "https://www.first.org/tlp/" + ("" if self.version == "2.0" else "v2/")
        return {
            "category": "csaf_security_advisory",
            "csaf_version": self.version,
            "title": f"{group.vendor} {group.product_name}: {n} "
            f"{'vulnerability' if n == 1 else 'vulnerabilities'} found in pre-release AI "
            "capability evaluations",
            "lang": "en",
            "publisher": pub,
            "distribution": {
                "tlp": {"label": label, "url": tlp_url},
                "text": "Coordinated disclosure: share only as the TLP label allows.",
            },
            "notes": [
                {
                    "category": "summary",
                    "title": "Summary",
                    "text": f"{n} {'vulnerability was' if n == 1 else 'vulnerabilities were'} "
                    f"found in {group.vendor} {group.product_name}; the most severe is rated "
                    f"{worst.severity} ({worst.severity_score:.1f}). {sector_text}",
                },
                {
                    "category": "general",
                    "title": "How these were found",
                    "text": "During voluntary pre-release reviews of AI models' cyber "
                    "capabilities, the agency records the vulnerabilities that models and "
                    "analysis tools find, deduplicates them, and coordinates their disclosure "
                    "with the vendor before publication.",
                },
                {
                    "category": "legal_disclaimer",
                    "title": "Terms of use",
                    "text": "This advisory is provided as is, for defensive purposes; it makes no "
                    "statement about any product beyond the vulnerabilities it lists.",
                },
            ],
            "tracking": {
                "id": tracking.id,
                "status": "final" if tracking.final else "interim",
                "version": str(tracking.version),
                "initial_release_date": _iso(tracking.initial_release),
                "current_release_date": _iso(tracking.current_release),
                "revision_history": [
                    {"date": _iso(r.date), "number": str(r.number), "summary": r.summary}
                    for r in tracking.revisions
                ],
                "generator": {
                    "engine": {"name": "prereview", "version": __version__},
                    "date": _iso(tracking.current_release),
                },
            },
        }

    # -- product tree -------------------------------------------------------------------------

    def _product_tree(self, group: AdvisoryGroup) -> tuple[dict[str, str], dict[str, Any]]:
        """One product per distinct identifier (PURL/CPE with its version), as a
        vendor → product_name → product_version branch (no version: under product_name)."""
        ids: dict[str, str] = {}
        versions: dict[str, dict[str, Any]] = {}
        unversioned: dict[str, Any] | None = None
        for f in group.findings:
            ident = f.product or ""
            if ident in ids:
                continue
            pid = f"CSAFPID-{len(ids) + 1:04d}"
            ids[ident] = pid
            helper: dict[str, Any] = {"cpe": ident}
            if ident.startswith("pkg:"):
                helper = {"purl": ident} if self.version == "2.0" else {"purls": [ident]}
            version = f.product_version or ""
            product = {
                "product_id": pid,
                "name": f"{_product_label(f)} {version}".strip(),
                "product_identification_helper": helper,
            }
            if version:
                versions[version] = {
                    "category": "product_version",
                    "name": version,
                    "product": product,
                }
            else:
                unversioned = product
        name_branch: dict[str, Any] = {"category": "product_name", "name": group.product_name}
        if versions:
            name_branch["branches"] = [versions[v] for v in sorted(versions)]
            if unversioned is not None:  # CSAF allows a product or branches, not both
                name_branch["branches"].append(
                    {"category": "product_version", "name": "unspecified", "product": unversioned}
                )
        elif unversioned is not None:
            name_branch["product"] = unversioned
        tree = {
            "branches": [{"category": "vendor", "name": group.vendor, "branches": [name_branch]}]
        }
        return ids, tree

    # -- vulnerabilities ----------------------------------------------------------------------

    def _vulnerability(self, f: Finding, product_ids: dict[str, str]) -> dict[str, Any]:
        pid = product_ids[f.product or ""]
        catalog = cwe_catalog()
        weakness = catalog.get(f.cwe_id) if f.cwe_id is not None else None
        what = weakness.name if weakness else (f.crash_kind or f.rule_id)
        description = (
            f"{what} in {_product_label(f)}"
            + (f" {f.product_version}" if f.product_version else "")
            + f", at {f.location}."
            + (f" Sanitizer report kind: {f.crash_kind}." if f.crash_kind else "")
            + f" Evidence: {_EVIDENCE.get(f.evidence, f.evidence)}."
            + f" Reported {f.sighting_count} time(s), first on {f.first_seen.date().isoformat()}."
        )
        vuln: dict[str, Any] = {
            "ids": [{"system_name": "prereview finding", "text": f.ref}],
            "title": f"{what} in {f.product_name or f.product}"[:200],
            "notes": [{"category": "description", "title": "Description", "text": description}],
            "product_status": {"known_affected": [pid]},
            "remediations": [self._remediation(f, pid)],
            "threats": [
                {
                    "category": "impact",
                    "details": f"Severity {f.severity} ({f.severity_score:.1f}, from "
                    f"{f.severity_basis.replace('_', ' ')}); priority {f.priority}.",
                    "product_ids": [pid],
                }
            ],
        }
        if f.evidence == "poc":
            vuln["threats"].append(
                {
                    "category": "exploit_status",
                    "details": "Proof of concept: an input that triggers the vulnerability exists.",
                    "product_ids": [pid],
                }
            )
        if weakness is not None:
            if self.version == "2.0":
                vuln["cwe"] = {"id": weakness.ref, "name": weakness.name}
            else:
                vuln["cwes"] = [
                    {"id": weakness.ref, "name": weakness.name, "version": catalog.version}
                ]
        if f.notified_on is not None and self.version == "2.0":
            vuln["release_date"] = f"{f.notified_on.isoformat()}T00:00:00Z"
        self._scores(vuln, f, pid)
        return vuln

    def _scores(self, vuln: dict[str, Any], f: Finding, pid: str) -> None:
        v3 = CVSS3(f.cvss_v3_vector).as_json(minimal=True) if f.cvss_v3_vector else None
        v4 = CVSS4(f.cvss_v4_vector).as_json(minimal=True) if f.cvss_v4_vector else None
        if self.version == "2.0":
            if v3 is not None:
                vuln["scores"] = [{"products": [pid], "cvss_v3": v3}]
            if v4 is not None:
                vuln["notes"].append(
                    {
                        "category": "other",
                        "title": "CVSS v4.0",
                        "text": f"{f.cvss_v4_vector} (base score {f.cvss_v4_score}, "
                        f"{str(v4['baseSeverity']).lower()}); CSAF 2.0 has no field for CVSS v4.0.",
                    }
                )
            return
        content: dict[str, Any] = {}
        if v3 is not None:
            content["cvss_v3"] = v3
        if v4 is not None:
            # the FIRST CVSS v4.0 JSON schema names its metrics differently from the cvss
            # package's JSON; the required core is the vector and the package's score
            content["cvss_v4"] = {
                "version": "4.0",
                "vectorString": v4["vectorString"],
                "baseScore": v4["baseScore"],
                "baseSeverity": str(v4["baseSeverity"]).upper(),
            }
        if content:
            vuln["metrics"] = [{"content": content, "products": [pid]}]

    def _remediation(self, f: Finding, pid: str) -> dict[str, Any]:
        guidance = mitigations().for_cwe(f.cwe_id)
        if f.status in ("fix_available", "published") and (f.fixed_on or f.remediation):
            details = f.remediation or "The vendor has released a fix; apply the update."
            remediation: dict[str, Any] = {
                "category": "vendor_fix",
                "details": details,
                "product_ids": [pid],
            }
            if f.fixed_on is not None:
                remediation["date"] = f"{f.fixed_on.isoformat()}T00:00:00Z"
            return remediation
        return {
            "category": "mitigation",
            "details": f"No fix is available yet. {guidance.operator}",
            "product_ids": [pid],
        }
