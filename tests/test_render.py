"""render: the seed Markdown layout, plain text and HTML goldens, and untrusted feed strings.

Goldens live in tests/data/render/; regenerate them with WATCHER_REGEN_GOLDEN=1 and review
the diff.
"""

from __future__ import annotations

import difflib
import html as html_module
import os
import re
import string
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from itertools import pairwise
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import factories
from tests.factories import digest
from watcher.models import Digest, Match, TopicHit
from watcher.render import (
    block,
    environment,
    highlight_pieces,
    one_line,
    render,
    render_format,
    safe_href,
    subject,
)
from watcher.render import formats as render_module
from watcher.render.formats import shown_paper

GOLDEN_DIR = Path(__file__).parent / "data" / "render"
MARK = '<mark style="background:#fff1a8;color:inherit;padding:0;">'
REGEN = os.environ.get("WATCHER_REGEN_GOLDEN") == "1"
T0 = datetime(2024, 9, 18, 17, 30, tzinfo=UTC)


paper = partial(
    factories.paper,
    id="2409.12121",
    title="A title",
    authors=("Ann Author", "Bo Builder"),
    abstract="Line one\nline two.",
    published=T0,
)


def small_digest() -> Digest:
    """A digest touching every branch of the templates; the source of the goldens."""
    eastern = timezone(timedelta(hours=-4))
    return Digest(
        "efficient-ml",
        "2024-09-18",
        (
            Match(
                paper(
                    id="2409.12121",
                    version=1,
                    title='Q&A for <Low-Bit> "Quantized" LLMs',
                    authors=("Junzuo Zhou", "Ante Jukić", "O'Brien, Jr."),
                    abstract="We quantize weights to 4 bits & keep\nactivations at 8 < 16 bits.",
                    categories=("cs.LG", "cs.CL"),
                    # 22:30 in New York is already the next day in UTC: the date is UTC.
                    published=datetime(2024, 9, 17, 22, 30, tzinfo=eastern),
                ),
                "efficient-ml",
                (
                    TopicHit("Quantization", ("quantiz*", "low-bit")),
                    TopicHit("LLMs", ("large language model", "LLM")),
                ),
            ),
            Match(
                paper(
                    id="2408.11796",
                    version=2,
                    title="LLM Pruning and Distillation in Practice",
                    authors=("Sharath Turuvekere Sreenivas",),
                    abstract="Structured pruning of width and depth.",
                    announce_type="replace",
                    published=datetime(2024, 8, 21, 17, 55, tzinfo=UTC),
                    updated=datetime(2024, 9, 17, 9, 0, tzinfo=UTC),
                ),
                "efficient-ml",
                (TopicHit("Pruning", ("prun*",)),),
            ),
            Match(
                paper(
                    id="2409.00001",
                    version=1,
                    title="Only an updated time",
                    authors=(),
                    abstract="No publication time: the date comes from updated.",
                    categories=(),
                    published=None,
                    updated=datetime(2024, 9, 16, 8, 0, tzinfo=UTC),
                ),
                "efficient-ml",
                (),
            ),
            Match(
                paper(
                    id="feed:0123456789abcdef0123456789abcdef01234567",
                    version=None,
                    title="A blog post about sparsity",
                    authors=("Some Blogger",),
                    abstract="Not from arXiv: it keeps its own link.",
                    categories=(),
                    published=None,
                    link="https://example.org/posts/sparsity?a=1&b=2",
                ),
                "efficient-ml",
                (TopicHit("Sparsity", ("sparse*",)),),
            ),
        ),
    )


# --- goldens -----------------------------------------------------------------------------


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN_DIR / name
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
    if not path.exists():
        pytest.fail(f"missing golden {path}; create it with WATCHER_REGEN_GOLDEN=1")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                str(path),
                "rendered",
            )
        )
        pytest.fail(f"{name} differs from its golden (WATCHER_REGEN_GOLDEN=1 rewrites):\n{diff}")


