"""Sector readiness briefs: for one critical-infrastructure sector, what reviewed models could do,
which findings touch the sector, and what to do about them. Markdown and HTML.

Sanitized by construction: the brief is built from types that have no field for a model, an
organisation, a credential or a source's free text. Capabilities arrive as anonymous
`ReviewedCapability` records (task family, tier, success counts, the capability level's name);
findings are reduced to `BriefFinding` (reference, CWE from the shipped catalog, severity,
priority, disclosure state, and the product only once an analyst has triaged it). Untriaged
findings are counted, never named; so are findings that the sharing rule
(`prereview.vault.sharing`, purpose "sector brief") does not let leave: the caller passes the ids
that may be named, and every other finding is only counted. Only reviews whose submitter elected
sanitized sharing contribute capabilities (`capabilities_from_store`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Literal

import jinja2

from prereview.advisories.mitigations import Mitigation, mitigations
from prereview.findings.cwe import cwe_catalog
from prereview.findings.disclosure import is_overdue
from prereview.findings.records import Finding
from prereview.findings.scoring import SEVERITIES
from prereview.findings.sectors import Sector, sector, sectors

BriefFormat = Literal["md", "html"]
_TRIAGED = ("triaged", "vendor_notified", "fix_available", "published")


@dataclass(frozen=True)
class CapabilityObservation:
    """How often one (anonymous) reviewed model solved one task at one tier."""

    family: str
    task: str
    tier: int | None
    tier_name: str
    successes: int
    attempts: int


@dataclass(frozen=True)
class SectorObservation:
    """One (anonymous) review's results on scenarios of one sector (samples whose metadata names
    the sector, e.g. the ICS plants), per task and tier, with the non-AI baseline's results on
    the same instances (solver name, instances it solved, instances it ran)."""

    sector: str  # the sector's code
    family: str
    task: str
    tier: int | None
    successes: int
    attempts: int
    baselines: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True)
class ReviewedCapability:
    """One review, without identity: the advisory capability level and the observations."""

    level: str
    level_summary: str
    observations: tuple[CapabilityObservation, ...]
    sector_results: tuple[SectorObservation, ...] = ()


@dataclass(frozen=True)
class SectorResultLine:
    family: str
    task: str
    tier: int | None
    reviews: int
    best_rate: float
    successes: int
    attempts: int
    baselines: tuple[tuple[str, int, int], ...]  # solver, solved, ran (all reviews together)


@dataclass(frozen=True)
class CapabilityLine:
    family: str
    task: str
    tier: int | None
    tier_name: str
    reviews: int
    best_rate: float
    attempts: int
    successes: int


@dataclass(frozen=True)
class BriefFinding:
    ref: str
    weakness: str
    severity: str
    severity_score: float
    priority: str
    status: str
    product: str
    vendor: str
    evidence: str
    deadline: date | None
    overdue: bool


@dataclass(frozen=True)
class MitigationLine:
    name: str
    operator: str
    developer: str
    findings: tuple[str, ...]


@dataclass(frozen=True)
class SectorBrief:
    sector: Sector
    lifeline: bool
    generated_on: date
    banner: str
    statement: str
    tlp: str
    reviews: int
    levels: tuple[tuple[str, int], ...]  # capability level name, how many reviews reached it
    capabilities: tuple[CapabilityLine, ...]
    findings: tuple[BriefFinding, ...]
    untriaged: int
    withheld: int  # touching the sector, but from sources that may not be named here
    by_severity: tuple[tuple[str, int], ...]
    overdue: int
    mitigations: tuple[MitigationLine, ...]
    sector_practice: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    sector_results: tuple[SectorResultLine, ...] = ()  # this sector's scenarios only
    withheld_reviews: int = 0  # reviews with results that may not be shared here: counted only


def sector_code_of(label: str | None) -> str | None:
    """The sector code a sample's `sector` metadata names (a code or CISA's name, any case);
    None when it names no known sector, so such a sample reaches no brief."""
    if not label:
        return None
    wanted = label.strip().casefold()
    for code, known in sectors().items():
        if wanted in (code.casefold(), known.name.casefold()):
            return code
    return None


def _brief_finding(f: Finding, today: date) -> BriefFinding:
    weakness = cwe_catalog().get(f.cwe_id) if f.cwe_id is not None else None
    return BriefFinding(
        ref=f.ref,
        weakness=f"{weakness.ref} {weakness.name}" if weakness else "weakness not yet classified",
        severity=f.severity,
        severity_score=f.severity_score,
        priority=f.priority,
        status=f.status,
        product=f.product or "",
        vendor=f.vendor or "",
        evidence={"poc": "working PoC", "crash": "crash", "static": "static analysis"}.get(
            f.evidence, f.evidence
        ),
        deadline=f.deadline,
        overdue=is_overdue(f.status, f.deadline, today),
    )


def _capabilities(reviews: Sequence[ReviewedCapability]) -> tuple[CapabilityLine, ...]:
    cells: dict[tuple[str, str, int | None], list[CapabilityObservation]] = {}
    names: dict[tuple[str, str, int | None], str] = {}
    for review in reviews:
        for o in review.observations:
            key = (o.family, o.task, o.tier)
            cells.setdefault(key, []).append(o)
            names[key] = o.tier_name
    lines = []
    for key in sorted(cells, key=lambda k: (k[0], k[1], k[2] if k[2] is not None else 99)):
        obs = cells[key]
        rates = [o.successes / o.attempts for o in obs if o.attempts]
        lines.append(
            CapabilityLine(
                family=key[0],
                task=key[1],
                tier=key[2],
                tier_name=names[key],
                reviews=len(obs),
                best_rate=max(rates, default=0.0),
                attempts=sum(o.attempts for o in obs),
                successes=sum(o.successes for o in obs),
            )
        )
    return tuple(lines)


def _sector_results(
    code: str, reviews: Sequence[ReviewedCapability]
) -> tuple[SectorResultLine, ...]:
    cells: dict[tuple[str, str, int | None], list[SectorObservation]] = {}
    for review in reviews:
        for o in review.sector_results:
            if o.sector == code:
                cells.setdefault((o.family, o.task, o.tier), []).append(o)
    lines = []
    for key in sorted(cells, key=lambda k: (k[0], k[1], k[2] if k[2] is not None else 99)):
        obs = cells[key]
        solvers: dict[str, list[int]] = {}
        for o in obs:
            for solver, solved, ran in o.baselines:
                tally = solvers.setdefault(solver, [0, 0])
                tally[0] += solved
                tally[1] += ran
        lines.append(
            SectorResultLine(
                family=key[0],
                task=key[1],
                tier=key[2],
                reviews=len(obs),
                best_rate=max((o.successes / o.attempts for o in obs if o.attempts), default=0.0),
                successes=sum(o.successes for o in obs),
                attempts=sum(o.attempts for o in obs),
                baselines=tuple((name, t[0], t[1]) for name, t in sorted(solvers.items())),
            )
        )
    return tuple(lines)


def build_brief(
    sector_code: str,
    findings: Iterable[Finding],
    reviews: Sequence[ReviewedCapability],
    *,
    nameable: Collection[int],
    today: date | None = None,
    banner: str = "",
    statement: str = "",
    tlp: str = "AMBER",
    withheld_reviews: int = 0,
) -> SectorBrief:
    """The brief for one sector from findings and anonymous capability records; only the
    findings whose id is in `nameable` (the sharing rule's answer) may be named, and only this
    sector's scenario results are shown; `withheld_reviews` is only counted."""
    today = today or datetime.now(UTC).date()
    target = sector(sector_code)
    touching = [f for f in findings if sector_code in f.sectors]
    shareable = [f for f in touching if f.id in nameable]
    triaged = [f for f in shareable if f.status in _TRIAGED]
    triaged.sort(key=lambda f: (-f.priority_score, f.id))
    listed = tuple(_brief_finding(f, today) for f in triaged)
    counts: dict[str, int] = {s: 0 for s in reversed(SEVERITIES)}
    for f in touching:
        counts[f.severity] += 1
    catalog = mitigations()
    by_name: dict[str, tuple[Mitigation, list[str]]] = {}
    for f in triaged:
        m = catalog.for_cwe(f.cwe_id)
        by_name.setdefault(m.name, (m, []))[1].append(f.ref)
    levels: dict[str, int] = {}
    for r in reviews:
        levels[r.level] = levels.get(r.level, 0) + 1
    notes = []
    if not reviews:
        notes.append("No review that may be shared in sanitized form has results yet.")
    return SectorBrief(
        sector=target,
        lifeline=target.criticality >= 3,
        generated_on=today,
        banner=banner or f"TLP:{tlp}",
        statement=statement,
        tlp=tlp,
        reviews=len(reviews),
        levels=tuple(sorted(levels.items(), key=lambda kv: -kv[1])),
        capabilities=_capabilities(reviews),
        findings=listed,
        untriaged=len(shareable) - len(triaged),
        withheld=len(touching) - len(shareable),
        by_severity=tuple((s, n) for s, n in counts.items() if n),
        overdue=sum(1 for f in listed if f.overdue),
        mitigations=tuple(
            MitigationLine(m.name, m.operator, m.developer, tuple(refs))
            for m, refs in by_name.values()
        ),
        sector_practice=catalog.for_sector(target.criticality),
        notes=tuple(notes),
        sector_results=_sector_results(sector_code, reviews),
        withheld_reviews=withheld_reviews,
    )


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("prereview.advisories", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = lambda v: f"{100 * v:.0f}%"
    env.filters["md"] = _md_cell
    return env


def _md_cell(value: object) -> str:
    """Text safe inside a Markdown table cell: no pipes, no line breaks, no inline HTML."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def render_brief(brief: SectorBrief, fmt: BriefFormat = "md") -> str:
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown brief format {fmt!r}")
    template = _env().get_template(f"brief.{fmt}.j2")
    return template.render(b=brief)


def template_files() -> list[str]:
    root = resources.files("prereview.advisories").joinpath("templates")
    return sorted(p.name for p in root.iterdir())
