"""Stable fingerprints: the identity of a finding across imports, tools' reruns and checkouts.

Three kinds, strongest first:
- `partial`: the tool's own SARIF `partialFingerprints` (scoped by tool and rule, since their
  meaning is the tool's);
- `crash`: a sanitizer crash's kind, the top frames' function names (or the faulting function when
  the report has no stack) and the file of the top frame,
  without lines or addresses, which move with every rebuild (the way fuzzing infrastructures
  bucket crashes);
- `location`: the rule, the normalised path, line and enclosing function.
The value is a SHA-256 over a length-prefixed encoding of the parts, so no crafted string can make
two different part lists collide by shifting a separator.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from prereview.findings.intake.interface import IncomingFinding

FingerprintKind = Literal["partial", "crash", "location"]


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        raw = part.encode("utf-8", "surrogatepass")
        h.update(len(raw).to_bytes(4, "big"))
        h.update(raw)
    return h.hexdigest()


def fingerprint(finding: IncomingFinding) -> tuple[FingerprintKind, str]:
    """The finding's fingerprint kind and value (64 hex digits)."""
    if finding.partial_fingerprints:
        flat = [x for pair in finding.partial_fingerprints for x in pair]
        return "partial", _digest("partial", finding.tool, finding.rule_id, *flat)
    loc = finding.location
    if finding.crash is not None and (finding.crash.frames or loc.uri):
        crash = finding.crash
        frames = crash.frames or (loc.function,)
        return "crash", _digest("crash", crash.kind, loc.uri, *frames)
    return "location", _digest(
        "location", finding.rule_id, loc.uri, str(loc.start_line or ""), loc.function
    )
