"""What a rule file names under ``feeds:``, turned into sources a fetcher can read (pure).

- an arXiv category or archive (``cs.LG``, ``cs``, ``cs.LG+stat.ML``): the daily RSS feed
  under the configured base URL. Only these take part in stale-day and catch-up handling;
- ``query:<search query>`` (a rule's ``- query: ...``): the arXiv API, newest submissions
  first, paged;
- arXiv's own listing URLs, in any of their shapes: ``https://rss.arxiv.org/rss/cs.LG``,
  the Atom flavour ``https://rss.arxiv.org/atom/cs.LG``, the pre-2024
  ``http://export.arxiv.org/rss/cs.LG``: fetched as written, handled as the category;
- an http(s) URL or a local path: read as it is. It may name a secret it needs through the
  environment, ``https://host/feed?token=${FEED_TOKEN}``: the placeholder stays in the URL
  (the source's identity, and all that is shown or stored), and ``expand`` fills it in at
  fetch time only.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal
from urllib.parse import quote, urlencode, urlsplit

from watcher.errors import FeedError
from watcher.logs import PLACEHOLDER
from watcher.match import category_allows
from watcher.models import Paper, Subscription

# How an API query travels in Subscription.feeds (next to categories, URLs and paths).
QUERY_PREFIX = "query:"

# arXiv's archives and their subject classes (arxiv.org/category_taxonomy): a typo in a rule
# file would otherwise poll a feed that does not exist every day, or filter on a category
# no paper has. When arXiv opens a new category, it is added here.
ARXIV_SUBJECTS: Mapping[str, frozenset[str]] = {
    archive: frozenset(subjects.split())
    for archive, subjects in {
        "astro-ph": "CO EP GA HE IM SR",
        "cond-mat": "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con",
        "cs": "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM "
        "MS NA NE NI OH OS PF PL RO SC SD SE SI SY",
        "econ": "EM GN TH",
        "eess": "AS IV SP SY",
        "gr-qc": "",
        "hep-ex": "",
        "hep-lat": "",
        "hep-ph": "",
        "hep-th": "",
        "math": "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR "
        "QA RA RT SG SP ST",
        "math-ph": "",
        "nlin": "AO CD CG PS SI",
        "nucl-ex": "",
        "nucl-th": "",
        "physics": "acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an "
        "ed-ph flu-dyn gen-ph geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph "
        "space-ph",
        "q-bio": "BM CB GN MN NC OT PE QM SC TO",
        "q-fin": "CP EC GN MF PM PR RM ST TR",
        "quant-ph": "",
        "stat": "AP CO ME ML OT TH",
    }.items()
}
ARXIV_ARCHIVES = frozenset(ARXIV_SUBJECTS)
# Every category as arXiv spells it, by its case-folded form (rules may write cs.lg).
_CATEGORIES = {
    name.casefold(): name
    for archive, subjects in ARXIV_SUBJECTS.items()
    for name in [archive, *(f"{archive}.{subject}" for subject in subjects)]
}
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
    """``cs`` or ``cs.LG``: an arXiv archive, or one of its subject classes (any case)."""
    return name.casefold() in _CATEGORIES


def closest_category(name: str) -> str | None:
    """The arXiv category a mistyped ``name`` most likely meant: the same subject class in
    another archive (``cs.ML`` -> ``stat.ML``), a class it begins (``cond-mat.stat`` ->
    ``cond-mat.stat-mech``), an archive with a dash (``math.PH`` -> ``math-ph``), or else
    the closest spelling (``cs.LGG`` -> ``cs.LG``)."""
    folded = name.casefold()
    archive, _, subject = folded.partition(".")
    if subject:
        elsewhere = [c for c in _CATEGORIES if c.partition(".")[2] == subject]
        begun = [c for c in _CATEGORIES if c.startswith(folded) and c != folded]
        for found in (elsewhere, begun, [f"{archive}-{subject}"]):
            if len(found) == 1 and found[0] in _CATEGORIES:
                return _CATEGORIES[found[0]]
    close = difflib.get_close_matches(folded, _CATEGORIES, n=1, cutoff=0.6)
    return _CATEGORIES[close[0]] if close else None


def category_problem(name: str) -> str:
    """Why ``name`` is no arXiv category, and the likeliest fix (for error messages)."""
    guess = closest_category(name)
    did_you_mean = f" (did you mean {guess}?)" if guess else ""
    archive, _, subject = name.partition(".")
    if archive.casefold() in ARXIV_ARCHIVES and subject:
        return f"{name!r} is not an arXiv category: {archive} has no subject class {subject!r}" + (
            did_you_mean or " (arxiv.org/category_taxonomy lists them)"
        )
    return f"{name!r} is not an arXiv category or archive, like cs.LG or cs{did_you_mean}"


def feed_name_problem(feed: str) -> str:
    """Why ``feed`` (no URL, no path) is not arXiv categories either, for error messages."""
    bad = next((part for part in feed.split("+") if not is_category(part)), feed)
    if bad.partition(".")[0].casefold() in ARXIV_ARCHIVES:
        return category_problem(bad)
    guess = closest_category(bad)
    return (
        f"{feed!r} is not an arXiv category (like cs.LG, cs, or cs.LG+stat.ML; "
        f"archives: {', '.join(sorted(ARXIV_ARCHIVES))}), a URL, or a path "
        "(a local file needs a '/', like ./my-feed.xml)"
        + (f" (did you mean {guess}?)" if guess else "")
    )


def command_line_feed_problem(value: str) -> str | None:
    """Why a ``--feed`` argument names nothing (None: a URL, a path, or arXiv categories). A
    mistyped category is an error there: it would otherwise be looked for as a local file."""
    if "://" in value or "/" in value or value.endswith(".xml") or is_categories(value):
        return None
    return feed_name_problem(value)


# The fields each kind of source fills in (see parse.py): arXiv's RSS carries no comments,
# the API no announce type. Any other feed, or a file (which may be one of arXiv's), may
# carry anything: None.
CARRIED_FIELDS: dict[SourceKind, frozenset[str] | None] = {
    "arxiv-rss": frozenset(
        {"title", "abstract", "authors", "categories", "journal_ref", "announce_type"}
    ),
    "arxiv-query": frozenset(
        {"title", "abstract", "authors", "categories", "comment", "journal_ref"}
    ),
    "feed": None,
}


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
    if categories := arxiv_feed_categories(name, rss_base):
        # arXiv's own listing in any of its shapes: an arXiv feed like a category, so it
        # takes part in stale days, catch-up and the 2,000-item cap. The URL is kept as
        # written: it is what is fetched (the Atom flavour, the pre-2024 format).
        return FeedSource(name, "arxiv-rss", categories=categories)
    if "://" in name or "/" in name or name.endswith(".xml"):
        return FeedSource(name, "feed")
    if is_categories(name):
        # arXiv's own spelling in the URL: a rule may write cs.lg, arXiv serves cs.LG.
        categories = tuple(_CATEGORIES[part.casefold()] for part in name.split("+"))
        url = rss_base.rstrip("/") + "/" + "+".join(categories)
        return FeedSource(url, "arxiv-rss", categories=categories)
    return FeedSource(name, "feed")


# rss.arxiv.org/rss/<cats>, rss.arxiv.org/atom/<cats>, export.arxiv.org/rss/<cats> (before
# 2024), arxiv.org/rss/<cats>: the path names the listing, the host says it is arXiv's.
_ARXIV_FEED_PATH = re.compile(r"\A/(?:rss|atom)/(?P<cats>[^/?#]+)/?\Z")
ARXIV_FEED_HOSTS = frozenset({"rss.arxiv.org", "export.arxiv.org", "arxiv.org"})


def arxiv_feed_categories(url: str, rss_base: str) -> tuple[str, ...]:
    """The categories of an arXiv listing URL (``https://rss.arxiv.org/atom/cs.LG``), in
    arXiv's spelling; () for any other URL. A host counts as arXiv's when it is one of
    ``ARXIV_FEED_HOSTS`` or the configured RSS base's (a mirror, a local stand-in)."""
    if "://" not in url:
        return ()
    parts = urlsplit(url)
    base = urlsplit(rss_base)
    if parts.query or parts.scheme not in ("http", "https"):
        return ()
    own = (parts.hostname or "").lower() in ARXIV_FEED_HOSTS
    if not own and (parts.hostname, parts.port) != (base.hostname, base.port):
        return ()
    found = _ARXIV_FEED_PATH.match(parts.path)
    if found is None or not is_categories(found["cats"]):
        return ()
    return tuple(_CATEGORIES[part.casefold()] for part in found["cats"].split("+"))


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


# --- ${NAME} placeholders in feed URLs -------------------------------------------------------

_OPENED = re.compile(r"\$\{[^}]*\}?")


def placeholders(feed: str) -> tuple[str, ...]:
    """The variables a feed URL names as ``${NAME}``, in order, each once."""
    return tuple(dict.fromkeys(PLACEHOLDER.findall(feed)))


def placeholder_problem(feed: str) -> str | None:
    """Why a ``${`` in ``feed`` is no placeholder (``${}``, ``${1X}``, no closing brace), or
    None when every one is ``${NAME}`` with NAME a variable name."""
    for found in _OPENED.finditer(feed):
        if not PLACEHOLDER.fullmatch(found.group(0)):
            return (
                f"{found.group(0)!r} is not a ${{NAME}} placeholder: NAME is a variable name "
                "(letters, digits and _, not starting with a digit) between ${ and }"
            )
    return None


def expand(feed: str, environ: Mapping[str, str]) -> str:
    """``feed`` with each ``${NAME}`` replaced by that variable's value, percent-encoded (a
    token with ``&`` or ``#`` stays one value). Only the fetch edge sees the result: it must
    never be shown, logged or stored. A variable unset or empty is a FeedError of this feed."""
    for name in placeholders(feed):
        if not environ.get(name):
            raise FeedError(f"{name} is not set (environment or .env)", where=feed)
    return PLACEHOLDER.sub(lambda found: quote(environ[found.group(1)], safe=""), feed)
