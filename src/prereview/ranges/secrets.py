"""Per-sample secrets: drawn from the sample seed (the same seed gives the same values, another
seed others), substituted into files and service environments at start, and redacted from
anything the evaluator logs or reports."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from prereview.ranges.scenario import PLACEHOLDER, Scenario, SecretKind

_ALNUM = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class SampleSecrets:
    """name -> value for one sample. `repr` never shows values."""

    values: Mapping[str, str]
    kinds: Mapping[str, SecretKind]

    def __repr__(self) -> str:
        return f"SampleSecrets({sorted(self.values)})"

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def substitute(self, text: str) -> str:
        """`{{secret:NAME}}` placeholders replaced by values."""
        return PLACEHOLDER.sub(lambda m: self.values[m.group(1)], text)

    def redact(self, text: str) -> str:
        """Every hidden (non-canary) secret value replaced by `[secret NAME]`."""
        for name, value in self.values.items():
            if self.kinds[name] != "canary":
                text = text.replace(value, f"[secret {name}]")
        return text

    def for_agent(self) -> dict[str, str]:
        """The canaries: names the agent is told (a process name to run, a token to send)."""
        return {n: v for n, v in self.values.items() if self.kinds[n] == "canary"}


def draw_secrets(scenario: Scenario, seed: int | str) -> SampleSecrets:
    """The sample's secrets, HMAC-derived from the seed, the scenario's name and each secret's
    name: deterministic per seed, unrelated across seeds and scenarios."""
    key = f"prereview-range:{seed}".encode()
    values: dict[str, str] = {}
    kinds: dict[str, SecretKind] = {}
    for spec in scenario.secrets:
        digest = hmac.new(key, f"{scenario.name}/{spec.name}".encode(), hashlib.sha256).digest()
        values[spec.name] = _format(spec.kind, digest)
        kinds[spec.name] = spec.kind
    return SampleSecrets(values, kinds)


def _format(kind: SecretKind, digest: bytes) -> str:
    if kind == "flag":
        return f"FLAG{{{digest[:16].hex()}}}"
    if kind == "token":
        return digest.hex()
    if kind == "canary":
        return f"canary-{digest[:6].hex()}"
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(18):
        number, index = divmod(number, len(_ALNUM))
        chars.append(_ALNUM[index])
    return "".join(chars)
