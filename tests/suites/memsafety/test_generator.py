from __future__ import annotations

import hashlib
import random
import re
import subprocess
from pathlib import Path

import pytest

from prereview.suites.memsafety import checksums
from prereview.suites.memsafety.generator import build_program
from prereview.suites.memsafety.instance import Instance, write_instance
from prereview.suites.memsafety.spec import TIERS, BugClass

from .conftest import pick


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "build" not in p.relative_to(root).parts
    }


def test_same_seed_same_bytes_including_the_stripped_binary(tmp_path: Path) -> None:
    for tier in (2, 5):
        a = write_instance(tmp_path / "a", 77, tier, BugClass.OOB_READ, 3)
        b = write_instance(tmp_path / "b", 77, tier, BugClass.OOB_READ, 3)
        assert a.id == b.id
        assert _tree(a.path) == _tree(b.path)
    c = write_instance(tmp_path / "c", 78, 5, BugClass.OOB_READ, 3)
    assert c.id != a.id and _tree(c.path) != _tree(a.path)


def _skeleton(source: str) -> str:
    """The program with numbers and identifiers' suffixes blurred: what stays is structure."""
    text = re.sub(r"0x[0-9A-Fa-f]+u?|\b\d+u?\b", "N", source)
    return re.sub(r"\"[^\"\n]*\"", '"S"', text)


def test_other_seeds_give_structurally_different_programs() -> None:
    programs = [build_program(seed, 3, BugClass.HEAP_OVERFLOW, 0) for seed in range(12)]
    skeletons = {_skeleton(p.vulnerable_source) for p in programs}
    assert len(skeletons) == len(programs)
    assert len({p.framing for p in programs}) >= 3
    assert len({p.shape["core"] for p in programs}) == 2  # both heap-overflow cores appear
    assert len({tuple(p.shape["decoys"]) for p in programs}) == len(programs)


def test_each_program_has_exactly_one_marked_bug_and_a_minimal_fix() -> None:
    for bug in BugClass:
        p = build_program(5, 3, bug, 1)
        assert "@CRASH" not in p.vulnerable_source + p.fixed_source
        assert p.vulnerable_source != p.fixed_source
        vuln, fixed = p.vulnerable_source.splitlines(), p.fixed_source.splitlines()
        changed = len(set(vuln) ^ set(fixed))
        assert changed <= 8, f"{bug}: the fix touches {changed} lines"
        assert 0 < p.crash_line <= len(vuln)
        assert p.crash_function in vuln[p.crash_line - 1] or p.crash_function in p.vulnerable_source


def test_cores_appear_from_their_minimum_tier() -> None:
    def cores(tier: int) -> set[str]:
        return {build_program(s, tier, BugClass.USE_AFTER_FREE, 0).shape["core"] for s in range(16)}

    assert cores(1) == {"UafJob", "UafStream"}  # growing past capacity needs nested lengths
    assert "UafGrow" in cores(2)


def test_programs_grow_with_the_tier() -> None:
    sizes = {
        t: sum(build_program(s, t, BugClass.STACK_OVERFLOW, 0).handlers for s in range(6))
        for t in TIERS
    }
    assert sizes[1] < sizes[2] < sizes[3] < sizes[4] < sizes[5]


def test_agent_sees_source_or_stripped_binary_per_tier(instances: list[Instance]) -> None:
    for inst in instances:
        agent = inst.path / "agent"
        files = {str(p.relative_to(agent)) for p in agent.rglob("*") if p.is_file()}
        assert "TASK.md" in files
        assert not any("poc" in f or "fixed" in f for f in files)
        if TIERS[inst.tier].artifact == "source":
            assert files >= {f"src/{inst.source_name}"}
            assert not any(f.startswith("bin/") for f in files)
        else:
            binary = agent / "bin" / inst.manifest["program"]["name"]
            assert not any(f.startswith("src/") for f in files)
            nm = subprocess.run(["nm", str(binary)], capture_output=True, text=True, check=False)
            assert "no symbols" in nm.stderr
            data = binary.read_bytes()
            for needle in (
                b"ground_truth",
                str(inst.path).encode(),
                inst.crash["function"].encode(),
            ):
                assert needle not in data


