"""Inspect model provider `simulated`: a model endpoint with a fixed latency and a rate limit.

It answers like `scripted` (the given turns, else `after_script`) but each call first waits for a
slot under the rate limit (`rpm` requests per minute, spaced evenly, shared by every connection
in the process, as a server-side limiter would queue them) and then takes `latency` seconds.
`connections` is what it reports as its concurrent-connection limit. `record=PATH` appends one
JSON line per call (start and end time, a digest of the sample's first prompt), so tests and the
planner benchmark see exactly which samples called the model and when.

    --model simulated/x -M latency=0.2 -M rpm=30 -M connections=4
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageUser,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from prereview.models.scripted import ScriptedModelAPI


class _RateLimiter:
    """Even spacing of request starts: slot k starts at least 60/rpm after slot k-1."""

    def __init__(self, rpm: float) -> None:
        self.interval = 60.0 / rpm
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Seconds to wait before this request may start."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
            return start - now


_LIMITERS: dict[tuple[str, float], _RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()
_RECORD_LOCK = threading.Lock()


def _limiter(name: str, rpm: float) -> _RateLimiter:
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault((name, rpm), _RateLimiter(rpm))


def prompt_digest(messages: list[ChatMessage]) -> str:
    first = next((m.text for m in messages if isinstance(m, ChatMessageUser)), "")
    return hashlib.sha256(first.encode()).hexdigest()[:16]


@modelapi(name="simulated")
class SimulatedModelAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        latency: float = 0.05,
        rpm: float | None = None,
        connections: int = 4,
        record: str | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        # `ScriptedModelAPI` is Inspect's registered factory, not a class: compose, don't inherit
        self.script = ScriptedModelAPI(model_name, config=config, **model_args)
        self.latency = float(latency)
        self.limiter = _limiter(model_name, float(rpm)) if rpm else None
        self.connections = int(connections)
        self.record = record

    def max_connections(self) -> int:
        return self.connections

    async def count_text_tokens(self, text: str) -> int:
        return len(text.split())

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if self.limiter is not None:
            await asyncio.sleep(self.limiter.reserve())
        started = time.time()
        await asyncio.sleep(self.latency)
        output = await self.script.generate(input, tools, tool_choice, config)
        if self.record:
            line = json.dumps(
                {"start": started, "end": time.time(), "prompt": prompt_digest(input)}
            )
            with _RECORD_LOCK, open(self.record, "a") as fh:
                fh.write(line + "\n")
        return output
