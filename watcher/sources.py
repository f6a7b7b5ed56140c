"""What a rule file names under ``feeds:``, turned into sources a fetcher can read (pure).

- an arXiv category or archive (``cs.LG``, ``cs``, ``cs.LG+stat.ML``): the daily RSS feed
  under the configured base URL. Only these take part in stale-day and catch-up handling;
- ``query:<search query>`` (a rule's ``- query: ...``): the arXiv API, newest submissions
  first, paged;
- an http(s) URL or a local path: read as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal
from urllib.parse import urlencode

from watcher.match import category_allows
from watcher.models import Paper, Subscription

# How an API query travels in Subscription.feeds (next to categories, URLs and paths).
QUERY_PREFIX = "query:"

CATEGORY = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Za-z][A-Za-z\-]*)?$", re.I)

# arXiv's archives: a typo here would poll a feed that does not exist, every day.
ARXIV_ARCHIVES = frozenset(
    [
        "astro-ph",
        "cond-mat",
        "cs",
        "econ",
        "eess",
        "gr-qc",
        "hep-ex",
        "hep-lat",
        "hep-ph",
        "hep-th",
        "math",
        "math-ph",
        "nlin",
        "nucl-ex",
        "nucl-th",
        "physics",
        "q-bio",
        "q-fin",
        "quant-ph",
        "stat",
    ]
)
SourceKind = Literal["arxiv-rss", "arxiv-query", "feed"]


@dataclass(frozen=True, slots=True)
class FeedSource:
    """One thing to poll. ``url`` is the identity: two rule files naming the same feed share
    one fetch per cycle."""

    url: str
    kind: SourceKind
    categories: tuple[str, ...] = ()  # arxiv-rss: the categories the URL asks for
    query: str = ""  # arxiv-query: the search query


def is_category(name: str) -> bool:
    """``cs`` or ``cs.LG``: a known archive, optionally with a subject class."""
    return bool(CATEGORY.match(name)) and name.split(".")[0].lower() in ARXIV_ARCHIVES


def is_categories(name: str) -> bool:
    """``cs``, ``cs.LG`` or ``cs.LG+stat.ML``: the forms arXiv's RSS URLs accept."""
    return all(is_category(part) for part in name.split("+"))


def in_subscription_feeds(sub: Subscription, paper: Paper) -> bool:
    """Could the subscription have seen this paper? Decidable only when every feed is an
    arXiv category (``cs.LG``, ``cs``, ``cs.LG+stat.ML``); otherwise every paper counts."""
    categories = [part for feed in sub.feeds for part in feed.split("+")]
    if any("/" in c or ":" in c for c in categories):
        return True
    return category_allows(categories, paper.categories)


def resolve_source(name: str, rss_base: str, api_base: str, page_size: int = 100) -> FeedSource:
    """The source for one ``feeds:`` entry (or one ``--feed`` argument)."""
    if name.startswith(QUERY_PREFIX):
        query = name[len(QUERY_PREFIX) :]
        return FeedSource(api_url(api_base, query, 0, page_size), "arxiv-query", query=query)
    if "://" in name or "/" in name or name.endswith(".xml"):
        return FeedSource(name, "feed")
    if is_categories(name):
        url = rss_base.rstrip("/") + "/" + name
        return FeedSource(url, "arxiv-rss", categories=tuple(name.split("+")))
    return FeedSource(name, "feed")


def api_url(api_base: str, query: str, start: int, max_results: int) -> str:
    """An arXiv API search, newest submissions first (so paging can stop at known papers)."""
    params = {
        "search_query": query,
        "start": str(start),
        "max_results": str(max_results),
        "sortBy": "submittedDate",
        "sortOrder": "descending",
    }
    return f"{api_base}?{urlencode(params)}"


def submitted_between(categories: tuple[str, ...], first: date, last: date) -> str:
    """An API query for papers in ``categories`` first submitted from ``first`` to ``last``
    (whole days, GMT as the API counts them)."""
    cats = " OR ".join(f"cat:{c}" for c in categories)
    cats = f"({cats})" if len(categories) > 1 else cats
    return f"{cats} AND submittedDate:[{first:%Y%m%d}0000 TO {last:%Y%m%d}2359]"
