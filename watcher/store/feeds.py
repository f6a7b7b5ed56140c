"""Feed state (``feeds.json``): per source, what the last poll saw. Small, and written last
in every cycle, apart from the outbox so that it never costs a rewrite of a pending digest.
The file also holds the store's own bookkeeping (``meta``: when the archive was last pruned).
"""

from __future__ import annotations

from dataclasses import replace

from watcher.logs import redact_urls
from watcher.models import FeedState
from watcher.store.archive import decode
from watcher.store.base import StoreBase
from watcher.store.codec import JSONDict, feed_state_from_dict, feed_state_to_dict
from watcher.store.files import JsonFile

FEEDS_FILE = "feeds.json"


class FeedsMixin(StoreBase):
    _feeds: JsonFile
    _staged_feeds: dict[str, FeedState]

    def feed_state(self, source: str) -> FeedState:
        """What was stored for a feed (etag, last listing, last announced date...).

        Feeds are filed under their URL with any credential in it as ``***`` (a one-off
        ``--feed https://…?token=…``): the file never holds the secret."""
        self._usable()
        source = redact_urls(source)
        staged = self._staged_feeds.get(source)
        if staged is not None:
            return staged
        raw = self._feeds.get("feeds", source)
        return FeedState() if raw is None else self._decode_feed(source, raw)

    def feed_states(self) -> dict[str, FeedState]:
        """Every feed's stored state by source, staged changes included (for status)."""
        self._usable()
        states = {key: self._decode_feed(key, raw) for key, raw in self._feeds.items("feeds")}
        states.update(self._staged_feeds)
        return states

    def set_feed_state(self, source: str, state: FeedState) -> None:
        """Stage a feed's state, written last by ``commit()``."""
        self._writable()
        error = None if state.last_error is None else redact_urls(state.last_error)
        self._staged_feeds[redact_urls(source)] = replace(state, last_error=error)

    def _meta(self, key: str) -> JSONDict:
        return self._feeds.get("meta", key) or {}

    def _set_meta(self, key: str, value: JSONDict) -> None:
        self._feeds.put("meta", {key: value})

    def _flush_feeds(self) -> None:
        if self._staged_feeds:
            self._feeds.put(
                "feeds", {src: feed_state_to_dict(st) for src, st in self._staged_feeds.items()}
            )
            self._staged_feeds = {}
        self._feeds.flush()

    def _decode_feed(self, source: str, raw: JSONDict) -> FeedState:
        return decode(feed_state_from_dict, raw, source, self._feeds.path)
