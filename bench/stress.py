"""Stress: the faults a shared store meets (two writers, a reader during an ingest, a full or read-only disk, a lost
manifest or damaged database, hostile files and inputs) reproduced in a temp folder, each answered survived / lost.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.stress [--only NAME ...] [--json]

Each case drives the real `coach` command in fresh processes (as people run it side by side) against
a real embedded store built from the bundled notes, then checks what a user would: the answers still
come, the chunks are all there, the message says what happened. Mounting (read-only view, full tmpfs)
needs root, as here and in CI. Prints one row per case and the seconds it took; exits 1 if any case
lost something.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENIOR = "How do I get past senior manager?"


@dataclass
class Outcome:
    survived: bool
    detail: str


def _env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    return {**env, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COACH_CACHE_DIR": str(cache),
            **extra}  # fmt: skip


def coach(*args: str | bytes, cache: Path, timeout: float = 900, **env: str) -> tuple[int, str, str]:
    run = subprocess.run([sys.executable, "-m", "coach.cli", *args], capture_output=True, cwd=ROOT,
                         env=_env(cache, **env), timeout=timeout)  # fmt: skip
    return run.returncode, run.stdout.decode("utf-8", "replace"), run.stderr.decode("utf-8", "replace")


def note(tag: str, i: int) -> str:
    name = f"{tag} method {i}"
    said = [f"The {name} asks you to share weekly {tag.lower()} goals, part {s}. [00:0{s}:1{s}]" for s in range(1, 7)]
    body = " ".join(said)
    return f"---\ntitle: The {name}\nvideoId: {tag[:3].upper()}{i:08d}\n---\n# The {name}\n\n{body}\n"


def folder(root: Path, tag: str, n: int) -> Path:
    path = root / tag
    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (path / f"{tag.lower()}-{i}.md").write_text(note(tag, i), encoding="utf-8")
    return path


def build(work: Path, cache: Path, name: str = "store") -> Path:
    store = work / name
    code, _, err = coach("retrieve", SENIOR, "-k", "1", "--store", str(store), cache=cache)
    if code:
        raise SystemExit(f"could not build the bundled store: {err[-2000:]}")
    return store


def whole(store: Path, cache: Path, tags: list[str], per_tag: int) -> Outcome:
    """Every committed chunk readable with its vector, and each tag's files recorded."""
    script = (
        "import json, sys\nfrom coach import Coach\nfrom coach.settings import Settings\nfrom ingest.store import read_all\n"
        "c = Coach.open(settings=Settings(store_dir=sys.argv[1]))\nrecords = c.store.records()\n"
        "with c.store.reading():\n    got = read_all(c.store.chunks, ['embeddings'])\n"
        "have = {i for i, v in zip(got['ids'], got['embeddings']) if v is not None}\n"
        "missing = len(c.store.committed_ids(records) - have)\n"
        "names = [r.path for r in records.values()]\nprint(json.dumps({'missing': missing, 'paths': names}))"
    )
    run = subprocess.run([sys.executable, "-c", script, str(store)], capture_output=True, text=True, cwd=ROOT,
                         env=_env(cache), timeout=600)  # fmt: skip
    if run.returncode:
        return Outcome(False, "store unreadable: " + (run.stderr.strip().splitlines() or ["?"])[-1][:160])
    data = json.loads(run.stdout.strip().splitlines()[-1])
    counts = {t: sum(1 for p in data["paths"] if f"/{t}/" in p) for t in tags}
    ok = data["missing"] == 0 and all(n == per_tag for n in counts.values())
    return Outcome(ok, f"{data['missing']} chunks without vectors; files per writer {counts}")


@contextlib.contextmanager
def mounted(target: Path, *options: str) -> Iterator[None]:
    target.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(["mount", *options, str(target)], capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"cannot mount (needs root): {run.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")[:170]


