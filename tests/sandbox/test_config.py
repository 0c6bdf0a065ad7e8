"""BwrapConfig: defaults, validation, and the forms Inspect hands a provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prereview.sandbox import BwrapConfig, BwrapSandboxEnvironment, SandboxConfigError
from prereview.sandbox.config import load_config


def test_defaults_suit_agentic_tasks() -> None:
    config = BwrapConfig()
    assert config.hosts == ["default"]
    assert "/usr" in config.system_dirs
    assert "shadow" not in config.etc_files and "passwd" not in config.etc_files
    assert config.workdir == "/home/agent"


@pytest.mark.parametrize(
    "fields",
    [
        {"hosts": []},
        {"hosts": ["default", "default"]},
        {"hosts": ["Bad_Name"]},
        {"workdir": "/"},
        {"workdir": "relative"},
        {"user": "root"},
        {"memory_mb": 1},
        {"env": {"BAD-NAME": "x"}},
        {"ro_binds": {"relative": "/x"}},
        {"root": "/nonexistent-root"},
        {"unknown_field": 1},
    ],
)
def test_invalid_configs_are_refused_with_the_field_named(fields: dict[str, object]) -> None:
    with pytest.raises(SandboxConfigError, match="invalid bwrap sandbox config"):
        load_config(fields)


def test_inspect_forms(tmp_path: Path) -> None:
    assert load_config(None) == BwrapConfig()
    as_dict = {"hosts": ["default", "target"], "memory_mb": 512}
    expected = BwrapConfig(hosts=["default", "target"], memory_mb=512)
    assert load_config(as_dict) == expected
    assert BwrapSandboxEnvironment.config_deserialize(as_dict) == expected
    for suffix, text in (
        (".json", json.dumps(as_dict)),
        (".toml", 'hosts = ["default", "target"]\nmemory_mb = 512\n'),
        (".yaml", "hosts: [default, target]\nmemory_mb: 512\n"),
    ):
        path = tmp_path / f"sandbox{suffix}"
        path.write_text(text)
        assert load_config(str(path)) == expected
    (tmp_path / "sandbox.ini").write_text("hosts=default")
    with pytest.raises(SandboxConfigError, match=r"\.json, \.toml or \.yaml"):
        load_config(str(tmp_path / "sandbox.ini"))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(SandboxConfigError, match="does not parse"):
        load_config(str(tmp_path / "broken.json"))
    with pytest.raises(SandboxConfigError, match="cannot read"):
        load_config(str(tmp_path / "absent.json"))
