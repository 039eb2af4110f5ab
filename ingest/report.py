"""What an ingestion run did, per file and in total."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileResult:
    path: str
    status: str  # added | updated | unchanged | duplicate | removed | skipped | error
    chunks_added: int = 0
    chunks_unchanged: int = 0
    chunks_removed: int = 0
    sponsor_paragraphs_skipped: int = 0
    message: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    rebuilt_from: str = ""
    orphans_removed: int = 0
    seconds: float = 0.0

    def _sum(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.files)

    @property
    def chunks_added(self) -> int:
        return self._sum("chunks_added")

    @property
    def chunks_unchanged(self) -> int:
        return self._sum("chunks_unchanged")

    @property
    def chunks_removed(self) -> int:
        return self._sum("chunks_removed")

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "error"]

    @property
    def warnings(self) -> list[tuple[str, str]]:
        return [(f.path, w) for f in self.files for w in f.warnings]

    def to_dict(self) -> dict[str, object]:
        return {
            "files": [f.__dict__ for f in self.files],
            "chunks_added": self.chunks_added,
            "chunks_unchanged": self.chunks_unchanged,
            "chunks_removed": self.chunks_removed,
            "errors": [{"path": f.path, "message": f.message} for f in self.errors],
            "rebuilt_from": self.rebuilt_from,
            "orphans_removed": self.orphans_removed,
            "seconds": round(self.seconds, 2),
        }
