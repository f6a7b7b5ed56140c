"""Where feedback reaches the running daemon: Slack clicks over Socket Mode
(watcher.daemon.clicks) and the pages of email links (watcher.daemon.web), both handing
votes to one FeedbackDesk. Started with the daemon, closed with it; each on only when its
settings are (``settings.feedback_channels``), and a failure of one (a refused token, an
address in use) is logged and shown by ``watcher status`` while the rest keeps running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from watcher.daemon.clicks import SlackClicks
from watcher.daemon.votes import FeedbackDesk
from watcher.daemon.web import FeedbackApp, WebServer
from watcher.models import FeedbackChannel, Subscription
from watcher.settings import Settings, feedback_channels
from watcher.store.secret import signing_key

log = logging.getLogger("watcher.daemon.feedback")


class FeedbackListeners:
    """The Slack connection and the web endpoint of one ``watcher run``."""

    def __init__(
        self,
        settings: Settings,
        subscriptions: Callable[[], Sequence[Subscription]],
        clock: Callable[[], datetime],
        stop: threading.Event,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.changed = changed  # the state of a channel changed (the heartbeat says it)
        self.desk = FeedbackDesk(settings.data_dir, subscriptions, clock)
        self.clock = clock
        self.stop = stop
        self.slack: SlackClicks | None = None
        self.web: WebServer | None = None
        self.web_error: str | None = None
        self.key: bytes | None = None  # the links' signing key, once the web endpoint runs

    def start(self) -> None:
        settings = self.settings
        if settings.slack_feedback and settings.slack_app_token:
            self.slack = SlackClicks(
                settings.slack_app_token,
                self.desk,
                api_url=settings.slack_api_url,
                stop=self.stop,
                changed=self.changed,
            ).start()
        if settings.email_feedback:
            host, port = settings.http_host, settings.http_port
            try:
                self.key = signing_key(settings.data_dir, settings.secret_key)
                app = FeedbackApp(self.key, self.desk, self.clock)
                self.web = WebServer(app, host, port).start()
            except OSError as error:
                self.web_error = f"cannot listen on {host}:{port} ({error.strerror or error})"
            except Exception as error:  # the key file: a StoreError naming it
                self.web_error = str(error)
            if self.web_error:
                log.error(
                    "email feedback links: %s; set WATCHER_HTTP_ADDRESS, or fix and restart",
                    self.web_error,
                    extra={"event": "web"},
                )

    def channels(self) -> tuple[FeedbackChannel, ...]:
        """How each channel stands now, for the heartbeat and ``watcher status``."""
        slack, email = feedback_channels(self.settings)
        if self.slack is not None:
            if self.slack.connected:
                slack = FeedbackChannel("slack", True, "on: connected over Socket Mode")
            else:
                why = self.slack.error or "connecting"
                slack = FeedbackChannel("slack", True, f"on, NOT CONNECTED: {why}")
        if self.web_error:
            email = FeedbackChannel("email", False, f"off: {self.web_error}")
        elif self.web is not None:
            host, port = self.web.address
            email = FeedbackChannel(
                "email",
                True,
                f"on: links to {self.settings.public_url}, served on {host}:{port}",
            )
        return slack, email

    def close(self) -> None:
        if self.slack is not None:
            self.slack.close()
        if self.web is not None:
            self.web.close()
