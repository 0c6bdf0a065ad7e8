from __future__ import annotations

from pathlib import Path

import pytest

from prereview.models.catalog import (
    InvalidModelFileError,
    UnknownModelError,
    available_models,
    resolve_model,
)


def test_embedded_smollm2_is_found_offline() -> None:
    assert "smollm2" in available_models()
    path = resolve_model("smollm2")
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000


def test_unknown_name_lists_available_models() -> None:
    with pytest.raises(UnknownModelError, match=r"local/smollm2"):
        resolve_model("gpt-17")


def test_not_a_gguf_names_the_file(tmp_path: Path) -> None:
    bogus = tmp_path / "weights.gguf"
    bogus.write_bytes(b"PK\x03\x04 definitely a zip")
    with pytest.raises(InvalidModelFileError, match=r"weights\.gguf.*not a GGUF"):
        resolve_model(str(bogus))


@pytest.mark.parametrize("fraction", [0.0001, 0.5, 0.999])
def test_truncated_gguf_is_refused(tmp_path: Path, fraction: float) -> None:
    data = resolve_model("smollm2").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InvalidModelFileError, match=r"cut\.gguf.*truncated"):
        resolve_model(str(cut))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelFileError, match="does not exist"):
        resolve_model(str(tmp_path / "nope.gguf"))
