"""The webhook destination: one POST of paper-level JSON per digest (n8n, Zapier, scripts).

``Destination("webhook", ("N8N_URL",))`` POSTs :func:`watcher.render.webhook.webhook_document`
to the URL held in the environment variable ``N8N_URL`` (never in a rule file: a webhook URL
is usually its own secret). With a secret (``WATCHER_WEBHOOK_SECRET``, read by settings), the
body is signed: ``X-Watcher-Signature: sha256=<hex HMAC-SHA256 of the body>``, so the
receiver can tell the POST came from this watcher. ``X-Watcher-Delivery`` names the digest,
the same on every attempt.

Answers, as the Slack notifier maps them (watcher.notify.http): 2xx delivered; a redirect or
a 4xx other than 408/425/429 is permanent (the URL or the receiver needs fixing; ``watcher
retry`` after); 429 and 503 with a short Retry-After are retried at once (twice at most),
other 5xx and 429 on the next cycle; a connection that never opened is temporary; one lost
after the request went out (a read timeout, a reset) is *unknown* and never resent on its
own.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx

from watcher import __version__
from watcher.errors import DeliveryError, DeliveryUnknown
from watcher.models import Destination, Digest, Receipt
from watcher.notify.abort import abortable
from watcher.notify.http import refused_for_good, retry_after, url_in
from watcher.render.webhook import webhook_document

MAX_RETRY_AFTER = 60.0
RETRIES = 2
SIGNATURE_HEADER = "X-Watcher-Signature"
DELIVERY_HEADER = "X-Watcher-Delivery"


def signature(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """POSTs a digest's JSON to the URL in ``environ[destination.target[0]]``."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        secret: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
        stop: threading.Event | None = None,
    ) -> None:
        self._environ = environ
        self._secret = secret
        self._clock = clock
        self._sleep = sleep if stop is None or sleep is not time.sleep else stop.wait
        self._timeout = timeout
        self.stop = stop

    def __repr__(self) -> str:
        return f"WebhookNotifier(secret={'set' if self._secret else None!r})"

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        where = destination.key
        variable, url = url_in(self._environ, destination, "webhook's URL")
        if not url.lower().startswith(("http://", "https://")):
            raise DeliveryError(
                f"{variable} does not hold an http(s) URL", where=where, permanent=True
            )
        delivery = f"{digest.subscription}|{destination.key}|{digest.period}"
        body = webhook_document(digest, delivery)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"arxiv-watcher/{__version__}",
            DELIVERY_HEADER: delivery.encode("ascii", "backslashreplace").decode("ascii"),
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        with abortable(self.stop) as active:
            try:
                status = self._post(url, body, headers, variable, where)
            except DeliveryError as error:
                raise (active.explain(error) if active.aborted else error) from None
        return Receipt(destination.key, f"HTTP {status}", self._clock())

    def _post(
        self, url: str, body: bytes, headers: dict[str, str], variable: str, where: str
    ) -> int:
        with httpx.Client(timeout=self._timeout, follow_redirects=False) as client:
            for attempt in range(RETRIES + 1):
                try:
                    response = client.post(url, content=body, headers=headers)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    raise DeliveryError(
                        f"could not reach the webhook in {variable} ({type(exc).__name__}); "
                        "will retry on the next cycle",
                        where=where,
                    ) from None
                except httpx.TransportError as exc:
                    raise DeliveryUnknown(
                        f"the connection to the webhook in {variable} was lost after the "
                        f"digest went out ({type(exc).__name__}): it may have arrived, so "
                        "it is not resent on its own",
                        where=where,
                    ) from None
                status = response.status_code
                if 200 <= status < 300:
                    return status
                wait = retry_after(response.headers.get("retry-after"), MAX_RETRY_AFTER)
                if status in (429, 503) and wait is not None and attempt < RETRIES:
                    self._sleep(wait)
                    continue
                raise _refused(status, variable, where)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _refused(status: int, variable: str, where: str) -> DeliveryError:
    if 300 <= status < 400:
        return DeliveryError(
            f"the webhook in {variable} answered a redirect (HTTP {status}): put the URL it "
            "redirects to in the variable, then watcher retry",
            where=where,
            permanent=True,
        )
    if refused_for_good(status):
        return DeliveryError(
            f"the webhook in {variable} refused the digest (HTTP {status}): check the URL "
            "and the receiver (and WATCHER_WEBHOOK_SECRET if it checks the signature), "
            "then watcher retry",
            where=where,
            permanent=True,
        )
    return DeliveryError(
        f"the webhook in {variable} answered HTTP {status}; will retry on the next cycle",
        where=where,
    )
