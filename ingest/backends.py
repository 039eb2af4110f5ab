"""The embedding runtimes by name: ingest/embedding.py builds them, coach's settings accept exactly these.

Its own module so that reading the settings does not import numpy and the embedder."""

from __future__ import annotations

from typing import Literal, get_args

EmbedBackend = Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"]
BACKENDS: tuple[EmbedBackend, ...] = get_args(EmbedBackend)
