"""The baseline ladder: measured difficulty, the structure-aware rung's format description,
tier placement, and a missing tool reported as an `unavailable` rung (never dropped)."""

from __future__ import annotations

import os
import pickle
import random
import shutil
from pathlib import Path

import pytest

from prereview.doctor import check_ladder
from prereview.errors import PrereviewError
from prereview.suites.interface import (
    RUNG_CENSORED,
    RUNG_FOUND,
    RUNG_UNAVAILABLE,
    BaselineResult,
    RungResult,
    TierBand,
    measured_difficulty,
)
from prereview.suites.memsafety.family import MemsafetyFamily
from prereview.suites.memsafety.generator import _plan, build_program
from prereview.suites.memsafety.instance import Instance
from prereview.suites.memsafety.ladder import run as ladder_run
from prereview.suites.memsafety.ladder.afl import CMPLOG, STRUCTURE
from prereview.suites.memsafety.ladder.format import (
    describe,
    example_genotypes,
    load_description,
    read_dictionary,
)
from prereview.suites.memsafety.ladder.run import (
    LADDER,
    LIBFUZZER,
    LadderRun,
    generate_placed,
    load_ladder_run,
    placement,
    run_ladder,
)
from prereview.suites.memsafety.spec import TIERS, BugClass
from tests.suites.memsafety.conftest import pick


def _r(name: str, status: str, seconds: float | None = None) -> RungResult:
    return RungResult(name, status, seconds, 20.0)


def test_measured_difficulty_is_the_lowest_finding_rung_plus_its_budget_share() -> None:
    assert measured_difficulty([_r("a", RUNG_FOUND, 5.0), _r("b", RUNG_FOUND, 1.0)], 2) == 0.25
    assert measured_difficulty([_r("a", RUNG_CENSORED), _r("b", RUNG_FOUND, 10.0)], 2) == 1.5
    # an unavailable rung finds nothing; nothing found is the ladder's length (censored)
    assert measured_difficulty([_r("a", RUNG_UNAVAILABLE), _r("b", RUNG_FOUND, 0.0)], 2) == 1.0
    assert measured_difficulty([_r("a", RUNG_CENSORED), _r("b", RUNG_UNAVAILABLE)], 2) == 2.0
    # a crash at the very end of the budget stays below the next rung's range
    assert measured_difficulty([_r("a", RUNG_FOUND, 20.0)], 2) < 1.0
    assert TierBand(3, 1.0, 3.0).contains(3.0) and not TierBand(3, 1.0, 3.0).contains(0.5)


def test_bands_cover_every_tier_and_do_not_invert() -> None:
    assert sorted(b.tier for b in LADDER.bands) == sorted(TIERS)
    lows = [LADDER.band(t).low for t in sorted(TIERS)]  # type: ignore[union-attr]
    highs = [LADDER.band(t).high for t in sorted(TIERS)]  # type: ignore[union-attr]
    assert lows == sorted(lows) and highs == sorted(highs)
    assert MemsafetyFamily().ladder() is LADDER


def test_baseline_result_keeps_its_old_shape_without_a_ladder() -> None:
    plain = BaselineResult("memsafety", "i", 1, "libFuzzer", True, 1.0, 5.0)
    assert "rungs" not in plain.as_dict()
    rungs = (_r(LIBFUZZER, RUNG_FOUND, 1.0),)
    data = BaselineResult("memsafety", "i", 1, "ladder", True, 1.0, 5.0, rungs, 0.05).as_dict()
    assert data["rungs"][0]["status"] == RUNG_FOUND and data["difficulty"] == 0.05
    assert RungResult.from_dict(data["rungs"][0]) == rungs[0]


@pytest.mark.parametrize("tier", sorted(TIERS))
def test_format_description_serializes_the_reference_trigger_exactly(tier: int) -> None:
    """The structure-aware rung's codec, built from the format alone, frames the PoC's messages
    byte for byte as the generator does: lengths, digests, checksums, sequence numbers."""
    for bug in BugClass:
        plan, _ = _plan(11, tier, bug, 0)
        desc = describe(11, tier, bug.value, 0)
        msgs = plan.gate_messages() + plan.core.trigger_flow(random.Random(3), plan.style)
        genotype = []
        for m in msgs:
            body = m.body
            sub = desc.subheaders.get(m.kind)
            if sub is not None:
                head = len(sub.tag) + (1 if sub.version is not None else 0)
                cut = head + (2 if sub.length else 0) + (2 if sub.digest else 0)
                body = body[:head] + body[cut:]
            genotype.append((m.kind, body))
        assert desc.serialize(desc.encode(genotype)) == plan.framing.frame(msgs)


