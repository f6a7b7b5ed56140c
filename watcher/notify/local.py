"""The built-in destination: the Markdown digest to a file under the data directory, and
to the terminal. Used when a subscription names no destination or none is configured."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from watcher.errors import DeliveryError
from watcher.models import Destination, Digest, Receipt
from watcher.render import render_format, subject
from watcher.store.atomic import write_atomically

UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


class LocalNotifier:
    """Writes ``<digests_dir>/<subscription>/<period>.md`` and echoes it to ``stream``.

    A folder per subscription: an institute's thousand subscriptions would otherwise put a
    thousand files a day into one folder. Each file is written whole (temp file, rename);
    ``settle`` makes the batch durable with one sync instead of two fsyncs per file."""

    def __init__(
        self, digests_dir: Path, stream: TextIO | None, clock: Callable[[], datetime]
    ) -> None:
        self.digests_dir = digests_dir
        self.stream = stream
        self.clock = clock
        self._unsettled = False

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        # The annotated layout: the seed's, plus why each paper is there (matched terms).
        # Only Markdown is rendered: this destination shows nothing else.
        markdown = render_format(digest, "markdown", highlight=True)
        path = self._free_path(digest)
        try:
            write_atomically(path, markdown.encode("utf-8"), durable=False)
            self._unsettled = True
        except OSError as exc:
            raise DeliveryError(f"cannot write {path}: {exc.strerror}", where="local") from exc
        if self.stream is not None:
            self.stream.write(f"\n==> {subject(digest)} -> {path}\n\n")
            self.stream.write(markdown)
            self.stream.flush()
        return Receipt(destination=destination.key, reference=str(path), delivered_at=self.clock())

    def settle(self) -> None:
        """Make every digest written since the last call durable (one sync)."""
        if self._unsettled:
            os.sync()
            self._unsettled = False

    def _free_path(self, digest: Digest) -> Path:
        # A second digest for the same period (papers that arrived later that day, or a
        # follow-up entry) gets its own file rather than overwriting the first.
        folder = self.digests_dir / (safe_filename(digest.subscription) or "digest")
        stem = safe_filename(digest.period)
        path = folder / f"{stem}.md"
        counter = 2
        while path.exists():
            path = folder / f"{stem}-{counter}.md"
            counter += 1
        return path


def safe_filename(name: str) -> str:
    """A file or folder name from a subscription name or period: nothing but letters,
    digits, dots, dashes and underscores, never ``..``."""
    cleaned = UNSAFE_FILENAME.sub("-", name).strip("-.")
    return cleaned.replace("..", ".")
