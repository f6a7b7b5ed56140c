"""Digest -> chat messages that each fit a service's body limit (pure).

For the chat services reached through Apprise (Discord, Telegram, Matrix, Mattermost, ntfy,
Teams...): a digest too long for one message is split at paper boundaries into numbered
messages ("2/3"), each readable alone: a header line naming the digest, then whole papers,
each with its title (a link), authors, the topics and terms it matched, and its abstract
trimmed to fit. No paper is split across two messages and every paper appears once; the
updated papers (``Digest.updated``) come last, marked "Updated", and a capped digest ends
with "+N more".

Sizes are counted in UTF-16 code units (Telegram's count, and never less than the code
points Discord and Apprise count), so a message that fits here fits there.

Every string from a feed is untrusted: cleaned and capped as every format does
(``shown_digest``); in Markdown each Markdown special character is backslash-escaped (so
no feed text becomes a link, an image, a heading or markup), links are built only from
http(s) URLs, and an ``@`` is followed by a zero-width space everywhere, so that a title
saying ``@everyone`` or ``@channel`` pings nobody on any service.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from watcher.models import Digest, Match
from watcher.render.formats import (
    Piece,
    clip,
    highlight_pieces,
    match_terms,
    more_line,
    one_line,
    safe_href,
    shown_digest,
    subject,
)

ChatMarkup = Literal["markdown", "text"]

AUTHORS_SHOWN = 4
# An abstract's share of a message: about three papers to a Discord message, each with the
# gist of its abstract; a service with room for more shows more of each (up to this cap).
ABSTRACT_SHARE = 3
ABSTRACT_MIN = 160
ABSTRACT_MAX = 1_200
ZERO_WIDTH_SPACE = "\u200b"
# Every character CommonMark (and Discord's, Telegram's, Mattermost's dialects) could read
# as markup; any ASCII punctuation may be backslash-escaped, so escaping these is safe. With
# every bracket escaped, "(" and "!" open no link or image: they stay as they are.
_MD_SPECIAL = re.compile(r"([\\`*_~|\[\]<>#])")


def size(text: str) -> int:
    """Length in UTF-16 code units: what Telegram counts, never less than code points."""
    return len(text.encode("utf-16-le")) // 2


def _no_mentions(text: str) -> str:
    return text.replace("@", "@" + ZERO_WIDTH_SPACE)


def _md(text: str) -> str:
    """Feed or rule text as literal Markdown text: every special character escaped."""
    return _no_mentions(_MD_SPECIAL.sub(r"\\\1", text))


def _plain(text: str) -> str:
    return _no_mentions(text)


def _bold_pieces(pieces: Sequence[Piece]) -> str:
    """Markdown of an abstract's pieces: each escaped, matched terms in bold where the
    markers surely pair (letters or digits on both ends of the term)."""
    out = []
    for text, hit in pieces:
        escaped = _md(text)
        boldable = hit and text[:1].isalnum() and text[-1:].isalnum()
        out.append(f"**{escaped}**" if boldable else escaped)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _Paper:
    match: Match
    updated: bool


class _Writer:
    """One markup's way of writing the parts of a message."""

    def __init__(self, markup: ChatMarkup) -> None:
        self.markdown = markup == "markdown"

    def header(self, digest: Digest, part: int, parts: int) -> str:
        text = subject(digest) + (f" ({part}/{parts})" if parts > 1 else "")
        return f"**{_md(text)}**" if self.markdown else _plain(text)

    def paper(self, item: _Paper, abstract_limit: int, title_limit: int = 10_000) -> str:
        match = item.match
        paper = match.paper
        title = clip(paper.title, title_limit, size)
        if item.updated:
            title = f"Updated (v{paper.version}): {title}" if paper.version else f"Updated: {title}"
        url = safe_href(paper.abs_url)
        lines = []
        if self.markdown:
            link = url.replace("(", "%28").replace(")", "%29") if url else None
            lines.append(f"**[{_md(title)}]({link})**" if link else f"**{_md(title)}**")
        else:
            lines.append(_plain(title))
            if url:
                lines.append(url)
        authors = _authors(paper.authors)
        if authors:
            lines.append(self.text(authors))
        matched = "; ".join(
            f"{hit.topic} ({', '.join(hit.terms)})" if hit.terms else hit.topic
            for hit in match.hits
        )
        if matched:
            lines.append(self.text(f"Matched: {matched}"))
        abstract = clip(paper.abstract, abstract_limit, size) if abstract_limit > 0 else ""
        if abstract:
            if self.markdown:
                lines.append(_bold_pieces(highlight_pieces(abstract, match_terms(match))))
            else:
                lines.append(_plain(abstract))
        return "\n".join(lines)

    def text(self, value: str) -> str:
        return _md(value) if self.markdown else _plain(value)


def _authors(authors: tuple[str, ...]) -> str:
    names = [one_line(a) for a in authors if a.strip()]
    if len(names) <= AUTHORS_SHOWN + 1:
        return ", ".join(names)
    return f"{', '.join(names[:AUTHORS_SHOWN])} et al. (+{len(names) - AUTHORS_SHOWN} more)"


def chat_messages(digest: Digest, limit: int, markup: ChatMarkup = "markdown") -> list[str]:
    """The messages of ``digest``, each at most ``limit`` UTF-16 code units, in order.

    ``markup``: Markdown for services that render it, else plain text. Every paper is in
    exactly one message; a paper too long for a message alone keeps its title (cut if it
    must be), authors and terms, and as much of its abstract as fits.
    """
    shown = shown_digest(digest)
    writer = _Writer(markup)
    items = [_Paper(m, False) for m in shown.matches] + [_Paper(m, True) for m in shown.updated]
    # The header is reserved at its longest ("(12/12)"): the count is known only at the end.
    reserve = size(writer.header(shown, len(items) + 1, len(items) + 1)) + 2
    room = max(limit - reserve, 40)
    abstract_limit = max(ABSTRACT_MIN, min(ABSTRACT_MAX, room // ABSTRACT_SHARE))
    pages: list[list[str]] = [[]]
    used = 0
    for item in items:
        block = _fitted(writer, item, abstract_limit, room)
        needed = size(block) + (2 if pages[-1] else 0)
        if pages[-1] and used + needed > room:
            pages.append([])
            used, needed = 0, size(block)
        pages[-1].append(block)
        used += needed
    more = more_line(shown.omitted)
    if more:
        line = writer.text(more)
        if pages[-1] and used + size(line) + 2 > room:
            pages.append([])
        pages[-1].append(line)
    return [
        "\n\n".join([writer.header(shown, i + 1, len(pages)), *blocks])
        for i, blocks in enumerate(pages)
    ]


def _fitted(writer: _Writer, item: _Paper, abstract_limit: int, room: int) -> str:
    """A paper's block within ``room``: the abstract shortened first, then dropped, then
    the title cut; a block that still does not fit is cut hard (absurd authors or terms)."""
    block = writer.paper(item, abstract_limit)
    if size(block) <= room:
        return block
    without = writer.paper(item, 0)
    spare = room - size(without) - 1  # the line break before the abstract
    if spare >= 40:
        block = writer.paper(item, spare)
        while size(block) > room and spare > 40:
            spare -= max(size(block) - room, 1)
            block = writer.paper(item, spare)
        if size(block) <= room:
            return block
    for title_limit in (200, 80):
        block = writer.paper(item, 0, title_limit)
        if size(block) <= room:
            return block
    return clip(block, room, size)
