"""A fast `coach`: answering processes never import the model runtime, their query vectors are the index's, and
what the command line prints reads as written (ingest reports, help texts). Speed itself: bench/cli.py."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coach.retrieval import Retriever
from ingest.chunking import chunk_segments
from ingest.embedding import VectorMemo
from ingest.pipeline import chunk_id
from ingest.sources import parse_file
from tests.conftest import NOTES, ROOT
from tests.support import cli_env, coach_cli, copy_store

# Modules an answering process has no use for: the model runtime (~5 s of CPU to import), LangChain (its chat
# models only serve COACH_LLM backends, ~0.5 s; the embedder only borrows its interface), the web app.
AVOIDABLE = ("torch", "sentence_transformers", "transformers", "gradio", "langchain_core", "coach.llm")

# Runs the CLI's main() in a fresh interpreter, then records what it imported.
_CHILD = """
import json, sys
from coach.cli import main
code = 0
try:
    main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


@pytest.fixture(scope="module")
def ready_store(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, bundled_store: Path) -> Path:
    """A copy of the complete bundled store, after one `coach` run on it (which may import torch: it exports the
    query graph once into the cache, if no test did so before)."""
    store = copy_store(bundled_store, tmp_path_factory.mktemp("fast-cli") / "store")
    res = coach_cli("retrieve", "warm up", store=store, cache=cache_dir)
    assert res.returncode == 0, res.stderr
    return store


def _run_main(args: list[str], store: Path, cache_dir: Path, tmp_path: Path) -> tuple[dict[str, Any], str, str]:
    record = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(record), *args], capture_output=True, text=True, timeout=300, cwd=ROOT,
        env=cli_env(cache_dir, COACH_STORE_DIR=str(store)),
    )  # fmt: skip
    assert record.exists(), proc.stderr
    return json.loads(record.read_text()), proc.stdout, proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["retrieve", "how do I get past senior manager", "-k", "3"],
        ["retrieve", "cup of coffee", "--json"],
        ["ask", "How do I get past senior manager?"],
        ["ask", "My manager never talks about my career. What should I do?", "--json"],
    ],
    ids=["retrieve", "retrieve-json", "ask", "ask-json"],
)
def test_answering_never_imports_the_model_runtime(
    args: list[str], ready_store: Path, cache_dir: Path, tmp_path: Path
) -> None:
    child, stdout, stderr = _run_main(args, ready_store, cache_dir, tmp_path)
    assert child["code"] == 0, stderr
    loaded = [m for m in child["modules"] if any(m == a or m.startswith(a + ".") for a in AVOIDABLE)]
    assert not loaded, f"`coach {args[0]}` imported {sorted({m.split('.')[0] for m in loaded})}"
    assert "onnxruntime" in child["modules"], "the question was embedded by the query runtime"
    if args[0] == "ask":  # the stored frameworks' vectors are kept for the next process; the question is not
        (memo,) = cache_dir.glob("*-vectors.sqlite")
        assert VectorMemo(memo).get([args[1]]) == {}
        with sqlite3.connect(memo) as db:
            assert db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] >= 20
    if "--json" in args:
        data = json.loads(stdout)
        assert data["passages"] if args[0] == "retrieve" else data["citations"]
    else:
        assert "youtube.com/watch?v=GB0P0_nFPTA" in stdout


def test_query_vectors_are_the_stored_index_vectors(bundled) -> None:  # type: ignore[no-untyped-def]
    """The stored index was embedded by the default (documents) runtime; the query runtime must give the same
    texts the same vectors, and every eval question the same passages."""
    queries = bundled.retriever.embedder
    assert queries is bundled.embedder.for_queries()
    assert queries is not bundled.embedder
    assert queries.backend == "onnx"
    assert queries.model_id == bundled.embedder.model_id
    source = parse_file(NOTES, 10**7)
    settings = bundled.settings
    chunks = chunk_segments(source.segments, settings.chunk_tokens, settings.chunk_overlap_tokens)
    snap = bundled.retriever.snapshot()
    stored = {p.id: v for p, v in zip(snap.passages, snap.vectors, strict=True)}
    ids = [chunk_id(str(NOTES.resolve()), c, source.meta.title) for c in chunks]
    assert set(ids) == set(stored), "every chunk of the notes is in the index"
    got = queries.encode([c.embed_text(source.meta.title) for c in chunks])
    cosine = (got * np.stack([stored[i] for i in ids])).sum(axis=1)
    assert cosine.min() >= 0.999, float(cosine.min())

    # Rankings: the passages each eval question gets, against questions embedded as the index was. Near-ties
    # below the first may swap (torch's own fp32 and bf16 differ in as many places: 4 of 66 orders, ranks 2-5);
    # the first never moves and the top 5 share at least four.
    reference = Retriever(bundled.store, bundled.embedder)
    questions = [json.loads(line)["question"] for line in (ROOT / "evals/datasets/notes.jsonl").open()]
    same_set = 0
    for q in questions:
        got_ids = [p.id for p in bundled.retriever.retrieve(q, k=5)]
        want_ids = [p.id for p in reference.retrieve(q, k=5)]
        assert got_ids[0] == want_ids[0], q
        assert len(set(got_ids) & set(want_ids)) >= 4, q
        same_set += set(got_ids) == set(want_ids)
    assert same_set >= 0.95 * len(questions), (same_set, len(questions))


def test_ingest_lists_what_changed_or_failed_and_verbose_lists_all(
    ready_store: Path, cache_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.md"
    bad.write_bytes(b"\xff\xfe\x00")
    res = coach_cli("ingest", str(NOTES.parent), str(bad), store=ready_store, cache=cache_dir)
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert [line for line in lines if "broken.md" in line], res.stdout
    assert NOTES.name not in res.stdout, "an unchanged file is not listed"
    assert any("2 file(s), 1 error(s)" in line and "24 unchanged" in line for line in lines), res.stdout
    assert len(lines) == 3, res.stdout  # the failed file, the totals, the count of files not listed

    res = coach_cli("ingest", str(NOTES.parent), str(bad), "--verbose", store=ready_store, cache=cache_dir)
    assert NOTES.name in res.stdout
    assert "broken.md" in res.stdout
    assert "not listed" not in res.stdout

    res = coach_cli("ingest", str(NOTES.parent), str(bad), "--json", store=ready_store, cache=cache_dir)
    report = json.loads(res.stdout)
    assert sorted(Path(f["path"]).name for f in report["files"]) == ["broken.md", NOTES.name]


def test_help_texts_render_as_written(cache_dir: Path) -> None:
    """Rich reads `[…]` in a help text as markup and drops it; every option's help must reach the screen whole."""
    import typer.main

    from coach.cli import app

    group = typer.main.get_command(app)
    commands = {name: cmd for name, cmd in group.commands.items() if not hasattr(cmd, "commands")}  # type: ignore[attr-defined]
    assert {"ask", "retrieve", "ingest"} <= commands.keys()
    env = {**cli_env(cache_dir), "COLUMNS": "250"}
    shown: dict[str, str] = {}
    for name, command in commands.items():
        shown[name] = subprocess.run(
            [sys.executable, "-m", "coach.cli", name, "--help"], capture_output=True, text=True, timeout=120,
            cwd=ROOT, env=env,
        ).stdout  # fmt: skip
        for param in command.params:
            if getattr(param, "help", None):
                written = param.help.replace("\\[", "[")  # type: ignore[attr-defined]  # an escaped bracket is a bracket
                assert " ".join(written.split()) in " ".join(shown[name].split()), (name, written, shown[name])
    assert "JSON file: [[role, text], …] or [{role, content}, …]." in shown["ask"]