@pytest.mark.parametrize(("fmt", "ext"), [("markdown", "md"), ("text", "txt"), ("html", "html")])
def test_golden(fmt: str, ext: str) -> None:
    check_golden(f"small.{ext}", render_format(small_digest(), fmt))


def test_render_is_render_format_of_each_format() -> None:
    digest = small_digest()
    message = render(digest)
    assert message.markdown == render_format(digest, "markdown")
    assert message.text == render_format(digest, "text")
    assert message.html == render_format(digest, "html")
    assert message.subject == "arXiv digest: efficient-ml, 2024-09-18 (4 papers)"


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown digest format"):
        render_format(small_digest(), "pdf")


# --- markdown: the seed layout -----------------------------------------------------------


def test_markdown_block_layout() -> None:
    md = render_format(digest(paper()), "markdown")
    assert md == (
        "# A title\n\n"
        ">Authors: Ann Author,Bo Builder\n\n"
        ">2024-09-18\n\n"
        "> http://arxiv.org/abs/2409.12121v1\n\n"
        "Line one\nline two.\n\n\n"
    )


def test_markdown_date_falls_back_to_updated_then_period() -> None:
    from_updated = paper(published=None, updated=datetime(2024, 9, 2, 23, 0, tzinfo=UTC))
    assert ">2024-09-02\n" in render_format(digest(from_updated), "markdown")
    neither = paper(published=None, updated=None)
    assert ">2024-09-18\n" in render_format(digest(neither, period="2024-09-18"), "markdown")


def test_markdown_date_is_the_utc_date() -> None:
    late_in_tokyo = datetime(2024, 9, 19, 2, 0, tzinfo=timezone(timedelta(hours=9)))
    assert ">2024-09-18\n" in render_format(digest(paper(published=late_in_tokyo)), "markdown")


def test_markdown_has_no_topics_no_header_no_footer() -> None:
    md = render_format(digest(paper(), paper(id="2409.12117")), "markdown")
    assert "Quantization" not in md
    assert md.startswith("# A title\n")
    assert md.endswith("line two.\n\n\n")
    assert render_format(digest(), "markdown") == ""


def test_markdown_title_cannot_break_the_layout() -> None:
    md = render_format(digest(paper(title="Two\nlines\r\n# Injected\x1b[31m")), "markdown")
    assert md.startswith("# Two lines # Injected[31m\n\n>Authors: ")
    assert "\x1b" not in md


BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_local_markdown_digest_drops_bidi_overrides_from_a_title() -> None:
    # "Invoice\u202egnp.exe" shows as "Invoiceexe.png": the override must not survive.
    md = render_format(digest(paper(title="Invoice\u202egnp.exe")), "markdown")
    assert md.startswith("# Invoicegnp.exe\n")
    assert "\u202e" not in md


@pytest.mark.parametrize("char", BIDI_CONTROLS)
def test_cleaning_drops_every_bidi_control(char: str) -> None:
    assert one_line(f"a{char}b") == "ab"
    assert block(f"a{char}b\nc{char}") == "ab\nc"


def test_cleaning_keeps_joiners_and_soft_hyphens() -> None:
    # ZWJ (emoji sequences), ZWNJ (Persian, Indic scripts) and the soft hyphen move nothing.
    text = (
        "\U0001f469\u200d\U0001f52c \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 hy\u00adphen"
    )
    assert one_line(text) == text
    assert block(text + "\n" + text) == text + "\n" + text


# --- text ---------------------------------------------------------------------------------


def test_text_shows_fields_and_topics() -> None:
    text = render_format(digest(paper()), "text")
    assert "1. A title\n" in text
    assert "Authors: Ann Author, Bo Builder\n" in text
    assert "Date:    2024-09-18\n" in text
    assert "URL:     https://arxiv.org/abs/2409.12121v1\n" in text
    assert "Matched: Quantization (quantiz*, low-bit)\n" in text
    assert "   Line one\n   line two.\n" in text