# ---- the cases -------------------------------------------------------------------------------------
def two_writers(work: Path, cache: Path) -> Outcome:
    store = build(work, cache)
    a, b = folder(work, "Alpha", 8), folder(work, "Bravo", 8)
    procs = [subprocess.Popen([sys.executable, "-m", "coach.cli", "ingest", str(p), "--store", str(store)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(cache))
             for p in (a, b)]  # fmt: skip
    codes = [(p.wait(timeout=900), p.stderr.read() if p.stderr else "") for p in procs]
    if any(code for code, _ in codes):
        return Outcome(False, "an ingest failed: " + first_line(next(e for c, e in codes if c)))
    result = whole(store, cache, ["Alpha", "Bravo"], 8)
    waited = any("waiting for the store" in e for _, e in codes)
    return Outcome(result.survived, result.detail + ("; the second writer waited" if waited else ""))


def reader_during_ingest(work: Path, cache: Path) -> Outcome:
    """A long-lived reader process (like `coach serve`) asks again and again while another process ingests."""
    store = build(work, cache)
    reader = (
        "import sys, time\nfrom coach import Coach\nfrom coach.settings import Settings\n"
        "c = Coach.open(settings=Settings(store_dir=sys.argv[1]))\nok = bad = 0\nlast = ''\n"
        "done = __import__('pathlib').Path(sys.argv[2])\n"
        "while not done.exists():\n    try:\n        a = c.ask('How do I get past senior manager?')\n"
        "        ok += bool(a.citations)\n    except Exception as e:\n        bad += 1; last = str(e)[:120]\n"
        "hits = c.retrieve('the Delta method weekly delta goals', k=5)\n"
        "print(ok, bad, any('Delta method' in h.text for h in hits), last)"
    )
    done = work / "ingests-done"
    proc = subprocess.Popen([sys.executable, "-c", reader, str(store), str(done)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(cache))  # fmt: skip
    time.sleep(12)
    for tag in ("Delta", "Echo"):
        coach("ingest", str(folder(work, tag, 4)), "--store", str(store), cache=cache)
    done.touch()  # the reader asks once more, then checks it sees what was committed while it ran
    out, _ = proc.communicate(timeout=600)
    ok, bad, sees_new, *last = (out.strip().splitlines() or ["0 1 False no output"])[-1].split(" ", 3)
    survived = int(bad) == 0 and sees_new == "True"
    return Outcome(survived, f"{ok} answers, {bad} failures, new data seen after the commit: {sees_new} {' '.join(last)}")


def full_disk(work: Path, cache: Path) -> Outcome:
    store = build(work, cache)
    disk = work / "small-disk"
    with mounted(disk, "-t", "tmpfs", "-o", "size=16m", "tmpfs"):
        shutil.copytree(store, disk / "store")
        with contextlib.suppress(OSError), (disk / "filler").open("wb", buffering=0) as filler:
            while True:
                filler.write(b"\0" * (1 << 20))
        asked, out, _err = coach("ask", SENIOR, "--store", str(disk / "store"), cache=cache)
        extra = folder(work, "Foxtrot", 1)
        ingested, _, ierr = coach("ingest", str(extra), "--store", str(disk / "store"), cache=cache)
        (disk / "filler").unlink()
        again, _, _ = coach("ingest", str(extra), "--store", str(disk / "store"), cache=cache)
    ok = asked == 0 and "senior manager" in out.lower() and ingested == 1 and again == 0
    return Outcome(ok, f"ask exit {asked}; ingest while full: {first_line(ierr)}; after freeing space: exit {again}")


def read_only(work: Path, cache: Path) -> Outcome:
    store = build(work, cache)
    view = work / "read-only"
    with mounted(view, "--bind", "-o", "ro", str(store)):
        asked, out, _ = coach("ask", SENIOR, "--store", str(view), cache=cache)
        ingested, _, err = coach("ingest", str(folder(work, "Golf", 1)), "--store", str(view), cache=cache)
    ok = asked == 0 and "senior manager" in out.lower() and ingested == 1
    return Outcome(ok, f"ask exit {asked}; ingest: {first_line(err)}")


def _collections(store: Path) -> dict[str, int]:
    script = ("import chromadb, json, sys\nfrom chromadb.config import Settings\n"
              "c = chromadb.PersistentClient(path=sys.argv[1], settings=Settings(anonymized_telemetry=False))\n"
              "print(json.dumps({x.name: x.count() for x in c.list_collections()}))")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", script, str(store)], capture_output=True, text=True, timeout=120)
    return dict(json.loads(run.stdout)) if run.returncode == 0 else {}


def lost_manifest(work: Path, cache: Path) -> Outcome:
    store = build(work, cache)
    coach("ingest", str(folder(work, "Hotel", 3)), "--store", str(store), cache=cache)
    before = _collections(store)
    chunks = next(n for n in before if not n.endswith("_manifest"))
    subprocess.run([sys.executable, "-c", "import chromadb, sys; chromadb.PersistentClient(path=sys.argv[1])"
                    ".delete_collection(sys.argv[2])", str(store), f"{chunks}_manifest"], check=True)  # fmt: skip
    code, _, err = coach("retrieve", SENIOR, "--store", str(store), cache=cache)
    kept = _collections(store).get(chunks) == before[chunks]
    repaired, out, _ = coach("repair", "--store", str(store), cache=cache)
    after = whole(store, cache, ["Hotel"], 3)
    ok = code == 1 and kept and repaired == 0 and after.survived
    return Outcome(ok, f"retrieve: {first_line(err)}; repair: {first_line(out)}")


def broken_database(cut: str) -> Callable[[Path, Path], Outcome]:
    def case(work: Path, cache: Path) -> Outcome:
        store = build(work, cache)
        database = store / "chroma.sqlite3"
        os.truncate(database, 0 if cut == "empty" else database.stat().st_size // 2)
        size = database.stat().st_size
        code, _, err = coach("retrieve", SENIOR, "--store", str(store), cache=cache)
        untouched = database.stat().st_size == size
        repaired, _out, _ = coach("repair", "--store", str(store), cache=cache)
        answers, _, _ = coach("retrieve", SENIOR, "--store", str(store), cache=cache)
        aside = [p for p in work.iterdir() if p.name.startswith("store.damaged-")]
        ok = code == 1 and "damaged" in err and untouched and repaired == 0 and answers == 0 and len(aside) == 1
        return Outcome(ok, f"retrieve: {first_line(err)}; repair kept the old folder: {bool(aside)}")

    return case


def hostile_parsing(work: Path, cache: Path) -> Outcome:
    """Inputs that took minutes before (quadratic parsing), parsed and chunked in one process."""
    cases = {"untimed paragraphs": "---\ntitle: t\n---\n# T\n\nStart. [00:00:01]\n\n" + "A plain line of text.\n\n" * 40000,
             "<a  × 40k": "<a " * 40_000, "[[a  × 20k": "[[a " * 20_000}  # fmt: skip
    script = ("import sys, time\nfrom pathlib import Path\nfrom ingest.sources import parse_file\n"
              "from ingest.chunking import chunk_segments\nfrom ingest.segments import SourceError\n"
              "t = time.perf_counter()\ntry:\n    s = parse_file(Path(sys.argv[1]), 8_000_000)\n"
              "    chunk_segments(s.segments, 128, 16)\nexcept SourceError:\n    pass  # refused is fine\n"
              "print(round(time.perf_counter() - t, 2))")  # fmt: skip
    times = {}
    for name, text in cases.items():
        path = work / f"{len(times)}.md"
        path.write_text(text, encoding="utf-8")
        run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=ROOT,
                             env=_env(cache), timeout=600)  # fmt: skip
        times[name] = float(run.stdout.strip() or "nan") if run.returncode == 0 else float("nan")
    ok = all(t == t and t < 10 for t in times.values())
    return Outcome(ok, "; ".join(f"{k} {len(cases[k]) // 1000} KB: {v} s" for k, v in times.items()))


def bounded_inputs(work: Path, cache: Path) -> Outcome:
    store = build(work, cache)
    started = time.monotonic()
    hist, _, _herr = coach("ask", "What next?", "--history", "/dev/zero", "--store", str(store), cache=cache, timeout=120)
    took = time.monotonic() - started
    asked, _out, aerr = coach("ask", SENIOR.encode() + b" caf\xe9 \xff", "--store", str(store), cache=cache)
    k, _, kerr = coach("retrieve", "x", "-k", "-1", "--store", str(store), cache=cache)
    ok = hist == 2 and took < 120 and asked == 0 and "could not be read" in aerr and k == 2
    return Outcome(ok, f"--history /dev/zero: exit {hist} in {took:.1f} s; non-UTF-8 question: exit {asked}; "
                       f"-k -1: {first_line(kerr)}")  # fmt: skip


def hostile_files(work: Path, cache: Path) -> Outcome:
    store = build(work, cache)
    src = work / "files"
    src.mkdir()
    (src / "late-nul.md").write_bytes(note("India", 1).encode() + b"x" * 20000 + b"\x00-50\x00\n")
    (src / "utf16.md").write_text(note("Juliet", 1), encoding="utf-16")
    (src / "loop").symlink_to(src / "loop")
    (src / "dangling.md").symlink_to(src / "nowhere.md")
    wrong = note("Kilo", 1).replace("videoId: KIL00000001", "videoId: GB0P0_nFPTA\nyoutube_url: https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    (src / "wrong-id.md").write_text(wrong, encoding="utf-8")
    code, out, _ = coach("ingest", str(src), "--json", "--store", str(store), cache=cache)
    try:
        files = {Path(f["path"]).name: f for f in json.loads(out)["files"]}
    except (ValueError, KeyError):
        return Outcome(False, f"no JSON report (exit {code})")
    row = {name: files.get(name, {}) for name in ("late-nul.md", "utf16.md", "loop", "dangling.md", "wrong-id.md")}
    links = [c for c in json.loads(coach("retrieve", "Kilo method weekly goals", "--json", "--store", str(store),
                                         cache=cache)[1])["passages"] if "Kilo" in c["text"]]  # fmt: skip
    checks = {
        "NUL is an error": row["late-nul.md"].get("status") == "error",
        "UTF-16 read": row["utf16.md"].get("status") == "added",
        "loop reported": bool(row["loop"]),
        "dangling reported": bool(row["dangling.md"]),
        "wrong id warned": any("youtube_url" in w for w in row["wrong-id.md"].get("warnings", [])),
        "no wrong link": all("GB0P0_nFPTA" not in (p["url"] or "") for p in links),
        "exit 1": code == 1,
    }
    return Outcome(all(checks.values()), ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items()))


CASES: dict[str, Callable[[Path, Path], Outcome]] = {
    "two ingests at once (local store)": two_writers,
    "a reader asking during two ingests": reader_during_ingest,
    "full disk (tmpfs)": full_disk,
    "read-only store (ro bind mount)": read_only,
    "manifest collection deleted": lost_manifest,
    "zero-length chroma.sqlite3": broken_database("empty"),
    "chroma.sqlite3 cut in half": broken_database("half"),
    "hostile text (quadratic before)": hostile_parsing,
    "unbounded or undecodable input": bounded_inputs,
    "hostile files (NUL, UTF-16, links, wrong id)": hostile_files,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run the cases whose names contain these words")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="coach-stress-") as tmp:
        cache = Path(os.environ.get("COACH_CACHE_DIR", Path.home() / ".cache" / "coach"))
        for i, (name, case) in enumerate(CASES.items()):
            if args.only and not any(word.lower() in name.lower() for word in args.only):
                continue
            work = Path(tmp) / f"case-{i}"
            work.mkdir()
            started = time.monotonic()
            try:
                outcome = case(work, cache)
            except Exception as exc:  # a case that crashes counts as lost, with why
                outcome = Outcome(False, f"{type(exc).__name__}: {exc}"[:200])
            rows.append({"fault": name, "survived": outcome.survived, "detail": outcome.detail,
                         "seconds": round(time.monotonic() - started, 1)})  # fmt: skip
            if not args.json:
                mark = "survived" if outcome.survived else "LOST"
                print(f"| {name} | {mark} | {rows[-1]['seconds']} s | {outcome.detail} |", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    sys.exit(0 if all(r["survived"] for r in rows) else 1)


if __name__ == "__main__":
    main()
