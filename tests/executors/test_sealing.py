"""Unit logs sealed on a worker open on the head with the run's key, and nowhere else."""

from __future__ import annotations

import pytest

from prereview.executors.sealing import RunKey, SealError, seal


def test_a_sealed_log_opens_with_its_run_key_only() -> None:
    run, other = RunKey.generate(), RunKey.generate()
    blob = seal(run.public, "unit.eval", b"transcript text")
    assert b"transcript text" not in blob
    assert run.open("unit.eval", blob) == b"transcript text"
    with pytest.raises(SealError, match="does not open with this run's key"):
        other.open("unit.eval", blob)


def test_a_renamed_cut_or_altered_blob_is_refused() -> None:
    run = RunKey.generate()
    blob = seal(run.public, "a.eval", b"x" * 100)
    with pytest.raises(SealError):
        run.open("b.eval", blob)  # moved to another file name
    with pytest.raises(SealError):
        run.open("a.eval", blob[:-1])
    altered = bytearray(blob)
    altered[60] ^= 1
    with pytest.raises(SealError):
        run.open("a.eval", bytes(altered))
    with pytest.raises(SealError, match="not a prereview unit log"):
        run.open("a.eval", b"PK\x03\x04 plain zip")


def test_the_private_key_never_shows() -> None:
    assert repr(RunKey.generate()) == "RunKey(<private>)"
