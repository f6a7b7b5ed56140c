"""Which URL a ``feeds:`` entry (or ``--feed``) is fetched from."""

from __future__ import annotations

from watcher.sources import resolve_source

RSS = "https://rss.arxiv.org/rss/"
API = "https://export.arxiv.org/api/query"


def test_categories_are_fetched_in_arxivs_own_spelling() -> None:
    # A rule may write cs.lg; arXiv's feed is cs.LG.
    source = resolve_source("CS.lg+stat.ml+cond-mat.MES-HALL", RSS, API)
    assert source.kind == "arxiv-rss"
    assert source.url == RSS + "cs.LG+stat.ML+cond-mat.mes-hall"
    assert source.categories == ("cs.LG", "stat.ML", "cond-mat.mes-hall")


def test_paths_urls_and_queries_are_left_as_written() -> None:
    assert resolve_source("./CS.LG.xml", RSS, API).url == "./CS.LG.xml"
    assert resolve_source("https://example.org/Feed", RSS, API).url == "https://example.org/Feed"
    assert resolve_source("query:ti:LoRA", RSS, API).kind == "arxiv-query"


def test_arxivs_own_feed_urls_in_any_shape_are_arxiv_category_feeds() -> None:
    for url, categories in [
        ("https://rss.arxiv.org/atom/cs.LG", ("cs.LG",)),
        ("https://rss.arxiv.org/rss/cs.lg+stat.ML", ("cs.LG", "stat.ML")),
        ("http://export.arxiv.org/rss/hep-th", ("hep-th",)),
        ("https://arxiv.org/rss/math.GT/", ("math.GT",)),
    ]:
        source = resolve_source(url, RSS, API)
        # Fetched as written (Atom stays Atom), handled as the category: stale days,
        # catch-up from the API and the 2,000-item cap apply.
        assert (source.kind, source.url, source.categories) == ("arxiv-rss", url, categories)
    # The configured RSS base's host counts as arXiv's (a mirror, a local stand-in).
    local = resolve_source("http://127.0.0.1:8080/atom/cs.CV", "http://127.0.0.1:8080/rss/", API)
    assert (local.kind, local.categories) == ("arxiv-rss", ("cs.CV",))


def test_other_urls_that_look_like_arxiv_listings_stay_generic_feeds() -> None:
    for url in [
        "https://example.org/rss/cs.LG",  # another host
        "https://rss.arxiv.org/rss/not-a-category",
        "https://rss.arxiv.org/rss/cs.LG?token=${T}",  # a query: not arXiv's shape
        "https://rss.arxiv.org/feeds/cs.LG",
    ]:
        assert resolve_source(url, RSS, API).kind == "feed", url
