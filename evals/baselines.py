"""The plain LangChain pipeline, as a yardstick: RecursiveCharacterTextSplitter(1000, 200) over the raw
files + Chroma similarity search, with the same embedding model as the coach (so the comparison
isolates chunking and retrieval, not the model)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.timestamps import parse_time

_ANCHOR = re.compile(r"data-t=\"([\d:]+)\"|\[(\d{1,2}:\d{2}(?::\d{2})?)\]")


@dataclass(frozen=True)
class RawHit:
    """A raw text chunk: it has no start/end of its own, only the anchors written inside it."""

    video_id: str
    times: tuple[int, ...]

    @property
    def start(self) -> int:
        return min(self.times, default=0)

    @property
    def end(self) -> int:
        return max(self.times, default=0)


def anchors(text: str) -> tuple[int, ...]:
    out = []
    for a, b in _ANCHOR.findall(text):
        try:
            out.append(parse_time(a or b))
        except ValueError:
            continue
    return tuple(dict.fromkeys(out))


def langchain_search(files: Sequence[Path], embeddings: Any, video_id: str = "") -> Callable[[str, int], list[RawHit]]:
    """Index the files the plain way and return `search(query, k)`."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    texts = [chunk for f in files for chunk in splitter.split_text(f.read_text(encoding="utf-8"))]
    tmp = tempfile.mkdtemp(prefix="coach-lc-baseline-")
    client = chromadb.PersistentClient(path=tmp, settings=ChromaSettings(anonymized_telemetry=False))
    store = Chroma(client=client, collection_name="baseline", embedding_function=embeddings)
    store.add_texts(texts)

    def search(query: str, k: int) -> list[RawHit]:
        return [RawHit(video_id, anchors(d.page_content)) for d in store.similarity_search(query, k=k)]

    return search
