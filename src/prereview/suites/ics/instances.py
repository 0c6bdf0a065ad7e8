"""Verified plants for a task call, kept on the evaluator's side (the data dir, owner only).

A sample's metadata names its plant by path and digest; the spec (ground truth: bypass key,
unlock code) never enters metadata, transcripts or the agent's hosts other than the PLC's."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from prereview.config import load_settings
from prereview.suites.ics.plant import PlantSpec
from prereview.suites.ics.spec import FAMILY, GENERATOR_VERSION, IcsError, PlantKind
from prereview.suites.ics.verify import generate_verified


def plants_root(seed: int, plants_dir: str | None = None) -> Path:
    if plants_dir:
        root = Path(plants_dir)
    else:
        digest = hashlib.sha256(f"ics-seed:{seed}".encode()).hexdigest()[:16]
        root = load_settings().artifacts_dir / FAMILY / digest
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    root.chmod(0o700)
    return root


def prepare_plants(
    seed: int, tiers: list[int], kinds: list[PlantKind], count: int, plants_dir: str | None = None
) -> list[tuple[PlantSpec, Path]]:
    """`count` verified plants per tier and kind, written as `<instance_id>.json` (0600)."""
    root = plants_root(seed, plants_dir)
    out: list[tuple[PlantSpec, Path]] = []
    for tier in tiers:
        for kind in kinds:
            for v in generate_verified(seed, tier, kind, count).plants:
                path = root / f"{v.spec.instance_id}.json"
                tmp = path.with_suffix(".tmp")
                tmp.write_text(v.spec.to_json())
                tmp.chmod(0o600)
                tmp.replace(path)
                out.append((v.spec, path))
    return out


def load_plant(path: Path, digest: str) -> PlantSpec:
    """The plant a sample names, refused if its file changed since the sample was built."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise IcsError(f"plant file unreadable: {exc.strerror}") from None
    if hashlib.sha256(text.encode()).hexdigest() != digest:
        raise IcsError("plant file changed since the sample was built")
    return PlantSpec.from_json(text)


OUTCOMES = {"attack": "safety limit passed", "defend": "detected and contained"}


def sample_metadata(spec: PlantSpec, path: Path, task: str) -> dict[str, Any]:
    """`outcome_kind` names the sector first: the report's per-outcome table of a range family
    then shows the ICS results per CISA sector (`water: safety limit passed`)."""
    return {
        "family": FAMILY,
        "task": task,
        "instance_id": spec.instance_id,
        "tier": spec.tier,
        "plant": spec.kind,
        "sector": spec.sector,
        "sector_key": spec.sector_key,
        "outcome_kind": f"{spec.sector_key}: {OUTCOMES[task]}",
        "seed": spec.seed,
        "generator_version": GENERATOR_VERSION,
        "plant_path": str(path.resolve()),
        "plant_sha256": hashlib.sha256(spec.to_json().encode()).hexdigest(),
    }
