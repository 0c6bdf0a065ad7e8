"""Hostile input, one test per kind: a SARIF file built to exhaust memory before its counts are
checked, a zip bomb posing as an Inspect log, malformed GGUF headers, and escape sequences in the
names people choose that would otherwise reach other users' terminals."""

from __future__ import annotations

import json
import shutil
import struct
import tracemalloc
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from prereview.cli.main import app
from prereview.findings.details import PLAIN_CODECS
from prereview.findings.ingest import import_findings
from prereview.findings.intake import IntakeError, read_findings
from prereview.findings.limits import IntakeLimits
from prereview.models.catalog import InvalidModelFileError, check_gguf
from prereview.store import Database
from tests.findings.factory import result, sarif_log, write_json
from tests.store.databases import _sqlite_template  # noqa: F401

runner = CliRunner()


def _tiny_results(path: Path, n: int) -> Path:
    """A valid SARIF log of `n` minimal results: the most objects per byte a file can ask for."""
    head = '{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":['
    path.write_text(head + ",".join(['{"message":{}}'] * n) + "]}]}")
    return path


def _rows(db: Database) -> tuple[int, int]:
    with db.session() as session:
        conn = session.connection()
        findings = conn.exec_driver_sql("SELECT count(*) FROM findings").scalar()
        imports = conn.exec_driver_sql("SELECT count(*) FROM finding_imports").scalar()
    return int(findings or 0), int(imports or 0)


