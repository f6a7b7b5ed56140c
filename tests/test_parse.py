"""parse_feed: real arXiv data, golden files of our own, and every way a body can be unusable.

Golden files live in tests/data/parse/<name>.json beside <name>.xml. They are rewritten only
when WATCHER_REGEN_GOLDEN=1 is set; review the diff before committing them.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from watcher.errors import ParseError
from watcher.models import Feed, RawFeed
from watcher.parse import parse_feed, split_authors

DATA = Path(__file__).parent / "data" / "parse"
REGEN = os.environ.get("WATCHER_REGEN_GOLDEN") == "1"
HOLIDAYS = "arxiv-rss/holidays-2024-12"


def parse_file(path: Path, **kwargs: Any) -> Feed:
    return parse_feed(RawFeed(source=str(path), body=path.read_bytes(), **kwargs))


def to_jsonable(value: Any) -> Any:
    """A Feed as plain JSON: dates as ISO strings, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# --- golden files ------------------------------------------------------------------------


@pytest.mark.parametrize("xml", sorted(DATA.glob("*.xml")), ids=lambda p: p.stem)
def test_golden(xml: Path) -> None:
    feed = parse_feed(RawFeed(source=f"golden:{xml.name}", body=xml.read_bytes()))
    actual = to_jsonable(feed)
    golden = xml.with_suffix(".json")
    if REGEN:
        golden.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert golden.exists(), f"no golden file {golden.name}; run with WATCHER_REGEN_GOLDEN=1"
    assert actual == json.loads(golden.read_text("utf-8"))


def test_golden_files_all_have_inputs() -> None:
    orphans = [j.name for j in DATA.glob("*.json") if not j.with_suffix(".xml").exists()]
    assert orphans == []


def golden(name: str) -> Feed:
    return parse_file(DATA / name)


def test_abstract_with_less_than_is_exact() -> None:
    papers = {p.id: p for p in golden("arxiv-rss.xml").papers}
    assert papers["2409.01001"].abstract == (
        "We prune attention heads when p<s/d holds & keep the rest. Results hold for 4-bit "
        '"quantized" models.'
    )
    assert papers["2408.11111"].abstract.startswith("Tokens marked <no-context> are dropped")


def test_rss_prefix_stripped_and_line_breaks_kept() -> None:
    papers = {p.id: p for p in golden("arxiv-rss.xml").papers}
    assert papers["2408.11111"].abstract == (
        "Tokens marked <no-context> are dropped before quantization.\n"
        "  A second paragraph, indented as arXiv writes it.\n"
        "  A third one."
    )
    assert papers["math.GT/0309136"].abstract == (
        "An old-style identifier, a replace-cross, and no item pubDate."
    )


def test_rss_fields() -> None:
    feed = golden("arxiv-rss.xml")
    papers = {p.id: p for p in feed.papers}
    assert feed.kind == "arxiv-rss"
    assert feed.announced == date(2024, 9, 2)
    first = papers["2409.01001"]
    assert first.title == "Pruning Sparse Transformers with p<s/d Budgets"
    assert first.authors == ("A. One (MIT, USA)", "B. Two", "C. Three (Oxford, UK)")
    assert first.published == datetime(2024, 9, 2, 4, 0, tzinfo=UTC)
    assert first.abs_url == "https://arxiv.org/abs/2409.01001v1"
    assert first.link is None
    cross = papers["2408.11111"]
    assert (cross.announce_type, cross.version, cross.categories) == (
        "cross",
        2,
        ("stat.ML", "cs.LG"),
    )
    replaced = papers["2312.05678"]
    assert (replaced.announce_type, replaced.version) == ("replace", 3)
    assert replaced.doi == "10.1000/xyz.2024.123"
    assert replaced.journal_ref == "J. Efficient ML 3 (2024) 1-20"
    old = papers["math.GT/0309136"]
    assert old.announce_type == "replace-cross"
    assert old.categories == ("math.GT", "cs.LG")
    # No item pubDate (feeds before August 2024): the channel's announcement time.
    assert old.published == first.published


def test_rss_repeated_id_kept_once_and_odd_item_kept_generic() -> None:
    feed = golden("arxiv-rss.xml")
    ids = [p.id for p in feed.papers]
    assert len(ids) == len(set(ids)) == 5
    duplicate = next(p for p in feed.papers if p.id == "2409.01001")
    assert "listed twice" not in duplicate.title
    notice = feed.papers[-1]
    assert notice.id.startswith("feed:") and not notice.is_arxiv
    assert notice.link == "https://arxiv.org/help/notice"