def test_text_has_no_terminal_escapes_or_javascript_link() -> None:
    hostile = paper(
        id="feed:1",
        version=None,
        title="\x1b]0;pwned\x07Title\x1b[2J",
        abstract="abs\x1b[31mtract\x00\r\nnext",
        link="javascript:alert(1)",
    )
    text = render_format(digest(hostile), "text")
    assert not any(ord(c) < 32 and c != "\n" for c in text)
    assert "javascript" not in text
    assert "URL:" not in text


# --- html ---------------------------------------------------------------------------------


def test_html_is_a_small_complete_document() -> None:
    html = render_format(small_digest(), "html")
    assert html.startswith("<!DOCTYPE html>\n<html")
    assert html.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in html
    lowered = html.lower()
    for forbidden in ("<script", "<link", "<img", "<iframe", "<style", "src=", "@import"):
        assert forbidden not in lowered


def test_html_escapes_feed_strings() -> None:
    hostile = paper(
        title="<script>alert(1)</script> & \"quoted\" 'single'",
        authors=("<b>Bold</b>", 'Eve" onmouseover="x'),
        abstract="a < b && c > d <img src=x onerror=alert(1)>",
        categories=("cs.LG<i>",),
    )
    hits = (TopicHit("<Topic>", ('"term"', "a&b")),)
    html = render_format(Digest("<sub>", "2024-09-18", (Match(hostile, "<sub>", hits),)), "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quoted&#34; &#39;single&#39;" in html
    assert "&lt;b&gt;Bold&lt;/b&gt;" in html
    assert "Eve&#34; onmouseover=&#34;x" in html
    # The phrase "a&b" (a b) matches "a < b": marked, and escaped inside the mark too.
    assert f"{MARK}a &lt; b</mark> &amp;&amp; c &gt; d &lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;Topic&gt;: &#34;term&#34;, a&amp;b" in html
    assert "cs.LG&lt;i&gt;" in html
    assert "&lt;sub&gt;" in html
    assert "<b>" not in html and "<img" not in html and "<sub>" not in html


def test_html_title_links_to_abs_url() -> None:
    html = render_format(digest(paper()), "html")
    assert '<a href="https://arxiv.org/abs/2409.12121v1" style=' in html


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/",
        "http://",
        "https://exa mple.org/",
        "https://example.org/\x00",
        "ftp://example.org/",
    ],
)
def test_html_never_links_anything_but_http_urls(link: str) -> None:
    item = paper(id="feed:abc", version=None, title="Linked", link=link)
    html = render_format(digest(item), "html")
    assert "href=" not in html
    assert "javascript:" not in html.lower()
    assert "Linked" in html


def test_html_links_a_validated_https_link_escaped() -> None:
    item = paper(id="feed:abc", version=None, link='https://example.org/a?x=1&y="2"')
    html = render_format(digest(item), "html")
    assert 'href="https://example.org/a?x=1&amp;y=&#34;2&#34;"' in html


def test_safe_href() -> None:
    assert safe_href("http://arxiv.org/abs/2409.12121v1") == "http://arxiv.org/abs/2409.12121v1"
    assert safe_href("https://example.org/") == "https://example.org/"
    assert safe_href("javascript:alert(1)") is None
    assert safe_href("HTTP://example.org/") is None  # parsers emit lower-case schemes
    assert safe_href("http:///path") is None
    assert safe_href("https://[::1") is None  # urlsplit raises: not a URL


@settings(deadline=None, max_examples=60)
@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_html_never_contains_raw_markup_from_the_feed(
    title: str, author: str, abstract: str
) -> None:
    item = paper(title=title, authors=(author,), abstract=abstract)
    html = render_format(digest(item), "html")
    body = html.split("<body", 1)[1]
    # Only the template's own tags appear; feed text cannot open or close one.
    tags = set(re.findall(r"</?([a-zA-Z0-9]+)", body))
    assert tags <= {"body", "div", "h1", "h2", "p", "a", "span", "html", "mark"}
    assert "javascript:" not in html.lower() or "javascript:" in (title + author + abstract).lower()


# --- subject --------------------------------------------------------------------------------


