"""Entry point of the `inspect_ai` group: importing this registers prereview's extensions.

Inspect imports it lazily when a name it does not know is asked for (a `local/...` model, a
`bwrap` sandbox, a `prereview/...` task), so `inspect eval` and `inspect view` see them.
"""

# ruff: noqa: F401
from prereview.models.local import LocalModelAPI
from prereview.models.scripted import ScriptedModelAPI
from prereview.models.simulated import SimulatedModelAPI
from prereview.planning.calibration import calibration
from prereview.sandbox.environment import BwrapSandboxEnvironment
from prereview.suites.memsafety.tasks import memsafety_patch, memsafety_poc
from prereview.suites.smoke import smoke
