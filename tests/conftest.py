"""Shared fixtures. Every test runs with outbound non-loopback connections refused."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support import ProbeCoach

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
NOTES = ROOT / "data" / "ethan-evans-career-development.md"
CORPUS = ROOT.parent / "shared" / "corpus" / "lennys-podcast-transcripts" / "episodes"
if not CORPUS.is_dir():  # CI clones main next to shared/; a developer checkout may sit elsewhere
    CORPUS = Path("/work/shared/corpus/lennys-podcast-transcripts/episodes")

_real_connect = socket.socket.connect
ATTEMPTS: list[str] = []


def _is_local(address: object) -> bool:
    if isinstance(address, str):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        ATTEMPTS.append(repr(address))
        raise ConnectionRefusedError(f"test guard: outbound connection to {address!r} refused")
    return _real_connect(self, address)


# Modules whose tests start processes, servers or a browser (each costs seconds to a minute of model loading
# and startup): the whole run covers them, `scripts/test.sh --fast` leaves them out. Marked here, by module,
# so a new test in one of them is placed without anyone remembering a decorator.
PROCESS_MODULES = frozenset({
    "test_ask_cli", "test_bounded_inputs", "test_crash_and_cli", "test_eval_gate", "test_fast_cli", "test_faults",
    "test_many_processes", "test_mcp", "test_privacy", "test_profile_journey", "test_profile_ui", "test_server_mode",
    "test_store_damage", "test_ui", "test_ui_people", "test_unrelated_sources",
})  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in PROCESS_MODULES:
            item.add_marker(pytest.mark.processes)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export per test session, shared by every embedder."""
    return tmp_path_factory.mktemp("coach-cache")


@pytest.fixture(scope="session")
def embedder(cache_dir: Path):  # type: ignore[no-untyped-def]
    from ingest.embedding import LocalEmbedder

    return LocalEmbedder("auto", cache_dir=cache_dir)


@pytest.fixture(scope="session")
def word_embedder():  # type: ignore[no-untyped-def]
    """The fake embedder (tests/support.py WordEmbedder): for tests whose claim holds whatever the vectors are."""
    from tests.support import WordEmbedder

    return WordEmbedder()


@pytest.fixture
def settings(tmp_path: Path, cache_dir: Path):  # type: ignore[no-untyped-def]
    from coach.settings import Settings

    return Settings(store_dir=tmp_path / "store", cache_dir=cache_dir, data_dir=ROOT / "data")


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def bundled_store(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """The complete store of the bundled notes, as a first run builds it: built once per key and kept between
    runs (tests/support.py, cached_store). Never write to it: copy it (`prebuilt_store`, copy_store)."""
    from coach.settings import Settings
    from tests.support import cached_store

    settings = Settings(store_dir=tmp_path_factory.mktemp("unused"), cache_dir=cache_dir, data_dir=ROOT / "data")
    return cached_store("bundled", settings, [settings.data_dir])


@pytest.fixture
def prebuilt_store(tmp_path: Path, bundled_store: Path) -> Path:
    """This test's own copy of the complete bundled store, at tmp_path / "store": a CLI test that is not about
    the first build starts from it instead of building the index in its first `coach` process."""
    from tests.support import copy_store

    return copy_store(bundled_store, tmp_path / "store")


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, corpus: Path) -> Path:
    """The bundled notes plus all 303 transcripts in one store (a ~20-minute build on 2 cores), built once per
    key and kept between runs; `<it>/built.json` holds the build's ingest reports. Copy it before writing."""
    from coach.settings import Settings
    from tests.support import cached_store

    settings = Settings(store_dir=tmp_path_factory.mktemp("unused"), cache_dir=cache_dir, data_dir=ROOT / "data")
    return cached_store("corpus", settings, [settings.data_dir, corpus], ingest=[corpus], timeout=3600)


@pytest.fixture(scope="session")
def bundled(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, bundled_store: Path):  # type: ignore[no-untyped-def]
    """A Coach on a session copy of the bundled store (offline composer)."""
    from coach import Coach
    from coach.settings import Settings
    from tests.support import copy_store

    store = copy_store(bundled_store, tmp_path_factory.mktemp("bundled") / "store")
    coach = Coach.open(settings=Settings(store_dir=store, cache_dir=cache_dir, data_dir=ROOT / "data"))
    assert coach.startup_report is None, "the cached bundled store was not complete"
    return coach


@pytest.fixture
def coach_with_llm(bundled):  # type: ignore[no-untyped-def]
    """Build a Coach sharing the bundled index but answering with the given chat model."""
    from coach.api import Coach

    def build(llm, **settings_update):  # type: ignore[no-untyped-def]
        settings = bundled.settings.model_copy(update=settings_update)
        return Coach(settings, bundled.store, bundled.embedder, llm)

    return build


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One real `chroma run` for the session; tests take it through `empty_chroma` (tests that kill or freeze a
    server start their own)."""
    from tests.support import ChromaServer

    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def empty_chroma(chroma_server):  # type: ignore[no-untyped-def]
    """The session's Chroma server with no collection on it: what one test leaves, the next never sees."""
    return chroma_server.wipe()


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Headless Chromium (Debian's, driven by Playwright), one per test module."""
    from tests.support import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium`, or deselect with -m 'not browser'")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# ---- the web app on a loopback port, one per test module that asks for it ----------------------------------
@pytest.fixture(scope="module")
def feedback_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the module's `server` records thumbs (each module its own file)."""
    return tmp_path_factory.mktemp("feedback") / "votes.jsonl"


@pytest.fixture(scope="module")
def probe(bundled, feedback_file: Path) -> ProbeCoach:  # type: ignore[no-untyped-def]
    """The session's bundled Coach wrapped in a ProbeCoach (tests/support.py) that records calls; feedback on."""
    from tests.support import ProbeCoach

    return ProbeCoach(bundled, bundled.settings.model_copy(update={"feedback_path": feedback_file}))


@pytest.fixture(scope="module")
def server(probe: ProbeCoach) -> Iterator[str]:
    """The real app on a free loopback port, answering from the bundled corpus (feedback on); yields its URL."""
    from tests.support import serving

    with serving(probe) as url:
        yield url