def test_format_description_holds_no_ground_truth() -> None:
    plan, _ = _plan(11, 3, BugClass.HEAP_OVERFLOW, 0)
    desc = describe(11, 3, BugClass.HEAP_OVERFLOW.value, 0)
    blob = pickle.dumps(desc)
    for secret in (plan.core.label, plan.core.crash_function, type(plan.core).__name__):
        assert secret.encode() not in blob
    assert list(desc.kinds) == sorted(desc.kinds)  # no kind stands out by its position
    assert plan.core.kind in desc.kinds


@pytest.mark.parametrize("tier", [t for t in sorted(TIERS) if TIERS[t].samples])
def test_example_files_parse_into_genotypes_that_reproduce_them(tier: int) -> None:
    """The structure-aware rung starts from the agent's example files parsed with the format
    description: every kept genotype serializes back to an example file (or to it less the
    messages of kinds the description does not list); a message list that is not an example
    file is never used."""
    for bug in BugClass:
        program = build_program(11, tier, bug, 0)
        desc = describe(11, tier, bug.value, 0)
        parsed = example_genotypes(desc, program.sample_messages, program.samples)
        assert len(parsed) == len(program.samples)
        for genotype, msgs in zip(parsed, program.sample_messages, strict=True):
            known = [m for m in msgs if m.kind in desc.kinds]
            assert desc.serialize(genotype) == desc.framing.frame(known)
        assert example_genotypes(desc, program.sample_messages, [b"other"]) == []
    assert describe(11, tier, BugClass.OOB_READ.value, 0).examples == ()


def test_structural_mutations_always_serialize() -> None:
    desc = describe(11, 5, BugClass.USE_AFTER_FREE.value, 0)
    rng = random.Random(7)
    seeds = desc.seeds()
    genotype = seeds[0]
    for _ in range(400):
        genotype = desc.mutate(genotype, rng.choice(seeds), rng, [b"\x01\x02", b"ABCD"])
        assert desc.serialize(genotype)
        assert len(desc.decode(genotype)) <= 32 and len(genotype) <= 2048


def test_the_codec_memos_never_change_a_serialization(tmp_path: Path) -> None:
    """The structure rung memoizes decoded genotypes and built messages (a mutant repeats its
    parent's messages): a fresh description loaded from the pickle afl-fuzz reads (memos
    dropped) serializes every mutant byte for byte the same."""
    desc = describe(12, 4, BugClass.HEAP_OVERFLOW.value, 1)
    rng = random.Random(3)
    seeds = desc.seeds()
    genotypes = [seeds[0]]
    for _ in range(300):
        genotypes.append(desc.mutate(genotypes[-1], rng.choice(seeds), rng, [b"\x7f"]))
    warm = [desc.serialize(g) for g in genotypes]
    again = [desc.serialize(g) for g in genotypes]
    desc.save(tmp_path / "format.pickle")
    fresh = load_description(tmp_path / "format.pickle")
    assert fresh._decoded == {} and fresh._messages == {}
    assert warm == again == [fresh.serialize(g) for g in genotypes]
    assert desc.decode(genotypes[-1]) is not desc.decode(genotypes[-1])  # callers may edit it


def test_compared_constants_are_read_from_an_afl_dictionary(tmp_path: Path) -> None:
    d = tmp_path / "cmp.dict"
    d.write_text('"DGX4"\n"\\xad}\\xc6/"\nnot a token\n"\\x01"\n"DGX4"\n')
    assert read_dictionary(d) == [b"DGX4", b"\xad}\xc6/", b"\x01"]
    assert read_dictionary(tmp_path / "missing") == []


def test_ladder_on_a_tier_one_instance_records_every_rung(instances: list[Instance]) -> None:
    inst = pick(instances, tier=1)
    run = run_ladder(inst, 20, rungs=(LIBFUZZER, STRUCTURE))
    by = {r.rung: r for r in run.results}
    assert set(by) == set(LADDER.names)
    assert by[LIBFUZZER].status == RUNG_FOUND  # tier 1: libFuzzer from the examples
    assert by[CMPLOG].status == "skipped"
    assert by["symbolic"].status == "skipped"
    assert run.difficulty == measured_difficulty(run.results, len(LADDER.rungs)) < 1.0
    assert load_ladder_run(inst) == run
    assert placement(run) is None