def test_subject_format_and_plural() -> None:
    assert subject(digest(paper())) == "arXiv digest: efficient-ml, 2024-09-18 (1 paper)"
    assert subject(digest()) == "arXiv digest: efficient-ml, 2024-09-18 (0 papers)"
    twelve = digest(*(paper(id=f"2409.{i:05d}") for i in range(12)))
    assert subject(twelve) == "arXiv digest: efficient-ml, 2024-09-18 (12 papers)"


@pytest.mark.parametrize(
    "name",
    [
        "efficient-ml\r\nBcc: victim@example.org",
        "efficient-ml\nBcc: x",
        "efficient-ml\rBcc: x",
        "a\u2028b\u2029c\x85d\x0be\x0cf",
        "\x1b[31mred\x00\x7f",
        "bidi\u202egnp.exe",
        "",
        "x" * 1000,
    ],
)
def test_subject_is_one_line_whatever_the_name(name: str) -> None:
    s = render(digest(paper(title="Title\r\nBcc: x"), subscription=name)).subject
    assert_single_line(s)
    assert s.startswith("arXiv digest: ")
    assert s.endswith(", 2024-09-18 (1 paper)")
    assert len(s) < 200


def test_subject_keeps_a_normal_name_and_collapses_breaks() -> None:
    s = subject(digest(paper(), subscription="efficient-ml\r\nBcc: x"))
    assert s == "arXiv digest: efficient-ml Bcc: x, 2024-09-18 (1 paper)"


@settings(deadline=None, max_examples=200)
@given(st.text(), st.text(max_size=20))
def test_subject_is_always_single_line(name: str, period: str) -> None:
    assert_single_line(subject(Digest(name, period, ())))


def assert_single_line(value: str) -> None:
    assert value == value.strip()
    assert len(value.splitlines()) == 1
    for char in value:
        assert ord(char) >= 32 and not 0x7F <= ord(char) <= 0x9F, repr(value)
        assert char not in "\u2028\u2029\u202e", repr(value)


# --- environment and package data ----------------------------------------------------------


def test_one_environment_strict_and_autoescaping_only_html() -> None:
    env = environment()
    assert env is environment()
    assert env.undefined is jinja2.StrictUndefined
    assert env.keep_trailing_newline
    empty = {
        "papers": [],
        "listed": [],
        "unlisted": 0,
        "updated": [],
        "updated_unlisted": 0,
        "more": "",
        "counts": "",
        "topics": "",
    }
    assert (
        env.get_template("digest.html.j2")
        .render(subject="<s>", subscription="", period="", **empty)
        .count("&lt;s&gt;")
        == 2
    )
    assert "<s>" in env.get_template("digest.txt.j2").render(subject="<s>", **empty)
    assert env.get_template("digest.md.j2").render(**empty) == ""
    for name in ("digest.md.j2", render_module.ANNOTATED_MARKDOWN):
        with pytest.raises(jinja2.UndefinedError):
            env.get_template(name).render()


def test_templates_are_package_data() -> None:
    templates = Path(render_module.__file__).parent / "templates"
    names = [*render_module.TEMPLATES.values(), render_module.ANNOTATED_MARKDOWN]
    for name in [*names, "_macros.md.j2", "_updated.md.j2"]:
        assert (templates / name).is_file()
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"templates/*"' in pyproject


# --- updates, "+N more", annotated Markdown: goldens ---------------------------------------


def updates_digest() -> Digest:
    """small_digest plus two updated papers and three left out by max_papers."""
    base = small_digest()
    replaced = Match(
        paper(
            id="2407.01234",
            version=3,
            title="Sparse <Attention> & friends",
            abstract="Not shown for an update.",
            announce_type="replace",
            published=datetime(2024, 7, 1, 12, 0, tzinfo=UTC),
            updated=datetime(2024, 9, 17, 12, 0, tzinfo=UTC),
        ),
        "efficient-ml",
        (TopicHit("Sparsity", ("sparse*",)), TopicHit("Attention", ("attention",))),
    )
    untopical = Match(
        paper(id="2406.00002", version=2, title="Replaced without hits"), "efficient-ml", ()
    )
    return Digest(base.subscription, base.period, base.matches, (replaced, untopical), omitted=3)