def test_sarif_counts_are_refused_before_the_results_are_built(
    tmp_path: Path,
    _sqlite_template: Path,  # noqa: F811, PT019
) -> None:
    path = _tiny_results(tmp_path / "many.sarif", 200_000)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        with pytest.raises(IntakeError) as info:
            read_findings(path, limits=IntakeLimits(max_results=1_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        f"{path} at $.runs: 200000 results, over the limit of 1000; nothing was imported"
    )
    # the file's bytes and little else: one object per result would be ~20x the file
    assert peak < 2 * size, (peak, size)
    shutil.copyfile(_sqlite_template, tmp_path / "store.db")
    with Database(f"sqlite:///{tmp_path / 'store.db'}") as db:
        with pytest.raises(IntakeError, match="over the limit of 1000"):
            import_findings(db, path, codecs=PLAIN_CODECS, limits=IntakeLimits(max_results=1_000))
        assert _rows(db) == (0, 0)


def test_json_form_count_is_refused_before_the_findings_are_built(tmp_path: Path) -> None:
    path = tmp_path / "many.json"
    one = '{"rule":"r","title":"t"}'
    path.write_text(
        '{"format":"prereview-findings/1","findings":[' + ",".join([one] * 100_000) + "]}"
    )
    tracemalloc.start()
    try:
        with pytest.raises(IntakeError) as info:
            read_findings(path, limits=IntakeLimits(max_results=1_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (info.value.where, info.value.problem) == (
        "$.findings",
        "over the limit of 1000 findings",
    )
    assert peak < 2 * path.stat().st_size, (peak, path.stat().st_size)


def test_sarif_per_result_lists_are_counted_before_they_are_built(tmp_path: Path) -> None:
    log = sarif_log([result(0), result(1)])
    log["runs"][0]["results"][1]["locations"] = [{}] * 100_000
    path = write_json(tmp_path / "locations.sarif", log)
    with pytest.raises(IntakeError) as info:
        read_findings(path)
    assert info.value.where == "$.runs[0].results[1].locations"
    assert info.value.problem == "over 64 locations"
    log = sarif_log([result(0, stacks=[{"frames": [{}] * 300}])])
    path = write_json(tmp_path / "frames.sarif", log)
    with pytest.raises(IntakeError) as info:
        read_findings(path)
    assert (info.value.where, info.value.problem) == (
        "$.runs[0].results[0].stacks[0].frames",
        "over 256 frames",
    )


@pytest.mark.parametrize(
    ("field", "value", "where", "problem"),
    [
        ("taxa", [{}] * 30, "$.runs[0].results[1]", "over 20 taxa"),
        ("suppressions", [{"status": "rejected"}] * 30, "$.runs[0].results[1]", "over 20 suppr"),
        ("stacks", [{"frames": []}] * 30, "$.runs[0].results[1]", "over 20 stacks"),
        (
            "stacks",
            [{"frames": []}, {"frames": [{}] * 30}],
            "$.runs[0].results[1]",
            "over 20 stack frames",
        ),
        (
            "locations",
            [{"logicalLocations": [{}] * 30}],
            "$.runs[0].results[1]",
            "over 20 logicalLocations",
        ),
    ],
)
def test_sarif_other_lists_in_a_result_are_bounded_before_they_are_built(
    tmp_path: Path, field: str, value: list[object], where: str, problem: str
) -> None:
    log = sarif_log([result(0), result(1)])
    log["runs"][0]["results"][1][field] = value
    path = write_json(tmp_path / "lists.sarif", log)
    read_findings(path)  # within the default limits
    with pytest.raises(IntakeError) as info:
        read_findings(path, limits=IntakeLimits(max_list_items=20))
    assert info.value.where == where and info.value.problem.startswith(problem)


def test_sarif_rule_relationships_are_bounded(tmp_path: Path) -> None:
    log = sarif_log([result(0)])
    log["runs"][0]["tool"]["driver"]["rules"][1]["relationships"] *= 30
    path = write_json(tmp_path / "rels.sarif", log)
    with pytest.raises(IntakeError) as info:
        read_findings(path, limits=IntakeLimits(max_list_items=20))
    assert (info.value.where, info.value.problem) == (
        "$.runs[0].tool.driver.rules[1].relationships",
        "over 20 relationships",
    )


def test_sarif_artifact_count_is_bounded(tmp_path: Path) -> None:
    log = sarif_log([result(0)])
    log["runs"][0]["artifacts"] = [{}] * 50
    path = write_json(tmp_path / "artifacts.sarif", log)
    with pytest.raises(IntakeError, match=r"at \$\.runs\[0\]\.artifacts: 50 artifacts, over the"):
        read_findings(path, limits=IntakeLimits(max_artifacts=10))


def _eval_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("entries", "limits", "message"),
    [
        (
            {"header.json": b"{}", "samples/1.json": b"\0" * (3 << 20)},
            IntakeLimits(max_entry_bytes=2 << 20),
            " at samples/1.json: archive entry over the limit of 2097152 bytes uncompressed",
        ),
        (
            {f"samples/{i}.json": b"\0" * (1 << 20) for i in range(5)},
            IntakeLimits(max_archive_bytes=3 << 20),
            ": archive over the limit of 3145728 bytes uncompressed",
        ),
        (
            {f"samples/{i}.json": b"{}" for i in range(30)},
            IntakeLimits(max_archive_entries=20),
            ": 30 archive entries, over the limit of 20",
        ),
    ],
)
def test_eval_zip_bomb_is_refused_by_what_it_holds(
    tmp_path: Path, entries: dict[str, bytes], limits: IntakeLimits, message: str
) -> None:
    path = _eval_zip(tmp_path / "bomb.eval", entries)
    assert path.stat().st_size < 100_000  # small on disk: the compressed size says nothing
    with pytest.raises(IntakeError) as info:
        read_findings(path, limits=limits)
    assert str(info.value) == f"{path}{message}; nothing was imported"


def test_eval_entry_that_lies_about_its_size_is_refused(tmp_path: Path) -> None:
    path = _eval_zip(tmp_path / "liar.eval", {"header.json": b"\0" * (3 << 20)})
    data = bytearray(path.read_bytes())
    # declare 10 bytes uncompressed in the central directory (offset 24 of its record)
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 10)
    path.write_bytes(bytes(data))
    with pytest.raises(IntakeError) as info:
        read_findings(path, limits=IntakeLimits(max_entry_bytes=1 << 20))
    assert "\n" not in str(info.value) and str(info.value).startswith(str(path))


def gguf_header(
    alignment: int = 32, extra_kv: list[bytes] | None = None, n_kv: int | None = None
) -> bytes:
    """A complete, tiny GGUF v3 file: metadata, one F32 tensor of 4 elements, its data."""

    def string(text: bytes) -> bytes:
        return struct.pack("<Q", len(text)) + text

    kvs = [
        string(b"general.architecture") + struct.pack("<I", 8) + string(b"llama"),
        string(b"general.alignment") + struct.pack("<II", 4, alignment),
        string(b"tokenizer.ggml.tokens")
        + struct.pack("<IIQ", 9, 8, 2)
        + string(b"a")
        + string(b"b"),
        string(b"tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 2) + struct.pack("<ff", 0, 1),
        *(extra_kv or []),
    ]
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs) if n_kv is None else n_kv)
    tensor = string(b"w") + struct.pack("<IQIQ", 1, 4, 0, 0)
    body = head + b"".join(kvs) + tensor
    pad = (-len(body)) % (alignment or 32)
    return body + b"\0" * pad + struct.pack("<4f", 1, 2, 3, 4)


def test_the_gguf_test_header_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "ok.gguf"
    path.write_bytes(gguf_header())
    check_gguf(path)


