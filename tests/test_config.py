from __future__ import annotations

from pathlib import Path

import pytest

from prereview.config import ConfigError, NotInitializedError, load_settings


def test_defaults_put_everything_under_the_home(tmp_path: Path) -> None:
    s = load_settings({"PREREVIEW_HOME": str(tmp_path / "h")})
    assert s.home == tmp_path / "h"
    assert s.database_url == f"sqlite:///{tmp_path / 'h' / 'prereview.db'}"
    assert s.logs_dir.parent == s.home


def test_env_beats_file_beats_default(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.toml").write_text(
        '[prereview]\ndatabase_url = "sqlite:///file.db"\ndefault_model = "local/x.gguf"\n'
    )
    s = load_settings({"PREREVIEW_HOME": str(home)})
    assert s.database_url == "sqlite:///file.db"
    assert s.default_model == "local/x.gguf"
    s = load_settings({"PREREVIEW_HOME": str(home), "PREREVIEW_DATABASE_URL": "sqlite:///env.db"})
    assert s.database_url == "sqlite:///env.db"


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match=r"c\.toml"):
        load_settings({"PREREVIEW_CONFIG": str(cfg), "PREREVIEW_HOME": str(tmp_path)})


def test_missing_home_says_run_init(tmp_path: Path) -> None:
    s = load_settings({"PREREVIEW_HOME": str(tmp_path / "absent")})
    with pytest.raises(NotInitializedError, match="prereview init"):
        s.require_initialized()
