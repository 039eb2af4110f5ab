"""Ingestion into a real persistent Chroma: through Coach.open with real MiniLM embeddings, and through
ingest_paths with the fake embedder, whose vectors are all these tests' claims leave out (statuses, counts,
ids, duplicates, paging)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coach.api import Coach
from ingest.pipeline import ingest_paths
from ingest.store import ChunkStore, IndexConfig, connect
from tests.conftest import CORPUS, NOTES


@pytest.fixture
def embedder(word_embedder):  # type: ignore[no-untyped-def]
    """The hashed-words fake (tests/support.py): MiniLM would cost seconds a test and change no assertion here."""
    return word_embedder


def _store(path: Path, embedder, tokens: int = 128, overlap: int = 16) -> ChunkStore:  # type: ignore[no-untyped-def]
    return ChunkStore(connect(str(path), None), IndexConfig(embedder.model_id, tokens, overlap))


def _copy_episode(dst: Path, name: str) -> Path:
    target = dst / name / "transcript.md"
    target.parent.mkdir(parents=True)
    shutil.copy(CORPUS / name / "transcript.md", target)
    return target


def test_first_open_builds_the_bundled_index_by_itself(settings) -> None:  # type: ignore[no-untyped-def]
    coach = Coach.open(settings=settings)
    assert coach.startup_report is not None
    assert coach.startup_report.chunks_added > 10
    hits = coach.retrieve("What are the steps of the Magic Loop?", k=5)
    assert any(h.video_id == "GB0P0_nFPTA" and "Magic Loop" in h.text for h in hits)
    assert all(h.url.startswith("https://www.youtube.com/watch?v=GB0P0_nFPTA&t=") for h in hits)
    assert Coach.open(settings=settings).startup_report is None  # second open: nothing to build


def test_reingest_unchanged_changed_and_removed(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    src.mkdir()
    notes = src / "notes.md"
    shutil.copy(NOTES, notes)
    episode = _copy_episode(src, "ada-chen-rekhi")
    store = _store(tmp_path / "store", embedder)

    first = ingest_paths([src], store, embedder)
    assert first.chunks_added > 0
    assert not first.errors
    total = store.count()

    again = ingest_paths([src], store, embedder)
    assert again.chunks_added == 0
    assert again.chunks_removed == 0
    assert again.chunks_unchanged == first.chunks_added
    assert store.count() == total

    # Change one sentence: only the chunks holding it are replaced.
    text = notes.read_text(encoding="utf-8")
    notes.write_text(text.replace("Managers rarely get asked this", "Bosses are seldom asked this"), "utf-8")
    changed = ingest_paths([src], store, embedder)
    note_result = next(f for f in changed.files if f.path.endswith("notes.md"))
    assert note_result.status == "updated"
    assert 1 <= note_result.chunks_added <= 3
    assert note_result.chunks_removed == note_result.chunks_added
    docs = " ".join(c.text for c in store.all_chunks())
    assert "Bosses are seldom asked this" in docs
    assert "Managers rarely get asked this" not in docs

    # Remove a file: its chunks go, the rest stay.
    episode.unlink()
    removed = ingest_paths([src], store, embedder)
    gone = next(f for f in removed.files if f.status == "removed")
    assert gone.chunks_removed > 0
    assert not any(c.meta["source_name"] == "ada-chen-rekhi" for c in store.all_chunks())
    assert store.committed_ids() == {c.id for c in store.all_chunks()}


def test_changing_chunk_settings_rebuilds_instead_of_mixing(settings) -> None:  # type: ignore[no-untyped-def]
    first = Coach.open(settings=settings)
    old_name = first.store.name
    old_count = first.store.count()
    rebuilt = Coach.open(settings=settings.model_copy(update={"chunk_tokens": 64, "chunk_overlap_tokens": 0}))
    assert rebuilt.store.name != old_name
    assert rebuilt.startup_report is not None
    assert rebuilt.startup_report.rebuilt_from == old_name
    assert rebuilt.store.count() > old_count  # smaller chunks, more of them
    names = [c if isinstance(c, str) else c.name for c in rebuilt.store.client.list_collections()]
    assert old_name not in names  # the old generation is dropped, not mixed in
    assert all(c.meta["tokens"] <= 64 for c in rebuilt.store.all_chunks())


def test_bad_files_are_reported_and_the_rest_of_the_batch_lands(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path / "store", embedder)
    before = ingest_paths([NOTES], store, embedder)
    kept_ids = store.committed_ids()
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "latin1.md").write_bytes("---\ntitle: café\n---\nBonjour [00:01:00].".encode("latin-1"))
    (batch / "empty.md").write_bytes(b"")
    (batch / "binary.md").write_bytes(b"\x00\x01\x02PNG" * 100)
    (batch / "untimed.md").write_text("---\ntitle: T\nvideoId: abcdefghijk\n---\nProse with no times.\n", "utf-8")
    (batch / "badtime.md").write_text(
        "---\nguest: A\nvideo_id: abcdefghijk\n---\nA (00:00:01):\nHello there.\n\nA (00:77:00):\nStill here.\n", "utf-8"
    )
    with (batch / "huge.md").open("wb") as fh:
        fh.truncate(20_000_000)
    good = _copy_episode(batch, "ada-chen-rekhi")
    report = ingest_paths([batch, tmp_path / "missing.md"], store, embedder)
    by_name = {Path(f.path).name: f for f in report.files}
    assert "not UTF-8" in by_name["latin1.md"].message
    assert "empty" in by_name["empty.md"].message
    assert "binary" in by_name["binary.md"].message
    assert "no timestamps" in by_name["untimed.md"].message
    assert "20.0 MB" in by_name["huge.md"].message
    assert "no such file" in by_name["missing.md"].message
    assert by_name["badtime.md"].status == "added"
    assert any("malformed time" in w for w in by_name["badtime.md"].warnings)
    assert by_name[good.name].status == "added"
    assert by_name[good.name].chunks_added > 0
    assert len(report.errors) == 6
    assert kept_ids <= store.committed_ids()  # nothing already stored was lost
    assert before.chunks_added == len(kept_ids)


def test_a_broken_update_keeps_the_stored_version(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    notes = tmp_path / "notes.md"
    shutil.copy(NOTES, notes)
    store = _store(tmp_path / "store", embedder)
    ingest_paths([notes], store, embedder)
    ids = store.committed_ids()
    notes.write_bytes(b"\xff\xfe broken now")
    report = ingest_paths([notes], store, embedder)
    assert "stored chunks are kept" in report.errors[0].message
    assert store.committed_ids() == ids


def test_duplicate_episode_folders_are_indexed_once(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "eps"
    src.mkdir()
    for name in ("ethan-evans", "ethan-evans-20", "chip-conley", "maggie-crowley"):
        _copy_episode(src, name)
    store = _store(tmp_path / "store", embedder, tokens=256, overlap=0)
    report = ingest_paths([src], store, embedder)
    status = {Path(f.path).parent.name: f for f in report.files}
    assert status["ethan-evans"].status == "added"
    assert status["ethan-evans-20"].status == "duplicate"
    assert status["ethan-evans-20"].chunks_added == 0
    # chip-conley's front matter was copied from Maggie Crowley's episode: same id, other words.
    assert status["chip-conley"].status == "added"
    assert status["maggie-crowley"].status == "added"
    assert any("not trusted" in w for w in status["chip-conley"].warnings)
    chunks = store.all_chunks()
    assert {c.meta["video_id"] for c in chunks if c.meta["source_name"] == "chip-conley"} == {""}
    assert {c.meta["video_id"] for c in chunks if c.meta["source_name"] == "maggie-crowley"} == {"4LjddcccYIo"}
    again = ingest_paths([src], store, embedder)
    assert again.chunks_added == 0
    assert again.chunks_removed == 0


def test_notes_and_the_transcript_of_one_episode_both_keep_its_id(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """The bundled notes and Ethan Evans' transcript share a video id by right: neither is a copy, both link."""
    src = tmp_path / "eps"
    src.mkdir()
    _copy_episode(src, "ethan-evans")
    store = _store(tmp_path / "store", embedder, tokens=256, overlap=0)
    report = ingest_paths([NOTES, src], store, embedder)
    assert [f.status for f in report.files] == ["added", "added"]
    assert not any("not trusted" in w for f in report.files for w in f.warnings)
    ids = {c.meta["format"]: c.meta["video_id"] for c in store.all_chunks()}
    assert ids == {"notes": "GB0P0_nFPTA", "transcript": "GB0P0_nFPTA"}


