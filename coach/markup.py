"""Text from sources and people made inert for the chat: shown literally, never an image, link or tag.

The chat renders GitHub-flavoured Markdown (bare URLs, `www.` names and e-mail addresses become links too)
and lets sanitized HTML through. A source sentence `![x](http://host/x.png)` would be fetched, `[here](…)`
would be a live link. So everything a source or a person wrote is escaped here, at the point the UI renders
it, and the only markup left is the app's own: the bold labels and list markers the composer writes around
the quotes, and citation links whose URLs the app built.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from coach.textutil import MARKER, without_label
from ingest.timestamps import format_time

if TYPE_CHECKING:
    from coach.types import Answer, Citation

# Markdown's inline syntax, plus ':' and '@' so no bare URL or e-mail address is auto-linked.
_INLINE = re.compile(r"([\\`*_\[\]#|~$!:@])")
_WWW = re.compile(r"(?i)\b(www)\.")
_BLOCK_START = re.compile(r"^(\s*)([-+=]|\d{1,9}(?=[.)]))")  # a list item, setext underline or ordered item
_ORDERED_DOT = re.compile(r"^(\s*\d{1,9})([.)])")
# The app's own structure in an answer line: a list marker, a bold label opening it, a bold sentence closing it.
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+")
_OPENING_LABEL = re.compile(r"^\*\*([^*\n]+?)\*\*(?=\s|$)")
_CLOSING_BOLD = re.compile(r"\s\*\*([^*\n]+?[.!?:])\*\*$")


def inline(text: str) -> str:
    """Text inside a line, shown literally: HTML entities for `&<>`, a backslash before Markdown syntax."""
    escaped = html.escape(text, quote=False)
    return _WWW.sub(r"\1\\.", _INLINE.sub(r"\\\1", escaped))


def _block(line: str) -> str:
    """An escaped line that starts a block: no list, heading, underline or indented code made of it."""
    line = line.lstrip()
    if _ORDERED_DOT.match(line):
        return _ORDERED_DOT.sub(r"\1\\\2", line, count=1)
    return _BLOCK_START.sub(r"\1\\\2", line, count=1)


def literal(text: str) -> str:
    """A person's or a source's text as Markdown that renders exactly these characters, line by line."""
    lines = _lines(text)
    return "\n".join(_block(inline(line)) for line in lines)


def answer_markdown(text: str, link: Callable[[int], str | None]) -> str:
    """An answer's text as safe Markdown: the composer's list markers and bold labels kept, every quoted or
    echoed word escaped, and each `[n]` replaced by `link(n)` (left as literal text when that gives None)."""
    return "\n".join(_answer_line(line, link) for line in _lines(text))


def _answer_line(line: str, link: Callable[[int], str | None]) -> str:
    line = line.strip()
    marker = ""
    if m := _LIST_ITEM.match(line):
        marker, line = _normal_marker(m.group(0)), line[m.end() :]
    head = tail = ""
    if m := _OPENING_LABEL.match(line):
        head, line = f"**{inline(m.group(1))}**", line[m.end() :]
    if m := _CLOSING_BOLD.search(line):
        tail, line = f" **{inline(m.group(1))}**", line[: m.start()]
    body = _with_links(line, link)
    if not marker and not head:
        body = _block(body)
    return marker + head + body + tail


def _normal_marker(marker: str) -> str:
    mark = marker.strip()
    return f"{mark} " if mark[0].isdigit() else "- "


def _with_links(text: str, link: Callable[[int], str | None]) -> str:
    out, at = [], 0
    for m in MARKER.finditer(text):
        out.append(inline(text[at : m.start()]))
        made = link(int(m.group(1)))
        out.append(m.group(0)[: -len(m.group(0).lstrip())] + made if made else inline(m.group(0)))
        at = m.end()
    out.append(inline(text[at:]))
    return "".join(out)


def _lines(text: str) -> list[str]:
    return (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")


# ---- the page's pieces (text in, safe markup out) -----------------------------------------------
_SAFE_URL = re.compile(r"^https://www\.youtube\.com/watch\?v=[\w-]+&t=\d+s$")


def safe_url(url: str) -> str:
    """The URL when it is a YouTube timestamp link the app built, else '' (never a javascript: or odd URL)."""
    return url if _SAFE_URL.match(url or "") else ""


def source_label(c: Citation) -> str:
    """What a screen reader says for a citation or time link: "Source 3, 17:37, Ethan Evans"."""
    when = ("about " if c.approximate else "") + format_time(c.start)
    return ", ".join(x for x in (f"Source {int(c.n)}", when, (c.guest or c.title).strip()) if x)


def citation_link(c: Citation) -> str | None:
    """The `[n]` in an answer as a link to its second, named for screen readers; None when the URL is odd."""
    url = safe_url(c.url)
    if not url:
        return None
    label = html.escape(source_label(c))
    # The chat's sanitizer drops aria-* attributes; an img-role span named by its title names the link the same
    # way ("Source 3, 17:37, Ethan Evans") while "[3]" stays what sighted readers see.
    return (
        f'<a class="coach-cite" href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">'
        f'<span role="img" title="{label}">\\[{int(c.n)}\\]</span></a>'
    )


def link_citations(text: str, citations: Sequence[Citation]) -> str:
    """The answer as safe Markdown, each `[n]` a link to its passage's second."""
    by_n = {int(c.n): c for c in citations}
    return answer_markdown(text, lambda n: citation_link(by_n[n]) if n in by_n else None)


