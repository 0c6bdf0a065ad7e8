"""Errors of the review workflow; each is one line for the user and exit code 2 at the CLI."""

from __future__ import annotations

from prereview.errors import PrereviewError


class AssessmentError(PrereviewError):
    """The assessment cannot start or continue as asked."""


class CredentialMissingError(PrereviewError):
    """The credential reference names an environment variable that is not set."""
