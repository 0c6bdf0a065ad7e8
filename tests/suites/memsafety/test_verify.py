from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from prereview.suites.memsafety.instance import Instance, load_instance
from prereview.suites.memsafety.spec import BugClass
from prereview.suites.memsafety.verify import verify_instance

from .conftest import pick


def _copy(inst: Instance, tmp_path: Path) -> Instance:
    dest = tmp_path / inst.id
    shutil.copytree(inst.path, dest)
    return load_instance(dest)


def _failed(result: object) -> set[str]:
    return {c.name for c in result.failures}  # type: ignore[attr-defined]


def test_every_served_instance_verified(instances: list[Instance]) -> None:
    assert {i.bug_class for i in instances} == set(BugClass)
    assert {i.tier for i in instances} == {1, 2, 3, 4, 5}
    for inst in instances:
        v = inst.verification()
        assert v is not None and v["verified"] and inst.verified
        assert v["crash"]["kind"] == inst.crash["kind"] and v["crash"]["line"] == inst.crash["line"]
        assert (inst.build_dir / "vulnerable").is_file() and (inst.build_dir / "fixed").is_file()
        report = (inst.build_dir / "crash_report.txt").read_text()
        assert (
            "AddressSanitizer" in report
            and str(inst.path) not in report
            and "ground_truth" not in report
        )


def test_a_wrong_crash_location_fails_verification(
    instances: list[Instance], tmp_path: Path
) -> None:
    inst = _copy(pick(instances, tier=1, bug=BugClass.HEAP_OVERFLOW), tmp_path)
    manifest = dict(inst.manifest)
    manifest["crash"] = {**manifest["crash"], "line": manifest["crash"]["line"] + 1}
    (inst.path / "instance.json").write_text(json.dumps(manifest))
    assert not load_instance(inst.path).verified  # the old verification no longer counts
    result = verify_instance(load_instance(inst.path))
    assert not result.verified
    assert _failed(result) == {"PoC crashes the vulnerable build at the planted bug"}
    assert not load_instance(inst.path).verified


def test_a_fix_that_does_not_fix_fails_verification(
    instances: list[Instance], tmp_path: Path
) -> None:
    inst = _copy(pick(instances, tier=1, bug=BugClass.USE_AFTER_FREE), tmp_path)
    vulnerable = inst.file(f"ground_truth/vulnerable/{inst.source_name}").read_bytes()
    inst.file(f"ground_truth/fixed/{inst.source_name}").write_bytes(vulnerable)
    result = verify_instance(inst)
    assert not result.verified
    assert "PoC does not crash the fixed build" in _failed(result)
    assert any("matches its recorded hash" in name for name in _failed(result))


def test_wrong_expected_output_and_leaks_are_caught(
    instances: list[Instance], tmp_path: Path
) -> None:
    inst = _copy(pick(instances, tier=2), tmp_path)
    test = inst.manifest["functional_tests"][0]
    inst.file(test["expected_stdout"]).write_text("something else\n")
    (inst.path / "agent" / "notes.txt").write_text("see ../ground_truth/poc.bin\n")
    result = verify_instance(inst)
    failed = _failed(result)
    assert f"functional test {test['name']} passes on vulnerable" in failed
    assert f"functional test {test['name']} passes on fixed" in failed
    assert "agent file notes.txt reveals nothing" in failed


@pytest.mark.slow
def test_fuzzing_the_fixed_build_catches_a_stray_bug(
    instances: list[Instance], tmp_path: Path
) -> None:
    inst = _copy(pick(instances, tier=1, bug=BugClass.OOB_READ), tmp_path)
    assert verify_instance(inst, fuzz_fixed_s=3).verified
    entry = inst.manifest["program"]["entry"]
    rel = f"ground_truth/fixed/{inst.source_name}"
    head = f"int {entry}(const uint8_t *data, size_t size)\n{{\n"
    stray = (
        '    if (size > 40 && memcmp(data, "QZQZ", 4) == 0) {\n'
        "        char b[8];\n        memcpy(b, data, size);\n"
        '        printf("%d\\n", b[7]);\n    }\n'
    )
    source = inst.file(rel).read_text()
    assert head in source
    inst.file(rel).write_text(source.replace(head, head + stray))
    manifest = dict(inst.manifest)
    manifest["sha256"] = {
        **manifest["sha256"],
        rel: hashlib.sha256(inst.file(rel).read_bytes()).hexdigest(),
    }
    (inst.path / "instance.json").write_text(json.dumps(manifest))
    plain = verify_instance(load_instance(inst.path))
    assert plain.verified  # the PoC and the functional tests do not notice the stray bug
    fuzzed = verify_instance(load_instance(inst.path), fuzz_fixed_s=30)
    assert _failed(fuzzed) == {"fuzzing the fixed build finds no crash"}
