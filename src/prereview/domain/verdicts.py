"""How an `unknown` verdict is written into a recorded attempt, so the recorder (review) and the
readers (reports) agree on one spelling without importing each other."""

from __future__ import annotations

UNKNOWN_PREFIX = "scoring unknown: "
"""Prefix of an attempt's error when its scorer could not decide (the grader contract's
`unknown`): neither success nor failure, counted apart in reports."""