def render_answer(answer: Answer) -> str:
    """The assistant's chat message: linked answer, then any notices in small print."""
    body = link_citations(answer.text, answer.citations)
    notes = "".join(f'<div class="coach-notice"><b>Note:</b> {entities(n)}</div>' for n in answer.notices)
    return f"{body}\n\n{notes}" if notes else body


def entities(text: str) -> str:
    """Text for inside an HTML block of a Markdown message: every character that could be syntax in either
    language as a numeric entity (a backslash would show there)."""
    return _ENTITY_CHARS.sub(lambda m: f"&#{ord(m.group(0))};", html.escape(text, quote=False))


_ENTITY_CHARS = re.compile(r"[\\`*_\[\]#|~$!:@()]")


def time_link(url: str, text: str, label: str, cls: str = "coach-time") -> str:
    """A link to a second of an episode, read out as `label`; plain text when the URL is not one the app built."""
    url = safe_url(url)
    if not url:
        return f'<span class="{cls}">{html.escape(text)}</span>'
    return (
        f'<a class="{cls}" href="{html.escape(url)}" target="_blank" rel="noopener noreferrer" '
        f'aria-label="{html.escape(label)}">{html.escape(text)}</a>'
    )


def render_sources(answer: Answer | None) -> str:
    """The sources panel: each cited quote with its episode, guest and a link to the second."""
    head = '<div class="coach-panel-title">Sources{}</div>'
    if answer is None:
        return (
            f'<div class="coach-sources coach-empty">{head.format("")}'
            "<p>Every quote behind an answer appears here, linked to the exact second of the episode.</p></div>"
        )
    if answer.refused or not answer.citations:
        return (
            f'<div class="coach-sources coach-empty">{head.format("")}'
            "<p>No sources for this answer — rather than guess, the coach only answers what its sources cover.</p></div>"
        )
    cards = []
    for c in answer.citations:
        meta = " · ".join(html.escape(x) for x in (c.title, c.guest) if x)
        when = ("▶ ≈ " if c.approximate else "▶ ") + format_time(c.start)
        cards.append(
            f'<div class="coach-source" id="coach-source-{int(c.n)}">'
            f'<div class="coach-source-head"><span class="coach-badge">{int(c.n)}</span>'
            f"{time_link(c.url, when, source_label(c))}"
            + (
                '<span class="coach-approx"> (approximate: the notes give this sentence no time of its own)</span>'
                if c.approximate
                else ""
            )
            + "</div>"
            f'<blockquote class="coach-quote">{html.escape(c.quote)}</blockquote>'
            f'<div class="coach-meta">{meta}</div></div>'
        )
    count = f' <span class="coach-count">{len(answer.citations)}</span>'
    return f'<div class="coach-sources">{head.format(count)}{"".join(cards)}</div>'


def render_framework(answer: Answer | None) -> str:
    """The framework card: its name and steps, each step linked to when it is explained ('' when none)."""
    fw = answer.framework if answer is not None and not answer.refused else None
    if not fw:
        return ""
    path = [p for p in fw.heading_path if p.strip()]
    name = path[0] if path else fw.name
    sub = " — ".join(path[1:])
    steps = []
    for s in fw.steps:
        label = s.label.strip()
        text = without_label(s.text.strip(), label)
        when = format_time(s.start)
        said = ", ".join(x for x in (f"Step {int(s.n)}: {label}", when, (fw.guest or fw.title).strip()) if x)
        steps.append(
            f'<li class="coach-step" title="{html.escape(text)}"><span class="coach-step-n">{int(s.n)}</span>'
            f'<span class="coach-step-label">{html.escape(label)}</span>'
            f"{time_link(s.url, '▶ ' + when, said)}</li>"
        )
    meta = " · ".join(html.escape(x) for x in (fw.guest, fw.title) if x)
    eyebrow = "Framework that fits" if fw.moves else "The list this comes from"
    return (
        f'<div class="coach-framework"><div class="coach-eyebrow">{eyebrow}</div>'
        f"<h3>{html.escape(name)}</h3>"
        + (f'<div class="coach-sub">{html.escape(sub)}</div>' if sub else "")
        + f'<ol class="coach-steps">{"".join(steps)}</ol><div class="coach-meta">{meta}</div></div>'
    )


def api_payload(answer: Answer) -> dict[str, Any]:
    """What the `chat` API returns: the linked Markdown plus the answer as data."""
    return {**answer.to_dict(), "text": render_answer(answer), "answer": answer.text}
