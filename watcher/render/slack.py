"""Digest -> Slack Block Kit messages. Pure: no network, no clock, no environment.

Every string that came from a feed goes through :func:`slack_escape`, so a title such as
``<!channel>`` or ``<https://evil|click>`` shows as text and pings nobody. Links are built
only from ``Paper.abs_url`` and only when it is a plain http(s) URL. Before that, the digest
is what every format shows (``render.formats.shown_digest``): no control characters or
bidi overrides, every field capped; the limits below cut further for Slack.

A digest that fits Slack's limits (50 blocks, 3,000 characters per section text, about
12,000 characters per message) becomes one message. A longer one becomes a summary message
(header and counts per topic) followed by messages meant as replies in its thread (a bot) or
posted after it (a webhook cannot thread: ``threaded=False``, and the summary says so);
every paper appears in exactly one of them, the updated papers of ``Digest.updated`` (listed
last, under "Updated") included. Topics come in the rule file's order (``Digest.topics``).
The context under the header counts the digest as every format does
(``watcher.digest.digest_counts``); a capped digest (``Digest.omitted``) ends in "+N more".

An abstract is cut to a short snippet: when its first matched term lies beyond the snippet's
start, the snippet starts shortly before that term, so the bold term is in view.

Matched terms are shown under each paper and in *bold* in its abstract, but only where
Slack's mrkdwn reliably parses the bold (the term stands between spaces or plain
punctuation): a term inside a word or next to ``&`` stays plain rather than show stray
asterisks. The text around and inside a bold run is escaped piece by piece.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from watcher.digest import digest_counts, first_topic, tally, topics_of
from watcher.match import highlight_spans
from watcher.models import Digest, Match, Paper, Term
from watcher.render import Piece, highlight_pieces, match_terms, more_line
from watcher.render.formats import (
    clip,
    counts_line,
    ranking_lines,
    relevance_reason,
    shown_digest,
    topics_line,
)

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
UPDATED_TOPIC = "Updated"

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


def clip_escaped(text: str, limit: int) -> str:
    """Escape ``text`` and clip it so the *escaped* form fits ``limit`` characters."""
    raw_limit = limit
    while True:
        out = slack_escape(clip(text, raw_limit))
        if len(out) <= limit or raw_limit <= 1:
            return out[:limit] if len(out) > limit else out
        raw_limit -= max(len(out) - limit, 1)


# Where a ``*bold*`` run may begin and end so that Slack parses it: at the text's ends,
# next to whitespace, or next to this plain punctuation. Elsewhere the term stays plain.
_BOLD_BEFORE = frozenset("([")
_BOLD_AFTER = frozenset(".,;:!?)]")
_MRKDWN_MARKS = frozenset("*_~`")


def _bold_safe(text: str, before: str, after: str) -> bool:
    return (
        text[:1].isalnum()
        and text[-1:].isalnum()
        and not any(c in _MRKDWN_MARKS or (c.isspace() and c != " ") for c in text)
        and (not before or before.isspace() or before in _BOLD_BEFORE)
        and (not after or after.isspace() or after in _BOLD_AFTER)
    )


def bold_pieces(pieces: Sequence[Piece]) -> str:
    """mrkdwn of ``pieces``: every piece escaped, term pieces in ``*bold*`` where safe."""
    out = []
    for i, (text, hit) in enumerate(pieces):
        before = pieces[i - 1][0][-1:] if i > 0 else ""
        after = pieces[i + 1][0][:1] if i + 1 < len(pieces) else ""
        escaped = slack_escape(text)
        out.append(f"*{escaped}*" if hit and _bold_safe(text, before, after) else escaped)
    return "".join(out)


# Characters of context kept before the first matched term when the snippet starts there.
LEAD_CONTEXT = 60


def around_first_match(text: str, terms: Sequence[Term], limit: int) -> str:
    """``text`` from shortly before its first occurrence of ``terms`` (at a word start,
    after "…") when that occurrence would not fit a snippet of ``limit`` characters from the
    start; else ``text``. Whitespace is collapsed first, as ``clip`` does."""
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= limit or not terms:
        return text
    spans = highlight_spans(text, terms)
    if not spans:
        return text
    start, end = min(spans)
    if end <= limit - 1:  # already in view
        return text
    at = max(0, start - LEAD_CONTEXT)
    space = text.find(" ", at, start)
    at = space + 1 if space >= 0 else at
    # Sentences read better from their start: begin there if it is not far before.
    sentence = text.rfind(". ", max(0, start - 2 * LEAD_CONTEXT), start)
    if sentence >= 0:
        at = min(at, sentence + 2)
    return "…" + text[at:]


def highlight_mrkdwn(text: str, terms: Sequence[Term], limit: int) -> str:
    """``text`` clipped like :func:`clip_escaped`, with ``terms`` in bold, within ``limit``;
    the snippet starts near the first matched term when that lies further in
    (``around_first_match``).

    The occurrences are found on the clipped raw text, then each piece is escaped.
    """
    text = around_first_match(text, terms, limit)
    raw_limit = limit
    while True:
        out = bold_pieces(highlight_pieces(clip(text, raw_limit), terms))
        if len(out) <= limit:
            return out
        if raw_limit <= 1:
            return clip_escaped(text, limit)
        raw_limit -= max(len(out) - limit, 1)


def shorten_authors(authors: tuple[str, ...], shown: int = AUTHORS_SHOWN) -> str:
    """``A, B, C +12 more`` when long; every name clipped. Unescaped."""
    names = [clip(a, AUTHOR_MAX) for a in authors if a.strip()]
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} et al. (+{len(names) - shown} more)"


def topic_of(match: Match) -> str:
    """The group a paper is shown under: its first matching topic (in rule file order)."""
    return first_topic(match)


def group_by_topic(
    matches: tuple[Match, ...], order: Sequence[str] = ()
) -> list[tuple[str, list[Match]]]:
    """Groups in ``order`` (the rule file's topic order), then any other topic in order of
    first appearance; papers keep digest order within a group."""
    groups: dict[str, list[Match]] = {name: [] for name in order}
    for m in matches:
        groups.setdefault(topic_of(m), []).append(m)
    return [(name, ms) for name, ms in groups.items() if ms]


@dataclass(frozen=True, slots=True)
class _Group:
    """A heading and its papers; ``updated`` marks the section of replaced papers."""

    name: str
    matches: list[Match]
    updated: bool = False


def _groups(digest: Digest) -> list[_Group]:
    order = [count.topic for count in topics_of(digest)]
    groups = [_Group(name, ms) for name, ms in group_by_topic(digest.matches, order)]
    if digest.updated:
        groups.append(_Group(UPDATED_TOPIC, list(digest.updated), updated=True))
    return groups


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


def _context(digest: Digest, follow: str = "") -> Block:
    """Under the header: the counts every format shows, the announcement, and where the
    papers are when they do not fit this message (``follow``)."""
    counts = digest_counts(digest)
    parts = [f"*{slack_escape(counts_line(counts))}*"]
    if topics := topics_line(counts):
        parts.append(slack_escape(topics))
    parts.append(f"arXiv announcement of {slack_escape(digest.period)}")
    # Why the order is not relevance; how many fell below the threshold the counts say.
    parts.extend(slack_escape(line) for line in ranking_lines(replace(digest, below_threshold=0)))
    if follow:
        parts.append(follow)
    return _context_block(" · ".join(parts))


def _context_block(text: str) -> Block:
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
    abstract = highlight_mrkdwn(paper.abstract, match_terms(match), ABSTRACT_MAX)
    terms = _terms(match)
    tail = [f"_Matched:_ {clip_escaped(terms, TERMS_MAX)}"] if terms else []
    if why := relevance_reason(match):
        tail.append(f"_Why:_ {clip_escaped(why, TERMS_MAX)}")
    text = "\n".join([*lines, *([f">{abstract}"] if abstract else []), *tail])
    if len(text) > max_chars:  # only with limits far below Slack's: drop the abstract first
        text = "\n".join([*lines, *tail])
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def update_text(match: Match, max_chars: int = 3000) -> str:
    """The mrkdwn of one updated paper: linked title (the link is the new version), terms."""
    paper = match.paper
    title = _title(paper)
    if paper.version:
        title += f" · v{paper.version}"
    terms = _terms(match)
    text = "\n".join([title, *([f"_Matched:_ {clip_escaped(terms, TERMS_MAX)}"] if terms else [])])
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


# One shown paper: the match and whether it is listed as updated.
Entry = tuple[Match, bool]


def _entry_text(entry: Entry, max_chars: int) -> str:
    match, updated = entry
    return update_text(match, max_chars) if updated else paper_text(match, max_chars)


# The buttons of a paper (``feedback=True``): the daemon's Socket Mode listener
# (watcher.daemon.clicks) knows them by these action ids and reads the value back.
LIKE_ACTION = "watcher_more_like_this"
DISLIKE_ACTION = "watcher_less_like_this"
BUTTON_LABELS = {LIKE_ACTION: "More like this", DISLIKE_ACTION: "Less like this"}


def button_value(subscription: str, paper_id: str) -> str:
    """What a button carries back: the subscription and the paper (JSON, as Slack returns
    it unchanged; at most 2,000 characters, far above a rule file's name and an id)."""
    return json.dumps({"subscription": subscription, "paper": paper_id}, ensure_ascii=False)


def _buttons(subscription: str, match: Match) -> Block:
    value = button_value(subscription, match.paper.id)
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": action,
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": value,
            }
            for action, label in BUTTON_LABELS.items()
        ],
    }


