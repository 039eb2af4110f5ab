"""The `Coach` facade: the public Python contract, wired from settings in one place."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coach import snapshot_cache
from coach.advisor import Advisor, AnswerEvent
from coach.conversation import Situation
from coach.frameworks import FrameworkIndex
from coach.index import ensure_ready, ingest_as_writer, make_embedder, open_store
from coach.retrieval import Retriever
from coach.settings import Settings
from coach.situations import SituationLibrary
from coach.types import Answer, Passage, RetrievalMode
from ingest.embedding import LocalEmbedder
from ingest.locking import Notify
from ingest.report import IngestReport
from ingest.store import ChunkStore

if TYPE_CHECKING:  # profiles and plans load SQLAlchemy (~0.3 s): imported when first used, not by every `coach`
    from coach.plan_book import PlanBook
    from coach.profile_store import Profile, ProfileStore
    from ingest.pipeline import Progress


class Coach:
    """Ingest sources, retrieve passages, answer questions with citations."""

    def __init__(
        self,
        settings: Settings,
        store: ChunkStore,
        embedder: LocalEmbedder,
        llm: Any = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.llm = llm
        # A local store's retriever snapshot is cached between processes; server-mode replicas keep nothing on disk.
        snapshots = None if settings.chroma_url else snapshot_cache.root_for(settings.cache_dir, settings.store_dir)
        # Questions run on the embedder's query runtime (no torch import for `auto`, see LocalEmbedder.for_queries),
        # the stored frameworks on the same runtime with their vectors kept between processes (for_sources);
        # `embedder` itself embeds what is ingested.
        self.retriever = Retriever(store, embedder.for_queries(), snapshot_dir=snapshots)
        self.frameworks = FrameworkIndex(store, embedder.for_sources())
        self.library = SituationLibrary(store, embedder.for_sources())
        self.advisor = Advisor(self.retriever, self.frameworks, settings, llm, library=self.library)
        self.startup_report: IngestReport | None = None
        self._profiles: ProfileStore | None = None
        self._plan: PlanBook | None = None

    @property
    def profiles(self) -> ProfileStore:
        """Saved profiles (opt-in), per owner; the database is opened on first use, created on first save."""
        if self._profiles is None:
            from coach.profile_store import ProfileStore

            self._profiles = ProfileStore.from_settings(self.settings)
        return self._profiles

    @property
    def plan(self) -> PlanBook:
        """Plans, per owner: cited steps added from answers, their status, the check-in, exports."""
        if self._plan is None:
            from coach.plan_book import PlanBook

            queries = self.embedder.for_queries()  # a person's words: the same runtime as questions, never kept
            self._plan = PlanBook(self.profiles, self.frameworks, self._ask_for, self.retrieve, queries)
        return self._plan

    def saved_profile(self, owner: str) -> Profile | None:
        """The owner's saved profile, or None; free when nobody ever saved one (no database to open)."""
        from coach.settings import PEOPLE_FILE

        if not self.settings.database_url and not (Path(self.settings.store_dir) / PEOPLE_FILE).exists():
            return None  # spares SQLAlchemy's import (~0.3 s) on every `coach ask`
        return self.profiles.profile(owner)

    def _ask_for(self, message: str, owner: str | None = None) -> Answer:
        from coach.profile_store import LOCAL

        return self.ask(message, profile=self.profiles.profile(owner or LOCAL))

    @classmethod
    def open(
        cls,
        store_dir: str | Path | None = None,
        llm: Any = None,
        settings: Settings | None = None,
        progress: Progress | None = None,
        notify: Notify | None = None,
    ) -> Coach:
        """Open (and on first use build) the index. Raises StoreUnavailable with a readable message.

        `llm` is a LangChain chat model; None takes `settings.llm` (offline unless configured).
        """
        settings = settings or Settings()
        if store_dir is not None:
            settings = settings.model_copy(update={"store_dir": Path(store_dir)})
        llm = llm if llm is not None else _configured_llm(settings)
        embedder = make_embedder(settings)
        store = open_store(settings, embedder)
        coach = cls(settings, store, embedder, llm)
        coach.startup_report = ensure_ready(store, embedder, settings, progress, notify)
        return coach

    def ingest(
        self, paths: Sequence[str | Path], progress: Progress | None = None, notify: Notify | None = None
    ) -> IngestReport:
        """Add or update sources, as the store's only writer (another process writing it is waited for)."""
        return ingest_as_writer(paths, self.store, self.embedder, self.settings, progress, notify)

    def retrieve(self, question: str, k: int = 5, mode: RetrievalMode = "hybrid") -> list[Passage]:
        return self.retriever.retrieve(question, k=k, mode=mode)

    def ask(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        situation: Situation | Mapping[str, Any] | None = None,
        profile: Profile | Mapping[str, Any] | None = None,
    ) -> Answer:
        """A cited answer; raises QuestionError (readable) for an empty question or malformed history.

        `profile` (a saved Profile or a mapping with level, goal, manager, note) shapes the answer like the
        intake does; a field given in `situation` wins over the profile's."""
        return self.advisor.ask(question, history, _situation(situation, profile))

    def ask_stream(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        situation: Situation | Mapping[str, Any] | None = None,
        profile: Profile | Mapping[str, Any] | None = None,
    ) -> Iterator[AnswerEvent]:
        """Text deltas as they are written, then one `final` event with the checked Answer."""
        return self.advisor.stream(question, history, _situation(situation, profile))


def _configured_llm(settings: Settings) -> Any:
    """The chat model in settings; the offline default costs no import of LangChain's chat-model stack (~0.5 s)."""
    if settings.llm.strip().lower() == "offline":
        return None
    from coach.llm import make_llm

    return make_llm(settings)


def _situation(
    value: Situation | Mapping[str, Any] | None, profile: Profile | Mapping[str, Any] | None = None
) -> Situation | None:
    given = value if isinstance(value, Situation) or value is None else Situation.from_mapping(value)
    if profile is None:
        return given
    from coach.profile_store import with_profile

    return with_profile(given, profile)
