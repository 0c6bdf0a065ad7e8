"""Inspect model provider `scripted`: replays assistant turns, so tests drive agents with no LLM.

A script is a list of turns. A turn is a dict ``{"content": str, "tool_calls": [{"function":
name, "arguments": {...}}]}`` (either key optional), a plain string, or a callable
``(messages, tools) -> turn`` for oracles that must react to what they see. Provide it as the
model arg ``turns`` (Python API) or ``script`` (a path to a JSON file holding the list:
``inspect eval ... --model scripted/x -M script=turns.json``).

Each sample replays the script from its start: the position is derived from how many assistant
turns the conversation already holds, so concurrent samples and retries stay deterministic. Past
the end, the provider answers with ``after_script`` (default: an empty final answer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolCall, ToolChoice, ToolInfo

from prereview.errors import PrereviewError

Turn: TypeAlias = str | dict[str, Any] | Callable[[list[ChatMessage], list[ToolInfo]], Any]


class ScriptError(PrereviewError, ValueError):
    pass


def load_script(path: str | Path) -> list[Turn]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ScriptError(f"cannot read script {path}: {exc}") from None
    if not isinstance(data, list):
        raise ScriptError(f"script {path} must hold a JSON list of turns")
    return list(data)


def _to_message(turn: Any, index: int, model: str) -> ChatMessageAssistant:
    if isinstance(turn, str):
        turn = {"content": turn}
    if not isinstance(turn, dict):
        raise ScriptError(
            f"turn {index}: expected a string or an object, got {type(turn).__name__}"
        )
    calls = []
    for n, raw in enumerate(turn.get("tool_calls") or []):
        if not isinstance(raw, dict) or "function" not in raw:
            raise ScriptError(f"turn {index}: each tool call needs a 'function'")
        calls.append(
            ToolCall(
                id=str(raw.get("id", f"scripted_{index}_{n}")),
                function=str(raw["function"]),
                arguments=dict(raw.get("arguments") or {}),
            )
        )
    return ChatMessageAssistant(
        content=str(turn.get("content", "")),
        tool_calls=calls or None,
        model=model,
        source="generate",
    )


@modelapi(name="scripted")
class ScriptedModelAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        turns: Sequence[Turn] | None = None,
        script: str | None = None,
        after_script: str = "",
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        if turns is not None and script is not None:
            raise ScriptError("give either turns or script, not both")
        self.turns: list[Turn] = list(turns) if turns is not None else []
        if script is not None:
            self.turns = load_script(script)
        self.after_script = after_script

    def max_connections(self) -> int:
        return 32

    async def count_text_tokens(self, text: str) -> int:
        return len(text.split())  # whitespace tokens: deterministic and offline

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        position = sum(1 for m in input if isinstance(m, ChatMessageAssistant))
        if position < len(self.turns):
            turn = self.turns[position]
            if callable(turn):
                turn = turn(input, tools)
        else:
            turn = {"content": self.after_script}
        message = _to_message(turn, position, self.model_name)
        prompt_tokens = sum(len(m.text.split()) for m in input)
        return ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=message,
                    stop_reason="tool_calls" if message.tool_calls else "stop",
                )
            ],
            usage=ModelUsage(
                input_tokens=prompt_tokens,
                output_tokens=len(message.text.split()),
                total_tokens=prompt_tokens + len(message.text.split()),
            ),
        )
