"""Privacy: in the default mode nothing leaves the machine and conversations are written nowhere.

The run happens in a fresh interpreter whose socket layer refuses, and records, every connection and
every name lookup that is not for this machine, installed before Coach or any library is imported, so
import-time telemetry or update checks would be caught too. It builds the bundled index (ingest), ingests
one more file, asks (plain, streamed, with history), serves the web app and chats through it with
gradio_client. Its HOME, TMPDIR, Gradio temp folder, working folder and store all live under one folder,
which is then searched for a marker word that only the questions contain. Profiles and plans: asking and chatting
create no profile database; once the person saves a profile and a plan (a second marker) and exports it, every file
holding it is readable by its owner only (0600), and after "Forget me" no file holds it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT

_RUN = r'''
import ipaddress, json, os, socket, sys
from pathlib import Path

ATTEMPTS = []


def local(host):
    if host in (None, "", "localhost") or (isinstance(host, str) and host.endswith(".localhost")):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


real_connect, real_connect_ex, real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
        ATTEMPTS.append(f"connect {address!r}")
        raise ConnectionRefusedError(f"privacy guard: {address!r}")
    return real_connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
        ATTEMPTS.append(f"connect_ex {address!r}")
        return 111
    return real_connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if not local(host if not isinstance(host, bytes) else host.decode()):
        ATTEMPTS.append(f"lookup {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, f"privacy guard: {host!r}")
    return real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo

root, marker = Path(sys.argv[1]), sys.argv[2]
from coach import Coach, ui
from coach.settings import Settings

settings = Settings(store_dir=root / "store", data_dir=Path(sys.argv[3]), cache_dir=root / "cache")
assert settings.llm == "offline" and settings.chroma_url is None and settings.feedback_path is None
coach = Coach.open(settings=settings)
extra = root / "extra.md"
extra.write_text(
    "---\ntitle: Notes on feedback\nvideoId: AAAAAAAAAAA\n---\n# Feedback\n\n"
    "Ask for feedback every week so that nothing surprises you at review time. [00:01:05]\n",
    encoding="utf-8",
)
out = {"ingested": coach.ingest([extra]).chunks_added}
question = f"My manager never talks about my career growth, {marker}. What should I do?"
first = coach.ask(question)
streamed = [e for e in coach.ask_stream(f"How do I get past senior manager, {marker}?") if e.kind == "final"]
follow = coach.ask(f"What should I do first, {marker}?", history=[("user", question), ("assistant", first.text)])
out["cited"] = [len(first.citations), len(streamed[0].answer.citations), len(follow.citations)]

demo, url = ui.serve(coach, host="127.0.0.1", port=int(sys.argv[4]), block=False, quiet=True)
from gradio_client import Client

client = Client(url, verbose=False)
result = client.predict(f"How do I stand out in an interview, {marker}?", [], "", "", "", api_name="/chat")
out["ui_citations"] = [c["url"] for c in result["citations"]]
import urllib.request

with urllib.request.urlopen(url, timeout=30) as page:
    out["page_status"] = page.status
people_db = root / "store" / ".coach-people.sqlite3"
out["people_db_before_opt_in"] = people_db.exists() or bool(client.predict(api_name="/plan")["items"])

# Opt in: a profile and a plan (a second marker, in what the person saved), exports, then "Forget me".
saved = sys.argv[5]
coach.profiles.save_profile("local", level="senior engineer", note=f"my note {saved}")
coach.plan.add_named("Ask your boss how you can help", note=f"plan note {saved}", remind_on="2027-01-15")
out["ui_profile_note"] = client.predict(api_name="/profile")["profile"]["note"]
from coach.plan_export import write_private

exports = [write_private(root / "work" / "plan.md", coach.plan.markdown().encode()),
           write_private(root / "work" / "plan.ics", coach.plan.calendar())]
holding = [p for p in root.rglob("*") if p.is_file() and saved.encode() in p.read_bytes()]
out["saved_in"] = {str(p.relative_to(root)): oct(p.stat().st_mode & 0o777) for p in holding}
for p in exports:
    p.unlink()  # the person's own copies; what follows is about what Coach keeps
out["forgotten"] = client.predict(api_name="/forget_me")["deleted"]
demo.close()
coach.profiles.close()
out["attempts"] = ATTEMPTS
print("RESULT " + json.dumps(out), flush=True)
'''


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _files_containing(folder: Path, needle: bytes) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    found.append(str(path.relative_to(folder)))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def private_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str, str]:  # type: ignore[type-arg]
    root = tmp_path_factory.mktemp("private")
    for name in ("home", "tmp", "gradio", "work"):
        (root / name).mkdir()
    marker = f"zq{uuid.uuid4().hex[:12]}xv"
    saved = f"zs{uuid.uuid4().hex[:12]}xv"
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("COACH_", "OPENAI_", "HF_", "GRADIO_", "TRANSFORMERS_"))
    }  # fmt: skip
    env |= {
        "HOME": str(root / "home"), "TMPDIR": str(root / "tmp"), "GRADIO_TEMP_DIR": str(root / "gradio"),
        "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "XDG_CACHE_HOME": str(root / "home" / ".cache"), "XDG_DATA_HOME": str(root / "home" / ".local" / "share"),
    }  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-c", _RUN, str(root), marker, str(ROOT / "data"), str(_free_port()), saved],
        capture_output=True, text=True, env=env, cwd=root / "work", timeout=600,
    )  # fmt: skip
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, f"the private run failed: {run.stdout[-1500:]} {run.stderr[-3000:]}"
    return json.loads(line[7:]), root, marker, saved


def test_default_mode_tries_no_connection_off_the_machine(private_run) -> None:  # type: ignore[no-untyped-def]
    result, *_ = private_run
    assert result["ingested"] > 0
    assert all(n > 0 for n in result["cited"]), "ask, stream and follow-up must all give cited answers"
    assert result["ui_citations"]
    assert all(u.startswith("https://www.youtube.com/watch?v=") for u in result["ui_citations"])
    assert result["page_status"] == 200
    # Gradio's analytics are off without the test setting GRADIO_ANALYTICS_ENABLED: the app does it itself.
    assert result["attempts"] == [], "nothing may leave the machine in the default mode"


def test_conversations_are_written_nowhere(private_run) -> None:  # type: ignore[no-untyped-def]
    _, root, marker, _ = private_run
    assert (root / "store" / "chroma.sqlite3").is_file(), "the search covered the store that was written"
    assert _files_containing(root, marker.encode()) == []


def test_nothing_is_stored_for_a_person_until_they_opt_in(private_run) -> None:  # type: ignore[no-untyped-def]
    result, *_ = private_run
    assert result["people_db_before_opt_in"] is False, "asking and chatting must not create the profile database"


def test_what_a_person_saves_is_readable_by_them_only_and_forget_me_removes_it(private_run) -> None:  # type: ignore[no-untyped-def]
    result, root, _, saved = private_run
    assert result["ui_profile_note"] == f"my note {saved}"
    assert "store/.coach-people.sqlite3" in result["saved_in"]
    assert {"work/plan.md", "work/plan.ics"} <= set(result["saved_in"])
    assert set(result["saved_in"].values()) == {"0o600"}, result["saved_in"]
    assert result["forgotten"] == 2
    assert _files_containing(root, saved.encode()) == []


def test_the_marker_search_finds_what_is_written(tmp_path: Path) -> None:
    """The search above can fail: a file holding the marker anywhere below the folder is found."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "log.jsonl").write_bytes(b'{"q": "hello zqabcxv there"}\n')
    assert _files_containing(tmp_path, b"zqabcxv") == ["a/b/log.jsonl"]
