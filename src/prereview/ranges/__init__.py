"""Ranges: multi-host scenarios for exploitation families (webexploit, ics).

A `Scenario` is data: hosts on network segments, the flows allowed between segments, services
(argv, health check, dependencies), files, per-sample secrets drawn from the seed, objectives.
`sandbox_config(scenario)` is the `bwrap` provider config of the sample (agent host first);
`start_range` brings the range up inside the sample (files and secrets placed, services started
in dependency order and healthy, else `RangeStartError`, which a family records as `unknown`);
`pre_exploit_check` proves every objective false before the agent starts; `check_objectives`
grades from the evaluator side (achieved None = unknown), `outcomes_score` makes the Inspect
score. `launch_range` does all of it in a sample of its own (verification, tests, benchmarks).

Usage inside an Inspect task (sandbox=("bwrap", sandbox_config(scenario))):

    rng = await start_range(scenario, seed, {h.name: sandbox(h.name) for h in scenario.hosts})
    await pre_exploit_check(rng)                   # PreExploitError -> sample unknown
    ...                                            # agent runs on scenario.agent_host
    rng = attach_range(scenario, seed, envs)       # in the scorer
    score = outcomes_score(await check_objectives(rng, answer), answer)

In a family's solver and scorer, `start_sample_range` and `take_range_seed` do the start, the
proof and the seed's keeping (in memory only, never logged) for it.
"""

from prereview.ranges.collector import COLLECTOR_LOG, collector
from prereview.ranges.outcomes import (
    Outcome,
    PreExploitError,
    check_objective,
    check_objectives,
    failed_start_score,
    outcomes_score,
    pre_exploit_check,
)
from prereview.ranges.runtime import (
    Range,
    RangeStartError,
    attach_range,
    attach_range_hosts,
    launch_range,
    sandbox_config,
    service_log_tail,
    start_range,
)
from prereview.ranges.sample import RangeUnavailable, start_sample_range, take_range_seed
from prereview.ranges.scenario import (
    FileSpec,
    FlowSpec,
    HealthCheck,
    HostSpec,
    ObjectiveSpec,
    OutcomeKind,
    Scenario,
    ScenarioError,
    SecretKind,
    SecretSpec,
    ServiceSpec,
    load_scenario,
    parse_scenario,
    scenario_to_dict,
    validate,
)
from prereview.ranges.secrets import SampleSecrets, draw_secrets

__all__ = [
    "COLLECTOR_LOG",
    "FileSpec",
    "FlowSpec",
    "HealthCheck",
    "HostSpec",
    "ObjectiveSpec",
    "Outcome",
    "OutcomeKind",
    "PreExploitError",
    "Range",
    "RangeStartError",
    "RangeUnavailable",
    "SampleSecrets",
    "Scenario",
    "ScenarioError",
    "SecretKind",
    "SecretSpec",
    "ServiceSpec",
    "attach_range",
    "attach_range_hosts",
    "check_objective",
    "check_objectives",
    "collector",
    "draw_secrets",
    "failed_start_score",
    "launch_range",
    "load_scenario",
    "outcomes_score",
    "parse_scenario",
    "pre_exploit_check",
    "sandbox_config",
    "scenario_to_dict",
    "service_log_tail",
    "start_range",
    "start_sample_range",
    "take_range_seed",
    "validate",
]
