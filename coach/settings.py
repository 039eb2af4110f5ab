"""The one settings object. Every field can be set as an environment variable `COACH_<NAME>`."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from coach.resources import bundled_folder
from ingest.backends import EmbedBackend


def _data_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "coach"


# The default people database in the store folder (profiles and plans). ".coach-*": never copied when a
# read-only store is read from a temporary copy.
PEOPLE_FILE = ".coach-people.sqlite3"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COACH_", extra="ignore")

    store_dir: Path = Field(
        default_factory=lambda: _data_home() / "store",
        description="Local Chroma directory (ignored when chroma_url is set).",
    )
    chroma_url: str | None = Field(None, description="Chroma server URL, e.g. http://127.0.0.1:8001.")
    data_dir: Path = Field(
        default_factory=lambda: bundled_folder("data"), description="The bundled corpus, indexed on first use."
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "coach",
        description="Cache folder: the exported ONNX model and, for local stores, the retriever snapshot.",
    )
    embed_backend: EmbedBackend = Field(
        "auto",
        description="Embedding runtime for all-MiniLM-L6-v2: auto (torch-bf16 where the CPU has native bf16, "
        "else torch), torch, torch-bf16, onnx or onnx-int8.",
    )
    embed_batch_size: int = Field(32, ge=1, le=512, description="Texts per embedding batch.")
    chunk_tokens: int = Field(128, ge=16, le=1024, description="Target chunk size in cl100k tokens.")
    chunk_overlap_tokens: int = Field(16, ge=0, le=512, description="Tokens of trailing sentences repeated.")
    max_file_mb: float = Field(8.0, gt=0, description="Files larger than this are refused with an error.")
    writer_wait_s: float = Field(
        600.0, ge=0, description="How long an ingest waits for another process writing the same store (0: fail at once)."
    )

    llm: str = Field(
        "offline", description="Answer backend: offline, openai, smollm2, or provider:model (e.g. ollama:llama3.1)."
    )
    openai_base_url: str | None = Field(None, description="OpenAI-compatible endpoint base URL.")
    openai_model: str = Field("gpt-4o-mini", description="Model name at the OpenAI-compatible endpoint.")
    openai_api_key: SecretStr | None = Field(None, description="API key (or set OPENAI_API_KEY).")
    llm_timeout_s: float = Field(30.0, gt=0, description="Seconds before an LLM call gives up.")
    llm_max_tokens: int = Field(400, ge=16, le=4096, description="Most tokens an LLM may write per answer.")
    top_k: int = Field(8, ge=1, le=20, description="Passages retrieved to ground each answer.")

    eval_tolerance_s: int = Field(
        0, ge=0, le=120, description="Eval: a passage this many seconds from a gold time still counts as a hit."
    )
    max_question_chars: int = Field(4000, ge=100, description="Longer questions are trimmed, with a notice.")
    feedback_path: Path | None = Field(None, description="Opt-in JSONL file for thumbs up/down feedback.")
    auth_user: str | None = Field(None, description="Username for the web UI (with auth_password).")
    auth_password: SecretStr | None = Field(None, description="Password for the web UI.")
    auth_users: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='More web UI users, as JSON {"name": "password", …}; each sees only their own profile and plan.',
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL for saved profiles and plans (default: a SQLite file in the store folder, "
        "created only when someone first saves).",
    )
    auth_max_attempts: int = Field(
        5, ge=1, le=100, description="Wrong passwords in a row from one client address before sign-in pauses."
    )
    auth_lockout_s: float = Field(
        30.0, gt=0, le=3600, description="Seconds sign-in stays refused for that client after too many wrong passwords."
    )
