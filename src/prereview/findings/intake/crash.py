"""New crashes found in prereview's own runs: possible vulnerabilities a model hit on the way.

The memory-safety suite's `memsafety_poc` scorer reruns the model's PoC on the vulnerable build in a
fresh sandbox; a sanitizer crash other than the planted bug is not a success, it is recorded in the
score's metadata as a possible new finding. This source reads those records from an Inspect log
(`.eval` or `.json`), from any task and scorer that uses the same contract::

    score.metadata["new_crashes"] = [
      {"kind": "heap-use-after-free",          # the sanitizer's crash kind (required)
       "frames": ["free_node", "parse", "main"], # function names, innermost first
       "file": "src/parser.c", "line": 120, "function": "free_node", "access": "READ",
       "sanitizer": "AddressSanitizer",
       "summary": "SUMMARY: AddressSanitizer: heap-use-after-free src/parser.c:120 in free_node",
       "input_sha256": "…",                      # the crashing input, kept with the run's artifacts
       "cwe": "CWE-416",                         # optional
       "product": "pkg:generic/…"}               # optional: what the crashing program is
    ]

This is a superset of `prereview.suites.memsafety.sanitizer.CrashReport.as_dict()`, so the scorer
can record its parsed reports as they are; any of the fields but `kind` may be null. The location
is prefixed with the sample's `instance_id` (or `id`) from the sample metadata: two generated
programs share file names but not bugs. The crash reproduced from the model's own input in the
scoring sandbox, so its evidence is a working PoC. Unknown keys are ignored; a record without
`kind` is refused with its place.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import msgspec

from prereview.findings.cwe import UnknownCweError, cwe_catalog
from prereview.findings.intake._jsonfile import split_validation_message
from prereview.findings.intake.interface import (
    CrashSignature,
    FindingSource,
    IncomingFinding,
    IntakeBatch,
    IntakeError,
    Location,
)
from prereview.findings.intake.sarif import CRASH_FRAMES, normalize_uri
from prereview.findings.limits import clean_line, clean_text

METADATA_KEY = "new_crashes"
TOOL = "prereview"


class _Crash(msgspec.Struct):
    kind: str
    frames: list[str] = []
    file: str | None = None
    line: int | None = None
    function: str | None = None
    access: str | None = None
    sanitizer: str | None = None
    summary: str | None = None
    input_sha256: str | None = None
    cwe: str | int | None = None
    product: str | None = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CrashLogSource(FindingSource):
    name = "crash"
    description = "new sanitizer crashes recorded by prereview's runs (Inspect logs)"

    def sniff(self, path: Path, head: bytes) -> bool:
        if path.suffix == ".eval" and head.startswith(b"PK"):
            return True
        text = head[:4096].decode("utf-8", "ignore")
        return path.suffix == ".json" and '"eval"' in text and '"status"' in text

    def read(self, path: Path) -> IntakeBatch:
        from inspect_ai.log import read_eval_log_samples

        lim = self.limits
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise IntakeError(path, "", f"cannot read the file ({exc.strerror})") from None
        if size > lim.max_file_bytes:
            raise IntakeError(path, "", f"file is {size} bytes, over the limit")
        if path.suffix == ".eval" and not zipfile.is_zipfile(path):
            raise IntakeError(path, "", "not an Inspect .eval log (not a zip archive)")
        out: list[IncomingFinding] = []
        try:
            for s, sample in enumerate(
                read_eval_log_samples(str(path), all_samples_required=False)
            ):
                for scorer, score in (sample.scores or {}).items():
                    records = (score.metadata or {}).get(METADATA_KEY)
                    if records is None:
                        continue
                    where = (
                        f"samples[{s}] (id {str(sample.id)[:60]}, epoch {sample.epoch})"
                        f".scores[{scorer[:60]!r}].metadata.{METADATA_KEY}"
                    )
                    self._read_records(path, where, records, sample.metadata or {}, out)
        except IntakeError:
            raise
        except Exception as exc:  # Inspect's reader: a truncated zip, a bad JSON, a wrong schema
            raise IntakeError(
                path, "", f"not a readable Inspect log ({type(exc).__name__})"
            ) from None
        return IntakeBatch("crash", str(path), _sha256(path), (TOOL,), out)

    def _read_records(
        self,
        path: Path,
        where: str,
        records: Any,
        sample_meta: dict[str, Any],
        out: list[IncomingFinding],
    ) -> None:
        lim = self.limits
        try:
            crashes = msgspec.convert(records, type=list[_Crash])
        except msgspec.ValidationError as exc:
            sub, problem = split_validation_message(str(exc))
            raise IntakeError(path, where + sub[1:], problem) from None
        instance = clean_line(
            str(sample_meta.get("instance_id") or sample_meta.get("id") or ""), 120
        )
        for j, crash in enumerate(crashes):
            if len(out) >= lim.max_results:
                raise IntakeError(path, where, f"over the limit of {lim.max_results} findings")
            frames = tuple(
                clean_line(f, lim.max_identifier) for f in crash.frames[: lim.max_stack_frames]
            )
            kind = clean_line(crash.kind, lim.max_identifier) or "crash"
            function = clean_line(crash.function, lim.max_identifier) or (
                frames[0] if frames else ""
            )
            uri = normalize_uri(clean_line(crash.file, lim.max_uri))
            if instance:
                uri = f"{normalize_uri(instance)}/{uri}" if uri else normalize_uri(instance)
            cwes: tuple[int, ...] = ()
            if crash.cwe is not None:
                try:
                    cwes = (cwe_catalog().require(crash.cwe).id,)
                except UnknownCweError as exc:
                    raise IntakeError(path, f"{where}[{j}].cwe", str(exc)) from None
            summary = clean_text(crash.summary, lim.max_message)
            title = f"{kind} in {function}" if function else kind
            if crash.access:
                title = f"{title} ({clean_line(crash.access, 10)})"
            if crash.sanitizer:
                title = f"{clean_line(crash.sanitizer, 60)}: {title}"
            details = summary
            if instance:
                details = f"instance {instance}\n{summary}".strip()
            out.append(
                IncomingFinding(
                    index=len(out),
                    where=f"{where}[{j}]",
                    tool=TOOL,
                    rule_id=kind,
                    title=clean_line(title, lim.max_title),
                    level="error",
                    location=Location(
                        uri,
                        crash.line if crash.line and crash.line > 0 else None,
                        None,
                        function,
                    ),
                    crash=CrashSignature(kind, frames[:CRASH_FRAMES]),
                    cwe_ids=cwes,
                    product=clean_line(crash.product or "", lim.max_uri),
                    evidence="poc",
                    message=details,
                    stack=frames,
                )
            )
