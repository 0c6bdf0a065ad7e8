"""The `local` provider with the real embedded SmolLM2 model, through Inspect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspect_ai import eval
from inspect_ai.model import (
    ChatMessageUser,
    GenerateConfig,
    ResponseSchema,
    get_model,
)
from inspect_ai.tool import ToolInfo, ToolParam, ToolParams
from inspect_ai.util import JSONSchema

from prereview.models.catalog import InvalidModelFileError, UnknownModelError, resolve_model
from prereview.models.local import LoadedModel
from prereview.suites.smoke import smoke

pytestmark = [pytest.mark.llm, pytest.mark.slow]


@pytest.fixture(autouse=True)
def forbid_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    """tiktoken would download its BPE file: any use of it is a test failure."""
    import tiktoken

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("tiktoken used: it downloads files and fails offline")

    monkeypatch.setattr(tiktoken, "get_encoding", refuse)


def test_tool_call_round_trip_through_inspect(tmp_path: Path) -> None:
    log = eval(
        smoke(samples=2),
        model="local/smollm2",
        log_dir=str(tmp_path),
        display="none",
        seed=0,
        max_tokens=48,
    )[0]
    assert log.status == "success", log.error
    assert log.samples
    for sample in log.samples:
        roles = [m.role for m in sample.messages]
        assert roles[:4] == ["user", "assistant", "tool", "assistant"]
        call = sample.messages[1].tool_calls[0]  # type: ignore[union-attr]
        assert call.function == "add"
        x, y = int(call.arguments["x"]), int(call.arguments["y"])
        assert sample.messages[2].text == str(x + y)  # the tool really ran on the model's args
        assert sample.messages[3].text.strip()  # a final answer in plain text
    usage = log.stats.model_usage["local/smollm2"]
    assert usage.input_tokens > 0 and usage.output_tokens > 0


async def test_generation_settings_come_from_generate_config() -> None:
    model = get_model("local/smollm2")
    config = GenerateConfig(temperature=0.9, seed=7, max_tokens=12)
    prompt = [ChatMessageUser(content="Write a short poem about the sea.")]
    first = await model.generate(prompt, config=config)
    second = await model.generate(prompt, config=config)
    assert first.completion == second.completion  # same seed, same sampled text
    assert first.usage is not None
    assert 0 < first.usage.output_tokens <= 12
    assert first.stop_reason == "max_tokens"
    other = await model.generate(prompt, config=config.merge(GenerateConfig(seed=8)))
    assert other.completion != first.completion


async def test_tokens_are_counted_with_the_models_own_tokenizer() -> None:
    model = get_model("local/smollm2")
    text = "Heap buffer overflow in parse_tlv()"
    loaded = LoadedModel.get(resolve_model("smollm2"), None, None)
    expected = len(loaded.llama.tokenize(text.encode(), add_bos=False, special=True))
    assert await model.count_tokens(text) == expected


async def test_response_schema_is_decoded_under_a_grammar() -> None:
    model = get_model("local/smollm2")
    schema = JSONSchema(
        type="object",
        properties={"severity": JSONSchema(type="string", enum=["low", "high"])},
        required=["severity"],
    )
    out = await model.generate(
        "Rate the severity of a remote code execution bug.",
        config=GenerateConfig(
            response_schema=ResponseSchema(name="rating", json_schema=schema), max_tokens=32
        ),
    )
    assert json.loads(out.completion)["severity"] in ("low", "high")


async def test_free_reply_with_tools_offered_never_raises() -> None:
    model = get_model("local/smollm2")
    tool = ToolInfo(
        name="bash",
        description="Run a command.",
        parameters=ToolParams(properties={"cmd": ToolParam(type="string")}, required=["cmd"]),
    )
    out = await model.generate(
        "Tell me a joke, do not use tools.",
        tools=[tool],
        tool_choice="auto",
        config=GenerateConfig(max_tokens=24, seed=1),
    )
    assert out.message.role == "assistant"
    for call in out.message.tool_calls or []:
        assert call.function == "bash" and isinstance(call.arguments, dict)


async def test_prompt_longer_than_the_context_is_a_length_stop_not_a_crash() -> None:
    model = get_model("local/smollm2", n_ctx=256)
    out = await model.generate("word " * 2000, config=GenerateConfig(max_tokens=8))
    assert out.stop_reason == "model_length"


def test_bad_model_names_and_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="available: local/smollm2"):
        get_model("local/not-a-model")
    broken = tmp_path / "half.gguf"
    broken.write_bytes(resolve_model("smollm2").read_bytes()[:1_000_000])
    with pytest.raises(InvalidModelFileError, match=r"half\.gguf is truncated"):
        get_model(f"local/{broken}")
