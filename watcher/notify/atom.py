"""The Atom destination: a feed file per subscription that any feed reader can follow.

``Destination("atom", ("efficient-ml.xml",))`` keeps ``<data>/atom/efficient-ml.xml``; an
absolute path is used as it is (a web server's folder, say). After each digest the file is
read, the digest's papers put in front (watcher.render.atom) and the whole file written again
atomically (temp file, fsync, rename): a reader fetching it meanwhile gets the old feed or
the new one, never half of one. Writing a digest twice gives the same entries (they are
keyed by paper), so a send cut short by a crash is simply made again: ``repeatable``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from watcher.errors import DeliveryError
from watcher.models import Destination, Digest, Receipt
from watcher.render.atom import DEFAULT_ENTRIES, AtomFeedError, atom_feed
from watcher.store.atomic import write_atomically


class AtomNotifier:
    """Writes the Atom feed files; relative paths are under ``directory``."""

    # Sending again has the effect of sending once (see the module's docstring).
    repeatable = True

    def __init__(
        self, directory: Path, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.directory = directory
        self._clock = clock

    def path_of(self, destination: Destination) -> Path:
        name = destination.target[0] if destination.target else ""
        path = Path(name)
        return path if path.is_absolute() else self.directory / path

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        where = destination.key
        if not destination.target:
            raise DeliveryError("no feed file named", where=where, permanent=True)
        path = self.path_of(destination)
        limit = int(dict(destination.options).get("entries", DEFAULT_ENTRIES))
        try:
            previous = path.read_bytes()
        except FileNotFoundError:
            previous = None
        except OSError as exc:
            raise DeliveryError(
                f"cannot read {path}: {exc.strerror}", where=where, permanent=True
            ) from None
        if previous is not None and not previous.strip():
            raise DeliveryError(
                f"{path} is empty: it is not the feed this watcher wrote; move it away (the "
                "next digest starts the feed afresh), then watcher retry",
                where=where,
                permanent=True,
            )
        now = self._clock()
        try:
            body = atom_feed(digest, previous, now, limit=limit)
        except AtomFeedError as exc:
            raise DeliveryError(
                f"{path} is damaged or not an Atom feed ({exc}): move it away (the next "
                "digest starts the feed afresh), then watcher retry",
                where=where,
                permanent=True,
            ) from None
        try:
            write_atomically(path, body, mode=0o644)
        except OSError as exc:
            raise DeliveryError(f"cannot write {path}: {exc.strerror}", where=where) from None
        return Receipt(destination.key, str(path), now)
