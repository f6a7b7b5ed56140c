"""Feeds beyond arXiv's RSS, as their readers see them: bioRxiv, medRxiv, a Nature-style
journal, a journal's Atom, arXiv's Atom flavour and its RSS 1.0 of before 2024. The feeds
are ours (tests/data/parse/, written in each publisher's documented shape); their golden
files are checked by test_parse.test_golden, the behaviour a user meets here."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from watcher.models import Feed, Paper, RawFeed
from watcher.parse import parse_feed
from watcher.parse.htmltext import html_to_text, looks_like_html

DATA = Path(__file__).parent / "data" / "parse"


def feed(name: str) -> Feed:
    return parse_feed(RawFeed(f"test:{name}", (DATA / name).read_bytes()))


def by_title(name: str) -> dict[str, Paper]:
    return {p.title: p for p in feed(name).papers}


# --- HTML as text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One.</p><p>Two.</p>", "One.\nTwo."),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<b>bold</b> and <a href='javascript:x'>a link</a>", "bold and a link"),
        ("x &lt; y &amp;&nbsp;z &#8212; &eacute;", "x < y & z \u2014 \u00e9"),
        ("<script>alert(1)</script><style>p{}</style>kept", "kept"),
        ("10<sup>6</sup> cells, CO<sub>2</sub>", "10^6 cells, CO2"),
        ("  spread\n  over\tlines  ", "spread over lines"),
        ("<p>unclosed <b>tags", "unclosed tags"),
    ],
)
def test_html_becomes_the_text_a_reader_sees(html: str, text: str) -> None:
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    ("value", "is_html"),
    [
        ("p<s/d and x < y", False),  # a literal "<" in an abstract is not markup
        ("AT&T and a & b", False),
        ("<p>para</p>", True),
        ("line<br>break", True),
        ("an &amp; entity", True),
    ],
)
def test_rss_text_counts_as_html_only_with_markup(value: str, is_html: bool) -> None:
    assert looks_like_html(value) is is_html


# --- bioRxiv and medRxiv --------------------------------------------------------------


def test_biorxiv_items_are_papers_known_by_their_doi_and_version() -> None:
    parsed = feed("biorxiv-rss1.xml")
    assert parsed.kind == "rss"
    first, revised, consortium = parsed.papers
    assert (first.id, first.version, first.doi) == (
        "doi:10.1101/2024.09.02.610001",
        1,
        "10.1101/2024.09.02.610001",
    )
    assert first.announce_type is None  # a first version is news
    # "Surname, I." pairs are authors, not four names.
    assert first.authors == ("C. N. Okafor", "E. Lindqvist", "H. Tanaka")
    assert consortium.authors == ("The Open Cell Atlas Consortium",)
    # The date is the feed's (dc:date), not the day of the poll.
    assert first.published == datetime(2024, 9, 4, tzinfo=UTC)
    # Plain text with a literal "<" stays exactly as written.
    assert "(p < 0.05 for 3 of 40 families, p<s/d otherwise)" in first.abstract
    assert first.abs_url == "http://biorxiv.org/cgi/content/short/2024.09.02.610001v1?rss=1"
    # v2 is a replacement, as arXiv's are: an update for who was sent v1, never "new".
    assert (revised.version, revised.announce_type) == (2, "replace")
    assert revised.abstract == (
        "A revised version: sparse attention over 10^6 cells, with in silico perturbations "
        "& new baselines."
    )


def test_medrxiv_html_abstract_and_publication_date_only() -> None:
    papers = by_title("medrxiv-rss1.xml")
    notes = papers["Low-bit language models read discharge notes"]
    assert notes.abstract == (
        "Background: hospitals cannot run large models.\n"
        "Methods: we distil and quantize a model to 3 bits; sensitivity \u2265 0.9."
    )
    assert notes.authors == ("N. Haddad", "K. M. O'Brien", "W. Zhou")
    triage = papers["Pruned triage models, third version"]
    assert triage.published == datetime(2024, 9, 2, tzinfo=UTC)  # prism:publicationDate
    assert (triage.id, triage.version, triage.announce_type) == (
        "doi:10.1101/2024.07.15.24310002",
        3,
        "replace",
    )


# --- journals -------------------------------------------------------------------------


def test_nature_style_rss_reads_html_titles_authors_and_keeps_only_http_links() -> None:
    spiking, correction, editorial = feed("nature-rss2.xml").papers
    assert spiking.title == "Pruning in situ for spiking networks"
    assert spiking.authors == ("Ada Lovelace", "Kurt G\u00f6del")  # one dc:creator each
    assert spiking.id == "doi:10.1038/s42256-024-00901-1"  # prism:doi
    assert spiking.abstract.endswith("keeping 5 % of synapses.")
    assert "<" not in spiking.abstract and "&" not in spiking.abstract
    # An author given as an HTML link is a name; a DOI is the same in any case.
    assert correction.authors == ("Grace Hopper",)
    assert correction.id == "doi:10.1038/s42256-024-00902-0"
    assert correction.published == datetime(2024, 9, 3, tzinfo=UTC)
    assert "javascript" not in correction.abstract
    # No DOI: known by its guid; a javascript: link is no link.
    assert editorial.id.startswith("feed:") and editorial.link is None
    assert editorial.published == datetime(2024, 9, 1, 8, 30, tzinfo=UTC)


def test_journal_atom_doi_from_info_uri_or_doi_link_and_arxiv_doi_is_the_arxiv_paper() -> None:
    html_title, text_title, arxiv = feed("journal-atom.xml").papers
    assert html_title.id == "doi:10.1371/journal.pcbi.1012001"  # info:doi/...
    assert html_title.title == "Quantization of C. elegans connectome models"
    assert html_title.abstract == (
        "by Ines Duarte, Tomasz Nowak\nWe quantize connectome models when x < y."
    )
    assert text_title.id == "doi:10.1371/journal.pcbi.1012002"  # https://doi.org/...
    assert text_title.title == "Sparse codes <b> stay literal in text titles"  # type="text"
    assert text_title.abstract == "First paragraph with emphasis and x < y.\nSecond paragraph."
    assert text_title.published == datetime(2024, 9, 4, 17, tzinfo=UTC)
    # arXiv's DataCite DOI: the arXiv paper itself, one paper with its arXiv listing.
    assert (arxiv.id, arxiv.is_arxiv, arxiv.abs_url) == (
        "2409.01001",
        True,
        "https://arxiv.org/abs/2409.01001",
    )


def test_the_same_preprint_in_two_feeds_has_one_identity() -> None:
    biorxiv = feed("biorxiv-rss1.xml").papers[0]
    elsewhere = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Reviews</title>'
        b"<entry><title>Review of a preprint</title>"
        b"<id>https://doi.org/10.1101/2024.09.02.610001</id>"
        b'<link href="https://reviews.example.org/1"/></entry></feed>'
    )
    [reviewed] = parse_feed(RawFeed("reviews", elsewhere)).papers
    assert reviewed.id == biorxiv.id


# --- arXiv's other shapes -------------------------------------------------------------


def test_arxiv_atom_is_read_as_arxiv_with_announce_types() -> None:
    parsed = feed("arxiv-atom.xml")
    assert (parsed.kind, parsed.announced) == ("arxiv-atom", date(2024, 9, 2))
    papers = {p.id: p for p in parsed.papers}
    new = papers["2409.01001"]
    assert (new.version, new.announce_type) == (1, "new")
    assert new.title == "Pruning Sparse Transformers with p<s/d Budgets"
    assert (
        new.abstract
        == "We prune attention heads when p<s/d holds.\n  A second line, as arXiv writes it."
    )
    assert new.authors == ("A. One (MIT, USA)", "B. Two")
    assert new.categories == ("cs.LG", "cs.CL")
    assert new.abs_url == "https://arxiv.org/abs/2409.01001v1"
    assert papers["2408.11111"].authors == ("Grace Hopper", "Alan Turing")
    replaced = papers["2312.05678"]
    assert (replaced.announce_type, replaced.doi) == ("replace", "10.1000/xyz.2024.123")
    assert replaced.authors == ("C. Three (Oxford, UK)", "D. Four")
    assert papers["math.GT/0309136"].announce_type == "replace-cross"


def test_the_same_listing_in_rss_and_atom_gives_the_same_papers() -> None:
    rss, atom = feed("arxiv-rss.xml"), feed("arxiv-atom.xml")
    rss_papers = {p.id: p for p in rss.papers}
    assert rss.announced == atom.announced
    for paper in atom.papers:
        twin = rss_papers[paper.id]
        assert (paper.version, paper.announce_type) == (twin.version, twin.announce_type)


def test_an_empty_arxiv_atom_listing_is_dated_by_its_build() -> None:
    parsed = feed("arxiv-atom-empty.xml")
    # Built 04:02 UTC on 7 Sep = just after midnight Eastern: the listing of 7 Sep.
    assert (parsed.kind, parsed.papers, parsed.announced) == ("arxiv-atom", (), date(2024, 9, 7))


def test_arxiv_rss_before_2024_is_read_as_arxiv() -> None:
    parsed = feed("arxiv-legacy-rss1.xml")
    # dc:date is the mailing of Thursday 5 October, 20:30 Eastern: rss.arxiv.org dates that
    # listing Friday 6 October, and so does this.
    assert (parsed.kind, parsed.announced) == ("arxiv-rss1", date(2023, 10, 6))
    papers = {p.id: p for p in parsed.papers}
    new = papers["2310.02001"]
    assert (new.version, new.announce_type) == (1, "new")
    assert new.title == "Pruning Sparse Transformers with p<s/d Budgets"  # no ". (arXiv:…)"
    assert new.authors == ("A. One (MIT, USA)", "B. Two")  # plain names, not links
    assert (
        new.abstract
        == "We prune attention heads when p<s/d holds & keep the rest.\nA second paragraph."
    )
    cross = papers["2310.01002"]
    assert (cross.announce_type, cross.version, cross.categories) == (
        "cross",
        2,
        ("stat.ML", "cs.LG"),
    )
    assert cross.title == "Cross-listed Quantization..."
    assert cross.abstract == "Tokens marked <no-context> are dropped."
    updated = papers["2309.12345"]
    assert (updated.announce_type, updated.version) == ("replace", 3)  # UPDATED
    assert papers["math/0309136"].announce_type == "replace-cross"  # UPDATED, another primary
    assert new.published == datetime(2023, 10, 6, 1, 30, tzinfo=UTC)
