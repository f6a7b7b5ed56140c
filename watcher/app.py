"""Composition root: the one place that turns Settings into concrete edges.

The CLI (and later the scheduler) asks this module for a fetcher, the notifiers and the
source map; the pipeline only ever sees the values and protocols.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TextIO
from urllib.parse import urlsplit

from watcher.fetch import FetchConfig, Fetcher
from watcher.match import LazyMatcher, PaperMatcher
from watcher.models import Subscription
from watcher.notify import Registry
from watcher.notify.email import EmailNotifier, SmtpConfig
from watcher.notify.local import LocalNotifier
from watcher.notify.slack import SlackConfig, SlackNotifier
from watcher.pipeline import Cycle
from watcher.settings import Settings
from watcher.sources import FeedSource, resolve_source
from watcher.store import Store


def build_fetcher(settings: Settings) -> Fetcher:
    """The one fetcher of a process. The configured arXiv endpoints count as arXiv hosts,
    so a mirror (or a test server) gets the same spacing as arxiv.org."""
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
    return Fetcher(config)


def build_cycle(
    settings: Settings,
    store: Store,
    fetcher: Fetcher,
    subscriptions: Sequence[Subscription],
    override: Sequence[str] = (),
    available: frozenset[str] = frozenset({"local"}),
    *,
    matcher: PaperMatcher | None = None,
    sources: Mapping[FeedSource, Sequence[str]] | None = None,
) -> Cycle:
    """The cycle for these settings. The daemon hands in the ``matcher`` it compiled once per
    rule change and the ``sources`` of this job (a recheck polls only some); every field that
    comes from a setting (``api_url``, ``archive_days``) is set here, for every caller."""
    return Cycle(
        fetcher=fetcher,
        store=store,
        matcher=LazyMatcher(subscriptions) if matcher is None else matcher,
        subscriptions=subscriptions,
        sources=source_map(subscriptions, settings, override) if sources is None else sources,
        available=available,
        api_url=settings.arxiv_api_url,
        archive_days=settings.archive_days,
    )


def build_notifiers(
    settings: Settings,
    stream: TextIO | None,
    clock: Callable[[], datetime],
    environ: Mapping[str, str],
    subscriptions: Sequence[Subscription] = (),
) -> Registry:
    """Every configured channel by kind; ``local`` is always there. ``environ`` is where
    per-rule webhook variables (``webhook_env``) are looked up: a rule naming one that is set
    makes Slack available even without SLACK_BOT_TOKEN or SLACK_WEBHOOK_URL."""
    registry: Registry = {"local": LocalNotifier(settings.data_dir / "digests", stream, clock)}
    webhook_vars = {
        value
        for sub in subscriptions
        for dest in sub.deliver
        for key, value in dest.options
        if dest.kind == "slack" and key == "webhook_env"
    }
    if settings.slack_configured or any(environ.get(name) for name in webhook_vars):
        slack = SlackConfig(
            bot_token=settings.slack_bot_token,
            webhook_url=settings.slack_webhook_url,
            api_url=settings.slack_api_url,
        )
        registry["slack"] = SlackNotifier(slack, environ=environ, clock=clock)
    if settings.email_configured and settings.smtp_host and settings.mail_from:
        smtp = SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            security=settings.smtp_security,
            mail_from=settings.mail_from,
        )
        registry["email"] = EmailNotifier(smtp, clock=clock)
    return registry


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