def test_empty_arxiv_feed_is_zero_papers_not_an_error() -> None:
    feed = golden("arxiv-rss-empty.xml")
    assert (feed.kind, feed.papers, feed.announced) == ("arxiv-rss", (), date(2024, 9, 7))


def test_api_fields() -> None:
    feed = golden("arxiv-api.xml")
    assert (feed.kind, feed.total_results, feed.announced) == ("arxiv-api", 1234, None)
    wrapped, old, recent = feed.papers
    assert wrapped.title == "A Hard-Wrapped Title About Quantization of Networks"
    assert wrapped.abstract == (
        "This abstract was hard-wrapped by the old API, and its line breaks are\n"
        "kept exactly as arXiv gave them. It quotes a <no-context> token and\n"
        "the condition p<s/d."
    )
    assert wrapped.categories == ("cs.LG", "cs.CV")  # primary first, no duplicate
    assert (wrapped.id, wrapped.version) == ("1801.00001", 2)
    assert wrapped.authors == ("Grace Hopper", "Alan Turing")
    assert wrapped.published == datetime(2018, 1, 1, 9, 0, tzinfo=UTC)
    assert wrapped.updated == datetime(2018, 3, 5, 10, 11, 12, tzinfo=UTC)
    assert wrapped.comment == "12 pages, 3 figures; v2 fixes a typo"
    assert (wrapped.journal_ref, wrapped.doi) == ("Proc. Golden Conf. 2018", "10.1000/golden.2018")
    assert old.id == "astro-ph/0601001"
    assert recent.published == datetime(2024, 9, 18, 15, 59, 59, tzinfo=UTC)


def test_generic_rss() -> None:
    feed = golden("generic-rss.xml")
    assert (feed.kind, feed.title, feed.announced) == ("rss", "An ML Blog", None)
    guid, no_guid, title_only, hostile = feed.papers
    assert all(p.id.startswith("feed:") and p.version is None for p in feed.papers)
    # HTML read as a reader sees it: tags gone, entities resolved, paragraphs as lines.
    assert guid.abstract == (
        "We compare 4-bit and 8-bit models when p<s/d & more.\nA second\nline \u2014 and a link."
    )
    assert guid.authors == ("Jane Editor",)
    assert guid.published == datetime(2024, 9, 3, 6, 30, tzinfo=UTC)
    assert guid.link == "https://blog.example.org/posts/quantization"
    assert no_guid.authors == ("John Writer",)
    assert no_guid.link == "https://blog.example.org/posts/no-guid"
    assert title_only.link is None
    assert hostile.link is None
    assert hostile.abs_url == ""


def test_generic_ids_are_stable_and_follow_guid_then_link() -> None:
    body = (DATA / "generic-rss.xml").read_bytes()
    first = parse_feed(RawFeed("a", body)).papers
    # The same item under a new title keeps its id: the guid (or link) decides.
    renamed = body.replace(b"Quantization in practice", b"Quantisation in practice")
    renamed = renamed.replace(b"A post without a guid", b"A retitled post")
    second = parse_feed(RawFeed("b", renamed)).papers
    assert [p.id for p in first] == [p.id for p in second]


def test_generic_atom() -> None:
    feed = golden("generic-atom.xml")
    assert (feed.kind, feed.title) == ("atom", "Lab News")
    with_id, without_id = feed.papers
    assert with_id.abstract == "Great news: it handles x < y."  # type="html": as text
    assert with_id.authors == ("Lab Admin", "Second Author")
    assert with_id.published == datetime(2024, 9, 5, 13, 0, tzinfo=UTC)
    assert with_id.updated == datetime(2024, 9, 5, 18, 30, 2, tzinfo=UTC)
    assert with_id.link == "https://lab.example.org/news/pruning"
    assert without_id.id.startswith("feed:") and without_id.id != with_id.id
    assert without_id.abstract == "Only content, no summary; it still gives the abstract."
    assert without_id.published is None


# --- split_authors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("creator", "expected"),
    [
        (
            "A. One (MIT, USA), B. Two, C. Three (Oxford, UK)",
            ("A. One (MIT, USA)", "B. Two", "C. Three (Oxford, UK)"),
        ),
        ("Solo Author", ("Solo Author",)),
        ("  A,  , B ,", ("A", "B")),
        ("", ()),
        ("X (Dept. (Physics), Uni, City), Y", ("X (Dept. (Physics), Uni, City)", "Y")),
        ("Odd) Name, Next", ("Odd) Name", "Next")),
    ],
)
def test_split_authors(creator: str, expected: tuple[str, ...]) -> None:
    assert split_authors(creator) == expected


# --- failures ----------------------------------------------------------------------------

