"""What every feed reader here shares: XML element text, whitespace, names and dates."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element

from watcher.models import Paper
from watcher.schedule import ARXIV_TIMEZONE

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
ARXIV_NS = b"http://arxiv.org/schemas/atom"

_WS = re.compile(r"\s+")
_HTTP_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def text(element: Element | None, path: str | None = None) -> str:
    """All text inside ``element`` (or its first ``path`` child), "" when absent."""
    target = element if path is None or element is None else element.find(path)
    return "".join(target.itertext()) if target is not None else ""


def child(item: Element, names: tuple[str, ...]) -> Element | None:
    """The first direct child whose local name is in ``names`` (in that order)."""
    for name in names:
        for found in item:
            if local(found.tag) == name:
                return found
    return None


def child_text(item: Element, names: tuple[str, ...]) -> str:
    """Text of the first direct child whose local name is in ``names`` (in that order)."""
    return text(child(item, names))


def children_text(item: Element, name: str) -> list[str]:
    """Text of every direct child of local name ``name``, in document order."""
    return [text(found) for found in item if local(found.tag) == name]


def feed_title(root: Element) -> str:
    # RSS keeps its title in <channel> (namespaced in RSS 1.0); Atom on the root.
    return collapse(child_text(channel(root), ("title",)))


def channel(root: Element) -> Element:
    """RSS's <channel> (namespaced in RSS 1.0), or the root itself (Atom)."""
    found = child(root, ("channel",))
    return root if found is None else found


def items(root: Element) -> list[Element]:
    """The feed's items (RSS 0.9x/1.0/2.0) or entries (Atom), in document order."""
    if local(root.tag) == "feed":
        return list(root.iter(f"{ATOM}entry"))
    return [el for el in root.iter() if local(el.tag) == "item"]


def collapse(value: str) -> str:
    return _WS.sub(" ", value).strip()


def optional(value: str) -> str | None:
    return collapse(value) or None


def names(values: Iterable[str]) -> tuple[str, ...]:
    # Not deduplicated: two co-authors can share a name.
    return tuple(name for name in (collapse(v) for v in values) if name)


def dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values if v.strip()))


def unique(papers: Iterable[Paper]) -> tuple[Paper, ...]:
    """Each paper once per feed; the first occurrence wins."""
    seen: dict[str, Paper] = {}
    for paper in papers:
        seen.setdefault(paper.id, paper)
    return tuple(seen.values())


def http_url(value: str) -> str | None:
    # Only http(s) links may reach a digest: "javascript:" and friends must not.
    value = value.strip()
    return value if _HTTP_URL.match(value) else None


def int_or_none(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def split_authors(creator: str) -> tuple[str, ...]:
    """Split an arXiv RSS ``dc:creator`` string into author names.

    Splits on commas outside parentheses, because affiliations contain commas:
    ``"A. One (MIT, USA), B. Two"`` -> ``("A. One (MIT, USA)", "B. Two")``. Strips
    whitespace and drops empty names.
    """
    found: list[str] = []
    current: list[str] = []
    depth = 0
    for char in creator:
        if char == "," and depth == 0:
            found.append("".join(current))
            current = []
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            # An unbalanced ")" must not make every later comma look nested.
            depth = max(0, depth - 1)
        current.append(char)
    found.append("".join(current))
    return tuple(name for name in (n.strip() for n in found) if name)


# --- dates -------------------------------------------------------------------------------


def rfc822(value: str) -> datetime | None:
    return _aware_utc(value, parsedate_to_datetime)


def iso(value: str) -> datetime | None:
    return _aware_utc(value, datetime.fromisoformat)


def any_date(value: str) -> datetime | None:
    """A date as feeds write them: ISO 8601 / W3C-DTF (``dc:date``, ``prism:*``, Atom;
    a bare day is its midnight UTC) or RFC 822 (RSS ``pubDate``)."""
    return iso(value) or rfc822(value)


def _aware_utc(value: str, parse: Callable[[str], datetime]) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = parse(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    # A date without an offset is taken as UTC, the convention of both arXiv formats.
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def struct_time(value: object) -> datetime | None:
    # feedparser normalises every date it understands to a UTC struct_time.
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except ValueError:
        return None


def listing_date(moment: datetime | None) -> date | None:
    """The announcement date of an arXiv listing stamped ``moment``: the US-Eastern
    midnight nearest to it. arXiv builds a listing at midnight Eastern and names it by that
    day; the Atom feed and the pre-2024 RSS stamp the build or the evening mailing (20:30
    Eastern the day before), so the nearest midnight is the day rss.arxiv.org would name."""
    if moment is None:
        return None
    return (moment.astimezone(ARXIV_TIMEZONE) + timedelta(hours=12)).date()
