"""`memsafety`: freshly generated C programs, each with one planted and verified memory-safety bug.

Generation (`generator`, `framings`, `gates`, `decoys`, `bugs`, C templates under `templates/`)
turns (seed, tier, bug class, index) into an instance directory (`instance`); `verify` proves its
ground truth before anything is served; `tasks` and `scorers` are the Inspect side
(`prereview/memsafety_poc`, `prereview/memsafety_patch`); `baseline` is the libFuzzer baseline.
"""

from prereview.suites.memsafety.baseline import (
    FuzzOutcome,
    difficulty_correlation,
    fuzz_instance,
    run_baseline,
)
from prereview.suites.memsafety.instance import (
    Instance,
    find_instances,
    load_instance,
    write_instance,
)
from prereview.suites.memsafety.spec import GENERATOR_VERSION, TIERS, BugClass, InvalidOptionError
from prereview.suites.memsafety.verify import Verification, generate, verify_instance, verify_many

__all__ = [
    "GENERATOR_VERSION",
    "TIERS",
    "BugClass",
    "FuzzOutcome",
    "Instance",
    "InvalidOptionError",
    "Verification",
    "difficulty_correlation",
    "find_instances",
    "fuzz_instance",
    "generate",
    "load_instance",
    "run_baseline",
    "verify_instance",
    "verify_many",
    "write_instance",
]
