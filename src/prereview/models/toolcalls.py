"""The JSON tool-call convention for models whose chat template has no native tool calling.

The model is told, in the system message, to call a tool by writing::

    <tool_call>{"name": "bash", "arguments": {"cmd": "ls -la"}}</tool_call>

The parser is deliberately forgiving about *form* (missing closing tag, a ```json fence, a bare
JSON object, `parameters` instead of `arguments`, arguments as a JSON string) and strict about
*meaning*: only tools that were offered are called, arguments must be a JSON object. The reply of a
model under review is hostile input: anything that does not parse stays plain assistant text and
never raises.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from inspect_ai.tool import ToolCall, ToolInfo

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
_TAG_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_MAX_CALLS = 16  # a reply that "calls" more tools than this is treated as text past the limit


def tool_instructions(tools: Sequence[ToolInfo]) -> str:
    """System-prompt text that teaches the convention and lists the tools with their schemas."""
    specs = [
        {
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters.model_dump(exclude_none=True),
        }
        for t in tools
    ]
    example = tools[0].name if tools else "tool_name"
    return (
        "You can call tools. To call one, reply with exactly one line of this form and nothing "
        "after it:\n"
        f'{OPEN_TAG}{{"name": "{example}", "arguments": {{...}}}}{CLOSE_TAG}\n'
        "The result comes back in a <tool_response> message. When you have the final answer, "
        "reply with plain text and no tool call.\n"
        "Available tools (JSON schema of their arguments):\n"
        + "\n".join(json.dumps(s, ensure_ascii=False) for s in specs)
    )


def render_tool_call(call: ToolCall) -> str:
    """How an earlier assistant tool call is shown back to a model that uses the convention."""
    payload = {"name": call.function, "arguments": call.arguments}
    return f"{OPEN_TAG}{json.dumps(payload, ensure_ascii=False)}{CLOSE_TAG}"


def render_tool_result(function: str | None, content: str, error: str | None) -> str:
    body = content if error is None else f"ERROR: {error}\n{content}".rstrip()
    return f'<tool_response name="{function or ""}">\n{body}\n</tool_response>'


def _json_objects(text: str) -> Iterator[tuple[int, int, Any]]:
    """Every JSON object that can be decoded starting at some `{` in text, left to right."""
    decoder = json.JSONDecoder()
    pos = text.find("{")
    while pos != -1:
        try:
            value, end = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            pos = text.find("{", pos + 1)
            continue
        yield pos, end, value
        pos = text.find("{", end)


def _as_call(value: Any, offered: set[str]) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(value, dict):
        return None
    if "function" in value and isinstance(value["function"], dict):  # OpenAI-style nesting
        value = value["function"]
    name = value.get("name")
    args: Any = value.get("arguments", value.get("parameters", {}))
    if not isinstance(name, str) or name not in offered:
        return None
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return name, args


def _call_id(index: int, name: str, args: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps([name, args], sort_keys=True).encode()).hexdigest()[:10]
    return f"call_{index}_{digest}"


def parse_tool_calls(text: str, tools: Sequence[ToolInfo]) -> tuple[str, list[ToolCall]]:
    """Split a reply into (remaining text, tool calls). Never raises on model output."""
    offered = {t.name for t in tools}
    if not offered or not text:
        return text, []
    spans: list[tuple[int, int]] = []
    found: list[tuple[str, dict[str, Any]]] = []

    tagged = list(_TAG_BLOCK.finditer(text))
    if tagged:
        for match in tagged:
            for _start, _end, value in _json_objects(match.group(1)):
                call = _as_call(value, offered)
                if call is not None:
                    found.append(call)
                    spans.append(match.span())
                    break
    else:
        for start, end, value in _json_objects(text):
            call = _as_call(value, offered)
            if call is not None:
                found.append(call)
                spans.append((start, end))

    if not found:
        return text, []
    remaining = text
    for start, end in sorted(spans, reverse=True):
        remaining = remaining[:start] + remaining[end:]
    remaining = re.sub(r"```(?:json)?\s*```", "", remaining).strip()
    calls = [
        ToolCall(id=_call_id(i, name, args), function=name, arguments=args)
        for i, (name, args) in enumerate(found[:_MAX_CALLS])
    ]
    return remaining, calls


def forced_call_schema(tools: Sequence[ToolInfo]) -> dict[str, Any]:
    """JSON schema of a reply that is exactly one call of one of `tools` (for grammar decoding)."""
    variants = [
        {
            "type": "object",
            "properties": {
                "name": {"const": t.name},
                "arguments": t.parameters.model_dump(exclude_none=True),
            },
            "required": ["name", "arguments"],
        }
        for t in tools
    ]
    return variants[0] if len(variants) == 1 else {"anyOf": variants}
