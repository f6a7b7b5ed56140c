"""Turn what a rule file names under ``feeds:`` into the source a fetcher can read.

Pure: an arXiv category or archive (``cs.LG``, ``cs``, ``cs.LG+stat.ML``) becomes the daily RSS
URL under the configured base; an http(s) URL or a local path stays as written.
"""

from __future__ import annotations

import re

CATEGORY = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Za-z\-]+)?$")


def is_category(name: str) -> bool:
    return all(CATEGORY.match(part) for part in name.split("+"))


def resolve_source(name: str, rss_base: str) -> str:
    """The fetchable source for one ``feeds:`` entry."""
    if "://" in name or name.startswith(("/", ".")) or name.endswith(".xml"):
        return name
    if is_category(name):
        return rss_base.rstrip("/") + "/" + name
    return name
