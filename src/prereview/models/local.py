"""Inspect model provider `local`: a GGUF model run in-process by llama.cpp, fully offline.

`--model local/smollm2` runs the embedded SmolLM2-135M-Instruct; `--model local/PATH.gguf` any GGUF.

Tool calling: when the GGUF's chat template renders `tools` natively we pass them to it; otherwise
the JSON convention in `toolcalls` is taught in the system prompt. Either way replies are parsed
with the same forgiving parser, and a reply that does not parse stays a plain assistant message.
When the caller forces a tool (`tool_choice` "any" or a named function) or asks for a
`response_schema`, decoding is constrained by a grammar built from the JSON schema, so even a tiny
model emits a well-formed call.

Settings: temperature, top_p, top_k, max_tokens, seed, stop_seqs, frequency/presence penalties
from GenerateConfig; context size and threads from model args (`-M n_ctx=4096 -M n_threads=2`) or
GenerateConfig.extra_body (`{"n_ctx": ..., "n_threads": ...}`). Tokens are counted with the
model's own tokenizer, never tiktoken (which would download a file).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, ClassVar

import anyio
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.model._model_call import ModelCall
from inspect_ai.tool import ToolChoice, ToolFunction, ToolInfo

from prereview.models.catalog import resolve_model
from prereview.models.toolcalls import (
    forced_call_schema,
    parse_tool_calls,
    render_tool_call,
    render_tool_result,
    tool_instructions,
)

DEFAULT_MAX_TOKENS = 512
DEFAULT_N_CTX = 8192


class LoadedModel:
    """One llama.cpp model in memory, shared by every `local` provider instance that uses it.

    llama.cpp contexts are not thread-safe, so all use goes through `lock`.
    """

    _cache: ClassVar[dict[tuple[str, int, int], LoadedModel]] = {}
    _cache_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path, n_ctx: int, n_threads: int) -> None:
        from llama_cpp import Llama

        self.path = path
        self.lock = threading.Lock()
        self.llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
            seed=0,
        )
        template = self.llama.metadata.get("tokenizer.chat_template", "")
        self.native_tools = "tools" in template
        self.n_ctx = self.llama.n_ctx()

    @classmethod
    def get(cls, path: Path, n_ctx: int | None, n_threads: int | None) -> LoadedModel:
        threads = n_threads or max(1, os.cpu_count() or 1)
        ctx = n_ctx or DEFAULT_N_CTX
        key = (str(path), ctx, threads)
        with cls._cache_lock:
            if key not in cls._cache:
                cls._cache[key] = cls(path, ctx, threads)
            return cls._cache[key]

    def count(self, text: str) -> int:
        with self.lock:
            return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def _text(message: ChatMessage) -> str:
    return message.text if isinstance(message.content, list) else message.content


def to_llama_messages(
    messages: list[ChatMessage], tools: list[ToolInfo], native_tools: bool
) -> list[dict[str, Any]]:
    """Inspect messages → OpenAI-style dicts for llama.cpp's chat template."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        if isinstance(msg, ChatMessageSystem):
            out.append({"role": "system", "content": _text(msg)})
        elif isinstance(msg, ChatMessageUser):
            out.append({"role": "user", "content": _text(msg)})
        elif isinstance(msg, ChatMessageAssistant):
            parts = [_text(msg)] if _text(msg) else []
            parts += [render_tool_call(c) for c in msg.tool_calls or []]
            out.append({"role": "assistant", "content": "\n".join(parts)})
        elif isinstance(msg, ChatMessageTool):
            err = msg.error.message if msg.error else None
            if native_tools:
                out.append({"role": "tool", "content": _text(msg) if not err else f"ERROR: {err}"})
            else:
                body = render_tool_result(msg.function, _text(msg), err)
                out.append({"role": "user", "content": body})
    if tools and not native_tools:
        instructions = tool_instructions(tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + instructions}
        else:
            out.insert(0, {"role": "system", "content": instructions})
    # chat templates expect alternating turns: merge consecutive user messages
    merged: list[dict[str, Any]] = []
    for m in out:
        if merged and m["role"] == "user" and merged[-1]["role"] == "user":
            merged[-1] = {"role": "user", "content": merged[-1]["content"] + "\n\n" + m["content"]}
        else:
            merged.append(m)
    return merged


