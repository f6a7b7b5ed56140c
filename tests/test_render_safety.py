"""Feed strings in the Markdown digests: no live markup.

The Markdown digests (the seed layout and the annotated one the local destination writes)
are parsed with a real CommonMark parser (markdown-it-py): feed text must give no HTML, no
link and no image, and must read back as the text the feed gave.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests import factories
from watcher.models import Digest, Match, Paper, TopicHit
from watcher.render import block, render_format
from watcher.render.formats import markdown_escape

COMMONMARK = MarkdownIt("commonmark")  # raw HTML on, as in viewers that run it
T0 = datetime(2024, 9, 18, 17, 30, tzinfo=UTC)

paper = partial(factories.paper, id="2409.12121", published=T0)

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](https://evil.example/)",
    "![x](https://evil.example/x.png)",
    "<https://evil.example/>",
    "<me@evil.example>",
    "[click][1] and [1]: https://evil.example/",
    "<!-- hidden --> <?php x ?> <![CDATA[x]]> <!DOCTYPE x>",
    "[a [b] c](https://evil.example/) [x]( https://evil.example/ )",
    "\\<script>alert(1)</script> \\\\<b>bold</b> \\[click](https://evil.example/)",
    "&lt;script&gt; &#60;b&#62; &#x3C;i&#x3E; &amp;",
    "plain: x <1, a < b > c, Q&A, [1], [0, 1], ![not] an image",
]

# Abstracts: the same, and HTML blocks, which start at a line (and interrupt a paragraph).
HOSTILE_ABSTRACTS = [
    *HOSTILE,
    "First line\n<div onmouseover=alert(1)>x</div>\nlast line",
    "First line\n<script>\nalert(1)\n</script>",
    "First line\n[1]: https://evil.example/\nsee [1]",
    "Ends with a link opener [x\n](https://evil.example/)",
]


# --- CommonMark: what a viewer shows ---------------------------------------------------------


def tokens(markdown: str) -> Iterator[Token]:
    for token in COMMONMARK.parse(markdown):
        yield token
        yield from token.children or ()


def assert_no_live_markup(markdown: str) -> None:
    for token in tokens(markdown):
        assert token.type not in ("html_block", "html_inline", "link_open", "image"), (
            token.type,
            markdown,
        )


def inline_text(token: Token) -> str:
    """What a viewer shows of an inline token: text, code, line breaks; no markup."""
    out = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
        else:
            assert child.type in ("strong_open", "strong_close"), child.type
    return "".join(out)


def visible(markdown: str) -> dict[str, str]:
    """The heading, the authors line and the abstract of a one-paper digest, as shown."""
    found: dict[str, str] = {}
    stack: list[str] = []
    paragraphs: list[str] = []
    for token in COMMONMARK.parse(markdown):
        if token.nesting == 1:
            stack.append(token.type)
        elif token.nesting == -1:
            stack.pop()
        elif token.type == "inline":
            text = inline_text(token)
            if stack[-1] == "heading_open":
                found.setdefault("title", text)
            elif "blockquote_open" in stack:
                if text.startswith("Authors: "):
                    found["authors"] = text.removeprefix("Authors: ")
            else:
                paragraphs.append(text)
    found["abstract"] = "\n\n".join(paragraphs)
    return found


def one_paper(p: Paper, hits: tuple[TopicHit, ...] = factories.QUANTIZATION) -> Digest:
    return factories.digest(p, hits=hits)


LAYOUTS = [pytest.param(False, id="seed"), pytest.param(True, id="annotated")]


@pytest.mark.parametrize("highlight", LAYOUTS)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_title_and_authors_render_as_their_text(hostile: str, highlight: bool) -> None:
    authors = (f"Ann {hostile}", "Bo Builder")
    md = render_format(
        one_paper(paper(title=f"Quantized {hostile}", authors=authors)),
        "markdown",
        highlight=highlight,
    )
    assert_no_live_markup(md)
    shown = visible(md)
    assert shown["title"] == f"Quantized {hostile}"
    assert shown["authors"] == ",".join(authors)


@pytest.mark.parametrize("highlight", LAYOUTS)
@pytest.mark.parametrize("hostile", HOSTILE_ABSTRACTS)
def test_hostile_abstract_renders_as_its_text(hostile: str, highlight: bool) -> None:
    abstract = f"We quantize {hostile} with low-bit weights."
    md = render_format(one_paper(paper(abstract=abstract)), "markdown", highlight=highlight)
    assert_no_live_markup(md)
    assert visible(md)["abstract"] == abstract


def test_a_link_split_across_two_authors_is_no_link() -> None:
    authors = ("[click", "](https://evil.example/)", "<img src=x", "onerror=alert(1)>")
    for highlight in (False, True):
        md = render_format(one_paper(paper(authors=authors)), "markdown", highlight=highlight)
        assert_no_live_markup(md)
        assert visible(md)["authors"] == ",".join(authors)


def test_hostile_topic_names_and_updated_titles() -> None:
    hits = (
        TopicHit("[click](https://evil.example/)", ("quantiz*",)),
        TopicHit("<img src=x onerror=alert(1)>", ("[x](https://evil.example/)",)),
    )
    updated = paper(id="2409.00002", version=2, title="<script>x</script> [a](https://e.example)")
    digest = Digest(
        "s",
        "2024-09-18",
        (Match(paper(abstract="quantized"), "s", hits),),
        (Match(updated, "s", hits),),
    )
    for highlight in (False, True):
        assert_no_live_markup(render_format(digest, "markdown", highlight=highlight))


def test_a_link_in_a_feed_link_is_no_markup() -> None:
    item = paper(id="feed:1", version=None, link="https://example.org/<img/src=x/onerror=y>")
    md = render_format(one_paper(item), "markdown")
    assert_no_live_markup(md)
    assert "> https://example.org/\\<img/src=x/onerror=y>\n" in md


def test_ordinary_text_is_written_as_given() -> None:
    # The seed digest's own text: "<1" (no tag), "Q&A" (no entity), brackets without links.
    for text in ("i.e., <1 perplexity", "Q&A", "Q\\&A", "[1] and [0, 1]", "a < b", "x!"):
        assert markdown_escape(text) == text


def test_escapes_are_backslashes_and_backslashes_before_them_are_doubled() -> None:
    assert markdown_escape("<b>") == "\\<b>"
    assert markdown_escape("[a](b)") == "\\[a](b)"
    assert markdown_escape("![a](b)") == "!\\[a](b)"
    assert markdown_escape("&lt;") == "\\&lt;"
    assert markdown_escape("\\<b>") == "\\\\\\<b>"


_MARKUP = st.text(alphabet="<>[]()!&;#:/\\`*_ -\nab@x1=\"'", max_size=40)


@settings(deadline=None, max_examples=300)
@given(_MARKUP, _MARKUP, _MARKUP)
def test_no_feed_text_becomes_html_a_link_or_an_image(
    title: str, author: str, abstract: str
) -> None:
    item = paper(title=title, authors=(author, author), abstract=block(abstract))
    hits = (TopicHit(title or "t", ("a", "x")),)
    for highlight in (False, True):
        assert_no_live_markup(render_format(one_paper(item, hits), "markdown", highlight=highlight))