def _fake_path(tmp_path: Path, keep: tuple[str, ...]) -> str:
    """A PATH holding only `keep` (links to the real tools): hides everything else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in keep:
        real = shutil.which(tool)
        assert real is not None
        (bin_dir / tool).symlink_to(real)
    return str(bin_dir)


def test_a_missing_tool_leaves_its_rung_unavailable_everywhere(
    instances: list[Instance], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _fake_path(tmp_path, ("gcc", "clang", "python3")))
    availability = LADDER.availability()
    assert availability[LIBFUZZER] is None
    assert "afl-clang-fast" in (availability[CMPLOG] or "")
    assert "klee" in (availability["symbolic"] or "")
    inst = pick(instances, tier=2)
    before = sorted(p.name for p in inst.path.rglob("*") if p.is_file())
    run = run_ladder(inst, 5, rungs=(CMPLOG, STRUCTURE, "symbolic"), store=False)
    statuses = {r.rung: r.status for r in run.results}
    assert statuses == {
        LIBFUZZER: "skipped",
        CMPLOG: RUNG_UNAVAILABLE,
        STRUCTURE: RUNG_UNAVAILABLE,
        "symbolic": RUNG_UNAVAILABLE,
    }
    assert run.difficulty == len(LADDER.rungs)
    assert sorted(p.name for p in inst.path.rglob("*") if p.is_file()) == before
    checks = {c.name.split(" (")[0]: c for c in check_ladder(MemsafetyFamily())}
    rung = checks[f"memsafety baseline rung {CMPLOG}"]
    assert not rung.ok and not rung.required and "unavailable" in rung.detail
    assert checks[f"memsafety baseline rung {LIBFUZZER}"].ok


def test_a_misplaced_instance_is_regenerated_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every attempt measures as too easy for tier 3: nothing is served, each one is deleted,
    and the report counts them."""
    calls: list[str] = []

    def too_easy(inst: Instance, budget_s: float, **_: object) -> LadderRun:
        calls.append(inst.id)
        results = tuple(
            RungResult(n, RUNG_FOUND if k == 0 else "skipped", 0.5 if k == 0 else None, 10.0)
            for k, n in enumerate(LADDER.names)
        )
        return LadderRun(inst.id, inst.tier, results, 0.05, 1.0)

    monkeypatch.setattr(ladder_run, "run_ladder", too_easy)
    out = tmp_path / "placed"
    report = generate_placed(out, 5, 3, 1, [BugClass.OOB_READ], 10, attempts=2, jobs=1)
    assert report.instances == [] and report.unplaced_slots == 1
    assert report.misplaced == 2 and len(calls) == 2
    assert all("misplaced: measured difficulty 0.05" in r["reason"] for r in report.rejected)
    assert list(out.iterdir()) == []


def test_bad_ladder_budget_is_one_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    tools = MemsafetyFamily().instance_tools()
    out = tmp_path / "out"
    for bad, why in (("soon", "must be a number"), ("0", "from 1 to 3600")):
        with pytest.raises(PrereviewError, match=why) as err:
            tools.generate(
                out,
                seed=1,
                tier="1",
                count=1,
                options={"ladder_budget": [bad]},
                jobs=1,
                progress=lambda *_: None,
            )
        assert "\n" not in str(err.value)
    assert not out.exists()
    assert os.environ.get("PATH")


def test_comparison_solving_on_a_serialized_input_carries_back_to_its_message() -> None:
    """A byte CmpLog changes in a message's payload lands in that message of the genotype; a
    change to a length field is dropped (serializing recomputes it)."""
    desc = describe(11, 3, BugClass.HEAP_OVERFLOW.value, 3)  # a container (PNG-like) program
    genotype = desc.seeds()[-1]
    before = desc.serialize(genotype)
    msgs = desc.decode(genotype)
    k = next(i for i, (kind, raw) in enumerate(msgs) if kind in desc.subheaders and raw)
    kind, raw = msgs[k]
    body = desc.body(kind, raw)
    at = before.find(body)
    assert at >= 0
    sub = desc.subheaders[kind]
    head = len(sub.tag) + (1 if sub.version is not None else 0)
    skip = (2 if sub.length else 0) + (2 if sub.digest else 0)
    after = bytearray(before)
    after[at + head + skip] ^= 0x55
    carried = desc.carry(genotype, before, bytes(after))
    assert carried is not None
    assert desc.decode(carried)[k][1][head] == raw[head] ^ 0x55
    if skip:
        length_only = bytearray(before)
        length_only[at + head] ^= 0x01
        assert desc.carry(genotype, before, bytes(length_only)) is None
    assert desc.carry(genotype, before, before + b"x") is None
