"""Sentence embeddings, each computed once: a bounded cache in front of the embedder.

Every question embeds the sentences of its passages to rank them, and the premise check compares the same
sentences again; questions about one topic meet the same passages. Caching by text keeps each sentence to one
embedding per process (bounded, least recently used first out).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ingest.embedding import LocalEmbedder

# 20,000 MiniLM vectors are ~30 MB: every sentence of the bundled notes many times over, and the passages of a
# few thousand questions over the 303 episodes.
MAX_SENTENCES = 20_000


class Encoder(Protocol):
    """What ranking needs of an embedder: unit-length rows for texts (LocalEmbedder and SentenceVectors)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceVectors:
    def __init__(self, embedder: LocalEmbedder, max_sentences: int = MAX_SENTENCES) -> None:
        self.embedder = embedder
        self.max_sentences = max_sentences
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, in order; only texts not seen before reach the embedder (one batch)."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = self.embedder.encode(missing) if missing else None
        with self._lock:
            for text, vector in zip(missing, fresh if fresh is not None else [], strict=True):
                self._cache[text] = vector
            rows = []
            for text in texts:
                vector = self._cache.get(text)
                if vector is None:  # evicted by another thread between the two locks: embed it again
                    vector = self.embedder.encode([text])[0]
                self._cache[text] = vector
                self._cache.move_to_end(text)
                rows.append(vector)
            while len(self._cache) > self.max_sentences:
                self._cache.popitem(last=False)
        dim = rows[0].shape[0] if rows else 0
        return np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
