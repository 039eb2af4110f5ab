"""A plan written out: Markdown with each step's source link, and an iCalendar file of the reminders set.

The calendar is built with the `icalendar` library; files are created readable by their owner only. For the web
app, PrivateExports keeps each person's exports apart: a fresh folder per export, named by 128 random bits.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from coach.profile_store import PlanItem

REMIND_AT = timedelta(hours=9)  # an all-day reminder pops up at 09:00 on its day


def to_markdown(items: Sequence[PlanItem], today: date | None = None) -> str:
    today = today or date.today()
    lines = [f"# My plan ({today.isoformat()})", ""]
    if not items:
        lines.append("Nothing in the plan yet.")
    for item in items:
        box = "x" if item.status == "done" else " "
        status = "" if item.status == "open" else f" ({item.status})"
        when = f" · remind {item.remind_on.isoformat()}" if item.remind_on else ""
        lines.append(f"- [{box}] **{item.n}. {_md(item.step)}**{status} — added {item.added_on.isoformat()}{when}")
        if item.quote:
            source = f"[{_md(item.title) or 'source'} @ {_clock(item.start)}]({item.url})" if item.url else _md(item.title)
            lines.append(f"  > {_md(item.quote)} — {source}")
        if item.note:
            lines.append(f"  Note: {_md(item.note)}")
    return "\n".join(lines) + "\n"


def to_ics(items: Sequence[PlanItem], owner: str = "") -> bytes:
    """One all-day event, with a display alarm, per plan item that has a reminder date and is not dropped."""
    from icalendar import Alarm, Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//Coach//My plan//EN")
    calendar.add("version", "2.0")
    stamp = datetime.now(UTC)
    for item in items:
        if item.remind_on is None or item.status == "dropped":
            continue
        event = Event()
        uid = hashlib.sha256(f"{owner}\x00{item.n}\x00{item.added_on}".encode()).hexdigest()[:24]
        event.add("uid", f"coach-plan-{uid}@coach.invalid")
        event.add("dtstamp", stamp)
        event.add("dtstart", item.remind_on)
        event.add("dtend", item.remind_on + timedelta(days=1))
        event.add("summary", f"Coach plan: {item.step}")
        description = "\n".join(x for x in (item.quote, item.url, f"Note: {item.note}" if item.note else "") if x)
        event.add("description", description)
        if item.url:
            event.add("url", item.url)
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"Coach plan: {item.step}")
        alarm.add("trigger", REMIND_AT)
        event.add_component(alarm)
        calendar.add_component(event)
    return calendar.to_ical()


def write_private(path: Path, data: bytes) -> Path:
    """Write `data` to `path` as a file only its owner can read (an existing file keeps no wider mode)."""
    path = Path(path)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


class PrivateExports:
    """The web app's exports, per signed-in person. Each export is written to a fresh folder under `root` (the
    web server's file cache, which it serves from without copying), the folder readable by this process's user
    only (0700) and named by 128 random bits, so one person's download link cannot be guessed by another; the
    files are 0600. A person's previous export is deleted when they export again or are forgotten, and every
    export when the server closes."""

    MARKDOWN, CALENDAR = "coach-plan.md", "coach-plan.ics"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._folders: dict[str, Path] = {}
        self._lock = threading.Lock()

    def write(self, owner: str, markdown: str, calendar: bytes) -> tuple[Path, Path]:
        """Write one export for `owner`: (the Markdown file, the .ics file)."""
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / f"coach-plan-{secrets.token_hex(16)}"
        folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)  # whatever the umask
        paths = (write_private(folder / self.MARKDOWN, markdown.encode("utf-8")),
                 write_private(folder / self.CALENDAR, calendar))  # fmt: skip
        with self._lock:
            previous, self._folders[owner] = self._folders.get(owner), folder
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        return paths

    def forget(self, owner: str) -> None:
        with self._lock:
            folder = self._folders.pop(owner, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            folders, self._folders = list(self._folders.values()), {}
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def _md(text: str) -> str:
    """Text shown literally in Markdown (no links, emphasis or HTML from a note or a source)."""
    out = text.replace("\\", "\\\\").replace("\n", " ")
    for ch in "`*_[]<>#|":
        out = out.replace(ch, "\\" + ch)
    return out


def _clock(seconds: int) -> str:
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