@modelapi(name="local")
class LocalModelAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        self.path = resolve_model(model_name)
        self.n_ctx = _int_arg(model_args.get("n_ctx"))
        self.n_threads = _int_arg(model_args.get("n_threads")) or _int_arg(
            os.environ.get("PREREVIEW_MODEL_THREADS")
        )
        self._loaded: LoadedModel | None = None

    def _model(self, config: GenerateConfig | None = None) -> LoadedModel:
        extra = (config.extra_body or {}) if config else {}
        n_ctx = _int_arg(extra.get("n_ctx")) or self.n_ctx
        n_threads = _int_arg(extra.get("n_threads")) or self.n_threads
        if self._loaded is None or extra:
            self._loaded = LoadedModel.get(self.path, n_ctx, n_threads)
        return self._loaded

    def max_connections(self) -> int:
        return 1  # one llama.cpp context; more connections would only queue on its lock

    def connection_key(self) -> str:
        return f"local:{self.path}"

    async def count_text_tokens(self, text: str) -> int:
        model = self._model()
        return await anyio.to_thread.run_sync(model.count, text)

    async def tokenize(self, text: str) -> list[int]:
        model = self._model()

        def run() -> list[int]:
            with model.lock:
                return list(model.llama.tokenize(text.encode("utf-8"), add_bos=False))

        return await anyio.to_thread.run_sync(run)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> tuple[ModelOutput, ModelCall]:
        model = self._model(config)
        offered = [] if tool_choice == "none" else tools
        if isinstance(tool_choice, ToolFunction):
            offered = [t for t in tools if t.name == tool_choice.name]
        messages = to_llama_messages(input, offered, model.native_tools)

        schema: dict[str, Any] | None = None
        if offered and (tool_choice == "any" or isinstance(tool_choice, ToolFunction)):
            schema = forced_call_schema(offered)
        elif config.response_schema is not None:
            schema = config.response_schema.json_schema.model_dump(exclude_none=True)

        stop = list(config.stop_seqs or [])
        if offered and not model.native_tools:
            stop.append("<tool_response")  # the model must not invent tool results itself
        request: dict[str, Any] = {
            "messages": messages,
            "max_tokens": config.max_tokens or DEFAULT_MAX_TOKENS,
            "stop": stop or None,
            "seed": config.seed,
        }
        for key in ("temperature", "top_p", "top_k", "frequency_penalty", "presence_penalty"):
            value = getattr(config, key)
            if value is not None:
                request[key] = value
        if offered and model.native_tools:
            request["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters.model_dump(exclude_none=True),
                    },
                }
                for t in offered
            ]

        def run() -> dict[str, Any]:
            from llama_cpp.llama_grammar import LlamaGrammar

            kwargs = dict(request)
            if schema is not None:
                kwargs["grammar"] = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
            with model.lock:
                try:
                    result = model.llama.create_chat_completion(**kwargs)
                    return dict(result)  # type: ignore[arg-type]  # not streaming: a dict
                except ValueError as exc:
                    if "exceed context window" not in str(exc):
                        raise
                    return {"overflow": str(exc)}

        response = await anyio.to_thread.run_sync(run)
        call = ModelCall.create(
            request={**request, "grammar_schema": schema},
            response={k: v for k, v in response.items() if k != "choices"}
            | {"text": _choice_text(response)},
        )
        if "overflow" in response:
            output = ModelOutput.from_content(
                model=self.model_name, content="", stop_reason="model_length"
            )
            output.error = response["overflow"]
            return output, call

        text = _choice_text(response)
        finish = (response.get("choices") or [{}])[0].get("finish_reason")
        content, calls = parse_tool_calls(text, offered)
        usage = response.get("usage") or {}
        output = ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(
                        content=content,
                        tool_calls=calls or None,
                        model=self.model_name,
                        source="generate",
                    ),
                    stop_reason="tool_calls"
                    if calls
                    else ("max_tokens" if finish == "length" else "stop"),
                )
            ],
            usage=ModelUsage(
                input_tokens=int(usage.get("prompt_tokens", 0)),
                output_tokens=int(usage.get("completion_tokens", 0)),
                total_tokens=int(usage.get("total_tokens", 0)),
            ),
        )
        return output, call


def _choice_text(response: dict[str, Any]) -> str:
    choices = response.get("choices") or []
    if not choices:
        return ""
    content = choices[0].get("message", {}).get("content")
    return content if isinstance(content, str) else ""


def _int_arg(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)
