"""SARIF 2.1.0, what static analysers, fuzzers and AI agents emit (OASIS SARIF v2.1.0).

The file is read in two passes, so that a hostile file is refused by its counts before anything
in proportion to them is built. The census (`_census`) walks the whole file once, building one
placeholder per array rather than one object per element, and counts runs, results, rules,
artifacts and each result's locations and frames. Only then is the file decoded, into typed
structures that declare only what prereview reads (msgspec skips the rest without building it),
with each result and artifact kept as its raw bytes and decoded one at a time. Peak memory is
the file's bytes plus the findings made of it, not a tree of the whole file. The required fields
are checked on the way: `version` must be "2.1.0", each run needs `tool.driver.name`, each rule
an `id`, each result a `message`. An error names the JSON path of the offending node.

Where prereview finds things in a result (first match wins):
- rule: `ruleIndex` / `rule.index` into the driver's rules, else `ruleId` / `rule.id`;
- CWE: `taxa` or the rule's `relationships` whose tool component is named "CWE", else tags such as
  `external/cwe/cwe-787` or `CWE-787` in the result's or the rule's `properties.tags`;
- severity: the result's `level`, else the rule's `defaultConfiguration.level`, else "warning";
  `properties["security-severity"]` (0-10, GitHub's convention) on the result or the rule;
- CVSS: `properties.cvss`, a vector or a list of vectors (`CVSS:3.1/...`, `CVSS:4.0/...`);
- product: `properties.purl` or `properties.cpe` on the result, else on the run;
- evidence: `properties.evidence` ("poc", "crash", "static"); a result with `stacks` is a crash,
  whose signature is its rule id and the top frames' function names.
Results of kind pass/notApplicable/informational, suppressed ones and those whose
`baselineState` is "absent" are not findings and are skipped.
"""

from __future__ import annotations

import posixpath
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import msgspec

from prereview.findings.cwe import cwe_catalog
from prereview.findings.intake._jsonfile import decode, decode_part, read_bytes
from prereview.findings.intake.interface import (
    CrashSignature,
    Evidence,
    FindingSource,
    IncomingFinding,
    IntakeBatch,
    IntakeError,
    Level,
    Location,
)
from prereview.findings.limits import DEFAULT_LIMITS, IntakeLimits, clean_line, clean_text

CRASH_FRAMES = 3
_CWE_TAG = re.compile(r"(?i)(?:^|[^a-z0-9])cwe[-_/: ]?0*(\d{1,6})(?![0-9])")


class _Msg(msgspec.Struct):
    text: str | None = None
    markdown: str | None = None
    id: str | None = None


class _ComponentRef(msgspec.Struct):
    name: str | None = None


class _DescriptorRef(msgspec.Struct):
    id: str | None = None
    index: int = -1
    toolComponent: _ComponentRef | None = None


class _Relationship(msgspec.Struct):
    target: _DescriptorRef


class _Props(msgspec.Struct):
    tags: list[str] = []
    security_severity: str | float | None = msgspec.field(default=None, name="security-severity")
    cvss: str | list[str] | None = None
    purl: str | None = None
    cpe: str | None = None
    evidence: str | None = None


class _Config(msgspec.Struct):
    level: Literal["none", "note", "warning", "error"] | None = None


class _Rule(msgspec.Struct):
    id: str
    name: str | None = None
    shortDescription: _Msg | None = None
    defaultConfiguration: _Config | None = None
    relationships: list[_Relationship] = []
    properties: _Props | None = None


class _Driver(msgspec.Struct):
    name: str
    version: str | None = None
    semanticVersion: str | None = None
    rules: list[_Rule] = []


class _Tool(msgspec.Struct):
    driver: _Driver


class _ArtifactLoc(msgspec.Struct):
    uri: str | None = None
    uriBaseId: str | None = None
    index: int = -1


class _Snippet(msgspec.Struct):
    text: str | None = None


class _Region(msgspec.Struct):
    startLine: int | None = None
    startColumn: int | None = None
    snippet: _Snippet | None = None


