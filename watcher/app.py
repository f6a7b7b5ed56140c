"""Composition root: the one place that turns Settings into concrete edges.

The CLI (and later the scheduler) asks this module for a fetcher, the notifiers and the
source map; the pipeline only ever sees the values and protocols.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import TextIO
from urllib.parse import quote, urlsplit

from watcher import logs
from watcher.errors import FeedError
from watcher.fetch import FetchConfig, Fetcher, FetchResult
from watcher.logs import redact_urls
from watcher.match import LazyMatcher, PaperMatcher
from watcher.models import Subscription
from watcher.notify import Registry, secrets_of
from watcher.notify.apprise import AppriseNotifier
from watcher.notify.atom import AtomNotifier
from watcher.notify.email import EmailNotifier, LinkFactory, SmtpConfig
from watcher.notify.local import LocalNotifier
from watcher.notify.slack import SlackConfig, SlackNotifier
from watcher.notify.webhook import WebhookNotifier
from watcher.pipeline import Cycle, FeedFetcher, Ranks
from watcher.render.links import PaperLinks, link_maker
from watcher.settings import Settings
from watcher.sources import FeedSource, expand, placeholders, resolve_source
from watcher.store import Store
from watcher.store.secret import signing_key


def build_fetcher(settings: Settings, stop: threading.Event | None = None) -> ExpandingFetcher:
    """The one fetcher of a process. The configured arXiv endpoints count as arXiv hosts,
    so a mirror (or a test server) gets the same spacing as arxiv.org. A feed URL's
    ``${NAME}`` is filled in from ``settings.variables`` (the environment and .env) as it is
    fetched, and only there. ``stop`` (the daemon's stop request) ends every wait of it."""
    polite = tuple(
        host
        for host in (
            urlsplit(settings.arxiv_rss_url).hostname,
            urlsplit(settings.arxiv_api_url).hostname,
        )
        if host
    )
    config = FetchConfig(
        user_agent=settings.user_agent,
        min_interval=settings.arxiv_min_interval,
        extra_polite_hosts=polite,
    )
    return ExpandingFetcher(Fetcher(config, stop=stop), settings.variables)


class _HideExpanded(logging.Filter):
    """On the loggers that see expanded feed URLs (the fetch edge, httpx, httpcore): puts
    each expanded URL, and each value a ``${NAME}`` was expanded to, back as the placeholder
    before any handler sees the record, whatever the handlers (``once`` has no redacting
    one); then hides URL credentials as every log line does."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._shown: dict[str, str] = {}  # expanded text -> how it is shown
        self._order: list[str] = []  # longest first: a URL before the value inside it

    def add(self, shown: Mapping[str, str]) -> None:
        with self._lock:
            if shown.keys() <= self._shown.keys():
                return
            self._shown.update(shown)
            self._order = sorted(self._shown, key=len, reverse=True)

    def hide(self, text: str) -> str:
        for secret in self._order:
            if secret in text:
                text = text.replace(secret, self._shown[secret])
        return redact_urls(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        text = self.hide(message)
        if text != message:
            record.msg, record.args = text, None
        return True


_HIDDEN = _HideExpanded()
_LOGGERS = ("watcher.fetch", "httpx", "httpcore")


class ExpandingFetcher:
    """The fetch edge as the cycle sees it: a source's ``${NAME}`` placeholders are expanded
    for the request only. The cycle (and so the store, status, logs, preview) keeps the
    placeholder form: the raw feed, an error's text and its ``where`` name the source as the
    rule file wrote it. An unset variable fails that feed alone."""

    def __init__(self, inner: Fetcher, variables: Mapping[str, str]) -> None:
        self.inner = inner
        self.variables = variables
        for name in _LOGGERS:
            found = logging.getLogger(name)
            if _HIDDEN not in found.filters:
                found.addFilter(_HIDDEN)

    def fetch(self, source: str, *, etag: str | None = None) -> FetchResult:
        names = placeholders(source)
        if not names:
            return self.inner.fetch(source, etag=etag)
        url = expand(source, self.variables)  # a FeedError naming the unset variable
        shown = {url: source}
        for name in names:
            value = self.variables[name]
            for form in (value, quote(value, safe="")):
                if len(form) >= 4:  # shorter ones would mangle ordinary text
                    shown[form] = f"${{{name}}}"
        _HIDDEN.add(shown)
        try:
            result = self.inner.fetch(url, etag=etag)
        except FeedError as error:
            raise type(error)(_HIDDEN.hide(error.message), where=source) from None
        if result.raw is None:
            return result
        return replace(result, raw=replace(result.raw, source=source))

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> ExpandingFetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def build_cycle(
    settings: Settings,
    store: Store,
    fetcher: FeedFetcher,
    subscriptions: Sequence[Subscription],
    override: Sequence[str] = (),
    available: frozenset[str] = frozenset({"local"}),
    *,
    matcher: PaperMatcher | None = None,
    sources: Mapping[FeedSource, Sequence[str]] | None = None,
    ranker: Ranks | None = None,
) -> Cycle:
    """The cycle for these settings. The daemon hands in the ``matcher`` it compiled once per
    rule change and the ``sources`` of this job (a recheck polls only some); every field that
    comes from a setting (``api_url``, ``archive_days``) is set here, for every caller.
    The daemon also hands in its ``ranker``, whose fitted models outlive a cycle; without
    one, a subscription with ``order: relevance`` gets a fresh one (reading the cache)."""
    if ranker is None and any(s.order == "relevance" for s in subscriptions):
        ranker = build_ranker(settings)
    return Cycle(
        fetcher=fetcher,
        store=store,
        matcher=LazyMatcher(subscriptions) if matcher is None else matcher,
        subscriptions=subscriptions,
        sources=source_map(subscriptions, settings, override) if sources is None else sources,
        available=available,
        api_url=settings.arxiv_api_url,
        archive_days=settings.archive_days,
        ranker=ranker,
    )


def build_ranker(settings: Settings) -> Ranks:
    """The relevance models of ``order: relevance`` subscriptions, cached in the data dir."""
    # Imported here: numpy, scipy and scikit-learn load only where a subscription ranks.
    from watcher.ranking import Ranker

    return Ranker(settings.data_dir)


def build_notifiers(
    settings: Settings,
    stream: TextIO | None,
    clock: Callable[[], datetime],
    environ: Mapping[str, str],
    subscriptions: Sequence[Subscription] = (),
    stop: threading.Event | None = None,
) -> Registry:
    """Every configured channel by kind; ``local`` is always there. ``environ`` is where
    per-rule webhook variables (``webhook_env``) are looked up: a rule naming one that is set
    makes Slack available even without SLACK_BOT_TOKEN or SLACK_WEBHOOK_URL; the Apprise and
    webhook destinations read the variables their rules name from it too. ``stop`` (the
    daemon's stop request) cuts a send in progress short, like the fetcher's waits."""
    # What these notifiers send to (tokens, webhook and Apprise URLs) stays out of every log
    # line, the libraries' too (httpx and urllib3 log each request at --verbose).
    logs.add_secrets(secrets_of(settings, environ, subscriptions))
    registry: Registry = {"local": LocalNotifier(settings.data_dir / "digests", stream, clock)}
    webhook_vars = {
        dest.secret_variable
        for sub in subscriptions
        for dest in sub.deliver
        if dest.kind == "slack" and dest.secret_variable
    }
    if settings.slack_configured or any(environ.get(name) for name in webhook_vars):
        slack = SlackConfig(
            bot_token=settings.slack_bot_token,
            webhook_url=settings.slack_webhook_url,
            api_url=settings.slack_api_url,
            feedback=settings.slack_feedback,
        )
        registry["slack"] = SlackNotifier(slack, environ=environ, clock=clock, stop=stop)
    if settings.email_configured and settings.smtp_host and settings.mail_from:
        smtp = SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            security=settings.smtp_security,
            mail_from=settings.mail_from,
        )
        links = link_factory(settings)
        registry["email"] = EmailNotifier(smtp, clock=clock, stop=stop, links=links)
    # Always there: a rule naming a variable that is not set fails with that name (a
    # failure to fix, shown by status), rather than going to the local files unseen.
    registry["apprise"] = AppriseNotifier(environ, clock=clock, stop=stop)
    registry["atom"] = AtomNotifier(settings.data_dir / "atom", clock)
    registry["webhook"] = WebhookNotifier(
        environ, secret=settings.webhook_secret, clock=clock, stop=stop
    )
    return registry


def link_factory(settings: Settings) -> LinkFactory | None:
    """What signs an email digest's feedback links, when WATCHER_PUBLIC_URL is set (the
    daemon serves them: watcher.daemon.web); None without it (no links)."""
    public_url = settings.public_url
    if public_url is None:
        return None
    key = signing_key(settings.data_dir, settings.secret_key)

    def links(subscription: str, recipient: str, now: datetime) -> PaperLinks:
        return link_maker(key, public_url, subscription, recipient, now)

    return links


def source_map(
    subscriptions: Sequence[Subscription], settings: Settings, override: Sequence[str] = ()
) -> dict[FeedSource, list[str]]:
    """Which subscriptions read which source. ``override`` (``--feed``) replaces every
    subscription's own feeds: all of them read all the given sources."""
    readers: dict[FeedSource, dict[str, None]] = defaultdict(dict)  # ordered sets
    for sub in subscriptions:
        names = override or sub.feeds
        for name in names:
            source = resolve_source(name, settings.arxiv_rss_url, settings.arxiv_api_url)
            readers[source][sub.name] = None
    return {source: list(names) for source, names in readers.items()}