def test_golden_annotated_markdown() -> None:
    check_golden("small-annotated.md", render_format(small_digest(), "markdown", highlight=True))


@pytest.mark.parametrize(
    ("fmt", "highlight", "name"),
    [
        ("markdown", False, "updates.md"),
        ("markdown", True, "updates-annotated.md"),
        ("text", False, "updates.txt"),
        ("html", False, "updates.html"),
    ],
)
def test_golden_with_updates_and_more(fmt: str, highlight: bool, name: str) -> None:
    check_golden(name, render_format(updates_digest(), fmt, highlight=highlight))


def test_highlight_changes_only_markdown() -> None:
    digest = updates_digest()
    plain, annotated = render(digest), render(digest, highlight=True)
    assert annotated.markdown == render_format(digest, "markdown", highlight=True)
    assert annotated.markdown != plain.markdown
    assert (annotated.subject, annotated.text, annotated.html) == (
        plain.subject,
        plain.text,
        plain.html,
    )
    assert render_format(digest, "text", highlight=True) == plain.text
    assert render_format(digest, "html", highlight=True) == plain.html


def test_seed_layout_is_unchanged_without_updates_or_cap() -> None:
    seed = render_format(small_digest(), "markdown")
    assert "Updated" not in seed and "more" not in seed and "**" not in seed
    assert seed.endswith("keeps its own link.\n\n\n")


def test_updated_section_in_every_format() -> None:
    message = render(updates_digest())
    seed_link = "http://arxiv.org/abs/2407.01234v3"  # the seed layout keeps arXiv API's http
    link = "https://arxiv.org/abs/2407.01234v3"
    md = message.markdown
    assert md.count("## Updated") == 1
    assert md.index("## Updated") > md.index("keeps its own link.")
    assert f"### Sparse \\<Attention> & friends\n\n> {seed_link}\n\n" in md  # no <Attention> tag
    assert ">Matched: Sparsity (`sparse*`); Attention (`attention`)\n" in md
    assert "### Replaced without hits\n\n> http://arxiv.org/abs/2406.00002v2\n\n\n" in md
    assert "Not shown for an update." not in md
    text = message.text
    assert "\n\nUpdated\n-------\n\n1. Sparse <Attention> & friends\n" in text
    assert f"   URL:     {link}\n   Matched: Sparsity (sparse*); Attention (attention)\n" in text
    assert "2. Replaced without hits\n" in text
    page = message.html
    assert ">Updated</h2>" in page
    assert f'<a href="{link}"' in page and "Sparse &lt;Attention&gt; &amp; friends" in page
    assert "Matched: Sparsity: sparse*; Attention: attention" in page
    assert md.count(seed_link) == 1
    for body in (text, page):
        assert body.count(link) == 1
        assert "Not shown for an update." not in body


def test_more_line_follows_the_papers_not_the_updated_section() -> None:
    # The "+N more (max_papers)" line is about new papers: it closes their list, before the
    # "Updated" section, so it never reads as part of it.
    line = "+3 more papers matched but are not shown (max_papers)."
    message = render(updates_digest(), highlight=True)
    last_paper = "keeps its own link."
    for body, updated in (
        (message.markdown, "## Updated"),
        (render(updates_digest()).markdown, "## Updated"),
        (message.text, "\nUpdated\n-------"),
        (message.html, ">Updated</h2>"),
    ):
        assert body.count(line) == 1
        assert body.index(last_paper) < body.index(line) < body.index(updated)
    assert f">{line}</p>\n<h2" in message.html
    one = Digest("s", "2024-09-18", small_digest().matches[:1], omitted=1)
    assert render(one).text.endswith("\n+1 more paper matched but is not shown (max_papers).\n")