class _Physical(msgspec.Struct):
    artifactLocation: _ArtifactLoc | None = None
    region: _Region | None = None


class _Logical(msgspec.Struct):
    name: str | None = None
    fullyQualifiedName: str | None = None


class _Loc(msgspec.Struct):
    physicalLocation: _Physical | None = None
    logicalLocations: list[_Logical] = []
    message: _Msg | None = None


class _Frame(msgspec.Struct):
    location: _Loc | None = None


class _Stack(msgspec.Struct):
    frames: list[_Frame]


class _Suppression(msgspec.Struct):
    kind: str = "inSource"
    status: str | None = None


class _Result(msgspec.Struct):
    message: _Msg
    ruleId: str | None = None
    ruleIndex: int = -1
    rule: _DescriptorRef | None = None
    kind: str = "fail"
    level: Literal["none", "note", "warning", "error"] | None = None
    locations: list[_Loc] = []
    partialFingerprints: dict[str, str] = {}
    taxa: list[_DescriptorRef] = []
    stacks: list[_Stack] = []
    suppressions: list[_Suppression] = []
    baselineState: str | None = None
    properties: _Props | None = None


class _Artifact(msgspec.Struct):
    location: _ArtifactLoc | None = None


class _Run(msgspec.Struct):
    tool: _Tool
    results: list[msgspec.Raw] | None = None  # decoded one at a time, after the census
    artifacts: list[msgspec.Raw] = []
    originalUriBaseIds: dict[str, _ArtifactLoc] = {}
    properties: _Props | None = None


class _Log(msgspec.Struct):
    version: str
    runs: list[_Run]


# The census: frozen, field-less "ticks" are all equal, so a frozenset of them holds one however
# long the array; each tick reports itself to the census of this thread as msgspec builds it.
# The declared fields mirror the types above, so an error the census finds reads the same.


class _Tick(msgspec.Struct, frozen=True, gc=False):
    def __post_init__(self) -> None:
        _CURRENT.census.tick(type(self))


class _RelationshipTick(_Tick, frozen=True, gc=False):
    pass


class _RuleTick(_Tick, frozen=True, gc=False):
    relationships: frozenset[_RelationshipTick] = frozenset()


class _ArtifactTick(_Tick, frozen=True, gc=False):
    pass


class _LogicalTick(_Tick, frozen=True, gc=False):
    pass


class _LocationTick(_Tick, frozen=True, gc=False):
    logicalLocations: frozenset[_LogicalTick] = frozenset()


class _FrameLocation(msgspec.Struct, frozen=True, gc=False):
    logicalLocations: frozenset[_LogicalTick] = frozenset()


class _FrameTick(_Tick, frozen=True, gc=False):
    location: _FrameLocation | None = None


class _StackTick(_Tick, frozen=True, gc=False):
    frames: frozenset[_FrameTick]


class _TaxonTick(_Tick, frozen=True, gc=False):
    pass


class _SuppressionTick(_Tick, frozen=True, gc=False):
    pass


class _ResultTick(_Tick, frozen=True, gc=False):
    locations: frozenset[_LocationTick] = frozenset()
    stacks: frozenset[_StackTick] = frozenset()
    taxa: frozenset[_TaxonTick] = frozenset()
    suppressions: frozenset[_SuppressionTick] = frozenset()


class _DriverCensus(msgspec.Struct, frozen=True, gc=False):
    rules: frozenset[_RuleTick] = frozenset()


class _ToolCensus(msgspec.Struct, frozen=True, gc=False):
    driver: _DriverCensus


class _RunTick(_Tick, frozen=True, gc=False):
    tool: _ToolCensus
    results: frozenset[_ResultTick] | None = None
    artifacts: frozenset[_ArtifactTick] = frozenset()


class _LogCensus(msgspec.Struct, gc=False):
    version: msgspec.Raw = msgspec.Raw()  # not a string: the full decode says so, as it did
    runs: frozenset[_RunTick] = frozenset()


