"""The preflight's warm-up loads what Inspect otherwise loads inside a run's first sample."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
from inspect_ai import eval as _eval
import inspect_ai.model._model_info as info

def loaded():
    return {"acp": "inspect_ai.agent._acp.server" in sys.modules,
            "model_info": info._model_info_cache is not None}

before = loaded()
from prereview.executors.node import warm_inspect
warm_inspect()
print(json.dumps({"before": before, "after": loaded()}))
"""


def test_warm_up_loads_what_the_first_eval_would_load_lazily() -> None:
    # a fresh process: what an earlier test imported must not count
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] == {"acp": False, "model_info": False}  # importing eval is not enough
    assert seen["after"] == {"acp": True, "model_info": True}