def _nested_array(depth: int) -> bytes:
    key = struct.pack("<Q", 4) + b"nest" + struct.pack("<I", 9)
    return key + struct.pack("<IQ", 9, 1) * depth + struct.pack("<IQ", 4, 0)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (gguf_header(alignment=0), "alignment 0 is not a power of two"),
        (gguf_header(alignment=3), "alignment 3 is not a power of two"),
        (gguf_header()[:70], "truncated"),
        (gguf_header(n_kv=1000), "not a valid GGUF file"),
        (
            gguf_header(extra_kv=[struct.pack("<Q", 1 << 62)]),
            "a name of 4611686018427387904 bytes",
        ),
        (
            gguf_header(extra_kv=[struct.pack("<Q", 1) + b"k" + struct.pack("<IQ", 8, 1 << 63)]),
            "truncated",
        ),
        (
            gguf_header(
                extra_kv=[struct.pack("<Q", 1) + b"k" + struct.pack("<IIQ", 9, 8, 1 << 60)]
            ),
            "truncated",
        ),
        (gguf_header(extra_kv=[_nested_array(2)]), "nested metadata arrays"),
        (gguf_header(extra_kv=[_nested_array(100_000)]), "nested metadata arrays"),
        (
            gguf_header(extra_kv=[struct.pack("<Q", 1) + b"k" + struct.pack("<I", 77)]),
            "unknown metadata value type 77",
        ),
    ],
)
def test_malformed_gguf_headers_are_one_line_errors(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(InvalidModelFileError) as info:
        check_gguf(path)
    assert str(info.value).startswith(str(path)) and problem in str(info.value)
    assert "\n" not in str(info.value)


# What a hostile name may carry: clear screen, an OSC 8 hyperlink, a window title, a carriage
# return that overprints the line, a C1 CSI, and a right-to-left override ("Trojan Source").
HOSTILE = (
    "\x1b[2J",
    "\x1b]8;;https://evil.example/\x07",
    "\x1b]0;pwned\x1b\\",
    "\r",
    "\x9b31m",
    "\u202e",
    "\u2066",
)
CONTROLS = ("\x1b", "\x07", "\r", "\x9b", "\u202e", "\u2066")
SHOWN_NEVER = (*CONTROLS, "]8;;", "]0;", "[2J")


def _run(*args: str, token: str | None = None) -> Result:
    return runner.invoke(app, list(args), env={"PREREVIEW_TOKEN": token} if token else None)


def _clean(result: Result, never: tuple[str, ...] = SHOWN_NEVER) -> str:
    assert result.exit_code == 0, result.output
    for bad in never:
        assert bad not in result.output, (bad, result.output)
    return result.output


def test_escape_sequences_in_names_never_reach_the_terminal(prereview_home: Path) -> None:
    init = _run("init")
    assert init.exit_code == 0, init.output
    org = "Acme AI"
    added = _run("principals", "add", "dev", "--role", "submitter", "--org", org, "--json")
    assert added.exit_code == 0, added.output
    dev = json.loads(added.stdout)["token"]
    model_name = "Nice" + "".join(HOSTILE) + " Model [/] [link=https://evil.example]x[/link]"
    release = (date.today() + timedelta(days=21)).isoformat()
    submitted = _run(
        "submit", "--org", org, "--model", "simulated/x" + HOSTILE[0],
        "--model-name", model_name, "--release-date", release, token=dev,
    )  # fmt: skip
    text = _clean(submitted)
    sid = submitted.stdout.strip()
    assert "Nice" in text and "Model [/] [link=https://evil.example]x[/link]" in text

    listing = _clean(_run("list", token=dev))
    assert sid[:10] in listing and "Nice" in listing  # (80 columns: long cells wrap)
    status = _clean(_run("status", sid, token=dev))
    assert "Nice" in status and "Model [/]" in status and "Acme AI" in status
    _clean(_run("principals", "list"))
    _clean(_run("keys", "list"))
    audit = _clean(_run("audit", "show", "--limit", "0"))
    assert sid[:10] in audit
    # the stored values are unchanged; JSON carries them escaped, so a parser gets them back
    raw = _run("status", sid, "--json", token=dev)
    for bad in ("\x1b", "\r", "\x9b", "\u202e"):
        assert bad not in raw.stdout
    assert json.loads(raw.stdout)["model_name"] == model_name


def test_finding_titles_with_escapes_are_shown_clean(prereview_home: Path, tmp_path: Path) -> None:
    init = _run("init")
    assert init.exit_code == 0, init.output
    log = sarif_log([result(0)])
    log["runs"][0]["tool"]["driver"]["rules"][0]["shortDescription"]["text"] = (
        "Heap [/] overflow" + "".join(HOSTILE)
    )
    path = write_json(tmp_path / "hostile.sarif", log)
    assert _run("findings", "import", str(path)).exit_code == 0
    # intake stored the title without its controls (what is left of a sequence is plain text)
    listing = _clean(_run("findings", "list"), CONTROLS)
    assert "Heap" in listing and "[/]" in listing  # text, not markup (and no crash on it)
    _clean(_run("findings", "show", "F-1"), CONTROLS)
