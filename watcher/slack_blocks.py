"""Digest -> Slack Block Kit messages. Pure: no network, no clock, no environment.

Every string that came from a feed goes through :func:`slack_escape`, so a title such as
``<!channel>`` or ``<https://evil|click>`` shows as text and pings nobody. Links are built
only from ``Paper.abs_url`` and only when it is a plain http(s) URL.

A digest that fits Slack's limits (50 blocks, 3,000 characters per section text, about
12,000 characters per message) becomes one message. A longer one becomes a summary message
(header and counts per topic) followed by messages meant as replies in its thread; every
paper appears in exactly one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from watcher.models import Digest, Match, Paper

Block = dict[str, Any]

HEADER_MAX = 150  # Slack's limit for a header block's plain_text
TITLE_MAX = 300
AUTHOR_MAX = 80
AUTHORS_SHOWN = 3
ABSTRACT_MAX = 300
TERMS_MAX = 300
TOPIC_MAX = 100
FALLBACK_TITLE_MAX = 150
# The fallback ``text`` is budgeted apart from the blocks (``max_message_chars`` counts block
# text): it is for notifications and block-less clients, so a few thousand characters do.
FALLBACK_MAX = 4000
OTHER_TOPIC = "Other"

_SAFE_URL = re.compile(r"^https?://[^\s<>|\"'`\x00-\x1f\x7f]+$", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One chat.postMessage / webhook payload: ``text`` is the notification fallback."""

    text: str
    blocks: tuple[Block, ...]

    @property
    def chars(self) -> int:
        return message_chars(self.blocks)


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_link(url: str) -> str | None:
    """``url`` escaped for use inside ``<url|label>``, or None if it is not plain http(s)."""
    if not _SAFE_URL.match(url):
        return None
    return url.replace("&", "&amp;")


def clip(text: str, limit: int) -> str:
    """Collapse whitespace and cut at a word boundary so the result fits ``limit``."""
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def clip_escaped(text: str, limit: int) -> str:
    """Escape ``text`` and clip it so the *escaped* form fits ``limit`` characters."""
    raw_limit = limit
    while True:
        out = slack_escape(clip(text, raw_limit))
        if len(out) <= limit or raw_limit <= 1:
            return out[:limit] if len(out) > limit else out
        raw_limit -= max(len(out) - limit, 1)


def shorten_authors(authors: tuple[str, ...], shown: int = AUTHORS_SHOWN) -> str:
    """``A, B, C +12 more`` when long; every name clipped. Unescaped."""
    names = [clip(a, AUTHOR_MAX) for a in authors if a.strip()]
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} et al. (+{len(names) - shown} more)"


def topic_of(match: Match) -> str:
    """The group a paper is shown under: its first matching topic."""
    return match.hits[0].topic if match.hits else OTHER_TOPIC


def group_by_topic(matches: tuple[Match, ...]) -> list[tuple[str, list[Match]]]:
    """Groups in order of first appearance; papers keep digest order within a group."""
    groups: dict[str, list[Match]] = {}
    for m in matches:
        groups.setdefault(topic_of(m), []).append(m)
    return list(groups.items())


