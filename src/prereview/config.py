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
    # vault (confidentiality): see prereview.vault
    marking_banner: str = "CUI//SP-PCII"
    retention_days: int = 365
    plaintext_dir: Path | None = None
    key_provider: str = "local"
    audit_checkpoint_every: int = 100
    # the agency's choice: may submitters open their own reviews' transcripts (`logs view`)?
    submitters_read_transcripts: bool = False
    config_path: Path | None = None
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


MAX_CONFIG_BYTES = 1 << 20


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's `[prereview]` table (or its top level); any malformed file is a ConfigError."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is over {MAX_CONFIG_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} is nested too deeply") from None
    section = data.get("prereview", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [prereview] must be a table")
    return section


def _int_setting(value: Any, name: str, default: int, minimum: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"setting {name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ConfigError(f"setting {name} must be at least {minimum}")
    return number


def _bool_setting(value: Any, name: str) -> bool:
    if value is None or value == "" or value is False:
        return False
    if value is True:
        return True
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"setting {name} must be true or false, not {value!r}")


def _str_setting(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"setting {name} must be a string")


def _path_setting(value: Any, name: str) -> Path | None:
    if not value:
        return None
    if not isinstance(value, str | os.PathLike) or "\0" in str(value):
        raise ConfigError(f"setting {name} must be a path")
    try:
        return Path(value).expanduser().absolute()
    except (RuntimeError, ValueError, OSError):  # `~nobody/…`: no such user
        raise ConfigError(f"setting {name}: cannot expand {str(value)[:80]!r}") from None


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
    plaintext_dir = pick("plaintext_dir")
    return Settings(
        home=home,
        database_url=str(database_url),
        token=_str_setting(pick("token"), "token"),
        default_model=str(pick("default_model") or "local/smollm2"),
        model_threads=_int_setting(threads, "model_threads", 0, minimum=0) or None,
        marking_banner=str(pick("marking_banner") or "CUI//SP-PCII"),
        retention_days=_int_setting(pick("retention_days"), "retention_days", 365, minimum=0),
        plaintext_dir=_path_setting(plaintext_dir, "plaintext_dir"),
        key_provider=str(pick("key_provider") or "local"),
        audit_checkpoint_every=_int_setting(
            pick("audit_checkpoint_every"), "audit_checkpoint_every", 100, minimum=1
        ),
        submitters_read_transcripts=_bool_setting(
            pick("submitters_read_transcripts"), "submitters_read_transcripts"
        ),
        config_path=config_path,
        extra={k: v for k, v in file_values.items() if k not in Settings.__dataclass_fields__},
    )