def test_subject_counts_updates() -> None:
    digest = updates_digest()
    # Matched papers: the 4 shown and the 3 over max_papers.
    assert subject(digest) == "arXiv digest: efficient-ml, 2024-09-18 (7 papers, 2 updated)"
    only = Digest("efficient-ml", "2024-09-18", (), digest.updated)
    assert subject(only) == "arXiv digest: efficient-ml, 2024-09-18 (2 updated)"
    assert subject(Digest("s", "p", (), digest.updated[:1])) == "arXiv digest: s, p (1 updated)"


def test_only_updates_render_without_papers() -> None:
    only = Digest("efficient-ml", "2024-09-18", (), updates_digest().updated)
    message = render(only, highlight=True)
    assert message.markdown.startswith(
        ">0 papers matched; 2 updated.\n\n## Updated\n\n### Sparse \\<Attention> & friends\n"
    )
    assert "\n1. Sparse <Attention> & friends\n" in message.text
    assert "(2 updated)</h1>" in message.html


# --- highlighting: what is marked, and escaping stays intact -------------------------------

HOSTILE_ABSTRACT = (
    "Quantization<script>alert(1)</script> of low&bit models &quantized& weights;\n"
    "a <b>large language model</b> with low-bit\n"
    "attention, and x\\pruning and A*pruned, then `prune` and prun*ed: pruning"
)
HOSTILE_TERMS = ("quantiz*", "low-bit", "large language model", "language model*", "prun*")


def hostile_digest(abstract: str = HOSTILE_ABSTRACT) -> Digest:
    hits = (TopicHit("Topic <b>", HOSTILE_TERMS),)
    return Digest("s", "2024-09-18", (Match(paper(abstract=abstract), "s", hits),))


def html_abstract(page: str) -> str:
    return re.findall(r'<p style="margin:0;">(.*?)</p>', page, flags=re.DOTALL)[-1]


def html_visible(fragment: str) -> str:
    """The text of an abstract paragraph; fails on any tag but <mark> or a bare & < >."""
    without_marks = re.sub(re.escape(MARK) + "|</mark>", "", fragment)
    assert "<" not in without_marks and ">" not in without_marks, fragment
    assert not re.search(r"&(?!amp;|lt;|gt;|#34;|#39;)", without_marks), fragment
    return html_module.unescape(without_marks)


def md_visible(markdown: str) -> str:
    """What CommonMark shows for our subset: ``**`` markers dropped, backslash escapes
    of ASCII punctuation resolved."""
    out, i = [], 0
    while i < len(markdown):
        pair = markdown[i : i + 2]
        if pair[:1] == "\\" and len(pair) == 2 and pair[1] in string.punctuation:
            out.append(pair[1])
            i += 2
        elif pair == "**":
            i += 2
        else:
            out.append(markdown[i])
            i += 1
    return "".join(out)


def md_bold_runs(markdown: str) -> list[str]:
    unescaped_markers = re.sub(r"\\.", "__", markdown)  # hide escaped characters
    positions = [m.start() for m in re.finditer(r"\*\*", unescaped_markers)]
    assert len(positions) % 2 == 0, markdown
    return [markdown[a + 2 : b] for a, b in zip(positions[::2], positions[1::2], strict=True)]


def md_abstract(markdown: str) -> str:
    return markdown.split(">Matched: ", 1)[1].split("\n\n", 1)[1].removesuffix("\n\n\n")


def test_html_marks_terms_and_escapes_inside_and_outside() -> None:
    page = render_format(hostile_digest(), "html")
    fragment = html_abstract(page)
    assert html_visible(fragment) == HOSTILE_ABSTRACT
    assert "<script" not in page and "<b>" not in page
    assert fragment.startswith(f"{MARK}Quantization</mark>&lt;script&gt;alert(1)")
    assert f"{MARK}low&amp;bit</mark>" in fragment  # & inside a marked phrase
    assert f"&amp;{MARK}quantized</mark>&amp;" in fragment  # & next to a term
    # Overlapping terms (the phrase and "language model*") are one mark.
    assert f"&lt;b&gt;{MARK}large language model</mark>&lt;/b&gt;" in fragment
    assert f"{MARK}low-bit\nattention</mark>" not in fragment  # terms end where words do
    assert fragment.endswith(f"{MARK}pruning</mark>")  # a term at the very end


