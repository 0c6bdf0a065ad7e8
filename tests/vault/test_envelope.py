from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prereview.vault.envelope import MAGIC, new_data_key, open_sealed, seal
from prereview.vault.errors import IntegrityError

KEY = new_data_key()


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    text = b"transcript: the agent ran `cat /flag` and got FLAG{canary}" * 4
    blob = seal(KEY, "sub-1", "reviews/r/logs/x.eval", text)
    assert blob.startswith(MAGIC)
    assert b"canary" not in blob and b"transcript" not in blob
    assert open_sealed(KEY, "sub-1", "reviews/r/logs/x.eval", blob) == text


def test_same_plaintext_seals_differently() -> None:
    assert seal(KEY, "s", "a", b"x") != seal(KEY, "s", "a", b"x")


@pytest.mark.parametrize(
    ("scope", "artifact"), [("sub-2", "a/report.md"), ("sub-1", "b/report.md")]
)
def test_ciphertext_moved_to_another_artifact_or_submission_fails(
    scope: str, artifact: str
) -> None:
    blob = seal(KEY, "sub-1", "a/report.md", b"secret")
    with pytest.raises(IntegrityError, match=rf"{scope}/{artifact}") as err:
        open_sealed(KEY, scope, artifact, blob)
    assert "nothing was decrypted" in str(err.value)


def test_wrong_key_is_an_integrity_error_naming_the_artifact() -> None:
    blob = seal(KEY, "sub-1", "a/x", b"secret")
    with pytest.raises(IntegrityError, match="sub-1/a/x"):
        open_sealed(new_data_key(), "sub-1", "a/x", blob)


def test_plaintext_or_truncated_input_is_refused() -> None:
    with pytest.raises(IntegrityError, match="not a sealed prereview artifact"):
        open_sealed(KEY, "s", "a", b'{"plain": true}')
    with pytest.raises(IntegrityError, match="truncated"):
        open_sealed(KEY, "s", "a", MAGIC + b"\x00" * 10)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.integers(min_value=0), st.integers(0, 7))
def test_any_flipped_bit_is_detected_never_garbage(data: bytes, where: int, bit: int) -> None:
    blob = bytearray(seal(KEY, "s", "a", data))
    blob[where % len(blob)] ^= 1 << bit
    with pytest.raises(IntegrityError):
        open_sealed(KEY, "s", "a", bytes(blob))
