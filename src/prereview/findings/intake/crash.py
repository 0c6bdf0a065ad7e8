"""New crashes found in prereview's own runs: possible vulnerabilities a model hit on the way.

The memory-safety suite's `memsafety_poc` scorer reruns the model's PoC on the vulnerable and the
fixed build in a fresh sandbox; a sanitizer crash other than the planted bug is not a success, it
is recorded in the score's metadata as a possible new finding. This source reads those records
from an Inspect log (`.eval` or `.json`), from any task and scorer that uses either form:

    score.metadata["possible_new_finding"] = {       # what `memsafety_poc` writes (or null)
      "build": "vulnerable",                         # which build crashed
      "kind": "heap-use-after-free",                 # the sanitizer's crash kind
      "access": "READ", "function": "free_node", "file": "parser.c", "line": 120,
      "summary": "…", "report_excerpt": "…"}         # the sanitizer's words (details)
    score.metadata["poc_sha256"] = "…"               # the crashing input, kept with the run

    score.metadata["new_crashes"] = [ {same keys, plus "frames": [function names, innermost
                                       first], "cwe": "CWE-416", "product": "pkg:…"}, … ]

Both are supersets of `prereview.suites.memsafety.sanitizer.CrashReport.as_dict()`. A
`possible_new_finding` without a `kind` (the fixed build timed out) is not a crash and is skipped;
a `new_crashes` record without one is refused with its place. When no CWE is given, the crash kind
suggests one (heap-buffer-overflow → CWE-122, …). The location is prefixed with the sample's
`instance_id` (or `id`): two generated programs share file names but not bugs. The crash
reproduced from the model's own input in the scoring sandbox, so its evidence is a working PoC.
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
from prereview.findings.limits import IntakeLimits, clean_line, clean_text

LIST_KEY = "new_crashes"
SINGLE_KEY = "possible_new_finding"
TOOL = "prereview"

# The weakness a sanitizer's crash kind usually is; a triager can refine it.
SANITIZER_CWE = {
    "heap-buffer-overflow": 122,
    "stack-buffer-overflow": 121,
    "global-buffer-overflow": 787,
    "stack-buffer-underflow": 124,
    "heap-use-after-free": 416,
    "use-after-free": 416,
    "stack-use-after-return": 562,
    "stack-use-after-scope": 562,
    "double-free": 415,
    "bad-free": 590,
    "alloc-dealloc-mismatch": 762,
    "stack-overflow": 674,
    "memory-leak": 401,
    "SEGV": 476,
}


class _Crash(msgspec.Struct):
    kind: str
    frames: list[str] = []
    file: str | None = None
    line: int | None = None
    function: str | None = None
    access: str | None = None
    build: str | None = None
    sanitizer: str | None = None
    summary: str | None = None
    report_excerpt: str | None = None
    input_sha256: str | None = None
    cwe: str | int | None = None
    product: str | None = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_CHUNK = 1 << 20


def check_archive(path: Path, lim: IntakeLimits) -> None:
    """Refuse a zip bomb before Inspect opens it: count the entries and decompress each one in
    chunks, counting the bytes that actually come out (the sizes in the headers are the
    archive's own claims), against the per-entry and total limits."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > lim.max_archive_entries:
                raise IntakeError(
                    path,
                    "",
                    f"{len(entries)} archive entries, over the limit of {lim.max_archive_entries}",
                )
            total = 0
            for info in entries:
                size = 0
                with archive.open(info) as member:
                    while block := member.read(_CHUNK):
                        size += len(block)
                        total += len(block)
                        if size > lim.max_entry_bytes:
                            raise IntakeError(
                                path,
                                clean_line(info.filename, lim.max_identifier),
                                f"archive entry over the limit of {lim.max_entry_bytes} bytes "
                                "uncompressed",
                            )
                        if total > lim.max_archive_bytes:
                            raise IntakeError(
                                path,
                                "",
                                f"archive over the limit of {lim.max_archive_bytes} bytes "
                                "uncompressed",
                            )
    except IntakeError:
        raise
    except Exception as exc:  # a damaged, encrypted or truncated archive, an unknown method
        raise IntakeError(path, "", f"not a readable Inspect log ({type(exc).__name__})") from None


TRANSCRIPT_FIELDS = {"messages", "events", "attachments", "store", "output"}


class CrashLogSource(FindingSource):
    name = "crash"
    description = "new sanitizer crashes recorded by prereview's runs (Inspect logs)"

    def sniff(self, path: Path, head: bytes) -> bool:
        if path.suffix == ".eval" and head.startswith(b"PK"):
            return True
        text = head[:4096].decode("utf-8", "ignore")
        return path.suffix == ".json" and '"eval"' in text and '"status"' in text

    def read(self, path: Path) -> IntakeBatch:
        from inspect_ai.log import read_eval_log

        lim = self.limits
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise IntakeError(path, "", f"cannot read the file ({exc.strerror})") from None
        if size > lim.max_file_bytes:
            raise IntakeError(path, "", f"file is {size} bytes, over the limit")
        if path.suffix == ".eval" and not zipfile.is_zipfile(path):
            raise IntakeError(path, "", "not an Inspect .eval log (not a zip archive)")
        if path.suffix == ".eval":
            check_archive(path, lim)
        out: list[IncomingFinding] = []
        try:
            # only metadata and scores are read: leaving out transcripts keeps memory to a
            # fraction of the log's (they are most of it); Inspect ignores this for .json logs
            log = read_eval_log(str(path), exclude_fields=TRANSCRIPT_FIELDS)
            samples = log.samples or []
            for s, sample in enumerate(samples):
                meta = sample.metadata or {}
                for scorer, score in (sample.scores or {}).items():
                    smeta = score.metadata or {}
                    base = f"samples[{s}] (id {str(sample.id)[:60]}, epoch {sample.epoch})"
                    base += f".scores[{scorer[:60]!r}].metadata"
                    single = smeta.get(SINGLE_KEY)
                    if isinstance(single, dict) and "kind" in single:
                        self._read(path, f"{base}.{SINGLE_KEY}", [single], meta, smeta, out)
                    listed = smeta.get(LIST_KEY)
                    if listed is not None:
                        self._read(path, f"{base}.{LIST_KEY}", listed, meta, smeta, out)
        except IntakeError:
            raise
        except Exception as exc:  # Inspect's reader: a truncated zip, a bad JSON, a wrong schema
            raise IntakeError(
                path, "", f"not a readable Inspect log ({type(exc).__name__})"
            ) from None
        return IntakeBatch("crash", str(path), _sha256(path), (TOOL,), out)

    def _read(
        self,
        path: Path,
        where: str,
        records: Any,
        sample_meta: dict[str, Any],
        score_meta: dict[str, Any],
        out: list[IncomingFinding],
    ) -> None:
        lim = self.limits
        try:
            crashes = msgspec.convert(records, type=list[_Crash])
        except msgspec.ValidationError as exc:
            sub, problem = split_validation_message(str(exc))
            single = where.endswith(SINGLE_KEY)
            place = where + (sub[4:] if single and sub.startswith("$[0]") else sub[1:])
            raise IntakeError(path, place, problem) from None
        instance = clean_line(
            str(sample_meta.get("instance_id") or sample_meta.get("id") or ""), 120
        )
        poc = clean_line(str(score_meta.get("poc_sha256") or ""), 64)
        for j, crash in enumerate(crashes):
            if len(out) >= lim.max_results:
                raise IntakeError(path, where, f"over the limit of {lim.max_results} findings")
            if len(crash.frames) > lim.max_stack_frames:
                raise IntakeError(path, f"{where}[{j}].frames", f"over {lim.max_stack_frames}")
            frames = tuple(clean_line(f, lim.max_identifier) for f in crash.frames)
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
            elif kind in SANITIZER_CWE:
                cwes = (SANITIZER_CWE[kind],)
            title = f"{kind} in {function}" if function else kind
            if crash.access:
                title += f" ({clean_line(crash.access, 10)})"
            if crash.build and crash.build != "vulnerable":
                title += f", {clean_line(crash.build, 20)} build"
            if crash.sanitizer:
                title = f"{clean_line(crash.sanitizer, 60)}: {title}"
            details = "\n".join(
                part
                for part in (
                    f"instance {instance}" if instance else "",
                    f"input sha256 {clean_line(crash.input_sha256, 64) or poc}"
                    if (crash.input_sha256 or poc)
                    else "",
                    clean_text(crash.summary, lim.max_message),
                    clean_text(crash.report_excerpt, lim.max_message),
                )
                if part
            )
            out.append(
                IncomingFinding(
                    index=len(out),
                    where=f"{where}[{j}]" if not where.endswith(SINGLE_KEY) else where,
                    tool=TOOL,
                    rule_id=kind,
                    title=clean_line(title, lim.max_title),
                    level="error",
                    location=Location(
                        uri, crash.line if crash.line and crash.line > 0 else None, None, function
                    ),
                    crash=CrashSignature(kind, frames[:CRASH_FRAMES]),
                    cwe_ids=cwes,
                    product=clean_line(crash.product or "", lim.max_uri),
                    evidence="poc",
                    message=clean_text(details, lim.max_message),
                    stack=frames,
                )
            )