def _text_chars(value: Any) -> int:
    if isinstance(value, dict):
        return sum(
            len(v) if k == "text" and isinstance(v, str) else _text_chars(v)
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return sum(_text_chars(v) for v in value)
    return 0


def message_chars(blocks: tuple[Block, ...] | list[Block]) -> int:
    """Characters of visible text in ``blocks`` (what the ~12,000 budget counts)."""
    return _text_chars(list(blocks))


# --- blocks ---------------------------------------------------------------------------------


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _header(digest: Digest) -> Block:
    text = clip(f"{digest.subscription} · {digest.period}", HEADER_MAX)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _context(digest: Digest, groups: list[tuple[str, list[Match]]], threaded: bool) -> Block:
    text = (
        f"*{_plural(len(digest.matches), 'paper')}* in {_plural(len(groups), 'topic')}"
        f" · arXiv announcement of {slack_escape(digest.period)}"
    )
    if threaded:
        text += " · papers in the thread"
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _topic_block(name: str, count: int, continued: bool = False) -> Block:
    label = clip_escaped(name, TOPIC_MAX)
    suffix = " (continued)" if continued else f" · {_plural(count, 'paper')}"
    return _section(f"*{label}*{suffix}")


def _title(paper: Paper) -> str:
    title = clip_escaped(paper.title, TITLE_MAX) or "(untitled)"
    link = safe_link(paper.abs_url)
    return f"*<{link}|{title}>*" if link else f"*{title}*"


def _terms(match: Match) -> str:
    parts = []
    for hit in match.hits:
        terms = ", ".join(f"`{t.replace('`', '')}`" for t in hit.terms)
        parts.append(f"{hit.topic}: {terms}" if len(match.hits) > 1 else terms)
    return " · ".join(parts)


def paper_text(match: Match, max_chars: int = 3000) -> str:
    """The mrkdwn of one paper's section: linked title, authors, abstract, matched terms."""
    paper = match.paper
    lines = [_title(paper)]
    if authors := shorten_authors(paper.authors):
        lines.append(clip_escaped(authors, TITLE_MAX))
    abstract = clip_escaped(paper.abstract, ABSTRACT_MAX)
    terms = _terms(match)
    tail = [f"_Matched:_ {clip_escaped(terms, TERMS_MAX)}"] if terms else []
    text = "\n".join([*lines, *([f">{abstract}"] if abstract else []), *tail])
    if len(text) > max_chars:  # only with limits far below Slack's: drop the abstract first
        text = "\n".join([*lines, *tail])
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def _fallback(matches: list[Match], head: str, limit: int) -> str:
    """Plain text (escaped, no links) for notifications and clients without blocks."""
    lines = [slack_escape(clip(head, 300))]
    used = len(lines[0])
    for i, m in enumerate(matches):
        line = "• " + clip_escaped(m.paper.title, FALLBACK_TITLE_MAX)
        if used + len(line) + 40 > limit:
            lines.append(f"… and {len(matches) - i} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


# --- messages -------------------------------------------------------------------------------


def build_messages(
    digest: Digest,
    *,
    max_blocks: int = 50,
    max_section_chars: int = 3000,
    max_message_chars: int = 12000,
) -> list[SlackMessage]:
    """Turn ``digest`` into Slack messages: one if it fits, else a summary then thread replies.

    Papers are grouped by their first matching topic. Every paper appears exactly once across
    the returned messages, and every message stays within the given limits.
    """
    groups = group_by_topic(digest.matches)
    # A paper must fit a reply next to its topic heading, whatever limits the caller chose.
    max_section_chars = max(min(max_section_chars, max_message_chars - TOPIC_MAX - 50), 100)
    head = f"{digest.subscription} · {digest.period}: {_plural(len(digest.matches), 'paper')}"
    header = _header(digest)

    if not digest.matches:
        blocks = (header, _section("No new papers matched."))
        return [SlackMessage(text=slack_escape(head), blocks=blocks)]

    single: list[Block] = [header, _context(digest, groups, threaded=False)]
    for name, matches in groups:
        single.append({"type": "divider"})
        single.append(_topic_block(name, len(matches)))
        single.extend(_section(paper_text(m, max_section_chars)) for m in matches)
    if len(single) <= max_blocks and message_chars(single) <= max_message_chars:
        fallback = _fallback(list(digest.matches), head, min(max_message_chars, FALLBACK_MAX))
        return [SlackMessage(text=fallback, blocks=tuple(single))]

    summary = _summary(digest, groups, header, head, max_blocks, max_section_chars)
    return [summary, *_replies(digest, groups, max_blocks, max_section_chars, max_message_chars)]


def _summary(
    digest: Digest,
    groups: list[tuple[str, list[Match]]],
    header: Block,
    head: str,
    max_blocks: int,
    max_section_chars: int,
) -> SlackMessage:
    blocks: list[Block] = [header, _context(digest, groups, threaded=True)]
    lines = [f"• *{clip_escaped(name, TOPIC_MAX)}*: {len(ms)}" for name, ms in groups]
    chunk: list[str] = []
    for i, line in enumerate(lines):
        if len(blocks) == max_blocks - 1:  # keep room for the last section
            rest = sum(len(ms) for _, ms in groups[i:])
            chunk.append(f"… and {_plural(len(lines) - i, 'more topic')} ({rest} papers)")
            break
        if chunk and len("\n".join([*chunk, line])) > max_section_chars:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    counts = ", ".join(f"{name} {len(ms)}" for name, ms in groups)
    text = slack_escape(clip(f"{head} ({counts}), listed in the thread", 1000))
    return SlackMessage(text=text, blocks=tuple(blocks))


def _replies(
    digest: Digest,
    groups: list[tuple[str, list[Match]]],
    max_blocks: int,
    max_section_chars: int,
    max_message_chars: int,
) -> list[SlackMessage]:
    """Greedy packing of topic headings and paper sections into thread replies."""
    total = len(digest.matches)
    pages: list[tuple[list[Block], list[Match]]] = []
    blocks: list[Block] = []
    papers: list[Match] = []
    chars = 0

    def flush() -> None:
        nonlocal blocks, papers, chars
        if papers:
            pages.append((blocks, papers))
        blocks, papers, chars = [], [], 0

    for name, matches in groups:
        for i, m in enumerate(matches):
            section = _section(paper_text(m, max_section_chars))
            size = message_chars([section])
            topic = _topic_block(name, len(matches), continued=i > 0)
            needs_topic = i == 0 or not blocks
            extra = [topic, section] if needs_topic else [section]
            extra_chars = size + (message_chars([topic]) if needs_topic else 0)
            if blocks and (
                len(blocks) + len(extra) > max_blocks or chars + extra_chars > max_message_chars
            ):
                flush()
                topic = _topic_block(name, len(matches), continued=i > 0)
                extra, extra_chars = [topic, section], size + message_chars([topic])
            blocks.extend(extra)
            papers.append(m)
            chars += extra_chars
    flush()

    out = []
    first = 1
    for page_blocks, page_papers in pages:
        last = first + len(page_papers) - 1
        head = f"{digest.subscription} · {digest.period}: papers {first}-{last} of {total}"
        text = _fallback(page_papers, head, min(max_message_chars, FALLBACK_MAX))
        out.append(SlackMessage(text=text, blocks=tuple(page_blocks)))
        first = last + 1
    return out