# Lists inside one result (or rule) that have no limit of their own, by what they are called in
# messages: the census bounds each by `max_list_items`.
_LISTS: dict[type[_Tick], str] = {
    _TaxonTick: "taxa",
    _SuppressionTick: "suppressions",
    _StackTick: "stacks",
    _FrameTick: "stack frames",
    _LogicalTick: "logicalLocations",
}


@dataclass
class _Census:
    """Counts of one file, and its first result over a per-result limit, as (where, problem)."""

    limits: IntakeLimits
    runs: int = 0
    results: list[int] = field(default_factory=list)  # per run, for the first max_runs runs
    rules: list[int] = field(default_factory=list)
    artifacts: list[int] = field(default_factory=list)
    over: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)
    rule_over: tuple[str, str] | None = None
    _n: dict[type[_Tick], int] = field(default_factory=dict)
    _first_frames: int = 0
    _frames: int = 0  # in all of the result's stacks

    def tick(self, kind: type[_Tick]) -> None:
        n = self._n
        if kind is _StackTick:
            if n.get(_StackTick, 0) == 0:
                self._first_frames = n.get(_FrameTick, 0)
            self._frames += n.get(_FrameTick, 0)
            n[_FrameTick] = 0
        elif kind is _ResultTick:
            self._end_result()
        elif kind is _RuleTick:
            self._end_rule()
        elif kind is _RunTick:
            self._end_run()
            return
        n[kind] = n.get(kind, 0) + 1

    def _end_rule(self) -> None:
        n, lim = self._n, self.limits
        if n.get(_RelationshipTick, 0) > lim.max_list_items and self.rule_over is None:
            where = f"$.runs[{self.runs}].tool.driver.rules[{n.get(_RuleTick, 0)}].relationships"
            self.rule_over = (where, f"over {lim.max_list_items} relationships")
        n[_RelationshipTick] = 0

    def _end_result(self) -> None:
        n, lim = self._n, self.limits
        index = n.get(_ResultTick, 0)
        where = f"$.runs[{self.runs}].results[{index}]"
        problem: tuple[str, str] | None = None
        if n.get(_LocationTick, 0) > lim.max_locations:
            problem = (f"{where}.locations", f"over {lim.max_locations} locations")
        elif self._first_frames > lim.max_stack_frames:
            problem = (f"{where}.stacks[0].frames", f"over {lim.max_stack_frames} frames")
        else:
            self._n[_FrameTick] = self._frames
            for kind, name in _LISTS.items():
                if n.get(kind, 0) > lim.max_list_items:
                    problem = (where, f"over {lim.max_list_items} {name}")
                    break
        if problem is not None and not self.over:
            self.over[(self.runs, index)] = problem
        n[_LocationTick] = 0
        for kind in _LISTS:
            n[kind] = 0
        self._first_frames = self._frames = 0

    def _end_run(self) -> None:
        n = self._n
        if self.runs < self.limits.max_runs:
            self.results.append(n.get(_ResultTick, 0))
            self.rules.append(n.get(_RuleTick, 0))
            self.artifacts.append(n.get(_ArtifactTick, 0))
        self.runs += 1
        n.clear()


class _Current(threading.local):
    census: _Census


_CURRENT = _Current()


def _census(path: Path, data: bytes, limits: IntakeLimits) -> tuple[str | None, _Census]:
    """The file's version and counts, from a pass that builds nothing in proportion to them."""
    _CURRENT.census = census = _Census(limits)
    try:
        log = decode(path, data, _LogCensus, "a SARIF 2.1.0 log")
    finally:
        del _CURRENT.census
    try:
        version = msgspec.json.decode(log.version, type=str) if log.version else None
    except (msgspec.ValidationError, msgspec.DecodeError):
        version = None
    return version, census


_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_\-./+@]*$")
_EVIDENCE: dict[str, Evidence] = {"poc": "poc", "crash": "crash", "static": "static"}
_NOT_FINDINGS = frozenset({"pass", "notApplicable", "informational"})


