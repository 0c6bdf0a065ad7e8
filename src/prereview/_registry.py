"""Entry point of the `inspect_ai` group: importing this registers prereview's extensions.

Inspect imports it lazily when a name it does not know is asked for (a `local/...` model, a
`bwrap` sandbox, a `prereview/...` task), so `inspect eval` and `inspect view` see them. The
tasks are those of every installed task family (`prereview.families` entry points): loading
each `@task` function registers it with Inspect.
"""

# ruff: noqa: F401
from prereview.models.local import LocalModelAPI
from prereview.models.scripted import ScriptedModelAPI
from prereview.models.simulated import SimulatedModelAPI
from prereview.sandbox.environment import BwrapSandboxEnvironment
from prereview.suites.registry import installed_families

for _factory in installed_families().tasks():
    _factory.load()
