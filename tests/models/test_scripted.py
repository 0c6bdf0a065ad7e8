from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspect_ai import Task, eval
from inspect_ai.agent import react
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, ChatMessageUser, get_model
from inspect_ai.scorer import includes
from inspect_ai.tool import Tool, tool

from prereview.models.scripted import ScriptError


@tool
def shout() -> Tool:
    async def execute(word: str) -> str:
        """Upper-case a word.

        Args:
          word: The word.
        """
        return word.upper()

    return execute


def _task() -> Task:
    return Task(
        dataset=[Sample(input="Shout 'hello' then submit it.", target="HELLO")],
        solver=react(tools=[shout()]),
        scorer=includes(),
    )


def test_scripted_turns_drive_a_react_agent_deterministically(tmp_path: Path) -> None:
    turns = [
        {"tool_calls": [{"function": "shout", "arguments": {"word": "hello"}}]},
        # a callable turn sees the conversation: submit what the tool returned
        lambda messages, tools: {
            "tool_calls": [{"function": "submit", "arguments": {"answer": messages[-1].text}}]
        },
    ]
    model = get_model("scripted/oracle", turns=turns)
    for _ in range(2):
        log = eval(_task(), model=model, log_dir=str(tmp_path), display="none")[0]
        assert log.status == "success"
        sample = log.samples[0]
        assert sample.scores["includes"].value == "C"
        calls = [
            c.function for m in sample.messages if m.role == "assistant" for c in m.tool_calls or []
        ]
        assert calls[0] == "shout"
        final = sample.output.message.tool_calls or []
        assert [c.function for c in final] == ["submit"]
        assert final[0].arguments == {"answer": "HELLO"}


def test_script_file_via_model_args(tmp_path: Path) -> None:
    script = tmp_path / "turns.json"
    script.write_text(
        json.dumps([{"tool_calls": [{"function": "submit", "arguments": {"answer": "nope"}}]}])
    )
    log = eval(
        _task(),
        model="scripted/file",
        model_args={"script": str(script)},
        log_dir=str(tmp_path),
        display="none",
    )[0]
    assert log.samples[0].scores["includes"].value == "I"


def test_bad_script_is_a_clear_error(tmp_path: Path) -> None:
    script = tmp_path / "turns.json"
    script.write_text("{not json")
    with pytest.raises(ScriptError, match="cannot read script"):
        get_model("scripted/bad", script=str(script))


async def test_counts_tokens_without_tiktoken() -> None:
    model = get_model("scripted/x", turns=[])
    messages: list[ChatMessage] = [ChatMessageUser(content="four words right here")]
    assert await model.count_tokens("one two three") == 3
    assert await model.count_tokens(messages) >= 4
