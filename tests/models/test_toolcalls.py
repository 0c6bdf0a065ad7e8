from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from inspect_ai.tool import ToolInfo, ToolParam, ToolParams

from prereview.models.toolcalls import parse_tool_calls, render_tool_call, tool_instructions

BASH = ToolInfo(
    name="bash",
    description="Run a shell command.",
    parameters=ToolParams(properties={"cmd": ToolParam(type="string")}, required=["cmd"]),
)
SUBMIT = ToolInfo(name="submit", description="Submit an answer.", parameters=ToolParams())


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ('<tool_call>{"name": "bash", "arguments": {"cmd": "ls"}}</tool_call>', {"cmd": "ls"}),
        ('<tool_call>{"name": "bash", "arguments": {"cmd": "ls"}}', {"cmd": "ls"}),  # unclosed
        ('Sure.\n```json\n{"name": "bash", "arguments": {"cmd": "id"}}\n```', {"cmd": "id"}),
        ('{"name": "bash", "parameters": {"cmd": "pwd"}}', {"cmd": "pwd"}),
        ('{"name": "bash", "arguments": "{\\"cmd\\": \\"w\\"}"}', {"cmd": "w"}),
        (
            '{"type": "function", "function": {"name": "bash", "arguments": {"cmd": "x"}}}',
            {"cmd": "x"},
        ),
    ],
)
def test_parses_the_forms_models_actually_write(text: str, args: dict[str, str]) -> None:
    rest, calls = parse_tool_calls(text, [BASH])
    assert len(calls) == 1
    assert calls[0].function == "bash"
    assert calls[0].arguments == args
    assert "bash" not in rest


@pytest.mark.parametrize(
    "text",
    [
        "I will now list the files.",
        '<tool_call>{"name": "bash", "arguments": {"cmd": </tool_call>',  # broken JSON
        '{"name": "rm_rf", "arguments": {}}',  # a tool that was not offered
        '{"name": "bash", "arguments": ["ls"]}',  # arguments not an object
        '{"name": "bash", "arguments": "not json"}',
        "{" * 5000,  # pathological nesting
        "",
    ],
)
def test_unparseable_replies_stay_plain_text(text: str) -> None:
    rest, calls = parse_tool_calls(text, [BASH])
    assert calls == []
    assert rest == text


def test_several_calls_and_surrounding_text() -> None:
    text = (
        "Let me look.\n"
        '<tool_call>{"name": "bash", "arguments": {"cmd": "ls"}}</tool_call>\n'
        '<tool_call>{"name": "submit", "arguments": {}}</tool_call>'
    )
    rest, calls = parse_tool_calls(text, [BASH, SUBMIT])
    assert [c.function for c in calls] == ["bash", "submit"]
    assert rest == "Let me look."
    assert len({c.id for c in calls}) == 2


def test_rendered_calls_round_trip() -> None:
    _, calls = parse_tool_calls('{"name": "bash", "arguments": {"cmd": "echo hi"}}', [BASH])
    rest, again = parse_tool_calls(render_tool_call(calls[0]), [BASH])
    assert again[0].arguments == {"cmd": "echo hi"} and rest == ""


def test_instructions_list_every_tool_with_schema() -> None:
    text = tool_instructions([BASH, SUBMIT])
    assert '"name": "bash"' in text and '"name": "submit"' in text and "<tool_call>" in text


@given(st.text(max_size=400))
def test_parser_never_raises_on_arbitrary_text(text: str) -> None:
    rest, calls = parse_tool_calls(text, [BASH, SUBMIT])
    assert isinstance(rest, str)
    for call in calls:
        assert call.function in {"bash", "submit"}
        assert isinstance(call.arguments, dict)