def _entry_blocks(entry: Entry, max_chars: int, feedback: str | None) -> list[Block]:
    """A paper's section, and its buttons when ``feedback`` names the subscription (new
    arXiv papers only: feedback is given by arXiv id)."""
    match, updated = entry
    blocks = [_section(_entry_text(entry, max_chars))]
    if feedback is not None and not updated and match.paper.is_arxiv:
        blocks.append(_buttons(feedback, match))
    return blocks


def _fallback(entries: list[Entry], head: str, limit: int) -> str:
    """Plain text (escaped, no links) for notifications and clients without blocks."""
    lines = [slack_escape(clip(head, 300))]
    used = len(lines[0])
    for i, (m, updated) in enumerate(entries):
        label = "• updated: " if updated else "• "
        line = label + clip_escaped(m.paper.title, FALLBACK_TITLE_MAX)
        if used + len(line) + 40 > limit:
            lines.append(f"… and {len(entries) - i} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


# --- messages -------------------------------------------------------------------------------


def build_messages(
    digest: Digest,
    *,
    threaded: bool = True,
    max_blocks: int = 50,
    max_section_chars: int = 3000,
    max_message_chars: int = 12000,
    feedback: bool = False,
) -> list[SlackMessage]:
    """Turn ``digest`` into Slack messages: one if it fits, else a summary then thread replies.

    Papers are grouped by their first matching topic, updated papers last under "Updated".
    Every paper appears exactly once across the returned messages, and every message stays
    within the given limits. ``threaded``: the messages after the first go in its thread (a
    bot token); False for a webhook, which posts them one after another. ``feedback``: each
    new paper carries "More like this" / "Less like this" buttons (bot-token posts with
    Socket Mode on; a webhook's cannot be clicked).
    """
    voting = digest.subscription if feedback else None
    digest = shown_digest(digest)
    groups = _groups(digest)
    # A paper must fit a reply next to its topic heading, whatever limits the caller chose.
    max_section_chars = max(min(max_section_chars, max_message_chars - TOPIC_MAX - 50), 100)
    counts = digest_counts(digest)
    head = f"{digest.subscription} · {digest.period}: {tally(counts.matched, counts.updated)}"
    if digest.omitted:
        head += f" ({digest.omitted} not shown, max_papers)"
    header = _header(digest)
    more = slack_escape(more_line(digest.omitted))

    if not groups:
        empty = "No new papers matched." + (f" {more}" if more else "")
        blocks = (header, _section(empty))
        return [SlackMessage(text=slack_escape(head), blocks=blocks)]

    single: list[Block] = [header, _context(digest)]
    for group in groups:
        single.append({"type": "divider"})
        single.append(_topic_block(group.name, len(group.matches)))
        for m in group.matches:
            single.extend(_entry_blocks((m, group.updated), max_section_chars, voting))
    if more:
        single.append(_context_block(more))
    if len(single) <= max_blocks and message_chars(single) <= max_message_chars:
        entries = [(m, g.updated) for g in groups for m in g.matches]
        fallback = _fallback(entries, head, min(max_message_chars, FALLBACK_MAX))
        return [SlackMessage(text=fallback, blocks=tuple(single))]

    replies = _replies(digest, groups, max_blocks, max_section_chars, max_message_chars, voting)
    follow = (
        "papers in the thread"
        if threaded
        else f"papers in the next {_plural(len(replies), 'message')}"
    )
    summary = _summary(digest, groups, header, head, max_blocks, max_section_chars, follow)
    return [summary, *replies]


def _summary(
    digest: Digest,
    groups: list[_Group],
    header: Block,
    head: str,
    max_blocks: int,
    max_section_chars: int,
    follow: str,
) -> SlackMessage:
    blocks: list[Block] = [header, _context(digest, follow)]
    lines = [f"• *{clip_escaped(g.name, TOPIC_MAX)}*: {len(g.matches)}" for g in groups]
    chunk: list[str] = []
    for i, line in enumerate(lines):
        if len(blocks) == max_blocks - 1:  # keep room for the last section
            rest = sum(len(g.matches) for g in groups[i:])
            chunk.append(f"… and {_plural(len(lines) - i, 'more topic')} ({rest} papers)")
            break
        if chunk and len("\n".join([*chunk, line])) > max_section_chars:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    counts = ", ".join(f"{g.name} {len(g.matches)}" for g in groups)
    text = slack_escape(clip(f"{head} ({counts}), {follow}", 1000))
    return SlackMessage(text=text, blocks=tuple(blocks))


def _replies(
    digest: Digest,
    groups: list[_Group],
    max_blocks: int,
    max_section_chars: int,
    max_message_chars: int,
    voting: str | None = None,
) -> list[SlackMessage]:
    """Greedy packing of topic headings and paper sections (with their buttons) into thread
    replies."""
    total = len(digest.matches) + len(digest.updated)
    pages: list[tuple[list[Block], list[Entry]]] = []
    blocks: list[Block] = []
    entries: list[Entry] = []
    chars = 0

    def flush() -> None:
        nonlocal blocks, entries, chars
        if entries:
            pages.append((blocks, entries))
        blocks, entries, chars = [], [], 0

    for group in groups:
        for i, m in enumerate(group.matches):
            entry = (m, group.updated)
            paper = _entry_blocks(entry, max_section_chars, voting)
            size = message_chars(paper)
            topic = _topic_block(group.name, len(group.matches), continued=i > 0)
            needs_topic = i == 0 or not blocks
            extra = [topic, *paper] if needs_topic else paper
            extra_chars = size + (message_chars([topic]) if needs_topic else 0)
            if blocks and (
                len(blocks) + len(extra) > max_blocks or chars + extra_chars > max_message_chars
            ):
                flush()
                topic = _topic_block(group.name, len(group.matches), continued=i > 0)
                extra, extra_chars = [topic, *paper], size + message_chars([topic])
            blocks.extend(extra)
            entries.append(entry)
            chars += extra_chars
    flush()

    out = []
    first = 1
    for page_blocks, page_entries in pages:
        last = first + len(page_entries) - 1
        head = f"{digest.subscription} · {digest.period}: papers {first}-{last} of {total}"
        text = _fallback(page_entries, head, min(max_message_chars, FALLBACK_MAX))
        out.append(SlackMessage(text=text, blocks=tuple(page_blocks)))
        first = last + 1
    return out
