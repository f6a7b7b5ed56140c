"""Feed strings in every format: no live Markdown markup, no bidi overrides, bounded fields.

The Markdown digests (the seed layout and the annotated one the local destination writes)
are parsed with a real CommonMark parser (markdown-it-py): feed text must give no HTML, no
link and no image, and must read back as the text the feed gave. Bidi overrides and isolates
are absent from Markdown, text, HTML, Slack blocks and the mail (subject and headers too).
Every field is capped in length in one place for all formats, so one absurd title cannot
push the other papers out of a mail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests import factories
from watcher.models import Digest, Match, Paper, RawFeed, TopicHit
from watcher.parse import parse_feed
from watcher.render import block, build_message, one_line, render, render_format
from watcher.render.formats import (
    ABSTRACT_MAX,
    AUTHOR_MAX,
    AUTHORS_CHARS_MAX,
    CATEGORIES_MAX,
    CATEGORY_MAX,
    COMMENT_MAX,
    JOURNAL_REF_MAX,
    TITLE_MAX,
    TOPIC_MAX,
    capped,
    clip,
    markdown_escape,
    shown_paper,
)
from watcher.render.slack import build_messages
from watcher.render.tex import tex_to_unicode

COMMONMARK = MarkdownIt("commonmark")  # raw HTML on, as in viewers that run it
NOW = datetime(2024, 9, 18, 12, 0, tzinfo=UTC)
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
    # The seed layout shows the feed's text; the annotated one its TeX decoded (render.tex).
    expected = paper(title=f"Quantized {hostile}", authors=authors)
    if highlight:
        expected = shown_paper(expected)
    assert shown["title"] == one_line(expected.title)
    assert shown["authors"] == ",".join(expected.authors)


@pytest.mark.parametrize("highlight", LAYOUTS)
@pytest.mark.parametrize("hostile", HOSTILE_ABSTRACTS)
def test_hostile_abstract_renders_as_its_text(hostile: str, highlight: bool) -> None:
    abstract = f"We quantize {hostile} with low-bit weights."
    md = render_format(one_paper(paper(abstract=abstract)), "markdown", highlight=highlight)
    assert_no_live_markup(md)
    if highlight:  # TeX decoded ("\\\\" is a line break): the same words, spaced alike
        expected = shown_paper(paper(abstract=abstract)).abstract
        assert visible(md)["abstract"].split() == expected.split()
    else:
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


# --- bidi overrides and isolates, in every format ------------------------------------------

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def bidi_digest() -> Digest:
    b = BIDI
    item = paper(
        title=f"Invoice{b}gnp.exe quantized",
        authors=(f"Ann{b} Author", "Bo Builder"),
        abstract=f"We quantize{b} weights\nto 4{b} bits.",
        categories=(f"cs.LG{b}",),
        comment=f"10 pages{b}",
        journal_ref=f"J. {b}Bidi",
    )
    hits = (TopicHit(f"Quantization{b}", (f"quantiz*{b}", "quantized")),)
    updated = paper(id="2409.00002", version=2, title=f"Updated{b} paper")
    return Digest(
        f"efficient-ml{b}", "2024-09-18", (Match(item, "s", hits),), (Match(updated, "s", hits),)
    )


def assert_no_bidi(value: str, where: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in value if c in BIDI})
    assert not found, f"{where}: {found}"


def test_no_bidi_control_in_any_format() -> None:
    digest = bidi_digest()
    message = render(digest)
    assert_no_bidi(message.subject, "subject")
    assert_no_bidi(message.text, "text")
    assert_no_bidi(message.html, "html")
    assert_no_bidi(message.markdown, "markdown")
    assert_no_bidi(render_format(digest, "markdown", highlight=True), "annotated markdown")
    for i, slack in enumerate(build_messages(digest)):
        assert_no_bidi(slack.text, f"slack fallback {i}")
        assert_no_bidi(json.dumps(list(slack.blocks), ensure_ascii=False), f"slack blocks {i}")
    # Small threads too: summary, replies, and their fallbacks.
    for i, slack in enumerate(build_messages(digest, max_blocks=4)):
        assert_no_bidi(slack.text + json.dumps(list(slack.blocks), ensure_ascii=False), str(i))


def test_no_bidi_control_in_the_mail() -> None:
    composed = build_message(
        bidi_digest(), mail_from="w@example.org", to=["t@example.org"], now=NOW, message_id="<1@x>"
    )
    mail = composed.message
    for name, value in mail.items():
        assert_no_bidi(str(value), f"header {name}")
    for part in mail.iter_parts():
        assert_no_bidi(str(part.get_content()), part.get_content_type())


def test_no_bidi_control_in_the_mail_overflow_list() -> None:
    papers = [
        paper(id=f"2409.{i:05d}", title=f"T{i}{BIDI}", abstract="x " * 3000) for i in range(8)
    ]
    composed = build_message(
        factories.digest(*papers),
        mail_from="w@example.org",
        to=["t@example.org"],
        now=NOW,
        message_id="<1@x>",
        max_bytes=30_000,
    )
    assert composed.shown < 8  # some papers are listed by title only
    for part in composed.message.iter_parts():
        assert_no_bidi(str(part.get_content()), part.get_content_type())


# --- caps: one long field cannot crowd out the others --------------------------------------

LONG = 100_000


def eight_papers_one_long_title() -> tuple[Digest, list[Paper]]:
    papers = [
        paper(id=f"2409.{i:05d}", title=f"Paper number {i} on quantized models") for i in range(8)
    ]
    papers[2] = paper(id="2409.00002", title="Quantized " + "y" * LONG)
    return factories.digest(*papers), papers


def test_a_100kb_title_leaves_every_paper_in_the_mail() -> None:
    digest, papers = eight_papers_one_long_title()
    composed = build_message(
        digest, mail_from="w@example.org", to=["t@example.org"], now=NOW, message_id="<1@x>"
    )
    assert composed.shown == 8
    text = composed.message.get_body(("plain",))
    page = composed.message.get_body(("html",))
    assert text is not None and page is not None
    for body in (str(text.get_content()), str(page.get_content())):
        assert "titles and links only" not in body.lower()
        for p in papers:
            assert p.id in body
        assert "Quantized " + "y" * (TITLE_MAX - 11) + "\u2026" in body  # cut, and marked
        assert "y" * TITLE_MAX not in body


def test_a_100kb_title_is_cut_and_marked_in_markdown() -> None:
    digest, _ = eight_papers_one_long_title()
    for highlight in (False, True):
        md = render_format(digest, "markdown", highlight=highlight)
        headings = [line for line in md.splitlines() if line.startswith("# ")]
        assert len(headings) == 8
        long = headings[2].removeprefix("# ")
        assert long == "Quantized " + "y" * (TITLE_MAX - 11) + "\u2026"
        assert len(md) < 20_000


def test_every_field_is_capped_in_every_format() -> None:
    huge = "w" * LONG
    item = paper(
        title=huge,
        authors=tuple(f"Author {i} {huge}" for i in range(50)),
        abstract=huge,
        categories=tuple(f"cs.{huge}" for i in range(50)),
        comment=huge,
        journal_ref=huge,
    )
    hits = tuple(TopicHit(f"{huge}{j}", tuple(f"{huge}{i}" for i in range(500))) for j in range(3))
    shown = shown_paper(item)
    assert len(shown.title) == TITLE_MAX and shown.title.endswith("\u2026")
    assert len(shown.abstract) == ABSTRACT_MAX and shown.abstract.endswith("\u2026")
    assert all(len(a) <= AUTHOR_MAX for a in shown.authors)
    assert len(", ".join(shown.authors)) <= AUTHORS_CHARS_MAX + 20
    assert shown.authors[-1].startswith("\u2026 (+") and shown.authors[-1].endswith(" more)")
    assert shown.comment is not None and len(shown.comment) == COMMENT_MAX
    assert shown.journal_ref is not None and len(shown.journal_ref) == JOURNAL_REF_MAX
    assert len(shown.categories) == CATEGORIES_MAX + 1 and shown.categories[-1] == "\u2026"
    assert all(len(c) <= CATEGORY_MAX for c in shown.categories)

    ordinary = [paper(id=f"2409.{i:05d}", abstract="word " * 300) for i in range(2, 9)]
    digest = Digest(
        "s",
        "2024-09-18",
        (Match(item, "s", hits), *(factories.match(p, "s") for p in ordinary)),
    )
    message = render(digest, highlight=True)
    for body in (message.markdown, message.text, message.html):
        assert "w" * (ABSTRACT_MAX + 1) not in body
        # (The header names every topic with its count, each name capped at TOPIC_MAX.)
        assert len(body) < 41_000
    assert len(render_format(digest, "markdown")) < 41_000
    for slack in build_messages(digest):
        assert "w" * 301 not in slack.text + json.dumps(list(slack.blocks))
    # A paper at every cap and seven ordinary ones: all in full in one mail.
    composed = build_message(
        digest, mail_from="w@example.org", to=["t@example.org"], now=NOW, message_id="<1@x>"
    )
    assert composed.shown == 8


def test_topic_names_are_capped() -> None:
    hits = (TopicHit("T" * 10_000, ("quantiz*",)),)
    md = render_format(one_paper(paper(abstract="quantized"), hits), "markdown", highlight=True)
    matched = next(line for line in md.splitlines() if line.startswith(">Matched: "))
    assert len(matched) < TOPIC_MAX + 50


def test_capped_cuts_at_a_space_near_the_end_and_marks_it() -> None:
    assert capped("short", 10) == "short"
    assert capped("x" * 20, 10) == "x" * 9 + "\u2026"
    assert capped("aaaa bbbb cccc dddd", 16) == "aaaa bbbb cccc\u2026"
    assert capped("a " + "b" * 30, 16) == "a " + "b" * 13 + "\u2026"


def test_clip_makes_one_line_and_counts_as_the_destination_counts() -> None:
    assert clip("pruning,\n  sparsity and more words here", 20) == "pruning, sparsity\u2026"
    assert clip("one, two, three four", 11) == "one, two\u2026"
    # A chat service counting UTF-16 code units: each emoji is two of them.
    utf16 = lambda text: len(text.encode("utf-16-le")) // 2  # noqa: E731
    out = clip("\U0001f600" * 30, 21, utf16)
    assert utf16(out) <= 21 and out == "\U0001f600" * 10 + "\u2026"
    assert clip("anything", 0) == ""


def test_real_arxiv_data_is_never_cut(fixtures_dir: Path) -> None:
    # The caps are far above real papers: 77 days of four busy categories, cut nowhere.
    files = sorted((fixtures_dir / "arxiv-rss" / "holidays-2024-12").glob("*.xml"))
    assert files
    count = 0
    for path in files:
        for item in parse_feed(RawFeed(str(path), path.read_bytes())).papers:
            shown = shown_paper(item)
            # (TeX decoded: render.tex, the only change to a real paper's text.)
            assert shown.title == one_line(tex_to_unicode(one_line(item.title)))
            assert shown.abstract == block(tex_to_unicode(block(item.abstract)))
            assert shown.authors == tuple(one_line(tex_to_unicode(a)) for a in item.authors)
            assert shown.categories == tuple(one_line(c) for c in item.categories)
            assert shown.journal_ref == (
                None if item.journal_ref is None else one_line(item.journal_ref)
            )
            count += 1
    assert count > 1_000
