"""The ingest report tells everything it passed over: broken links, link loops, unreadable folders, and a
video id that its own YouTube URL contradicts (which then links nowhere rather than to the wrong video)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ingest.pipeline import ingest_paths
from ingest.store import ChunkStore, IndexConfig, connect


def _note(title: str, video_id: str, extra: str = "") -> str:
    return (
        f"---\ntitle: {title}\nvideoId: {video_id}\n{extra}---\n# {title}\n\n"
        f"The {title} says you should write down every promise your manager makes. [00:01:05]\n"
    )


@pytest.fixture
def store(tmp_path: Path, embedder) -> ChunkStore:  # type: ignore[no-untyped-def]
    return ChunkStore(connect(str(tmp_path / "store"), None), IndexConfig(embedder.model_id, 128, 16))


def test_links_that_lead_nowhere_are_reported_and_linked_folders_are_read(
    tmp_path: Path, store: ChunkStore, embedder  # type: ignore[no-untyped-def]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "linked.md").write_text(_note("Linked ladder", "LLLLLLLLLLL"), encoding="utf-8")
    top = tmp_path / "sources"
    top.mkdir()
    (top / "plain.md").write_text(_note("Plain ladder", "PPPPPPPPPPP"), encoding="utf-8")
    (top / "dangling.md").symlink_to(top / "gone.md")
    (top / "self").symlink_to(top / "self")
    (top / "folder-link").symlink_to(elsewhere)
    (elsewhere / "back-up").symlink_to(top)  # a loop through two folders
    report = ingest_paths([top], store, embedder)
    rows = {Path(f.path).name: f for f in report.files}
    assert rows["plain.md"].status == "added"
    assert rows["linked.md"].status == "added", "a link to a folder is followed"
    assert rows["dangling.md"].status == "skipped"
    assert "broken link" in rows["dangling.md"].message
    assert str(top / "gone.md") in rows["dangling.md"].message
    assert rows["self"].status == "skipped"
    assert "link loop" in rows["self"].message
    assert rows["back-up"].status == "skipped"
    assert "already read" in rows["back-up"].message
    assert report.errors == [], "what a walk passes over is reported, not an error"


def test_a_named_path_that_is_a_broken_link_is_an_error(tmp_path: Path, store: ChunkStore, embedder) -> None:  # type: ignore[no-untyped-def]
    link = tmp_path / "notes.md"
    link.symlink_to(tmp_path / "moved-away.md")
    report = ingest_paths([link], store, embedder)
    assert [f.status for f in report.files] == ["error"]
    assert "broken link" in report.files[0].message


def test_an_unreadable_folder_is_reported(
    tmp_path: Path, store: ChunkStore, embedder, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    top = tmp_path / "sources"
    (top / "locked").mkdir(parents=True)
    (top / "locked" / "inside.md").write_text(_note("Locked ladder", "KKKKKKKKKKK"), encoding="utf-8")
    (top / "open.md").write_text(_note("Open ladder", "OOOOOOOOOOO"), encoding="utf-8")
    real_scandir = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if Path(path).name == "locked":  # what the OS says for a folder we may not list (root ignores chmod)
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = ingest_paths([top], store, embedder)
    rows = {Path(f.path).name: f for f in report.files}
    assert rows["open.md"].status == "added"
    assert rows["locked"].status == "skipped"
    assert rows["locked"].message == "cannot read this folder: Permission denied"
    assert "inside.md" not in rows


def test_a_video_id_its_own_url_contradicts_gets_a_warning_and_no_link(
    tmp_path: Path, store: ChunkStore, embedder  # type: ignore[no-untyped-def]
) -> None:
    from coach.retrieval import Retriever

    wrong = tmp_path / "copied.md"
    wrong.write_text(
        _note("Copied ladder", "GB0P0_nFPTA", "youtube_url: https://www.youtube.com/watch?v=dQw4w9WgXcQ\n"),
        encoding="utf-8",
    )
    right = tmp_path / "right.md"
    right.write_text(
        _note("Right ladder", "dQw4w9WgXcQ", "youtube_url: https://youtu.be/dQw4w9WgXcQ\n"), encoding="utf-8"
    )
    report = ingest_paths([wrong, right], store, embedder)
    rows = {Path(f.path).name: f for f in report.files}
    assert any("disagrees with its youtube_url (dQw4w9WgXcQ)" in w for w in rows["copied.md"].warnings)
    assert not any("youtube_url" in w for w in rows["right.md"].warnings)
    hits = Retriever(store, embedder).retrieve("Copied ladder promises", k=2)
    copied = next(h for h in hits if "Copied" in h.text)
    assert copied.url is None or "GB0P0_nFPTA" not in copied.url
    assert copied.video_id == ""
    straight = Retriever(store, embedder).retrieve("Right ladder promises", k=2)
    assert any(h.video_id == "dQw4w9WgXcQ" for h in straight)