@pytest.mark.parametrize("name", ["ryan-hoover", "adriel-frederick"])
def test_odd_transcript_shapes_ingest(tmp_path: Path, embedder, name: str) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path / "store", embedder, tokens=256, overlap=0)
    report = ingest_paths([CORPUS / name / "transcript.md"], store, embedder)
    assert report.chunks_added > 20
    assert not report.errors


def test_a_changed_source_with_as_many_chunks_is_seen_by_a_running_coach(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """Another process may rewrite a source without changing any count: readers must still notice."""
    from coach.api import Coach

    folder = tmp_path / "src"
    folder.mkdir()
    note = folder / "ladder.md"

    def write(word: str, step: str) -> None:
        note.write_text(
            f"---\ntitle: {word} ladder\nvideoId: AAAAAAAAAAA\n---\n# The {word} ladder\n\n"
            f"1. **{step}**: the {word} ladder says to write down every promise your manager makes. [00:01:05]\n"
            f"2. **Review**: go over the {word} list together every quarter. [00:02:10]\n",
            encoding="utf-8",
        )

    write("Zorblax", "Record")
    coach = Coach.open(settings=settings)
    coach.ingest([folder])
    assert "Zorblax" in coach.retrieve("Zorblax ladder promises", k=1)[0].text
    assert any(f.framework.name == "The Zorblax ladder" for f in coach.frameworks.items())
    chunks, records = coach.store.count(), len(coach.store.records())

    write("Quibbix", "Capture")
    other = Coach(settings, coach.store, coach.embedder)  # a second reader, as another replica would be
    report = other.ingest([folder])
    assert (report.chunks_added, report.chunks_removed) == (1, 1)
    assert (coach.store.count(), len(coach.store.records())) == (chunks, records)
    hits = coach.retrieve("Quibbix ladder promises", k=3)
    assert "Quibbix" in hits[0].text
    assert not any("Zorblax" in h.text for h in hits)
    names = {f.framework.name for f in coach.frameworks.items()}
    assert "The Quibbix ladder" in names
    assert "The Zorblax ladder" not in names


def test_big_collections_are_read_in_pages(tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """SQLite caps the variables of one query, so a 300-episode index must not be read in one `get`."""
    import ingest.store as store_module

    monkeypatch.setattr(store_module, "PAGE_ROWS", 7)
    store = _store(tmp_path / "store", embedder)
    report = ingest_paths([NOTES], store, embedder)
    assert report.chunks_added > 3 * 7
    calls: list[dict] = []  # type: ignore[type-arg]
    real_get = store.chunks._collection.get

    def get(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        return real_get(**kwargs)

    monkeypatch.setattr(store.chunks._collection, "get", get)
    chunks = store.all_chunks()
    assert len({c.id for c in chunks}) == len(chunks) == report.chunks_added
    assert len(calls) == report.chunks_added // 7 + 1
    assert all(c["limit"] == 7 for c in calls)


def test_read_all_reads_a_collection_past_sqlites_variable_limit(tmp_path: Path) -> None:
    """40,000 rows (the 303 episodes make ~60,000): one `get` fails inside Chroma, the paged read does not."""
    import numpy as np

    from ingest.store import read_all

    client = connect(str(tmp_path / "store"), None)
    collection = client.get_or_create_collection("many", embedding_function=None)
    n = 40_000
    ids = [f"id{i}" for i in range(n)]
    vectors = np.random.default_rng(0).random((n, 2), dtype=np.float32)
    for i in range(0, n, 5000):
        part = slice(i, i + 5000)
        metadatas = [{"start": j, "title": "t"} for j in range(i, min(i + 5000, n))]
        collection.add(ids=ids[part], embeddings=vectors[part], documents=ids[part], metadatas=metadatas)
    with pytest.raises(Exception, match="too many SQL variables"):
        collection.get(include=["documents", "metadatas"])
    got = read_all(collection, ["documents", "metadatas", "embeddings"])
    assert sorted(got["ids"]) == sorted(ids)
    assert got["documents"] == got["ids"]
    assert [m["start"] for m in got["metadatas"]] == [int(i[2:]) for i in got["ids"]]
    assert len(got["embeddings"]) == n


def test_chunk_metadata_reads_back_as_it_was_written(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """One ChunkMeta for writer and readers: what a stored chunk carries comes back field for field, and a
    passage built from it keeps the sentence seconds."""
    from coach.types import Passage
    from ingest.chunk_meta import ChunkMeta

    store = _store(tmp_path / "store", embedder)
    ingest_paths([NOTES, _copy_episode(tmp_path / "src", "ada-chen-rekhi")], store, embedder)
    chunks = store.all_chunks()
    assert {c.meta["format"] for c in chunks} == {"notes", "transcript"}
    for chunk in chunks:
        meta = ChunkMeta.from_store(chunk.meta)
        assert meta.to_store() == chunk.meta
        passage = Passage.from_store(chunk.id, chunk.text, chunk.meta, 0.0)
        assert (passage.start, passage.end, passage.index) == (meta.start, meta.end, meta.index)
        assert passage.spans == meta.sentence_spans()
        assert all(meta.start <= s[2] <= s[3] <= meta.end for s in passage.spans)
    older = ChunkMeta.from_store({"source_key": "k", "start": 5})  # an index written before a field existed
    assert (older.index, older.timed, older.sentence_spans(), older.end) == (-1, True, (), 0)