def normalize_uri(uri: str, base: str = "") -> str:
    """A stable, relative, '/'-separated path for a SARIF artifact URI.

    The scheme and host go, percent-escapes are decoded, `.`/`..` are resolved, a Windows drive
    letter is lower-cased, and an absolute path loses the base it shares with `base` (the run's
    `%SRCROOT%`-style root), so the same file scanned in two checkouts gets the same path.
    """
    if not uri:
        return ""
    if not base and _PLAIN_PATH.match(uri) and "/." not in uri and "//" not in uri:
        return uri  # already relative, '/'-separated and free of escapes and dot segments
    parts = urlsplit(uri)
    path = unquote(parts.path if parts.scheme in ("file", "") else uri).replace("\\", "/")
    if re.match(r"^/?[A-Za-z]:/", path):
        path = path.lstrip("/")
        path = path[0].lower() + path[1:]
    if base:
        base_path = normalize_uri(base).rstrip("/")
        if base_path and path.lstrip("/").startswith(base_path + "/"):
            path = path.lstrip("/")[len(base_path) + 1 :]
    path = posixpath.normpath(path) if path else ""
    return "" if path == "." else path.lstrip("/")


def cwe_ids_in(texts: list[str]) -> list[int]:
    return [int(m.group(1)) for text in texts for m in _CWE_TAG.finditer(text)]


