"""Read the seed digest (../shared/seed/arxiv-digest-2024-09.md) back into records.

Used by the recall test (the shipped rules match all 100 papers) and the golden digest test
(an API-style Atom document built from these records renders back to the same bytes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watcher.models import Paper

BLOCK = re.compile(
    r"# (?P<title>[^\n]*)\n\n"
    r">Authors: (?P<authors>[^\n]*)\n\n"
    r">(?P<date>\d{4}-\d{2}-\d{2})\n\n"
    r"> http://arxiv\.org/abs/(?P<id>[^\n]+?)v(?P<version>\d+)\n\n"
    r"(?P<abstract>.*?)\n\n\n",
    re.S,
)


@dataclass(frozen=True)
class SeedPaper:
    title: str
    authors: tuple[str, ...]
    date: str
    id: str
    version: int
    abstract: str

    def paper(self, **fields: Any) -> Paper:
        """This record as a Paper; ``fields``: the rest of it (published, categories...)."""
        return Paper(self.id, self.version, self.title, self.authors, self.abstract, **fields)


def read_seed(path: Path) -> list[SeedPaper]:
    text = path.read_text(encoding="utf-8")
    papers = []
    pos = 0
    for m in BLOCK.finditer(text):
        assert m.start() == pos, f"unparsed seed text at offset {pos}"
        pos = m.end()
        papers.append(
            SeedPaper(
                title=m["title"],
                authors=tuple(m["authors"].split(",")),
                date=m["date"],
                id=m["id"],
                version=int(m["version"]),
                abstract=m["abstract"],
            )
        )
    assert pos == len(text), "seed file has trailing text the reader did not understand"
    return papers
