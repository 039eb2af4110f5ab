"""Frameworks come from document structure alone; checked against the bundled notes by hand."""

from __future__ import annotations

from pathlib import Path

from ingest.frameworks import Framework, extract_frameworks
from ingest.notes import parse_notes
from tests.conftest import NOTES


def _by_name() -> dict[str, Framework]:
    return {f.name: f for f in extract_frameworks(parse_notes(NOTES, NOTES.read_text(encoding="utf-8")))}


def test_the_named_lists_in_the_notes_become_frameworks_with_timed_steps() -> None:
    found = _by_name()
    magic = found["Steps of the Magic Loop"]
    labels = [s.label for s in magic.steps]
    assert labels[:3] == ["Do your current job well", "Ask your boss how you can help", "Do whatever they ask"]
    assert labels[3].startswith("Go back to your manager and ask how you can")  # long label, shortened
    assert labels[4] == "Repeat"
    assert [s.start_s for s in magic.steps] == [362, 391, 415, 441, 495]
    assert "five-step framework" in magic.intro
    assert [s.start_s for s in found["How to Be Systematically Inventive"].steps] == [1830, 1857, 1879]
    assert len(found["Key Takeaways from Navigating Failure"].steps) == 7
    assert len(found["Top Factors for Success"].steps) == 2
    assert next(s.label for s in found["Strategies for Breaking Out"].steps) == "Practice Next-Level Skills"


def test_structure_not_names_drives_detection(tmp_path: Path) -> None:
    text = (
        "---\ntitle: T\nvideoId: abcdefghijk\n---\n## The Tea Ritual\nA calm method [00:00:05].\n"
        "### How to brew\n1. **Warm the pot** [00:01:00]: Pour hot water [00:01:05].\n"
        "2. **Steep** [00:02:00]: Three minutes [00:02:10].\n\n## Just prose\nNo list here [00:03:00].\n"
    )
    frameworks = extract_frameworks(parse_notes(tmp_path / "t.md", text))
    assert len(frameworks) == 1
    fw = frameworks[0]
    assert fw.name == "How to brew"
    assert fw.intro == "A calm method."
    assert [(s.n, s.label, s.start_s) for s in fw.steps] == [(1, "Warm the pot", 60), (2, "Steep", 120)]
    assert Framework.from_dict(fw.to_dict()) == fw