def _float_or_none(value: str | float | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0.0 <= number <= 10.0 else None


@dataclass(frozen=True)
class _RuleFacts:
    title: str
    level: Level | None
    cwes: tuple[int, ...]
    vectors: tuple[str, ...]
    security_severity: float | None


class SarifSource(FindingSource):
    name = "sarif"
    description = "SARIF 2.1.0 (static analysers, fuzzers, AI agents)"

    def __init__(self, limits: IntakeLimits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)
        self._cwe = cwe_catalog()
        self._facts: dict[int, _RuleFacts] = {}

    def sniff(self, path: Path, head: bytes) -> bool:
        if path.name.lower().endswith((".sarif", ".sarif.json")):
            return True
        text = head.decode("utf-8", "ignore")
        return '"runs"' in text and ("sarif" in text.lower() or '"2.1.0"' in text)

    def read(self, path: Path) -> IntakeBatch:
        self._facts = {}
        data, sha = read_bytes(path, self.limits)
        version, census = _census(path, data, self.limits)
        if version is not None:
            self._check_version(path, version)
        self._check_counts(path, census)
        log = decode(path, data, _Log, "a SARIF 2.1.0 log")
        self._check_version(path, log.version)
        lim = self.limits
        findings: list[IncomingFinding] = []
        tools: list[str] = []
        for r, run in enumerate(log.runs):
            tools.append(clean_line(run.tool.driver.name, lim.max_identifier))
            self._read_run(path, r, run, findings, census)
        return IntakeBatch("sarif", str(path), sha, tuple(dict.fromkeys(tools)), findings)

    @staticmethod
    def _check_version(path: Path, version: str) -> None:
        if version != "2.1.0":
            raise IntakeError(
                path,
                "$.version",
                f"SARIF version {version[:20]!r} is not supported (2.1.0 only)",
            )

    def _check_counts(self, path: Path, census: _Census) -> None:
        """The hard limits on counts, before anything is built in proportion to them."""
        lim = self.limits
        if census.runs > lim.max_runs:
            raise IntakeError(
                path, "$.runs", f"{census.runs} runs, over the limit of {lim.max_runs}"
            )
        total = sum(census.results)
        if total > lim.max_results:
            raise IntakeError(
                path, "$.runs", f"{total} results, over the limit of {lim.max_results}"
            )
        if census.rule_over is not None:
            raise IntakeError(path, *census.rule_over)
        for r, (rules, artifacts) in enumerate(zip(census.rules, census.artifacts, strict=True)):
            if rules > lim.max_rules:
                raise IntakeError(
                    path,
                    f"$.runs[{r}].tool.driver.rules",
                    f"over the limit of {lim.max_rules} rules",
                )
            if artifacts > lim.max_artifacts:
                raise IntakeError(
                    path,
                    f"$.runs[{r}].artifacts",
                    f"{artifacts} artifacts, over the limit of {lim.max_artifacts}",
                )

    def _read_run(
        self, path: Path, r: int, run: _Run, out: list[IncomingFinding], census: _Census
    ) -> None:
        lim = self.limits
        driver = run.tool.driver
        artifacts = [
            decode_part(path, raw, _Artifact, f"$.runs[{r}].artifacts[{a}]")
            for a, raw in enumerate(run.artifacts)
        ]
        run.artifacts = []
        tool = clean_line(driver.name, lim.max_identifier) or "unknown"
        rules_by_id = {rule.id: rule for rule in driver.rules}
        base = ""
        for name in ("SRCROOT", "%SRCROOT%", "srcroot"):
            if name in run.originalUriBaseIds:
                base = run.originalUriBaseIds[name].uri or ""
                break
        run_props = run.properties
        for i, raw in enumerate(run.results or ()):
            where = f"$.runs[{r}].results[{i}]"
            if (r, i) in census.over:
                raise IntakeError(path, *census.over[(r, i)])
            res = decode_part(path, raw, _Result, where)
            if res.kind in _NOT_FINDINGS or res.baselineState == "absent":
                continue
            if any(s.status in (None, "accepted") for s in res.suppressions):
                continue
            rule = self._rule_of(res, driver, rules_by_id, path, where)
            out.append(
                self._finding(path, len(out), where, tool, res, rule, artifacts, base, run_props)
            )

    @staticmethod
    def _rule_of(
        res: _Result, driver: _Driver, by_id: dict[str, _Rule], path: Path, where: str
    ) -> _Rule | None:
        index = res.ruleIndex if res.ruleIndex >= 0 else (res.rule.index if res.rule else -1)
        if index >= 0:
            if index >= len(driver.rules):
                raise IntakeError(path, f"{where}.ruleIndex", f"rule index {index} is out of range")
            return driver.rules[index]
        rule_id = res.ruleId or (res.rule.id if res.rule else None)
        return by_id.get(rule_id) if rule_id else None

    def _rule_facts(self, rule: _Rule | None) -> _RuleFacts:
        """What a rule contributes to each of its results, computed once per rule."""
        key = id(rule)
        facts = self._facts.get(key)
        if facts is not None:
            return facts
        lim = self.limits
        if rule is None:
            facts = _RuleFacts("", None, (), (), None)
        else:
            cwes = [
                cwe
                for rel in rule.relationships
                if rel.target.toolComponent is not None
                and (rel.target.toolComponent.name or "").upper() == "CWE"
                and rel.target.id
                for cwe in cwe_ids_in([f"CWE-{rel.target.id}"])
            ]
            props = rule.properties
            if props is not None:
                cwes.extend(cwe_ids_in(props.tags[:64]))
            facts = _RuleFacts(
                clean_line(rule.shortDescription.text, lim.max_title)
                if rule.shortDescription is not None
                else "",
                rule.defaultConfiguration.level if rule.defaultConfiguration is not None else None,
                tuple(dict.fromkeys(cwes)),
                self._vectors(props),
                _float_or_none(props.security_severity) if props is not None else None,
            )
        self._facts[key] = facts
        return facts

    def _vectors(self, props: _Props | None) -> tuple[str, ...]:
        if props is None or not props.cvss:
            return ()
        raw = [props.cvss] if isinstance(props.cvss, str) else props.cvss[:4]
        return tuple(clean_line(v, self.limits.max_identifier) for v in raw)

    def _finding(
        self,
        path: Path,
        index: int,
        where: str,
        tool: str,
        res: _Result,
        rule: _Rule | None,
        artifacts: list[_Artifact],
        base: str,
        run_props: _Props | None,
    ) -> IncomingFinding:
        lim = self.limits
        facts = self._rule_facts(rule)
        rule_id = res.ruleId or (res.rule.id if res.rule and res.rule.id else "")
        if not rule_id and rule is not None:
            rule_id = rule.id
        rule_id = clean_line(rule_id, lim.max_identifier)
        message = clean_text(
            res.message.text or res.message.markdown or res.message.id, lim.max_message
        )
        # never the message: it is the sighting's sealed detail, while titles stay readable
        title = facts.title or rule_id or "untitled finding"
        level: Level = res.level or facts.level or "warning"
        if len(res.locations) > lim.max_locations:
            raise IntakeError(path, f"{where}.locations", f"over {lim.max_locations} locations")
        if len(res.partialFingerprints) > lim.max_fingerprints:
            raise IntakeError(
                path, f"{where}.partialFingerprints", f"over {lim.max_fingerprints} fingerprints"
            )
        location, snippet = self._location(res, artifacts, base)
        props = res.properties

        cwes = [
            cwe
            for taxon in res.taxa
            if taxon.toolComponent is not None
            and (taxon.toolComponent.name or "").upper() == "CWE"
            and taxon.id
            for cwe in cwe_ids_in([f"CWE-{taxon.id}"])
        ]
        if props is not None and props.tags:
            cwes.extend(cwe_ids_in(props.tags[:64]))
        cwes.extend(facts.cwes)
        usable = next((c for c in cwes if self._cwe.usable(c)), None)

        vectors = self._vectors(props) + facts.vectors
        severity = _float_or_none(props.security_severity) if props is not None else None
        if severity is None:
            severity = facts.security_severity

        product = ""
        for bag in (props, run_props):
            if bag is not None and not product:
                product = clean_line(bag.purl or bag.cpe, lim.max_uri)

        crash = None
        stack: tuple[str, ...] = ()
        evidence: Evidence = "static"
        if res.stacks:
            frames = res.stacks[0].frames
            if len(frames) > lim.max_stack_frames:
                raise IntakeError(
                    path, f"{where}.stacks[0].frames", f"over {lim.max_stack_frames} frames"
                )
            names = [self._frame_name(f) for f in frames]
            stack = tuple(n for n in names if n)
            crash = CrashSignature(rule_id or "crash", stack[:CRASH_FRAMES])
            evidence = "crash"
        if props is not None and props.evidence:
            evidence = _EVIDENCE.get(props.evidence, evidence)
        fingerprints = tuple(
            sorted(
                (clean_line(k, lim.max_identifier), clean_line(v, lim.max_identifier))
                for k, v in res.partialFingerprints.items()
            )
        )
        return IncomingFinding(
            index=index,
            where=where,
            tool=tool,
            rule_id=rule_id,
            title=title,
            level=level,
            location=location,
            partial_fingerprints=fingerprints,
            crash=crash,
            cwe_ids=(usable,) if usable is not None else (),
            cvss_vectors=tuple(dict.fromkeys(vectors)),
            security_severity=severity,
            product=product,
            evidence=evidence,
            message=message,
            snippet=snippet,
            stack=stack,
        )

    def _frame_name(self, frame: _Frame) -> str:
        loc = frame.location
        if loc is None:
            return ""
        for logical in loc.logicalLocations[:1]:
            return clean_line(
                logical.name or logical.fullyQualifiedName, self.limits.max_identifier
            )
        return clean_line(loc.message.text if loc.message else "", self.limits.max_identifier)

    def _location(
        self, res: _Result, artifacts: list[_Artifact], base: str
    ) -> tuple[Location, str]:
        if not res.locations:
            return Location(), ""
        lim = self.limits
        loc = res.locations[0]
        uri = ""
        line = column = None
        snippet = ""
        phys = loc.physicalLocation
        if phys is not None:
            art = phys.artifactLocation
            if art is not None:
                raw = art.uri
                if raw is None and 0 <= art.index < len(artifacts):
                    target = artifacts[art.index].location
                    raw = target.uri if target else None
                uri = normalize_uri(clean_line(raw, lim.max_uri), "" if art.uriBaseId else base)
            if phys.region is not None:
                reg = phys.region
                line = reg.startLine if reg.startLine and reg.startLine > 0 else None
                column = reg.startColumn if reg.startColumn and reg.startColumn > 0 else None
                if reg.snippet is not None:
                    snippet = clean_text(reg.snippet.text, lim.max_snippet)
        function = ""
        for logical in loc.logicalLocations[:1]:
            function = clean_line(logical.fullyQualifiedName or logical.name, lim.max_identifier)
        return Location(uri, line, column, function), snippet
