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
