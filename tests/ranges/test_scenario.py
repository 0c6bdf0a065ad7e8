"""Scenario data: refused with the place named in one line; secrets drawn from the seed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from prereview.ranges import (
    ScenarioError,
    draw_secrets,
    load_scenario,
    parse_scenario,
    sandbox_config,
    scenario_to_dict,
)
from tests.ranges.scenarios import full_range


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(full_range())
    change(data)
    return data


def _service(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["services"] if isinstance(s, dict) and s["name"] == name)


def _unknown_dependency(data: dict[str, Any]) -> None:
    _service(data, "web")["depends_on"] = ["files", "cache"]


def _cycle(data: dict[str, Any]) -> None:
    _service(data, "files")["depends_on"] = ["web"]


def _unreachable(data: dict[str, Any]) -> None:
    data["segments"].append("island")
    data["hosts"].append({"name": "vault", "segments": ["island"]})
    data["objectives"].append(
        {"name": "far", "kind": "file_creation", "host": "vault", "path": "/srv/x"}
    )


def _secret_on_agent(data: dict[str, Any]) -> None:
    data["files"].append({"host": "attacker", "path": "/srv/notes", "content": "{{secret:flag}}"})


def _unknown_service(data: dict[str, Any]) -> None:
    data["objectives"][0]["service"] = "nope"


def _unknown_segment(data: dict[str, Any]) -> None:
    data["hosts"][1]["segments"] = ["public", "dmz"]


def _missing_field(data: dict[str, Any]) -> None:
    del data["objectives"][3]["query"]


def _bad_path(data: dict[str, Any]) -> None:
    data["files"][1]["path"] = "/srv/../etc/passwd"


def _wrong_type(data: dict[str, Any]) -> None:
    data["hosts"][0]["segments"] = 5


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_unknown_dependency, "services[web].depends_on: unknown service 'cache'"),
        (_cycle, "dependency cycle"),
        (_unreachable, "objectives[far]: host 'vault' is unreachable from 'attacker'"),
        (_secret_on_agent, "secret 'flag' would be placed on the agent host"),
        (_unknown_service, "objectives[dos].service: unknown service 'nope'"),
        (_unknown_segment, "hosts[web].segments: unknown segment 'dmz'"),
        (_missing_field, "objectives[dbmod].query: required for db_modification"),
        (_bad_path, "files[1].path"),
        (_wrong_type, "scenario hosts.0.segments"),
    ],
)
def test_invalid_scenarios_are_refused_naming_the_place(change: Any, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(_broken(change))
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    with pytest.raises(ScenarioError):  # and nothing is built from it
        sandbox_config(_broken(change))  # type: ignore[arg-type]


def test_cycle_names_the_loop() -> None:
    with pytest.raises(
        ScenarioError, match=r"dependency cycle (files -> web -> files|web -> files -> web)"
    ):
        parse_scenario(_broken(_cycle))


def test_a_router_flow_makes_an_internal_host_reachable() -> None:
    def isolate(data: dict[str, Any]) -> None:
        data["hosts"] = [h for h in data["hosts"] if h["name"] != "web"]
        data["services"] = [s for s in data["services"] if getattr(s, "host", None) != "web"]
        data["services"] = [
            s for s in data["services"] if not isinstance(s, dict) or s["host"] != "web"
        ]
        data["files"] = [f for f in data["files"] if not isinstance(f, dict) or f["host"] != "web"]
        data["objectives"] = [o for o in data["objectives"] if o["host"] == "db"]

    reachable = _broken(isolate)
    parse_scenario(reachable)  # db is reached through gw's flow public -> db:81
    # without the router the flow has no path (and no host to pivot through)
    reachable["hosts"] = [h for h in reachable["hosts"] if h["name"] != "gw"]
    with pytest.raises(ScenarioError, match="unreachable"):
        parse_scenario(reachable)


def test_files_round_trip_and_bad_files_are_named(tmp_path: Path) -> None:
    scenario = parse_scenario(full_range())
    path = tmp_path / "range.json"
    path.write_text(json.dumps(scenario_to_dict(scenario)))
    assert load_scenario(path) == scenario
    (tmp_path / "bad.yaml").write_text("hosts: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml: does not parse") as caught:
        load_scenario(tmp_path / "bad.yaml")
    assert "\n" not in str(caught.value)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(_broken(_unknown_dependency) | {"files": [], "services": []}))
    with pytest.raises(ScenarioError, match=r"broken.json: scenario objectives\[dos\]"):
        load_scenario(broken)


def test_secrets_are_deterministic_per_seed_and_differ_across_seeds() -> None:
    scenario = parse_scenario(full_range())
    first, again, other = (draw_secrets(scenario, s) for s in (11, 11, 12))
    assert first.values == again.values
    assert all(first[n] != other[n] for n in first.values)
    assert first["flag"].startswith("FLAG{") and first["rce_canary"].startswith("canary-")
    assert first["flag"] not in repr(first)
    assert first.redact(f"x {first['flag']} y") == "x [secret flag] y"
    assert first.for_agent().keys() == {"rce_canary", "priv_canary", "ssrf_canary"}
    # the scenario data itself never holds a value
    assert first["flag"] not in json.dumps(scenario_to_dict(scenario))


def test_sandbox_config_links_segments_and_puts_the_agent_host_first() -> None:
    config = sandbox_config(parse_scenario(full_range()))
    assert config.hosts[0] == "attacker"
    assert config.segments["internal"] == ["web", "gw", "db", "priv", "collector"]
    assert config.routers == ["gw"]
    assert [(f.from_segment, f.to_host, f.port) for f in config.flows] == [("public", "db", 81)]
