"""Settings in one place: environment `PREREVIEW_*`, an optional TOML file, then defaults.

Precedence (highest first): environment, the TOML file, built-in defaults. The TOML file is
`$PREREVIEW_CONFIG` if set, else `<home>/config.toml`. The data dir (database, Inspect logs,
artifacts, keys) is `$PREREVIEW_HOME`, else `./.prereview`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prereview.errors import PrereviewError

ENV_PREFIX = "PREREVIEW_"
DEFAULT_HOME = ".prereview"


class ConfigError(PrereviewError):
    """The settings cannot be read; the message says which file and why."""


class NotInitializedError(PrereviewError):
    """The data dir does not exist yet."""

    def __init__(self, home: Path) -> None:
        super().__init__(f"prereview data dir {home} does not exist: run `prereview init` first")
        self.home = home


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    token: str | None = None
    default_model: str = "local/smollm2"
    model_threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def initialized(self) -> bool:
        return self.home.is_dir()

    def require_initialized(self) -> Settings:
        if not self.initialized:
            raise NotInitializedError(self.home)
        return self


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    section = data.get("prereview", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [prereview] must be a table")
    return section


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get(f"{ENV_PREFIX}HOME", DEFAULT_HOME)).expanduser().absolute()
    config_path = Path(env.get(f"{ENV_PREFIX}CONFIG", str(home / "config.toml")))
    file_values = _read_toml(config_path) if config_path.is_file() else {}

    def pick(key: str) -> Any:
        env_key = f"{ENV_PREFIX}{key.upper()}"
        if env_key in env:
            return env[env_key]
        return file_values.get(key)

    database_url = pick("database_url") or f"sqlite:///{home / 'prereview.db'}"
    threads = pick("model_threads")
    return Settings(
        home=home,
        database_url=str(database_url),
        token=pick("token"),
        default_model=str(pick("default_model") or "local/smollm2"),
        model_threads=int(threads) if threads else None,
        extra={k: v for k, v in file_values.items() if k not in Settings.__dataclass_fields__},
    )
