"""Turn a Digest into a Message: subject, Markdown, plain text and HTML (pure).

The Markdown template reproduces the seed digest layout byte for byte. Every string from a
feed is untrusted: control characters are dropped everywhere (a terminal or mail client
must not see escape sequences), the subject is one line, and the HTML template autoescapes
and only links http(s) URLs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Literal, get_args
from urllib.parse import urlsplit

import jinja2

from watcher.models import Digest, Match, Message, Paper

__all__ = [
    "FORMATS",
    "TEMPLATES",
    "Format",
    "PaperView",
    "TopicView",
    "block",
    "environment",
    "one_line",
    "paper_date",
    "render",
    "render_format",
    "safe_href",
    "subject",
]

Format = Literal["markdown", "text", "html"]
FORMATS: tuple[Format, ...] = get_args(Format)

TEMPLATES: dict[Format, str] = {
    "markdown": "digest.md.j2",
    "text": "digest.txt.j2",
    "html": "digest.html.j2",
}

_TEMPLATE_BY_NAME: dict[str, str] = {fmt: name for fmt, name in TEMPLATES.items()}

SUBJECT_NAME_MAX = 120

_SPACE = re.compile(r"\s+")


@cache
def environment() -> jinja2.Environment:
    """The one template environment: strict, autoescaping only the HTML template."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("watcher", "templates"),
        # select_autoescape matches name endings, so "digest.html.j2" needs "html.j2".
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"),
            disabled_extensions=(),
            default_for_string=False,
            default=False,
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


# --- cleaning untrusted strings ----------------------------------------------------------


def _drop_controls(value: str, keep_newlines: bool) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for char in value:
        category = unicodedata.category(char)
        if char == "\n" and keep_newlines:
            out.append(char)
        elif char in "\t\n" or category in ("Zl", "Zp"):
            out.append(" ")
        elif category != "Cc":
            out.append(char)
    return "".join(out)


def one_line(value: str) -> str:
    """A single line: control characters dropped, any run of whitespace one space."""
    return _SPACE.sub(" ", _drop_controls(value, keep_newlines=False)).strip()


def block(value: str) -> str:
    """Multi-line text as given (CR/LF normalised to LF), without control characters."""
    return _drop_controls(value, keep_newlines=True)


def _header_safe(value: str) -> str:
    # Mail headers also lose format characters (bidi overrides, zero-width tricks).
    value = one_line(value)
    return "".join(c for c in value if unicodedata.category(c) not in ("Cf", "Cs", "Co"))


def safe_href(url: str) -> str | None:
    """``url`` when it is an absolute http(s) URL with a host, else None (never javascript:)."""
    if not url.startswith(("http://", "https://")):
        return None
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


# --- the values templates see ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicView:
    topic: str
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PaperView:
    """One paper as the templates see it: cleaned strings, no objects with behaviour."""

    title: str
    authors: tuple[str, ...]
    date: str
    url: str  # an http(s) URL with a host, or "" (never javascript: and the like)
    id: str  # versioned arXiv id, "" for items of other feeds
    version: int | None
    abstract: str
    categories: tuple[str, ...]
    updated: bool
    topics: tuple[TopicView, ...]


def _utc_date(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


def paper_date(paper: Paper, period: str) -> str:
    """The date shown for a paper: published (v1), else this version's, else the period."""
    if paper.published is not None:
        return _utc_date(paper.published)
    if paper.updated is not None:
        return _utc_date(paper.updated)
    return period


def _view(match: Match, period: str) -> PaperView:
    paper = match.paper
    return PaperView(
        title=one_line(paper.title),
        authors=tuple(one_line(a) for a in paper.authors),
        date=paper_date(paper, period),
        url=safe_href(paper.abs_url) or "",
        id=paper.versioned_id if paper.is_arxiv else "",
        version=paper.version,
        abstract=block(paper.abstract),
        categories=tuple(one_line(c) for c in paper.categories),
        updated=paper.announce_type in ("replace", "replace-cross"),
        topics=tuple(
            TopicView(one_line(hit.topic), tuple(one_line(t) for t in hit.terms))
            for hit in match.hits
        ),
    )


def subject(digest: Digest) -> str:
    """One line for a mail Subject or a Slack header: no CR/LF or other control characters."""
    name = _header_safe(digest.subscription) or "digest"
    if len(name) > SUBJECT_NAME_MAX:
        name = name[: SUBJECT_NAME_MAX - 1].rstrip() + "\u2026"
    period = _header_safe(digest.period)
    count = len(digest.matches)
    noun = "paper" if count == 1 else "papers"
    return f"arXiv digest: {name}, {period} ({count} {noun})"


def _context(digest: Digest) -> dict[str, object]:
    return {
        "subject": subject(digest),
        "subscription": one_line(digest.subscription),
        "period": one_line(digest.period),
        "papers": [_view(m, digest.period) for m in digest.matches],
    }


def render_format(digest: Digest, fmt: Format | str) -> str:
    """Render one format of ``digest``: ``markdown``, ``text`` or ``html``."""
    name = _TEMPLATE_BY_NAME.get(fmt)
    if name is None:
        raise ValueError(f"unknown digest format {fmt!r}; expected one of {FORMATS}")
    return environment().get_template(name).render(_context(digest))


def render(digest: Digest) -> Message:
    """Render every format of ``digest`` into a Message."""
    context = _context(digest)
    env = environment()
    bodies = {fmt: env.get_template(TEMPLATES[fmt]).render(context) for fmt in FORMATS}
    return Message(
        subject=str(context["subject"]),
        markdown=bodies["markdown"],
        text=bodies["text"],
        html=bodies["html"],
    )
