"""What a developer organization hands over: model access, release date, terms and confidentiality.

Model access holds a credential *reference* (the name of an environment variable on the agency
host), never a secret: the secret is read from the environment only when a run starts, and is
never stored, logged or printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from prereview.errors import PrereviewError

CURRENT_TERMS_VERSION = "2026-01"
"""Version of the voluntary-review terms a submitter accepts by submitting."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")


class InvalidSubmissionError(PrereviewError):
    """A submission field is malformed; the message names the field (never echoes a secret)."""


class Confidentiality(StrEnum):
    """The submitter's election of how far results may travel."""

    CONFIDENTIAL = "confidential"  # results stay with the review team and the submitter
    SHARE_SANITIZED = "share-sanitized"  # sanitized findings may reach sector partners


@dataclass(frozen=True)
class ModelAccess:
    """How Inspect reaches the model: `model` is an Inspect model string (`openai/gpt-x`)."""

    model: str
    base_url: str | None = None
    api_key_env: str | None = None

    def __post_init__(self) -> None:
        if (
            "/" not in self.model
            or self.model.startswith("/")
            or any(c.isspace() for c in self.model)
        ):
            raise InvalidSubmissionError(
                f"model {self.model!r} is not an Inspect model string (provider/name, "
                "e.g. local/smollm2 or openai/gpt-4o)"
            )
        if self.base_url is not None and not _URL.match(self.base_url):
            raise InvalidSubmissionError("base URL must be an http(s) URL")
        if self.api_key_env is not None and not _ENV_NAME.match(self.api_key_env):
            # Said without the value: people paste the key itself here by mistake.
            raise InvalidSubmissionError(
                "--api-key-env takes the NAME of an environment variable holding the key "
                "(e.g. OPENAI_API_KEY), not the key itself"
            )


@dataclass(frozen=True)
class Throughput:
    """What the submitter declares the model endpoint sustains; the planner budgets with it.

    `seconds_per_request` is the typical latency of one generate call; it bounds how much
    concurrency helps when the rate limit does not bind.
    """

    requests_per_minute: float | None
    max_connections: int
    seconds_per_request: float

    def __post_init__(self) -> None:
        if self.requests_per_minute is not None and self.requests_per_minute <= 0:
            raise InvalidSubmissionError("requests per minute must be positive")
        if self.max_connections < 1:
            raise InvalidSubmissionError("concurrent connections must be at least 1")
        if self.seconds_per_request <= 0:
            raise InvalidSubmissionError("seconds per request must be positive")

    @classmethod
    def default_for(cls, model: str) -> Throughput:
        """Assumptions when the submitter declares nothing: one llama.cpp instance locally,
        a modest shared API tier otherwise."""
        if model.startswith("local/"):
            # SmolLM2-135M on two cores: ~8 s for a short tool-using turn
            return cls(requests_per_minute=None, max_connections=1, seconds_per_request=8.0)
        return cls(requests_per_minute=60.0, max_connections=10, seconds_per_request=20.0)


def parse_release_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidSubmissionError(f"release date {value!r} is not a date (YYYY-MM-DD)") from None


def parse_model_args(pairs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs as `--model-arg` takes them (numbers become numbers)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidSubmissionError(f"--model-arg {pair!r}: expected KEY=VALUE")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        out[key] = value
    return out
