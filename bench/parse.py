"""Parsing benchmark: MB/s of parse + chunk for real files and for hostile ones, in the same run.

    python -m bench.parse [--size-mb 1] [--transcripts 30] [--only NAME …] [--json]

What is timed is everything ingestion does before embedding: `parse_file` (read, detect the format,
parse) and `chunk_segments` at the default 128/16 tokens, best of 3 runs per file.

- Real input: the bundled notes, and an evenly spaced sample of the corpus transcripts (read where they
  are, never copied). Their seconds per MB are the baseline.
- Adversarial input: each generator in ADVERSARIAL, written to a temporary file of --size-mb and of a
  quarter of that. `x real` is its seconds per MB over the real transcripts' (1 = as fast as real input);
  `growth` is its time at full size over its time at a quarter size: about 4 when parsing is linear,
  16 when it is quadratic. (--size-mb 8 is the largest file ingestion accepts.)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import PROJECT_ROOT, default_corpus

NOTES = PROJECT_ROOT / "data" / "ethan-evans-career-development.md"
MAX_BYTES = 8_000_000  # the default COACH_MAX_FILE_MB
RUNS = 3

_NOTES_HEAD = "---\ntitle: Hostile notes\nvideoId: abcdefghijk\n---\n\n## Section\n\nA first sentence. [00:00:05]\n\n"
_TRANSCRIPT_HEAD = "---\ntitle: Hostile transcript\nguest: Ann Bee\nvideo_id: abcdefghijk\n---\n\n"


def _fill(head: str, unit: str, size: int, tail: str = "") -> str:
    """`head`, then `unit` repeated up to about `size` characters, then `tail`."""
    return head + unit * max(1, (size - len(head) - len(tail)) // len(unit)) + tail


# name -> (size in characters -> file text). Each one was quadratic somewhere, or is the obvious next try.
ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "notes: untimed paragraphs": lambda n: _fill(_NOTES_HEAD, "An untimed paragraph, enough words for content.\n\n", n),
    "notes: '<a ' run": lambda n: _fill(_NOTES_HEAD, "<a ", n),
    "notes: '[[a ' run": lambda n: _fill(_NOTES_HEAD, "[[a ", n),
    "notes: '[[a |' run": lambda n: _fill(_NOTES_HEAD, "[[a |", n, "]]"),
    "notes: unclosed nested tags": lambda n: _fill(_NOTES_HEAD, "<b><i><span class='x' ", n),
    "notes: unclosed anchors": lambda n: _fill(_NOTES_HEAD, '<a class="yt-timestamp" data-t="00:01:00" ', n),
    "notes: one tag, many data-t": lambda n: _fill(_NOTES_HEAD + "<a ", 'data-t="00:01:00" ', n, ">[00:01:00]"),
    "notes: spaces inside an anchor": lambda n: _fill(_NOTES_HEAD + '<a data-t="00:01:00">', " ", n, "x"),
    "notes: spaces inside a wiki link": lambda n: _fill(_NOTES_HEAD + "Say [[a", " ", n, "b]] now. [00:00:09]"),
    "notes: bad stamps, one paragraph": lambda n: _fill(_NOTES_HEAD, "Bad [00:61:00] time and [30:00:00]\n", n),
    "notes: one long line": lambda n: _fill(_NOTES_HEAD + "Start ", "word ", n, "[00:00:09]"),
    "notes: huge front matter": lambda n: _fill(_NOTES_HEAD[:4], "key: value\n", n, _NOTES_HEAD[4:]),
    "transcript: untimed speaker turns": lambda n: _fill(_TRANSCRIPT_HEAD, "Ann Bee:\nWords said by someone here.\n\n", n),
    "transcript: time lines only": lambda n: _fill(_TRANSCRIPT_HEAD, "Ann Bee (00:00:01):\n", n),
    "transcript: tiny alternating turns": lambda n: _fill(_TRANSCRIPT_HEAD, "Ann (00:01):\nYes.\n\nBo (00:02):\nNo.\n\n", n),
    "transcript: one long line": lambda n: _fill(_TRANSCRIPT_HEAD + "Ann (00:00:01):\n", "word ", n),
}


def parse_and_chunk(path: Path) -> int:
    """What ingestion does to a file before embedding it; returns the number of chunks."""
    from ingest.chunking import chunk_segments
    from ingest.sources import parse_file

    return len(chunk_segments(parse_file(path, MAX_BYTES).segments, 128, 16))


def best_seconds(path: Path, runs: int = RUNS) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        parse_and_chunk(path)
        best = min(best, time.perf_counter() - start)
    return best


def real_files(transcripts: int) -> dict[str, list[Path]]:
    corpus = default_corpus()
    folders = sorted(corpus.iterdir()) if corpus.is_dir() else []
    episodes = [p / "transcript.md" for p in folders if (p / "transcript.md").is_file()]
    sample = episodes[:: max(1, len(episodes) // transcripts)][:transcripts] if transcripts else []
    return {"real: bundled notes": [NOTES], f"real: {len(sample)} transcripts": sample}


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    from ingest.chunking import count_tokens

    count_tokens("warm up")  # the tokenizer loads once per process; not part of any file's time
    rows: list[dict[str, Any]] = []
    for name, paths in real_files(args.transcripts).items():
        if paths:
            size = sum(p.stat().st_size for p in paths)
            rows.append({"input": name, "mb": size / 1e6, "seconds": sum(best_seconds(p) for p in paths)})
    baseline = rows[-1]["seconds"] / rows[-1]["mb"] if rows else None
    size = min(int(args.size_mb * 1e6), MAX_BYTES - 1)
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in ADVERSARIAL.items():
            if args.only and not any(o in name for o in args.only):
                continue
            timed = []
            for n in (size // 4, size):
                path = Path(tmp) / "hostile.md"
                path.write_text(make(n), encoding="utf-8")
                timed.append((path.stat().st_size / 1e6, best_seconds(path)))
            (_, quarter), (mb, seconds) = timed
            rows.append({"input": name, "mb": mb, "seconds": seconds, "growth": seconds / quarter if quarter else None})
    for row in rows:
        row["mb_per_s"] = row["mb"] / row["seconds"] if row["seconds"] else None
        row["x_real"] = row["seconds"] / row["mb"] / baseline if baseline and row["mb"] else None
    return rows


def render(rows: list[dict[str, Any]], background: float) -> str:
    def num(value: float | None, fmt: str) -> str:
        return format(value, fmt) if value is not None else "-"

    lines = [f"{'input':38} {'MB':>6} {'seconds':>8} {'MB/s':>7} {'x real':>7} {'growth':>7}"]
    for r in rows:
        lines.append(
            f"{r['input']:38} {r['mb']:6.2f} {r['seconds']:8.3f} {num(r['mb_per_s'], '7.2f')} "
            f"{num(r['x_real'], '7.2f')} {num(r.get('growth'), '7.1f')}"
        )
    lines.append("x real: seconds per MB over the real transcripts'. growth: time at full size / at a quarter (4 = linear).")
    if background > 0.25:
        lines.append(f"warning: other processes kept {100 * background:.0f}% of a core busy meanwhile; timings are skewed")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1.0, help="size of each adversarial file (8 = the limit)")
    parser.add_argument("--transcripts", type=int, default=30, help="real transcripts in the baseline sample")
    parser.add_argument("--only", nargs="*", help="adversarial inputs whose name contains one of these")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import psutil

    def busy() -> float:
        t = psutil.cpu_times()
        return t.user + t.nice + t.system

    wall, cpu, machine = time.perf_counter(), time.process_time(), busy()
    rows = measure(args)
    wall = time.perf_counter() - wall
    background = max(0.0, (busy() - machine) - (time.process_time() - cpu)) / wall
    print(json.dumps({"rows": rows, "background_cores": background}, indent=1) if args.json else render(rows, background))
    return 0


if __name__ == "__main__":
    sys.exit(main())
