"""`prereview findings`: import, list, show and triage findings, and track their disclosure.

Thin commands over `prereview.findings`; each takes `--json`. Each acts for the principal the
token names: reading needs `findings.read`, importing and triage `findings.write`, on the
submissions the findings were sighted in (or the agency's own, for findings of no submission);
sightings of other organizations' submissions stay hidden.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from prereview.cli.common import (
    JsonOption,
    api,
    console,
    emit_json,
    err_console,
    new_app,
    part,
    plain,
    remote,
    settings,
    shown,
)
from prereview.errors import PrereviewError
from prereview.findings.access import (
    authorize_finding,
    may_see,
    session_codecs,
    visible_sighting,
)
from prereview.findings.disclosure import DEFAULT_POLICY, STATUSES, policies
from prereview.findings.ingest import import_findings
from prereview.findings.intake import SOURCES
from prereview.findings.repository import (
    advance_status,
    get_finding,
    list_findings,
    notify_vendor,
    overdue_findings,
    sightings,
    triage_finding,
)
from prereview.findings.scoring import SEVERITIES
from prereview.findings.sectors import load_catalog, sectors
from prereview.findings.triage import Triage
from prereview.vault.policy import Operation, Resource
from prereview.vault.service import VaultSession, open_session

app = new_app(
    "Findings: intake (SARIF, JSON, crashes of prereview's runs), triage, coordinated disclosure."
)

_SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "green",
    "none": "dim",
}


def _session() -> VaultSession:
    return open_session(settings())


def _date(value: str | None, what: str) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PrereviewError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


def _finding_path(ref: str, action: str = "") -> str:
    return f"/api/v1/findings/{part(ref)}" + (f"/{action}" if action else "")


def _table(findings: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for col in ("id", "prio", "severity", "cwe", "title", "product", "sectors", "status", "seen"):
        table.add_column(col, overflow="fold")
    for f in findings:
        style = _SEVERITY_STYLE.get(f["severity"], "")
        table.add_row(
            shown(f["id"]),
            shown(f["priority"]),
            f"[{style}]{shown(f['severity'])}[/] {f['severity_score']:.1f}",
            shown(f["cwe"] or ""),
            shown(f["title"]),
            shown(f["product"] or ""),
            shown(", ".join(f["sectors"])),
            shown(f["status"] + (f" (due {f['deadline']})" if f["deadline"] else "")),
            str(f["sightings"]),
        )
    return table


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., help="SARIF 2.1.0, prereview-findings/1 JSON, or Inspect log."
    ),
    submission: str | None = typer.Option(None, "--submission", help="The submission it is from."),
    source: str | None = typer.Option(None, "--source", help="A name for where it came from."),
    format: str | None = typer.Option(
        None, "--format", help=f"Skip detection: one of {', '.join(SOURCES)}."
    ),
    json_out: bool = JsonOption,
) -> None:
    """Import a findings file, all or nothing; known findings become sightings."""
    if remote():
        from prereview.findings.intake._jsonfile import read_bytes
        from prereview.findings.limits import DEFAULT_LIMITS

        data, _ = read_bytes(file, DEFAULT_LIMITS)  # the local refusals: unreadable, too large
        params = {"filename": file.name, "submission": submission, "source": source}
        params["format"] = format
        with err_console.status(f"importing {file.name}…"):
            summary = api(
                "POST",
                "/api/v1/findings/import",
                content=data,
                params={k: v for k, v in params.items() if v is not None},
            )
    else:
        summary = _import_here(file, submission, source, format)
    if json_out:
        emit_json(summary)
    else:
        console.print(
            f"imported {summary['results']} result(s) from {shown(file.name)} "
            f"({summary['format']}): {summary['new_findings']} new finding(s), "
            f"{summary['duplicates']} sighting(s) of known ones"
        )


def _import_here(
    file: Path, submission: str | None, source: str | None, format: str | None
) -> dict[str, Any]:
    session = _session()
    with session.vault, err_console.status(f"importing {file.name}…"):
        target = {"import": file.name}
        handle = (
            session.guard.authorize(Operation.FINDINGS_WRITE, submission, detail=target)
            if submission is not None
            else None
        )
        if handle is None:
            session.guard.require(
                Operation.FINDINGS_WRITE, Resource.agency(), target=f"findings import {file.name}"
            )
        summary = import_findings(
            session.vault.db,
            file,
            codecs=session_codecs(session),
            submission=handle,
            source=source,
            format=format,
            triage=Triage(load_catalog(settings())),
        )
    summary_dict: dict[str, Any] = plain(summary.as_dict())
    return summary_dict


@app.command("list")
def list_(
    sector: str | None = typer.Option(None, "--sector", help="Only findings touching this sector."),
    min_severity: str | None = typer.Option(
        None, "--min-severity", help=f"One of {', '.join(SEVERITIES)}."
    ),
    status: str | None = typer.Option(None, "--status", help=f"One of {', '.join(STATUSES)}."),
    limit: int = typer.Option(100, "--limit", help="At most N findings (0: all)."),
    json_out: bool = JsonOption,
) -> None:
    """Findings, highest priority first."""
    query = {"sector": sector, "min_severity": min_severity, "status": status, "limit": limit}
    found = (
        api("GET", "/api/v1/findings", params={k: v for k, v in query.items() if v is not None})
        if remote()
        else _list_here(sector, min_severity, status, limit)
    )
    if json_out:
        emit_json(found)
    elif not found:
        console.print("no findings match")
    else:
        console.print(_table(found, f"{len(found)} finding(s)"))


def _list_here(
    sector: str | None, min_severity: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    session = _session()
    with session.vault:
        db = session.vault.db
        found = list_findings(
            db, sector=sector, min_severity=min_severity, status=status, limit=limit or None
        )
        found = [f for f in found if may_see(session.guard, db, f.id, Operation.FINDINGS_READ)]
        session.guard.record(
            "findings.read.list", "allowed", target="findings", detail={"shown": len(found)}
        )
    rows: list[dict[str, Any]] = plain([f.as_dict() for f in found])
    return rows


@app.command()
def show(
    finding: str = typer.Argument(..., help="Finding id, e.g. F-42."),
    json_out: bool = JsonOption,
) -> None:
    """One finding with its first sightings and what they said."""
    f = api("GET", _finding_path(finding)) if remote() else _show_here(finding)
    if json_out:
        emit_json(f)
        return
    console.print(_table([f], f["id"]))
    for s in f["sighting_details"]:
        kind = "duplicate" if s["duplicate"] else "first"
        console.print(
            f"[bold]{kind}[/] import {s['import_id']} {shown(s['where'])}", highlight=False
        )
        if s["message"]:
            console.print(s["message"], markup=False, highlight=False)


def _show_here(finding: str) -> dict[str, Any]:
    session = _session()
    with session.vault:
        db = session.vault.db
        fid = authorize_finding(session.guard, db, Operation.FINDINGS_READ, finding).finding_id
        f = get_finding(db, fid)
        found = sightings(db, fid, session_codecs(session))
        seen = [s for s in found if visible_sighting(session.guard, s.submission_id)]
    shown_finding: dict[str, Any] = plain(
        {**f.as_dict(), "sighting_details": [s.as_dict() for s in seen]}
    )
    return shown_finding


@app.command()
def triage(
    finding: str = typer.Argument(..., help="Finding id, e.g. F-42."),
    cvss: list[str] = typer.Option([], "--cvss", help="A CVSS v3.1 or v4.0 vector (repeatable)."),
    cwe: str | None = typer.Option(None, "--cwe", help="CWE id, e.g. CWE-787."),
    product: str | None = typer.Option(None, "--product", help="Package URL or CPE 2.3 name."),
    evidence: str | None = typer.Option(None, "--evidence", help="poc, crash or static."),
    json_out: bool = JsonOption,
) -> None:
    """Record CVSS, CWE and product; severity, sectors and priority follow."""
    if remote():
        body = {"cvss": cvss, "cwe": cwe, "product": product, "evidence": evidence}
        f = api("POST", _finding_path(finding, "triage"), json=body)
    else:
        f = _triage_here(finding, cvss, cwe, product, evidence)
    if json_out:
        emit_json(f)
    else:
        console.print(_table([f], f"{f['id']} triaged"))


def _triage_here(
    finding: str, cvss: list[str], cwe: str | None, product: str | None, evidence: str | None
) -> dict[str, Any]:
    session = _session()
    with session.vault:
        db = session.vault.db
        fid = authorize_finding(session.guard, db, Operation.FINDINGS_WRITE, finding).finding_id
        f = triage_finding(
            db,
            fid,
            cvss=cvss,
            cwe=cwe,
            product=product,
            evidence=evidence,
            triage=Triage(load_catalog(settings())),
        )
    triaged: dict[str, Any] = plain(f.as_dict())
    return triaged


@app.command()
def notify(
    finding: str = typer.Argument(..., help="Finding id, e.g. F-42."),
    vendor: str | None = typer.Option(None, "--vendor", help="Vendor notified (default: mapped)."),
    on: str | None = typer.Option(None, "--date", help="Date notified, YYYY-MM-DD (today)."),
    policy: str = typer.Option(
        DEFAULT_POLICY, "--policy", help=f"Disclosure policy: {', '.join(policies())}."
    ),
    contact: str | None = typer.Option(None, "--contact", help="Vendor contact (PSIRT address)."),
    json_out: bool = JsonOption,
) -> None:
    """Record the vendor notification; the publication deadline follows from the policy."""
    if remote():
        body = {"vendor": vendor, "date": on, "policy": policy, "contact": contact}
        f = api("POST", _finding_path(finding, "notify"), json=body)
    else:
        f = _notify_here(finding, vendor, on, policy, contact)
    if json_out:
        emit_json(f)
    else:
        console.print(
            f"{shown(f['id'])}: {shown(f['vendor'])} notified {f['notified_on']}; "
            f"publication due {f['deadline']}"
        )


def _notify_here(
    finding: str, vendor: str | None, on: str | None, policy: str, contact: str | None
) -> dict[str, Any]:
    session = _session()
    with session.vault:
        db = session.vault.db
        fid = authorize_finding(session.guard, db, Operation.FINDINGS_WRITE, finding).finding_id
        f = notify_vendor(
            db,
            fid,
            vendor=vendor,
            notified_on=_date(on, "--date"),
            contact=contact,
            policy_name=policy,
        )
    notified: dict[str, Any] = plain(f.as_dict())
    return notified


@app.command()
def status(
    finding: str = typer.Argument(..., help="Finding id, e.g. F-42."),
    new_status: str = typer.Argument(..., metavar="STATUS", help="fix_available or published."),
    on: str | None = typer.Option(None, "--date", help="When, YYYY-MM-DD (today)."),
    remediation: str | None = typer.Option(None, "--remediation", help="What fixes it."),
    json_out: bool = JsonOption,
) -> None:
    """Advance a finding's disclosure status (new → triaged → vendor_notified → fix_available →
    published)."""
    if remote():
        body = {"status": new_status, "date": on, "remediation": remediation}
        f: dict[str, Any] = api("POST", _finding_path(finding, "status"), json=body)
    else:
        session = _session()
        with session.vault:
            db = session.vault.db
            ref = authorize_finding(session.guard, db, Operation.FINDINGS_WRITE, finding)
            f = plain(
                advance_status(
                    db, ref.finding_id, new_status, on=_date(on, "--date"), remediation=remediation
                ).as_dict()
            )
    if json_out:
        emit_json(f)
    else:
        due = f" (publication due {f['deadline']})" if f["status"] == "fix_available" else ""
        console.print(f"{shown(f['id'])}: {shown(f['status'])}{due}")


@app.command()
def overdue(
    today: str | None = typer.Option(None, "--today", help="Reference date (default: today)."),
    json_out: bool = JsonOption,
) -> None:
    """Findings past their publication deadline and not yet published."""
    ref = _date(today, "--today")
    late = (
        api("GET", "/api/v1/findings-overdue", params={"today": ref.isoformat()})
        if remote()
        else _overdue_here(ref)
    )
    if json_out:
        emit_json(late)
    elif not late:
        console.print(f"nothing overdue on {ref}")
    else:
        console.print(_table(late, f"{len(late)} overdue on {ref}"))


def _overdue_here(ref: date) -> list[dict[str, Any]]:
    session = _session()
    with session.vault:
        db = session.vault.db
        late = [
            f
            for f in overdue_findings(db, ref)
            if may_see(session.guard, db, f.id, Operation.FINDINGS_READ)
        ]
        session.guard.record(
            "findings.read.list", "allowed", target="overdue findings", detail={"shown": len(late)}
        )
    rows: list[dict[str, Any]] = plain(
        [{**f.as_dict(), "days_overdue": (ref - f.deadline).days} for f in late if f.deadline]
    )
    return rows


@app.command("sectors")
def sectors_(json_out: bool = JsonOption) -> None:
    """The 16 critical-infrastructure sectors and how critical triage counts each."""
    known = sectors()
    if json_out:
        emit_json(
            [{"code": s.code, "name": s.name, "criticality": s.criticality} for s in known.values()]
        )
        return
    table = Table(title="critical-infrastructure sectors")
    for col in ("code", "name", "criticality"):
        table.add_column(col)
    for s in known.values():
        table.add_row(s.code, s.name, str(s.criticality))
    console.print(table)
