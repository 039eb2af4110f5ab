"""Hybrid retrieval: dense search over the vectors stored in Chroma and BM25 keyword search, fused by reciprocal rank,
then spread over sources: the best passage of each source comes before any source's second.

Only chunks that a manifest record lists are trusted (see ingest/store.py), so
an interrupted ingestion never leaks half-written passages into answers.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np

from coach import snapshot_cache
from coach.guard import readable
from coach.types import Passage, RetrievalMode
from ingest.embedding import LocalEmbedder
from ingest.store import ChunkStore, read_all, vectors_missing

MODES: tuple[RetrievalMode, ...] = get_args(RetrievalMode)
MAX_K = 50  # the most passages one call returns (the CLI's -k allows the same)
RRF_K = 60  # the constant from Cormack et al. (2009); rankings deeper than ~60 matter little
# BM25's vote in the fusion. 0.5 had the best MRR on the dev split of the notes set (1.0, 0.7, 0.5, 0.3
# tried, with RRF k of 60, 10 and 2): keywords rescue names and rare terms, but paraphrased situations
# are the dense ranking's to win.
KEYWORD_WEIGHT = 0.5
# Over 300 episodes a few talkative ones fill the top ranks with near-repeats and push the episode that
# answers out of the top 5. Measured on the dev split of evals/datasets/corpus.jsonl (hit@5 by episode):
# 40 candidates 7/14 → 200 candidates 8/14 → 200 spread one per source first 12/14 (test split: 9/14).
CANDIDATES = 200
PER_SOURCE_FIRST = 1
# Under this cosine a passage is about something else (MiniLM puts unrelated sentences at 0.0-0.15, and the
# coach declines questions whose best passage is under 0.309), so it earns no promotion in the spread.
SPREAD_FLOOR = 0.2
_WORD = re.compile(r"[A-Za-z0-9$][A-Za-z0-9'$-]*")


@dataclass
class Snapshot:
    version: tuple[str, int, int]
    passages: list[Passage]
    vectors: np.ndarray
    bm25: Any
    following: dict[str, int]  # passage id → position of the next chunk of the same source

    def only(self, keep: Callable[[Passage], bool]) -> Snapshot:
        """The same snapshot narrowed to the passages `keep` accepts, with its own keyword index."""
        chosen = [i for i, p in enumerate(self.passages) if keep(p)]
        passages = [self.passages[i] for i in chosen]
        return Snapshot(self.version, passages, self.vectors[chosen], _keyword_index(passages) if passages else None,
                        _following(passages))  # fmt: skip

    def within(self, video_id: str, vector: np.ndarray, k: int) -> list[Passage]:
        """The `k` chunks of one episode nearest `vector` (dense only: inside one episode every chunk shares the
        episode's words, so keyword scores add little), each scored by its cosine."""
        rows = self._rows_by_video.get(video_id)
        if rows is None or not len(rows) or k < 1:
            return []
        sims = self.vectors[rows] @ vector
        best = np.argsort(-sims)[:k]
        return [_with_score(self.passages[int(rows[i])], float(sims[i])) for i in best]

    @functools.cached_property
    def _rows_by_video(self) -> dict[str, np.ndarray]:
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(self.passages):
            if p.video_id:
                groups.setdefault(p.video_id, []).append(i)
        return {v: np.array(ix) for v, ix in groups.items()}

    def after(self, passage: Passage) -> Passage | None:
        """The chunk that continues `passage` in its source (a speaker's turn often runs on into it)."""
        at = self.following.get(passage.id)
        return self.passages[at] if at is not None else None


class Retriever:
    """Retrieves passages; `score` on each is its cosine similarity to the query (for thresholds)."""

    def __init__(
        self,
        store: ChunkStore,
        embedder: LocalEmbedder,
        candidates: int = CANDIDATES,
        keyword_weight: float = KEYWORD_WEIGHT,
        per_source_first: int | None = PER_SOURCE_FIRST,
        snapshot_dir: Path | None = None,
    ) -> None:
        """`snapshot_dir`: where to save and reuse the snapshot between processes (local stores); None keeps
        it in memory only."""
        self.store = store
        self.snapshot_dir = snapshot_dir
        self.embedder = embedder
        self.candidates = candidates
        self.keyword_weight = keyword_weight
        self.per_source_first = per_source_first
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def snapshot(self, version: tuple[str, int, int] | None = None) -> Snapshot:
        """The passages at `version` (read from the store when not given)."""
        version = version if version is not None else self.store.version()
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = self._build(version)
            return self._snapshot

    def _build(self, version: tuple[str, int, int]) -> Snapshot:
        saved = self._saved(version)
        if saved is None:
            with self.store.reading() as version:  # no commit lands mid-read; the version may be newer than asked
                saved = self._saved(version)
                fresh = self._read() if saved is None else None
            if fresh is not None:
                rows, matrix = fresh
                keyword_index = _keyword_index([Passage.from_store(c, d, m, 0.0) for c, d, m in rows]) if rows else None
                if self.snapshot_dir and rows:
                    snapshot_cache.save(self.snapshot_dir, self.store.name, version, rows, matrix, keyword_index)
                saved = rows, matrix, keyword_index
        rows, matrix, keyword_index = saved
        passages = [Passage.from_store(cid, doc, meta, 0.0) for cid, doc, meta in rows]
        return Snapshot(version, passages, matrix, keyword_index, _following(passages))

    def _saved(self, version: tuple[str, int, int]) -> tuple[list[Any], np.ndarray, Any] | None:
        return snapshot_cache.load(self.snapshot_dir, self.store.name, version) if self.snapshot_dir else None

    def _read(self) -> tuple[list[Any], np.ndarray]:
        """The committed chunks from Chroma as [id, text, metadata] rows, and their vectors."""
        records = self.store.records()
        committed = self.store.committed_ids(records)
        try:
            got = read_all(self.store.chunks, ["documents", "metadatas", "embeddings"])
        except Exception as exc:
            if "error finding id" not in str(exc).lower():
                raise
            raise vectors_missing(self.store, records) from exc
        rows: list[Any] = []
        vectors: list[Any] = []
        for cid, doc, meta, vec in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=False):
            if cid in committed:
                rows.append([cid, doc or "", dict(meta or {})])
                vectors.append(vec)
        return rows, np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)

    def retrieve(
        self,
        query: str,
        k: int = 5,
        mode: RetrievalMode = "hybrid",
        vector: np.ndarray | None = None,
        snapshot: Snapshot | None = None,
    ) -> list[Passage]:
        """Top-k passages; pass `vector` and `snapshot` when the caller already has them for this question."""
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K} passages, not {k}")
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(MODES)}")
        snap = snapshot or self.snapshot()
        query = readable(query)
        if not snap.passages or not query.strip():
            return []
        qvec = vector if vector is not None else self.embedder.encode([query])[0]
        rankings: list[tuple[float, list[int]]] = []
        if mode in ("hybrid", "dense"):
            rankings.append((1.0, self._dense(snap, qvec)))
        if mode in ("hybrid", "bm25"):
            rankings.append((self.keyword_weight if mode == "hybrid" else 1.0, self._keyword(snap, query)))
        fused: dict[int, float] = {}
        for weight, ranking in rankings:
            for rank, idx in enumerate(ranking):
                fused[idx] = fused.get(idx, 0.0) + weight / (RRF_K + rank + 1)
        ranked = sorted(fused, key=lambda i: -fused[i])
        relevance = dict(zip(ranked, (snap.vectors[ranked] @ qvec).tolist(), strict=True)) if ranked else {}
        order = self._spread(snap, ranked, relevance)[:k]
        return [_with_score(snap.passages[i], relevance[i]) for i in order]

    def _spread(self, snap: Snapshot, order: list[int], relevance: dict[int, float]) -> list[int]:
        """Each source's best `per_source_first` passages first (in fused order), then the rest in fused order.
        A passage about something else (cosine under SPREAD_FLOOR) is not promoted, so adding an unrelated
        file never pushes a relevant passage out. With one source (the bundled notes) nothing moves."""
        if not self.per_source_first:
            return order
        first: list[int] = []
        rest: list[int] = []
        taken: dict[str, int] = {}
        for i in order:
            source = snap.passages[i].source
            promoted = taken.get(source, 0) < self.per_source_first and relevance.get(i, 1.0) >= SPREAD_FLOOR
            (first if promoted else rest).append(i)
            taken[source] = taken.get(source, 0) + 1
        return first + rest

    def _dense(self, snap: Snapshot, qvec: np.ndarray) -> list[int]:
        """Exact cosine ranking over the snapshot's vectors (unit length, so a dot product).

        Not Chroma's HNSW query: over the 303 episodes its approximate top 10 held 92 % of the exact top 10
        on average, missed the exact best passage for 5 % of the eval questions, and in one freshly built
        store returned none of Ethan Evans' passages for "What is the Magic Loop?" (exact: all top 5).
        The vectors are in memory already for the answer's cosines; 52k × 384 costs a few milliseconds."""
        scores = snap.vectors @ qvec
        n = min(self.candidates, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]

    def _keyword(self, snap: Snapshot, query: str) -> list[int]:
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        n = min(self.candidates, len(snap.passages))
        docs, scores = snap.bm25.retrieve(tokens, k=n, show_progress=False)
        return [int(d) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]


def _following(passages: list[Passage]) -> dict[str, int]:
    at = {(p.source, p.index): i for i, p in enumerate(passages)}
    return {p.id: at[(p.source, p.index + 1)] for p in passages if (p.source, p.index + 1) in at}


def _keyword_index(passages: list[Passage]) -> Any:
    import bm25s

    index = bm25s.BM25()
    index.index(bm25s.tokenize([_bm25_text(p) for p in passages], stopwords="en", show_progress=False), show_progress=False)
    return index


def _bm25_text(p: Passage) -> str:
    return f"{p.heading} {p.text}"


def _with_score(p: Passage, score: float) -> Passage:
    from dataclasses import replace

    return replace(p, score=round(score, 4))
