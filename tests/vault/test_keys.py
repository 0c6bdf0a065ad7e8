from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import Settings
from prereview.vault.errors import IntegrityError, KeyFileError
from prereview.vault.keys.local import (
    KEK_FILE,
    SIGNING_FILE,
    LocalKeyFileProvider,
    LocalSigningKey,
)
from prereview.vault.service import Vault
from tests.vault.conftest import add_submission

runner = CliRunner()


def test_init_creates_private_key_files(settings: Settings) -> None:
    for name in (KEK_FILE, SIGNING_FILE):
        path = settings.keys_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_key_file_readable_by_others_is_refused(settings: Settings) -> None:
    path = settings.keys_dir / KEK_FILE
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match=r"chmod 600"):
        Vault.open(settings)


def test_wrapped_key_is_bound_to_its_scope(tmp_path: Path) -> None:
    provider = LocalKeyFileProvider.create(tmp_path / "k")
    wrapped = provider.wrap(b"k" * 32, "sub-1")
    assert provider.unwrap(wrapped, "sub-1") == b"k" * 32
    with pytest.raises(IntegrityError, match="data key of sub-2"):
        provider.unwrap(wrapped, "sub-2")
    other = LocalKeyFileProvider.create(tmp_path / "k2")
    with pytest.raises(IntegrityError, match="wrong key file"):
        other.unwrap(wrapped, "sub-1")
    assert "k" * 8 not in repr(wrapped)


def test_key_files_are_never_overwritten(tmp_path: Path) -> None:
    LocalSigningKey.create(tmp_path / "s")
    with pytest.raises(FileExistsError):
        LocalSigningKey.create(tmp_path / "s")


def _store_with_data(settings: Settings) -> str:
    with Vault.open(settings) as vault:
        sid = add_submission(vault, "Org A")
        vault.content.write(sid, "reports/r.md", b"sealed")
    return sid


def test_missing_key_file_on_a_store_with_data_refuses_with_instructions(
    settings: Settings,
) -> None:
    _store_with_data(settings)
    (settings.keys_dir / KEK_FILE).unlink()
    with pytest.raises(KeyFileError) as err:
        Vault.open(settings)
    message = str(err.value)
    assert "missing" in message and "restore" in message and "will not create a new key" in message
    assert not (settings.keys_dir / KEK_FILE).exists()
    # init must not create a fresh key over existing data either
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 2
    assert "will not create a new key" in result.output and "Traceback" not in result.output
    assert not (settings.keys_dir / KEK_FILE).exists()


def test_missing_signing_key_with_an_audit_trail_refuses(settings: Settings) -> None:
    (settings.keys_dir / SIGNING_FILE).unlink()
    with pytest.raises(KeyFileError, match=r"audit signing key .* is missing"):
        Vault.open(settings)


def test_a_different_key_file_is_refused_not_used(settings: Settings) -> None:
    _store_with_data(settings)
    path = settings.keys_dir / KEK_FILE
    path.unlink()
    LocalKeyFileProvider.create(path)
    with pytest.raises(KeyFileError, match="sealed with kek-"):
        Vault.open(settings)


def test_damaged_key_file_is_named(settings: Settings) -> None:
    path = settings.keys_dir / KEK_FILE
    path.write_text("not a key\n")
    with pytest.raises(KeyFileError, match=r"kek\.key is not a prereview key file"):
        Vault.open(settings)
