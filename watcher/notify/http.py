"""What the transports that post to a URL share: the URL a rule's variable holds, and what
an HTTP answer means for the delivery (refused for good, or worth another try).

One place, so the webhook, Apprise and Slack destinations cannot drift apart on which
statuses wait for ``watcher retry`` and which are retried on the next cycle.
"""

from __future__ import annotations

from collections.abc import Mapping

from watcher.errors import DeliveryError
from watcher.fetch import parse_retry_after
from watcher.models import Destination

# 4xx statuses that say "later", not "never": a request timeout, too early, too many
# requests. Every other 4xx needs the user to fix something first.
_TRY_AGAIN = frozenset({408, 425, 429})


def refused_for_good(status: int) -> bool:
    """A 4xx the receiver will answer again however often it is retried (a wrong token, a
    deleted webhook): the delivery waits for the user and ``watcher retry``."""
    return 400 <= status < 500 and status not in _TRY_AGAIN


def retry_after(value: str | None, longest: float) -> float | None:
    """Seconds a Retry-After header asks for, when it is a wait worth holding a send for
    (``longest`` at most); None otherwise: the next cycle tries again instead."""
    wait = parse_retry_after(value)
    return wait if wait is not None and wait <= longest else None


def url_in(environ: Mapping[str, str], destination: Destination, what: str) -> tuple[str, str]:
    """(variable, URL) of a destination whose target names the environment variable holding
    its URL (``- webhook: N8N_URL``); a permanent DeliveryError when it is not set. ``what``
    names the URL in the message ("webhook's URL")."""
    variable = destination.target[0] if destination.target else ""
    url = environ.get(variable, "").strip() if variable else ""
    if not url:
        raise DeliveryError(
            f"environment variable {variable or '(none named)'} is not set: put the "
            f"{what} in it (in .env, say), then watcher retry",
            where=destination.key,
            permanent=True,
        )
    return variable, url
