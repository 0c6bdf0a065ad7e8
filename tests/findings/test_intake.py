"""Reading findings files: what each source extracts, how it bounds hostile input, and where its
errors point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prereview.findings.fingerprint import fingerprint
from prereview.findings.intake import IntakeError, read_findings
from prereview.findings.intake.sarif import normalize_uri
from prereview.findings.limits import IntakeLimits
from tests.findings.factory import (
    eval_log_with_crashes,
    result,
    sarif_log,
    write_json,
    write_sarif,
)


def test_sarif_fields_rules_cwe_and_locations(tmp_path: Path) -> None:
    log = sarif_log(
        [
            result(0, properties={"purl": "pkg:github/stephane/libmodbus@3.1.10"}),
            result(
                1,
                rule=1,
                level=None,
                properties={"cvss": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
            ),
        ]
    )
    del log["runs"][0]["results"][1]["level"]
    batch = read_findings(write_json(tmp_path / "a.sarif", log))
    assert batch.format == "sarif" and batch.tools == ("agent-scanner",)
    first, second = batch.findings
    assert first.title == "Heap buffer overflow"  # the rule's short description
    assert first.cwe_ids == (122,)  # from the rule's tag external/cwe/cwe-122
    assert first.security_severity == 8.1
    assert first.location.uri == "src/file0.c" and first.location.start_line == 10
    assert first.location.function == "parse_0"
    assert first.snippet == "memcpy(d, s, n);"
    assert first.product == "pkg:github/stephane/libmodbus@3.1.10"
    assert second.cwe_ids == (416,)  # from the rule's CWE relationship
    assert second.level == "error"  # the rule's default level
    assert second.cvss_vectors == ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",)
    assert first.where == "$.runs[0].results[0]"


def test_sarif_skips_what_is_not_a_finding(tmp_path: Path) -> None:
    log = sarif_log(
        [
            result(0),
            result(1, kind="pass"),
            result(2, suppressions=[{"kind": "inSource"}]),
            result(3, baselineState="absent"),
            result(4, suppressions=[{"kind": "external", "status": "rejected"}]),
        ]
    )
    batch = read_findings(write_json(tmp_path / "a.sarif", log))
    assert [f.location.uri for f in batch.findings] == ["src/file0.c", "src/file4.c"]


def test_crash_stacks_give_a_crash_signature(tmp_path: Path) -> None:
    frames = [{"location": {"logicalLocations": [{"name": f"fn{k}"}]}} for k in range(5)]
    log = sarif_log([result(0, stacks=[{"frames": frames}])])
    (finding,) = read_findings(write_json(tmp_path / "a.sarif", log)).findings
    assert finding.evidence == "crash"
    assert finding.crash is not None and finding.crash.frames == ("fn0", "fn1", "fn2")
    assert finding.stack == ("fn0", "fn1", "fn2", "fn3", "fn4")


@pytest.mark.parametrize(
    ("uri", "base", "expected"),
    [
        ("src/a.c", "", "src/a.c"),
        ("file:///home/u/checkout/src/a.c", "file:///home/u/checkout/", "src/a.c"),
        ("file:///C:/work/src/a.c", "", "c:/work/src/a.c"),
        ("src\\sub\\..\\a%20b.c", "", "src/a b.c"),
        ("./src/./a.c", "", "src/a.c"),
    ],
)
def test_uris_are_normalized(uri: str, base: str, expected: str) -> None:
    assert normalize_uri(uri, base) == expected


def test_same_result_in_two_checkouts_has_one_fingerprint(tmp_path: Path) -> None:
    def log_at(root: str) -> dict[str, object]:
        res = result(0)
        res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = f"file://{root}src/a.c"
        return sarif_log([res], originalUriBaseIds={"SRCROOT": {"uri": f"file://{root}"}})

    a = read_findings(write_json(tmp_path / "a.sarif", log_at("/tmp/one/"))).findings[0]
    b = read_findings(write_json(tmp_path / "b.sarif", log_at("/var/two/"))).findings[0]
    assert a.location.uri == b.location.uri == "src/a.c"
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a)[0] == "location"


def test_partial_fingerprints_win_and_are_scoped_by_tool(tmp_path: Path) -> None:
    pf = {"primaryLocationLineHash": "abc:1"}
    one = read_findings(
        write_json(tmp_path / "1.sarif", sarif_log([result(0, partialFingerprints=pf)]))
    )
    moved = read_findings(
        write_json(tmp_path / "2.sarif", sarif_log([result(7, partialFingerprints=pf)]))
    )
    other_tool = read_findings(
        write_json(tmp_path / "3.sarif", sarif_log([result(0, partialFingerprints=pf)], tool="x"))
    )
    kind, value = fingerprint(one.findings[0])
    assert kind == "partial"
    assert fingerprint(moved.findings[0]) == (kind, value)  # the line moved, the identity did not
    assert fingerprint(other_tool.findings[0])[1] != value


def test_hostile_strings_are_bounded_and_cleaned(tmp_path: Path) -> None:
    evil = "safe\u202etxt.exe\x1b[31m" + "A" * 100_000
    res = result(0, message={"text": evil})
    res["locations"][0]["logicalLocations"][0]["name"] = "f\u2066n\x00"
    batch = read_findings(write_json(tmp_path / "a.sarif", sarif_log([res])))
    (f,) = batch.findings
    assert len(f.message) <= IntakeLimits().max_message
    assert f.message.startswith("safetxt.exe[31m") and f.message.endswith("…")
    assert "\u202e" not in f.message and "\x1b" not in f.message
    assert f.location.function == "fn"


def test_deep_nesting_is_refused_not_a_crash(tmp_path: Path) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    text = json.dumps(sarif_log([result(0)])).replace(
        '"level": "error"', f'"extra": {deep}, "level": "error"'
    )
    path = tmp_path / "deep.sarif"
    path.write_text(text)
    with pytest.raises(IntakeError, match="nesting is too deep"):
        read_findings(path)


def test_hard_limits_refuse_the_file(tmp_path: Path) -> None:
    path = write_sarif(tmp_path / "a.sarif", 5)
    with pytest.raises(IntakeError, match="5 results, over the limit of 4"):
        read_findings(path, limits=IntakeLimits(max_results=4))
    with pytest.raises(IntakeError, match="over the limit of 100"):
        read_findings(path, limits=IntakeLimits(max_file_bytes=100))


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ('{"version": "2.1.0",\n  "runs": [}', "line 2, column 12", "not valid JSON"),
        ("hello", "line 1, column 1", "not valid JSON"),
        ('{"version": "2.0.0", "runs": []}', "$.version", "SARIF version '2.0.0' is not supported"),
        ('{"runs": []}', "$", "missing required field `version`"),
        (
            '{"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]}',
            "$.runs[0].tool.driver",
            "missing required field `name`",
        ),
        (
            '{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}}, '
            '"results": [{"ruleId": "x"}, {"ruleId": "y"}]}]}',
            "$.runs[0].results[0]",
            "missing required field `message`",
        ),
        (
            '{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}}, '
            '"results": [{"message": {"text": "m"}, "level": "fatal"}]}]}',
            "$.runs[0].results[0].level",
            "Invalid enum value 'fatal'",
        ),
    ],
)
def test_malformed_sarif_points_at_the_place(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    path = tmp_path / "bad.sarif"
    path.write_text(text)
    with pytest.raises(IntakeError) as info:
        read_findings(path)
    assert info.value.where == where
    assert problem in str(info.value)
    assert str(info.value).startswith(f"{path} at {where}: ")
    assert "nothing was imported" in str(info.value)


def test_json_form(tmp_path: Path) -> None:
    doc = {
        "format": "prereview-findings/1",
        "tool": "fuzzer-x",
        "findings": [
            {
                "rule": "heap-buffer-overflow",
                "title": "Heap overflow in TLV parser",
                "description": "details",
                "level": "error",
                "location": {"file": "src/tlv.c", "line": 88, "function": "read_tlv"},
                "crash": {"kind": "heap-buffer-overflow", "frames": ["read_tlv", "main"]},
                "cwe": "CWE-122",
                "cvss": ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"],
                "product": "pkg:github/example/tlvlib@1.2.0",
                "evidence": "poc",
            }
        ],
    }
    batch = read_findings(write_json(tmp_path / "f.json", doc))
    (f,) = batch.findings
    assert batch.format == "json" and f.tool == "fuzzer-x"
    assert f.cwe_ids == (122,) and f.evidence == "poc" and f.message == "details"
    assert f.crash is not None and f.crash.frames == ("read_tlv", "main")
    assert fingerprint(f)[0] == "crash"


@pytest.mark.parametrize(
    ("finding", "where", "problem"),
    [
        ({"rule": "r", "title": "t", "colour": "red"}, "$.findings[0]", "unknown field `colour`"),
        ({"rule": "r"}, "$.findings[0]", "missing required field `title`"),
        (
            {"rule": "r", "title": "t", "cwe": "CWE-99999"},
            "$.findings[0].cwe",
            "not in the MITRE CWE list",
        ),
        ({"rule": "r", "title": "t", "cwe": "CWE-391"}, "$.findings[0].cwe", "Prohibited"),
        (
            {"rule": "r", "title": "t", "security_severity": 11},
            "$.findings[0].security_severity",
            "between 0 and 10",
        ),
    ],
)
def test_json_form_errors_point_at_the_place(
    tmp_path: Path, finding: dict[str, object], where: str, problem: str
) -> None:
    doc = {"format": "prereview-findings/1", "findings": [finding]}
    with pytest.raises(IntakeError) as info:
        read_findings(write_json(tmp_path / "f.json", doc))
    assert info.value.where == where
    assert problem in str(info.value)


def test_crash_log_both_forms(tmp_path: Path) -> None:
    single = {
        "poc_sha256": "ab" * 32,
        "possible_new_finding": {
            "build": "vulnerable",
            "kind": "heap-use-after-free",
            "access": "READ",
            "function": "free_node",
            "file": "parser.c",
            "line": 120,
            "summary": "SUMMARY: AddressSanitizer: heap-use-after-free",
            "report_excerpt": "==1==ERROR: AddressSanitizer",
        },
    }
    listed = {
        "new_crashes": [
            {"kind": "SEGV", "frames": ["a", "b", "c", "d"], "file": None, "line": None},
            {"kind": "stack-buffer-overflow", "function": "f", "file": "x.c", "cwe": "CWE-121"},
        ]
    }
    timeout = {"possible_new_finding": {"build": "fixed", "timed_out": True}}
    clean = {"possible_new_finding": None}
    for suffix in (".eval", ".json"):
        path = eval_log_with_crashes(tmp_path / f"log{suffix}", [single, listed, timeout, clean])
        batch = read_findings(path)
        assert batch.format == "crash"
        uaf, segv, sbo = batch.findings
        assert uaf.location.uri == "ms-t2-0000/parser.c" and uaf.location.start_line == 120
        assert uaf.cwe_ids == (416,) and uaf.evidence == "poc" and uaf.level == "error"
        assert uaf.title == "heap-use-after-free in free_node (READ)"
        assert "ab" * 32 in uaf.message and "AddressSanitizer" in uaf.message
        assert segv.crash is not None and segv.crash.frames == ("a", "b", "c")
        assert segv.location.uri == "ms-t2-0001" and segv.cwe_ids == (476,)
        assert sbo.cwe_ids == (121,)


def test_crash_log_bad_record_points_at_it(tmp_path: Path) -> None:
    path = eval_log_with_crashes(
        tmp_path / "log.eval", [{"new_crashes": [{"kind": "SEGV"}, {"line": 3}]}]
    )
    with pytest.raises(IntakeError) as info:
        read_findings(path)
    assert info.value.where == (
        "samples[0] (id s0, epoch 1).scores['poc_reproduces'].metadata.new_crashes[1]"
    )
    assert "missing required field `kind`" in str(info.value)


def test_truncated_eval_log_is_refused(tmp_path: Path) -> None:
    path = eval_log_with_crashes(tmp_path / "log.eval", [{"new_crashes": []}])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntakeError, match=r"not .*Inspect"):
        read_findings(path)


@pytest.mark.parametrize("fmt", [None, "sarif", "json", "crash"])
def test_a_directory_or_missing_file_is_refused(tmp_path: Path, fmt: str | None) -> None:
    with pytest.raises(IntakeError, match=r"cannot read the file|not a readable Inspect log"):
        read_findings(tmp_path, format=fmt)
    with pytest.raises(IntakeError, match="cannot read the file"):
        read_findings(tmp_path / "missing.sarif", format=fmt)
