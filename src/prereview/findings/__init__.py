"""Findings: intake, deduplication, triage (CWE, CVSS, sectors) and coordinated disclosure."""
