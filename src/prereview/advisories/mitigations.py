"""Mitigation guidance as data (`data/mitigations.yaml`): per weakness family and sector kind."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Mitigation:
    name: str
    operator: str  # what an operator of the product can do now
    developer: str  # what fixes the weakness in the code


@dataclass(frozen=True)
class MitigationCatalog:
    by_cwe: dict[int, Mitigation]
    default: Mitigation
    lifeline: str
    other: str

    def for_cwe(self, cwe_id: int | None) -> Mitigation:
        if cwe_id is None:
            return self.default
        return self.by_cwe.get(cwe_id, self.default)

    def for_sector(self, criticality: int) -> str:
        return self.lifeline if criticality >= 3 else self.other


@cache
def mitigations() -> MitigationCatalog:
    text = resources.files("prereview.advisories").joinpath("data/mitigations.yaml").read_text()
    raw = yaml.safe_load(text)
    by_cwe: dict[int, Mitigation] = {}
    for entry in raw["weaknesses"]:
        m = Mitigation(entry["name"], " ".join(entry["operator"].split()), entry["developer"])
        for cwe in entry["cwes"]:
            by_cwe[int(cwe)] = m
    d = raw["default"]
    return MitigationCatalog(
        by_cwe,
        Mitigation("general", " ".join(d["operator"].split()), d["developer"]),
        " ".join(raw["sectors"]["lifeline"].split()),
        " ".join(raw["sectors"]["other"].split()),
    )