SAMPLE = DATA / "arxiv-rss.xml"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<rss version="2.0"><channel><title>&lol3;</title>
<item><title>&lol3;</title><description>&lol3;</description></item></channel></rss>
"""


def raises(raw: RawFeed, *fragments: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_feed(raw)
    error = caught.value
    assert error.where == raw.source
    assert raw.source in str(error)
    for fragment in fragments:
        assert fragment in error.message
    return error


def test_html_page_with_status_200() -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Oops</title></head><body>Maintenance</body></html>"
    raises(RawFeed("https://rss.arxiv.org/rss/cs.LG", page, "text/html"), "looks like an HTML page")


def test_html_page_without_doctype_and_not_well_formed() -> None:
    page = b"  <html>\n<body><p>Rate limited<br></body></html>"
    raises(RawFeed("src", page), "looks like an HTML page")


def test_plain_text_body() -> None:
    # arXiv's throttling answer: HTTP 200 and a bare sentence.
    raises(RawFeed("https://export.arxiv.org/api/query", b"Rate exceeded."), "not XML", "Rate")


def test_declarations_hidden_behind_comments_are_still_seen() -> None:
    hidden = b'<?xml version="1.0"?>\n<!-- hi --><?pi x?>\n<!doctype html><html></html>'
    raises(RawFeed("html", hidden), "looks like an HTML page")
    dtd = b"<!-- a -->\n<!DOCTYPE rss SYSTEM 'http://example.org/x.dtd'><rss/>"
    raises(RawFeed("dtd", dtd), "DTD or entities")


def test_empty_body() -> None:
    raises(RawFeed("https://rss.arxiv.org/rss/cs.LG", b""), "empty body")
    raises(RawFeed("whitespace", b" \n\t"), "empty body")


def test_truncated_xml_is_an_error_not_fewer_papers() -> None:
    body = SAMPLE.read_bytes()
    raises(RawFeed("half", body[: len(body) // 2]), "truncated XML")


def test_truncated_real_feed(fixtures_dir: Path) -> None:
    body = (fixtures_dir / HOLIDAYS / "2024-12-20-cs-ai.xml").read_bytes()
    raises(RawFeed("cut", body[: len(body) // 2]), "truncated XML")


def test_entity_expansion_refused() -> None:
    raises(RawFeed("laughs", BILLION_LAUGHS), "DTD or entities")


def test_external_entity_refused() -> None:
    body = b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<rss/>'
    raises(RawFeed("xxe", body), "DTD or entities")


def test_dtd_in_utf16_refused() -> None:
    # The byte scan cannot read UTF-16; the XML parser's own refusal must still hold.
    body = BILLION_LAUGHS.replace(b'version="1.0"', b'version="1.0" encoding="utf-16"')
    raises(RawFeed("utf16", body.decode("ascii").encode("utf-16")), "DTD or entities")


def test_http_error_status() -> None:
    raises(RawFeed("busy", SAMPLE.read_bytes(), status=503), "HTTP status 503")
    raises(RawFeed("busy-html", b"<html>Service Unavailable</html>", status=503), "503")


def test_not_a_feed_root() -> None:
    raises(RawFeed("sitemap", b"<urlset><url/></urlset>"), "not a feed", "<urlset>")


def test_api_error_with_http_400(fixtures_dir: Path) -> None:
    path = fixtures_dir / "arxiv-api" / "id_abc_s0_m100_b79c8dcf6bc3.xml"
    raises(
        RawFeed(str(path), path.read_bytes(), status=400),
        "HTTP status 400",
        "arXiv API error: incorrect id format for abc",
    )


# --- the real arXiv data in ../shared/fixtures --------------------------------------------


def index_rows(fixtures_dir: Path) -> dict[str, dict[str, str]]:
    """INDEX.md's table as {file: {column: value}}."""
    lines = (fixtures_dir / HOLIDAYS / "INDEX.md").read_text("utf-8").splitlines()
    table = [line for line in lines if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    rows = ([cell.strip() for cell in line.strip("|").split("|")] for line in table[2:])
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


def test_every_fixture_parses_or_is_the_api_error(fixtures_dir: Path) -> None:
    files = sorted(fixtures_dir.rglob("*.xml"))
    assert len(files) > 90
    for path in files:
        if path.name.startswith("id_abc"):
            with pytest.raises(ParseError, match="arXiv API error: incorrect id format for abc"):
                parse_file(path)
            continue
        feed = parse_file(path)
        expected_kind = "arxiv-api" if "arxiv-api" in path.parts else "arxiv-rss"
        assert feed.kind == expected_kind, path.name
        assert all(p.is_arxiv and p.version for p in feed.papers), path.name
        assert all(p.title and p.abstract and p.authors for p in feed.papers), path.name
        assert all(p.categories and p.published for p in feed.papers), path.name
        assert len({p.id for p in feed.papers}) == len(feed.papers)


def test_holiday_counts_and_dates_match_index(fixtures_dir: Path) -> None:
    rows = index_rows(fixtures_dir)
    assert len(rows) == 76
    for name, row in rows.items():
        feed = parse_file(fixtures_dir / HOLIDAYS / name)
        assert len(feed.papers) == int(row["items"]), name
        announced = datetime.strptime(
            row["channel pubDate (announcement date)"][:16], "%a, %d %b %Y"
        )
        assert feed.announced == announced.date(), name
        counts = [
            sum(p.announce_type == t for p in feed.papers)
            for t in ("new", "cross", "replace", "replace-cross")
        ]
        assert "/".join(map(str, counts)) == row["new/cross/replace/replace-cross"], name


def test_empty_days_keep_their_announcement_date(fixtures_dir: Path) -> None:
    # Christmas: no announcement on Wed 25 Dec, so the feed dated Thu 26 Dec is empty.
    feed = parse_file(fixtures_dir / HOLIDAYS / "2024-12-27-cs-lg.xml")
    assert (feed.papers, feed.announced) == ((), date(2024, 12, 26))
    # Midnight US-Eastern is 05:00 UTC the same day: the date must not shift.
    weekend = parse_file(fixtures_dir / HOLIDAYS / "2024-12-22-cs-ai.xml")
    assert (weekend.papers, weekend.announced) == ((), date(2024, 12, 21))


def test_api_pages_are_slices_of_the_100_item_page(fixtures_dir: Path) -> None:
    api = fixtures_dir / "arxiv-api"
    full = parse_file(next(api.glob("q_testing_s0_m100_*.xml")))
    assert len(full.papers) == 100
    assert isinstance(full.total_results, int) and full.total_results > 100
    ids = [p.id for p in full.papers]
    pages = sorted(api.glob("q_testing_s*_m1[05]_*.xml"))
    assert len(pages) == 10
    for page in pages:
        start, size = map(int, re.findall(r"_s(\d+)_m(\d+)_", page.name)[0])
        assert [p.id for p in parse_file(page).papers] == ids[start : start + size], page.name


def test_api_empty_results_are_fine(fixtures_dir: Path) -> None:
    for path in (fixtures_dir / "arxiv-api").glob("id_0*_s0_m100_*.xml"):
        if "1707" in path.name:
            continue
        feed = parse_file(path)
        assert (feed.papers, feed.total_results) == ((), 0), path.name


def test_old_style_ids(fixtures_dir: Path) -> None:
    api = fixtures_dir / "arxiv-api"
    astro = parse_file(next(api.glob("id_astro-ph_0601001_*.xml"))).papers
    quant = parse_file(next(api.glob("id_quant-ph_0201082v1_*.xml"))).papers
    assert [(p.id, p.version) for p in astro] == [("astro-ph/0601001", 1)]
    assert [(p.id, p.version) for p in quant] == [("quant-ph/0201082", 1)]
    assert astro[0].abs_url == "https://arxiv.org/abs/astro-ph/0601001v1"
    assert astro[0].categories[0] == "astro-ph"


def test_real_abstracts_containing_less_than_are_exact(fixtures_dir: Path) -> None:
    """Independent of any XML parser: unescape the raw bytes between the tags ourselves."""
    pattern = re.compile(r"<description>(arXiv:(\S+?)v\d+ Announce Type: [^<]*?&lt;[^<]*)</desc")
    checked = 0
    for path in sorted((fixtures_dir / "arxiv-rss").rglob("*.xml")):
        text = path.read_text("utf-8")
        found = pattern.findall(text)
        if not found:
            continue
        papers = {p.id: p for p in parse_file(path).papers}
        for raw, arxiv_id in found:
            expected = html.unescape(raw).split("\nAbstract: ", 1)[1].strip()
            assert "<" in expected
            assert papers[arxiv_id].abstract == expected, arxiv_id
            checked += 1
    assert checked >= 10


def test_rss_authors_keep_affiliations(fixtures_dir: Path) -> None:
    feed = parse_file(fixtures_dir / "arxiv-rss" / "current-2026" / "2026-08-21-cs-ai.xml")
    paper = next(p for p in feed.papers if p.id == "2608.18341")
    assert len(paper.authors) == 7
    assert paper.authors[0] == (
        "Steven C. Nesbit (Information Sciences, CAI-3, Los Alamos National Laboratory, "
        "Los Alamos, USA)"
    )
    assert (
        paper.authors[4]
        == "Luis R. Garc\\'ia Carrillo (Air Force Research Laboratory, Kirtland AFB, USA)"
    )