def test_annotated_markdown_bolds_terms_and_keeps_the_text() -> None:
    md = render_format(hostile_digest(), "markdown", highlight=True)
    assert ">Matched: Topic \\<b> (`quantiz*`, `low-bit`, `large language model`, " in md
    abstract = md_abstract(md)
    assert md_visible(abstract) == HOSTILE_ABSTRACT
    runs = md_bold_runs(abstract)
    assert runs[0] == "Quantization" and abstract.startswith("**Quantization**\\<script>")
    assert "low&bit" in runs and "quantized" in runs and "large language model" in runs
    assert abstract.endswith("**pruning**")
    for run in runs:
        assert run[0].isalnum() and run[-1].isalnum(), run
    # A backslash before a term stays a backslash; source asterisks and backquotes are
    # escaped so they never pair with a marker.
    assert "x\\\\**pruning**" in abstract
    assert "A\\***pruned**" in abstract
    assert "\\`**prune**\\`" in abstract
    assert "**prun**\\*ed" in abstract


def test_annotated_markdown_bolds_a_phrase_across_a_line_break_line_by_line() -> None:
    md = render_format(hostile_digest("the large\nlanguage model here"), "markdown", highlight=True)
    assert md_abstract(md) == "the **large**\n**language model** here"


def test_seed_markdown_never_highlights() -> None:
    md = render_format(hostile_digest(), "markdown")
    # As given, but for the tags, escaped (test_render_safety.py: no live HTML).
    assert md.endswith(HOSTILE_ABSTRACT.replace("<", "\\<") + "\n\n\n")
    assert "Matched" not in md


def test_no_terms_no_marks() -> None:
    digest = Digest("s", "p", (Match(paper(abstract="quantization"), "s", ()),))
    assert MARK not in render_format(digest, "html")
    assert "**" not in render_format(digest, "markdown", highlight=True)


def test_unparsable_hit_terms_highlight_nothing() -> None:
    hits = (TopicHit("T", ("*", "", "quantiz*")),)
    digest = Digest("s", "p", (Match(paper(abstract="a quantized b"), "s", hits),))
    assert f"a {MARK}quantized</mark> b" in render_format(digest, "html")


def test_highlight_pieces_join_to_the_text() -> None:
    from watcher.rules import parse_term

    terms = [parse_term(t) for t in HOSTILE_TERMS]
    pieces = highlight_pieces(HOSTILE_ABSTRACT, terms)
    assert "".join(text for text, _ in pieces) == HOSTILE_ABSTRACT
    assert all(a[1] != b[1] for a, b in pairwise(pieces))  # alternating
    assert highlight_pieces("", terms) == ()
    assert highlight_pieces("abc", []) == (("abc", False),)


_WORDS = st.sampled_from(["quantized", "low", "bit", "prune", "large", "language", "model"])
_JUNK = st.text(alphabet="<>&*`\\_ -\n\"'()ab", max_size=4)


@settings(deadline=None, max_examples=150)
@given(st.lists(st.one_of(_WORDS, _JUNK), max_size=16))
def test_highlighting_never_changes_the_visible_text(parts: list[str]) -> None:
    digest = hostile_digest(block("".join(parts)))
    # What every format but the seed layout shows: the text with its TeX decoded (``\\-``
    # is a soft hyphen); highlighting then changes nothing of it.
    abstract = shown_paper(digest.matches[0].paper).abstract
    page = render_format(digest, "html")
    assert html_visible(html_abstract(page)) == abstract
    md = render_format(digest, "markdown", highlight=True)
    shown = md.split(">Matched: ", 1)[1].split("\n\n", 1)[1]
    assert shown.endswith("\n\n\n")
    assert md_visible(shown[:-3]) == abstract
    for run in md_bold_runs(shown[:-3]):
        assert run[0].isalnum() and run[-1].isalnum() and "\n" not in run
