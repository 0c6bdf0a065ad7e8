"""What the API returns for a finding: the same fields as `prereview findings --json`.

Kept here, not imported from the CLI, so the service does not depend on the CLI layer; a test
compares the two (tests/service/test_api.py).
"""

from __future__ import annotations

from typing import Any

from prereview.findings.records import Finding


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "id": f.ref,
        "title": f.title,
        "rule": f.rule_id,
        "tool": f.tool,
        "location": f.location,
        "evidence": f.evidence,
        "cwe": f"CWE-{f.cwe_id}" if f.cwe_id else None,
        "cvss_v3": {"vector": f.cvss_v3_vector, "score": f.cvss_v3_score}
        if f.cvss_v3_vector
        else None,
        "cvss_v4": {"vector": f.cvss_v4_vector, "score": f.cvss_v4_score}
        if f.cvss_v4_vector
        else None,
        "severity": f.severity,
        "severity_score": f.severity_score,
        "severity_basis": f.severity_basis,
        "product": f.product,
        "vendor": f.vendor,
        "sectors": list(f.sectors),
        "priority": f.priority,
        "priority_score": f.priority_score,
        "status": f.status,
        "disclosure_policy": f.disclosure_policy,
        "notified_on": f.notified_on,
        "deadline": f.deadline,
        "fixed_on": f.fixed_on,
        "published_on": f.published_on,
        "sightings": f.sighting_count,
        "fingerprint": f.fingerprint,
        "fingerprint_kind": f.fingerprint_kind,
    }
