"""Advisories: CSAF export and sector readiness briefs built from triaged findings."""
