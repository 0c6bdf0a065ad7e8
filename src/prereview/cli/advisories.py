"""`prereview advisories`: CSAF advisories for vendors and readiness briefs for sector partners."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from prereview.advisories.csaf import CsafExporter
from prereview.advisories.interface import Publisher
from prereview.advisories.readiness import produce_briefs
from prereview.advisories.tracking import export_advisories
from prereview.cli.common import (
    JsonOption,
    api,
    console,
    emit_json,
    new_app,
    remote,
    settings,
    shown,
)
from prereview.errors import PrereviewError
from prereview.vault.policy import Operation, Resource
from prereview.vault.service import open_session

app = new_app("Advisories: CSAF documents per vendor/product, sector readiness briefs.")

_BRIEF_TLP = ("CLEAR", "WHITE", "GREEN", "AMBER", "AMBER+STRICT", "RED")


@app.command()
def export(
    format: str = typer.Option("csaf", "--format", help="Advisory format: csaf."),
    csaf_version: str = typer.Option("2.0", "--csaf-version", help="2.0 (default) or 2.1."),
    out: Path | None = typer.Option(
        None, "--out", help="Directory (default <data dir>/advisories)."
    ),
    tlp: str = typer.Option("AMBER", "--tlp", help="TLP label: WHITE, GREEN, AMBER, RED."),
    json_out: bool = JsonOption,
) -> None:
    """One advisory per vendor and product of the triaged findings; new versions on change."""
    if format != "csaf":
        raise PrereviewError(f"unknown advisory format {format!r}; supported: csaf")
    if csaf_version not in ("2.0", "2.1"):
        raise PrereviewError(f"unknown CSAF version {csaf_version!r}; supported: 2.0, 2.1")
    if remote():
        _server_defaults(out=out is None, csaf_version=csaf_version == "2.0", tlp=tlp == "AMBER")
        exported = api("POST", "/api/v1/advisories/export")
    else:
        exported = _export_here(out, csaf_version, tlp)
    target = Path(exported["out"])
    if json_out:
        emit_json(
            {
                "out": exported["out"],
                "new_versions": exported["new_versions"],
                "withheld": exported["withheld"],
                "advisories": [
                    {
                        "tracking_id": d["tracking_id"],
                        "file": str(target / d["name"]),
                        "version": d["version"],
                        "findings": d["findings"],
                    }
                    for d in exported["advisories"]
                ],
            }
        )
        return
    if exported["withheld"]:
        console.print(
            f"{exported['withheld']} finding(s) seen only in reviews whose submitters did not "
            "elect to share them: not exported"
        )
    if not exported["advisories"]:
        console.print("no shareable triaged finding with a product: nothing to export")
        return
    for d in exported["advisories"]:
        console.print(f"{shown(target / d['name'])}  v{d['version']}, {d['findings']} finding(s)")
    console.print(
        f"{len(exported['advisories'])} advisory(ies), {exported['new_versions']} new version(s)"
    )


def _server_defaults(**is_default: bool) -> None:
    """With a server set, options the API does not take must keep their defaults."""
    changed = [f"--{name.replace('_', '-')}" for name, ok in is_default.items() if not ok]
    if changed:
        raise PrereviewError(
            f"{', '.join(changed)}: not available against a server (the API writes to the "
            "server's folder with its defaults); unset PREREVIEW_URL to use it"
        )


def _export_here(out: Path | None, csaf_version: str, tlp: str) -> dict[str, Any]:
    conf = settings()
    target = out or conf.home / "advisories"
    session = open_session(conf)
    with session.vault:
        session.guard.require(
            Operation.ADVISORY_EXPORT, Resource.agency(), target=f"CSAF advisories to {target}"
        )
        result = export_advisories(
            session.vault.db,
            target,
            exporter=CsafExporter("2.0" if csaf_version == "2.0" else "2.1"),
            publisher=Publisher.from_settings(conf),
            tlp=tlp,
        )
    return {
        "out": str(target),
        "new_versions": result.new_versions,
        "withheld": result.withheld,
        "advisories": [
            {
                "tracking_id": d.tracking_id,
                "name": d.file_name,
                "version": d.version,
                "findings": d.findings,
            }
            for d in result.documents
        ],
    }


@app.command()
def brief(
    sector: list[str] = typer.Option([], "--sector", help="Sector code (repeatable; default all)."),
    format: str = typer.Option("md", "--format", help="md or html."),
    out: Path | None = typer.Option(
        None, "--out", help="Directory (default <data dir>/reports/briefs)."
    ),
    tlp: str = typer.Option("AMBER", "--tlp", help="TLP label shown on the brief."),
    json_out: bool = JsonOption,
) -> None:
    """Sector readiness briefs: model capabilities, findings touching the sector, mitigations."""
    if format not in ("md", "html"):
        raise PrereviewError(f"unknown brief format {format!r}; supported: md, html")
    if tlp.upper() not in _BRIEF_TLP:
        raise PrereviewError(f"unknown TLP label {tlp!r}; one of: {', '.join(_BRIEF_TLP)}")
    written: list[dict[str, Any]]
    if remote():
        _server_defaults(out=out is None)
        body = {"sector": sector, "format": format, "tlp": tlp}
        written = api("POST", "/api/v1/briefs", json=body)
    else:
        written = _briefs_here(sector, format, out, tlp)
    if json_out:
        emit_json(
            [
                {
                    "sector": w["sector"],
                    "file": w["file"],
                    "findings": w["findings"],
                    "reviews": w["reviews"],
                }
                for w in written
            ]
        )
        return
    for w in written:
        console.print(f"{shown(w['file'])}  ({w['findings']} finding(s), {w['reviews']} review(s))")


def _briefs_here(
    sector: list[str], format: str, out: Path | None, tlp: str
) -> list[dict[str, Any]]:
    conf = settings()
    session = open_session(conf)
    with session.vault:
        session.guard.require(
            Operation.ADVISORY_EXPORT, Resource.agency(), target="sector readiness briefs"
        )
        written = produce_briefs(
            conf,
            session=session,
            sector_codes=sector or None,
            fmt="md" if format == "md" else "html",
            out_dir=out,
            tlp=tlp.upper(),
        )
    return [
        {"sector": w.sector, "file": str(w.path), "findings": w.findings, "reviews": w.reviews}
        for w in written
    ]