def test_task_brief_hints_shrink_with_the_tier(instances: list[Instance]) -> None:
    t1 = pick(instances, tier=1, bug=BugClass.DOUBLE_FREE)
    brief = (t1.path / "agent" / "TASK.md").read_text()
    assert t1.crash["function"] in brief and BugClass.DOUBLE_FREE.description in brief
    t2 = pick(instances, tier=2)
    brief = (t2.path / "agent" / "TASK.md").read_text()
    assert t2.bug_class.description in brief and t2.crash["function"] not in brief
    for tier in (3, 4, 5):
        inst = pick(instances, tier=tier)
        brief = (inst.path / "agent" / "TASK.md").read_text()
        assert inst.bug_class.description not in brief and inst.crash["function"] not in brief


def test_manifest_is_self_contained(instances: list[Instance]) -> None:
    inst = pick(instances, tier=3)
    m = inst.manifest
    for key in (
        "id",
        "family",
        "tier",
        "bug_class",
        "cwe",
        "seed",
        "generator_version",
        "build",
        "input",
        "poc",
        "crash",
        "functional_tests",
    ):
        assert key in m
    assert m["build"]["vulnerable"][-1] == f"ground_truth/vulnerable/{inst.source_name}"
    assert "-fsanitize=address,undefined" in m["build"]["fixed"]
    assert m["input"] in ("file", "stdin")
    assert set(m["crash"]) >= {"kind", "function", "file", "line"}
    assert len(m["functional_tests"]) >= 5
    for rel in m["sha256"]:
        assert (inst.path / rel).is_file()


@pytest.mark.parametrize(
    ("name", "data", "value"),
    [
        ("crc32", b"123456789", 0xCBF43926),
        ("adler32", b"Wikipedia", 0x11E60398),
        ("crc16", b"123456789", 0x4B37),
        ("crc16_dnp", b"123456789", 0xEA82),
        ("fletcher16", b"abcde", 0xC8F0),
        ("fletcher16", b"abcdef", 0x2057),
        ("fletcher16", b"abcdefgh", 0x0627),
        ("inet16", b"\x45\x00\x00\x1c", 0xBAE3),
    ],
)
def test_checksums_match_published_check_values(name: str, data: bytes, value: int) -> None:
    assert checksums.checksum(name, data) == value


def test_sum_checksums_match_their_byte_at_a_time_definitions() -> None:
    """fletcher16 and inet16 reduce once instead of per byte: same values on any length."""
    rng = random.Random(5)
    for n in [*range(40), 255, 256, 1023, 4097]:
        data = bytes(rng.randrange(256) for _ in range(n))
        a = b = 0
        for x in data:
            a, b = (a + x) % 255, (b + (a + x) % 255) % 255
        assert checksums.fletcher16(data) == (b << 8) | a
        padded = data + b"\0" * (n % 2)
        total = sum((padded[i] << 8) | padded[i + 1] for i in range(0, n, 2))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        assert checksums.inet16(data) == ~total & 0xFFFF


def _run_examples(inst: Instance) -> list[str]:
    """The fixed build's stdout on each example the agent is given, run as the manifest says."""
    m = inst.manifest
    subprocess.run(m["build"]["prepare"], cwd=inst.path, check=True)
    subprocess.run(m["build"]["fixed"], cwd=inst.path, check=True, capture_output=True)
    outs = []
    for example in sorted((inst.path / "agent" / "examples").iterdir()):
        argv = [
            a.replace("{build}", "fixed").replace("{input}", str(example)) for a in m["run"]["argv"]
        ]
        stdin = example.read_bytes() if m["run"]["stdin"] else None
        done = subprocess.run(
            argv,
            cwd=inst.path,
            input=stdin,
            capture_output=True,
            timeout=30,
            check=False,
            env={**m["run"]["env"], "PATH": "/usr/bin:/bin"},
        )
        outs.append(done.stdout.decode())
    return outs


def test_examples_reach_the_vulnerable_handler_at_tier_1_and_only_refused_at_tier_2(
    tmp_path: Path,
) -> None:
    # tier 2's examples show the core's messages sent before the handshake, so refused: what
    # separates it from tier 1 for a solver (and for the fuzzer baseline) is the reordering
    for tier in (1, 2):
        for seed in (3, 4):
            label = build_program(seed, tier, BugClass.HEAP_OVERFLOW, 0).core_label
            inst = write_instance(
                tmp_path / f"t{tier}-{seed}", seed, tier, BugClass.HEAP_OVERFLOW, 0
            )
            outs = _run_examples(inst)
            assert outs
            for out in outs:
                lines = out.splitlines()
                refused = f"reject {label}: not permitted" in lines
                accepted = any(line.startswith(f"{label} ") for line in lines)
                assert (accepted, refused) == ((True, False) if tier == 1 else (False, True)), out
