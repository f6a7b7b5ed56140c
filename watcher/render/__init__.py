"""Rendering: a Digest becomes what a reader sees — Markdown, plain text and HTML
(``formats``, with the Jinja2 templates), Slack Block Kit messages (``slack``), and the
mail with its size budget (``email``).

Pure: no I/O (beyond loading its own templates), no clock, no network; the time a mail is
dated with is passed in. Every string from a feed is untrusted here and is escaped for the
format it lands in. Sending is watcher.notify's job.
"""

from watcher.render.email import (
    DEFAULT_MAX_BYTES,
    Composed,
    build_message,
    header_text,
    list_id,
)
from watcher.render.formats import (
    Piece,
    block,
    environment,
    highlight_pieces,
    match_terms,
    more_line,
    one_line,
    render,
    render_format,
    safe_href,
    subject,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Composed",
    "Piece",
    "block",
    "build_message",
    "environment",
    "header_text",
    "highlight_pieces",
    "list_id",
    "match_terms",
    "more_line",
    "one_line",
    "render",
    "render_format",
    "safe_href",
    "subject",
]
