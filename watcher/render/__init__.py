"""Rendering: a Digest becomes what a reader sees — Markdown, plain text and HTML
(``formats``, with the Jinja2 templates), Slack Block Kit messages (``slack``).

Pure: no I/O, no clock, no network. Every string from a feed is untrusted here and is
escaped for the format it lands in.
"""

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
    "Piece",
    "block",
    "environment",
    "highlight_pieces",
    "match_terms",
    "more_line",
    "one_line",
    "render",
    "render_format",
    "safe_href",
    "subject",
]
