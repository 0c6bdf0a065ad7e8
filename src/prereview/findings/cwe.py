"""The MITRE CWE list, shipped as data: CWE ids and their names, offline.

`data/cwe.json` is generated from the MITRE CWE catalog that the `csaf` package (Stefan Hagen,
MIT; the catalog itself under MITRE's CWE terms of use, reproduced in the file) ships for its
CSAF validator, so the names we export are the ones a CSAF validator checks against (rule 6.1.11).
Regenerate after a CWE release with `python -m prereview.findings.cwe --regenerate` (needs the dev
dependency `csaf`). Only weaknesses present in the latest CWE version are kept, with their status
and MITRE's mapping usage (Allowed, Allowed-with-Review, Discouraged, Prohibited).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from prereview.errors import PrereviewError

_DATA = "cwe.json"
_ID = re.compile(r"^\s*(?:CWE)?[-_ ]?0*(\d{1,6})\s*$", re.IGNORECASE)


class UnknownCweError(PrereviewError):
    """A CWE id that is not in the shipped list, or one MITRE says not to map vulnerabilities to."""


@dataclass(frozen=True)
class Weakness:
    id: int
    name: str
    status: str
    usage: str

    @property
    def ref(self) -> str:
        return f"CWE-{self.id}"


@dataclass(frozen=True)
class CweCatalog:
    version: str
    source: str
    weaknesses: dict[int, Weakness]

    def __contains__(self, cwe_id: object) -> bool:
        return cwe_id in self.weaknesses

    def get(self, cwe_id: int) -> Weakness | None:
        return self.weaknesses.get(cwe_id)

    def parse_id(self, text: str | int) -> int:
        """`CWE-787`, `cwe787` or `787` as 787; anything else is refused with the reason."""
        if isinstance(text, int):
            return text
        match = _ID.match(text)
        if not match:
            raise UnknownCweError(f"{text[:40]!r} is not a CWE id (expected e.g. CWE-787)")
        return int(match.group(1))

    def usable(self, cwe_id: int) -> bool:
        """Known, not deprecated, and not prohibited for mapping."""
        w = self.weaknesses.get(cwe_id)
        return w is not None and w.status != "Deprecated" and w.usage != "Prohibited"

    def require(self, text: str | int) -> Weakness:
        """The weakness named by `text`, or `UnknownCweError` saying why it cannot be used."""
        cwe_id = self.parse_id(text)
        weakness = self.weaknesses.get(cwe_id)
        if weakness is None:
            raise UnknownCweError(
                f"CWE-{cwe_id} is not in the MITRE CWE list {self.version} shipped with prereview"
            )
        if weakness.status == "Deprecated":
            raise UnknownCweError(
                f"CWE-{cwe_id} ({weakness.name}) is deprecated in CWE {self.version}"
            )
        if weakness.usage == "Prohibited":
            raise UnknownCweError(
                f"CWE-{cwe_id} ({weakness.name}) is marked Prohibited for vulnerability mapping "
                "by MITRE; choose a more specific weakness"
            )
        return weakness


@cache
def cwe_catalog() -> CweCatalog:
    """The shipped catalog, loaded once."""
    raw = json.loads(resources.files("prereview.findings").joinpath(f"data/{_DATA}").read_text())
    weaknesses = {int(k): Weakness(int(k), v[0], v[1], v[2]) for k, v in raw["weaknesses"].items()}
    return CweCatalog(raw["version"], raw["source"], weaknesses)


def _regenerate(out: Path) -> None:
    from csaf.csaf.v21 import _validator  # noqa: F401  (locates the installed package)

    root = Path(sys.modules["csaf"].__file__ or "").parent / "csaf" / "v21" / "cwe"
    catalog: dict[str, Any] = json.loads((root / "catalog.json").read_text())
    notice = (root / "LICENSE").read_text().strip()
    weaknesses: dict[str, list[str]] = {}
    for key, entry in catalog["weaknesses"].items():
        name = entry["history"][-1][1]
        if name is None:  # not in the latest version
            continue
        weaknesses[key] = [name, entry.get("status", ""), entry.get("usage", "")]
    doc = {
        "source": "MITRE CWE catalog as shipped by the csaf package "
        f"{sys.modules['csaf'].__version__} (csaf/v21/cwe/catalog.json)",
        "version": catalog["latest_version"],
        "notice": notice,
        "weaknesses": dict(sorted(weaknesses.items(), key=lambda kv: int(kv[0]))),
    }
    head = {k: v for k, v in doc.items() if k != "weaknesses"}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "weaknesses": {']
    rows = [
        f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
        for k, v in doc["weaknesses"].items()
    ]
    lines.append(",\n".join(rows))
    lines.append("}}")
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python -m prereview.findings.cwe --regenerate")
    _regenerate(Path(__file__).parent / "data" / _DATA)
