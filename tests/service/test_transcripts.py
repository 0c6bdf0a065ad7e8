"""Transcripts through the service: the review's sealed logs and one sample's transcript over
the API, the portal and the remote CLI, with `prereview logs`' authorization (`logs.read`),
every read recorded, and a hostile transcript rendered as text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from prereview.cli.main import app
from prereview.config import Settings, load_settings
from prereview.home import initialize_home
from prereview.review.assessment import run_assessment
from prereview.service.app import create_app
from prereview.service.context import ServiceContext
from prereview.vault.policy import Operation
from prereview.vault.principals import Role
from tests.review.conftest import open_services, simulated_request
from tests.service.servers import serving
from tests.service.test_portal import signed_in

HOSTILE = '<script>alert("transcript")</script> CANARY-svc-41d2'
runner = CliRunner()


@dataclass(frozen=True)
class Logged:
    settings: Settings
    submission: str
    review: str
    samples: tuple[str, ...]
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    """One real assessment (the `simulated` model answering HOSTILE) sealed into a data dir."""
    base = tmp_path_factory.mktemp("service-transcripts")
    with pytest.MonkeyPatch.context() as mp:
        for var in (
            "PREREVIEW_TOKEN",
            "PREREVIEW_CONFIG",
            "PREREVIEW_DATABASE_URL",
            "PREREVIEW_URL",
        ):
            mp.delenv(var, raising=False)
        mp.setenv("PREREVIEW_HOME", str(base / "home"))
        mp.setenv("PREREVIEW_PLAINTEXT_DIR", str(base / "plaintext"))
        mp.setenv("INSPECT_LOG_DIR", str(base / "inspect-logs"))
        init = initialize_home(load_settings())  # the coordinator's token in the config file
        submitter, reviewer = open_services(load_settings())
        try:
            record = submitter.submit(simulated_request(after_script=HOSTILE))
            outcome = run_assessment(reviewer, record.id, suite="calibration", limit=1)
            assert outcome.status == "completed"
            vault = reviewer.access.vault
            tokens = {
                name: vault.principals.add(name, Role.EVALUATOR, None, "tests")[1]
                for name in ("evaluator", "stranger")
            }
            tokens["coordinator"] = str(init["token"])
            handle = reviewer.access.guard.authorize(Operation.REVIEW_ASSIGN, record.id)
            vault.principals.assign("evaluator", handle, "tests")
            samples = tuple(sorted(r.sample_id for r in reviewer.results(record.id)))
        finally:
            reviewer.dispose()
        yield Logged(load_settings(), record.id, outcome.review_id, samples, tokens)


@pytest.fixture(scope="module")
def context(logged: Logged) -> Iterator[ServiceContext]:
    ctx = ServiceContext.open(logged.settings)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def client(logged: Logged, context: ServiceContext) -> Iterator[TestClient]:
    with TestClient(create_app(logged.settings, context=context)) as c:
        yield c


def bearer(logged: Logged, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {logged.tokens[who]}"}


def logs_read(context: ServiceContext, outcome: str, principal: str) -> int:
    return sum(
        1
        for e in context.vault.audit.entries(principal=principal)
        if e.action == "logs.read" and e.outcome == outcome
    )


def test_the_api_lists_logs_and_returns_a_sample_transcript(
    logged: Logged, client: TestClient, context: ServiceContext
) -> None:
    listed = client.get(
        f"/api/v1/submissions/{logged.submission}/logs", headers=bearer(logged, "evaluator")
    )
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["review_id"] == logged.review and body["logs"]
    assert {s["sample"] for log in body["logs"] for s in log["samples"]} == set(logged.samples)
    sample = logged.samples[0]
    before = logs_read(context, "allowed", "evaluator")
    got = client.get(
        f"/api/v1/submissions/{logged.submission}/transcripts/{sample}",
        headers=bearer(logged, "evaluator"),
    )
    assert got.status_code == 200, got.text
    t = got.json()
    assert t["sample"] == sample and t["epoch"] == 1 and t["review_id"] == logged.review
    assert {m["role"] for m in t["messages"]} >= {"user", "assistant"}
    assert any(HOSTILE in m["text"] for m in t["messages"])
    # recorded: the authorization, with the sample asked for
    assert logs_read(context, "allowed", "evaluator") == before + 1
    entry = [
        e for e in context.vault.audit.entries(principal="evaluator") if e.action == "logs.read"
    ][-1]
    assert entry.detail.get("sample") == sample


def test_the_api_refuses_transcripts_to_who_may_not_read_logs(
    logged: Logged, client: TestClient, context: ServiceContext
) -> None:
    before = logs_read(context, "denied", "stranger")
    for path in ("/logs", f"/transcripts/{logged.samples[0]}"):
        refused = client.get(
            f"/api/v1/submissions/{logged.submission}{path}", headers=bearer(logged, "stranger")
        )
        assert refused.status_code == 403 and "access denied" in refused.json()["detail"]
        assert HOSTILE not in refused.text
    assert logs_read(context, "denied", "stranger") == before + 2


@pytest.mark.parametrize(
    ("query", "said"),
    [("?epoch=0", "epoch"), ("?task=nonesuch", "no log of task 'nonesuch'")],
)
def test_bad_transcript_requests_name_what_is_wrong(
    logged: Logged, client: TestClient, query: str, said: str
) -> None:
    got = client.get(
        f"/api/v1/submissions/{logged.submission}/transcripts/{logged.samples[0]}{query}",
        headers=bearer(logged, "evaluator"),
    )
    assert got.status_code in (400, 422), got.text
    assert said in got.json()["detail"]
    missing = client.get(
        f"/api/v1/submissions/{logged.submission}/transcripts/no-such-sample",
        headers=bearer(logged, "evaluator"),
    )
    assert (
        missing.status_code >= 400
        and "no logged sample 'no-such-sample'" in missing.json()["detail"]
    )


def test_the_portal_lists_transcripts_and_renders_one_escaped(
    logged: Logged, context: ServiceContext
) -> None:
    with TestClient(create_app(logged.settings, context=context)) as browser:
        signed_in(browser, logged.tokens["evaluator"])
        page = browser.get(f"/submissions/{logged.submission}")
        assert f'href="/submissions/{logged.submission}/transcripts"' in page.text
        listing = browser.get(f"/submissions/{logged.submission}/transcripts")
        assert listing.status_code == 200
        sample = logged.samples[0]
        assert f"/transcripts/{sample}?" in listing.text
        shown = browser.get(f"/submissions/{logged.submission}/transcripts/{sample}?epoch=1")
        assert shown.status_code == 200
        assert "&lt;script&gt;alert(&#34;transcript&#34;)&lt;/script&gt;" in shown.text
        assert "<script>alert" not in shown.text and "CANARY-svc-41d2" in shown.text
        bad = browser.get(f"/submissions/{logged.submission}/transcripts/{sample}?epoch=x")
        assert bad.status_code == 422 and "invalid epoch" in bad.text
    with TestClient(create_app(logged.settings, context=context)) as other:
        signed_in(other, logged.tokens["stranger"])
        page = other.get(f"/submissions/{logged.submission}/transcripts/{logged.samples[0]}")
        assert page.status_code == 403 and "CANARY-svc-41d2" not in page.text


def test_the_remote_cli_lists_logs_and_prints_a_transcript(
    logged: Logged, context: ServiceContext, tmp_path: Path
) -> None:
    lab = tmp_path / "lab"
    local = {
        "PREREVIEW_HOME": str(logged.settings.home),
        "PREREVIEW_TOKEN": logged.tokens["evaluator"],
    }
    with serving(create_app(logged.settings, context=context)) as url:
        remote = {"PREREVIEW_HOME": str(lab), "PREREVIEW_URL": url,
                  "PREREVIEW_TOKEN": logged.tokens["evaluator"]}  # fmt: skip
        for argv in (["logs", "list", logged.review], ["logs", "list", logged.review, "--json"]):
            here, there = runner.invoke(app, argv, env=local), runner.invoke(app, argv, env=remote)
            assert here.exit_code == there.exit_code == 0, there.output
            assert there.stdout == here.stdout
        view = ["logs", "view", logged.review, "--sample", logged.samples[0]]
        printed = runner.invoke(app, view, env=remote)
        assert printed.exit_code == 0, printed.output
        assert printed.stdout.startswith(f"review {logged.review}, task ")
        assert HOSTILE in printed.stdout and "[assistant]" in printed.stdout
        unnamed = runner.invoke(app, ["logs", "view", logged.review], env=remote)
        assert unnamed.exit_code == 2 and "name it with --sample" in unnamed.stderr
        assert len(unnamed.stderr.strip().splitlines()) == 1
        stranger = runner.invoke(
            app, view, env={**remote, "PREREVIEW_TOKEN": logged.tokens["stranger"]}
        )
        assert stranger.exit_code == 2 and "access denied" in stranger.stderr
        assert HOSTILE not in stranger.output
    assert not lab.exists()


def test_logs_exported_from_a_lab_machine_open_only_with_the_recipients_key(
    logged: Logged, context: ServiceContext, tmp_path: Path
) -> None:
    from prereview.transcripts.bundle import create_host_key, open_bundle, unpack_payload

    host, _ = create_host_key(tmp_path / "receiving-host")
    lab, out = tmp_path / "lab", tmp_path / "bundle.prvb"
    with serving(create_app(logged.settings, context=context)) as url:

        def remote(who: str, *argv: str) -> Result:
            env = {"PREREVIEW_HOME": str(lab), "PREREVIEW_URL": url,
                   "PREREVIEW_TOKEN": logged.tokens[who]}  # fmt: skip
            return runner.invoke(app, ["logs", "export", logged.review, *argv], env=env)

        refused = remote("evaluator", "--out", str(out), "--recipient", str(host.public_path))
        assert refused.exit_code == 2 and "access denied" in refused.stderr
        assert not out.exists()
        bad_key = tmp_path / "not-a-key.pub"
        bad_key.write_text("ssh-ed25519 AAAA\n")
        bad = remote("coordinator", "--out", str(out), "--recipient", str(bad_key))
        assert bad.exit_code != 0 and "is not a prereview host public key" in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and not out.exists()
        done = remote("coordinator", "--out", str(out), "--recipient", str(host.public_path))
        assert done.exit_code == 0, done.output
        said = " ".join(done.stdout.split())  # the console wraps long lines
        assert f"of review {logged.review} sealed to {host.key_id}," in said
        assert said.endswith(f": {out}")
        again = remote("coordinator", "--out", str(out), "--recipient", str(host.public_path))
        assert again.exit_code != 0 and "exists: choose another --out" in again.stderr
    opened = open_bundle(out.read_bytes(), host, str(out), context.vault.signer.public_key)
    _manifest, files = unpack_payload(opened.payload, str(out))
    assert files and all(name.endswith(".eval") for name, _ in files)
    assert HOSTILE.encode() not in out.read_bytes()  # sealed: no plaintext in the bundle
    assert not lab.exists()
