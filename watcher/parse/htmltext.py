"""HTML in feed text (descriptions, ``content:encoded``, author fields) read as a person
reads it: the text, with paragraphs as line breaks, entities resolved, tags and scripts
gone. The standard library's ``html.parser`` is enough for text alone (it never raises on
broken markup); see pyproject.toml.

Whether a field is HTML at all is decided by its feed: Atom says so (``type="html"``),
RSS does not, so RSS text counts as HTML only when it holds markup a person would not
type (a closing tag, ``<br>``, ``<p>``, an entity). An abstract that says ``p<s/d`` or
``x < y`` is text and stays exactly as written.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text", "looks_like_html"]

_MARKUP = re.compile(
    r"</[a-zA-Z][a-zA-Z0-9]*\s*>"  # a closing tag
    r"|<(?:br|hr|p|img|div)\b[^<>]*>"  # the tags that are often left unclosed
    r"|&(?:[a-zA-Z][a-zA-Z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});",  # an entity
)
# Elements whose start and end are a line break to a reader.
_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt"),
        *("figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header"),
        *("hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th"),
        *("tr", "ul"),
    }
)
# Elements whose content no reader sees.
_HIDDEN = frozenset({"script", "style", "template", "head", "title", "noscript"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def looks_like_html(value: str) -> bool:
    """Does this RSS text carry HTML markup (rather than a literal ``<`` or ``&``)?"""
    return _MARKUP.search(value) is not None


def html_to_text(value: str) -> str:
    """The text a browser would show for an HTML fragment: paragraphs and line breaks as
    ``\\n`` (one per break, none at the ends), runs of spaces as one, entities resolved,
    script and style content left out."""
    reader = _TextReader()
    reader.feed(value)
    reader.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(reader.parts).split("\n"))
    return "\n".join(line for line in lines if line)


class _TextReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.rpartition(":")[2]  # XHTML serialised with a prefix: html:p
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag == "sup":
            self.parts.append("^")  # 10<sup>6</sup> is 10^6 in text, not 106

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.rpartition(":")[2] in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        tag = tag.rpartition(":")[2]
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            # Inside HTML a line break in the source is a space to the reader.
            self.parts.append(data.replace("\n", " "))
