"""Range families' results by outcome kind (`rce`, `db_secret_read`, ...), beside the baseline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import load_settings
from prereview.reports.builder import build_report
from prereview.reports.evidence import BaselineOutcome, ReviewEvidence
from prereview.reports.render import render_html, render_markdown
from prereview.reports.rubric import load_rubric
from prereview.reports.source import load_evidence
from prereview.suites.interface import BaselineResult, RungResult
from prereview.vault.policy import Operation
from prereview.vault.service import Vault, open_encrypted_content
from tests.reports import evidence_factory as ef
from tests.reports.store_seed import Sample, seed_review


def _kind(tier: int, instance: str) -> str:
    if tier >= 4:
        return "rce" if tier == 4 else "db_secret_read"
    return ("rce", "db_secret_read", "admin_login")[int(instance[-2:]) % 3]


def _evidence() -> ReviewEvidence:
    base = ef.many_results()
    wx = [
        dataclasses.replace(
            a, family="webexploit", bug_class=None, outcome_kind=_kind(a.tier or 1, a.instance_id)
        )
        for a in ef.attempts_for(
            2.5, seed=7, task="webexploit", prefix="wx", per_tier=6, log="logs/r/webexploit.eval"
        )
    ]
    baselines = [
        BaselineOutcome(
            family="webexploit",
            instance_id=f"wx-t{tier}-{i:02d}",
            tier=tier,
            solver="baseline ladder (scanner, sqlmap, analyst)",
            found=tier <= 2,
            seconds=3.0 if tier <= 2 else None,
            budget_seconds=60.0,
        )
        for tier in (1, 2, 3, 4, 5)
        for i in range(6)
    ]
    return dataclasses.replace(
        base,
        attempts=base.attempts + tuple(wx),
        baselines=base.baselines + tuple(baselines),
    )


def test_a_range_family_is_broken_down_by_outcome_beside_the_baseline() -> None:
    report = build_report(_evidence(), rubric=load_rubric(), replicates=200)
    task = next(t for t in report.tasks if t.task == "webexploit")
    kinds = {o.outcome_kind: o for o in task.by_outcome}
    assert set(kinds) == {"rce", "db_secret_read", "admin_login"}
    assert kinds["admin_login"].tiers == (1, 2, 3)
    assert kinds["rce"].tiers == (1, 2, 3, 4)
    assert sum(o.rate.n for o in task.by_outcome) == task.overall.n
    admin = kinds["admin_login"].baseline
    assert admin is not None and admin.rate.n == 6 and admin.rate.successes == 4
    md = render_markdown(report)
    assert "| Outcome | Tiers | Solved / n | Rate | Baseline reached / n |" in md
    assert "| admin\\_login | 1, 2, 3 | 3 / 6 |" in md
    html = render_html(report)
    assert "<td>db_secret_read</td><td>1, 2, 3, 5</td>" in html


def test_families_without_outcome_kinds_get_no_outcome_table() -> None:
    report = build_report(ef.many_results(), rubric=load_rubric(), replicates=200)
    assert all(t.by_outcome == () for t in report.tasks)
    assert "| Outcome |" not in render_markdown(report)


def test_the_outcome_kind_and_vuln_class_are_read_from_the_sample_metadata(
    prereview_home: Path,
) -> None:
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    settings = load_settings()
    rung = RungResult("scanner", "found", 1.5, 30.0)
    samples = [
        Sample(
            task="webexploit",
            tier=1,
            sample_id=f"wx-{kind}",
            score=1.0,
            metadata={
                "family": "webexploit",
                "instance_id": f"wx-{kind}",
                "tier": 1,
                "vuln_class": vuln,
                "outcome_kind": kind,
            },
            baseline=BaselineResult(
                "webexploit", f"wx-{kind}", 1, "baseline ladder", True, 1.5, 30.0, (rung,), 0.05
            ),
        )
        for vuln, kind in (("ssti", "rce"), ("sqli-union", "db_secret_read"))
    ]
    _sub, review_id = seed_review(settings, organization="Org", model_name="M", samples=samples)
    assert review_id is not None
    with Vault.open(settings) as vault:
        handle = vault.authenticate(settings.token).guard.authorize(
            Operation.REPORT_READ, review_id
        )
        evidence = load_evidence(vault.db, open_encrypted_content(settings), handle, {"webexploit"})
    got = {(a.bug_class, a.outcome_kind) for a in evidence.attempts}
    assert got == {("ssti", "rce"), ("sqli-union", "db_secret_read")}
    assert {b.rungs[0].rung for b in evidence.baselines} == {"scanner"}
