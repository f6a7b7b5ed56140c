"""Clicks on the buttons of Slack digests, received over Socket Mode (no public URL needed).

slack_sdk's built-in Socket Mode client (``slack_sdk.socket_mode.builtin``: no dependency
beyond slack_sdk, threads like the rest of the daemon) holds the WebSocket: it asks
``apps.connections.open`` for a URL with the app-level token (``SLACK_APP_TOKEN``), answers
Slack's pings, and on a ``disconnect`` message, a closed socket or a stale one (no pong for
four ping intervals) opens a new connection, which Slack does every few hours. Of the
library's clients it is the one whose reconnects need nothing from us: the asyncio ones
(aiohttp, websockets) would need an event loop in a daemon that has none, and the
websocket-client one an extra package for the same behaviour.

Each envelope is acknowledged at once (Slack waits 3 s), then its ``block_actions`` payload
is read: our two buttons carry subscription and paper (``render.slack.button_value``); the
vote goes to the FeedbackDesk with the channel it came from, and the person who clicked
gets its answer as an ephemeral message through the payload's ``response_url`` ("Noted:
more like this in efficient-ml"). An envelope Slack delivers again (it does when an ack did
not reach it before a reconnect) is acknowledged and not counted twice.

This client starts only when SLACK_APP_TOKEN and SLACK_BOT_TOKEN are set; until the first
connection succeeds it tries again with a growing pause, and says why in the log.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient

from watcher.daemon.votes import Answer, Channel, TakesVotes
from watcher.render.links import VoteName
from watcher.render.slack import DISLIKE_ACTION, LIKE_ACTION

log = logging.getLogger("watcher.daemon.clicks")

ACTIONS: dict[str, VoteName] = {LIKE_ACTION: "like", DISLIKE_ACTION: "dislike"}
DEFAULT_API_URL = "https://slack.com/api/"
FIRST_RETRY = 5.0  # seconds before the first connection is tried again; doubled up to
MAX_RETRY = 600.0
_SEEN_ENVELOPES = 1000  # redeliveries come within minutes: the last thousand ids are enough
_TIMEOUT = 10  # seconds for apps.connections.open and for an answer to the clicker


@dataclass(frozen=True, slots=True)
class ButtonClick:
    """One of our buttons pressed: by whom, where, for which subscription and paper."""

    subscription: str
    paper_id: str
    vote: VoteName
    user: str
    channel: Channel
    response_url: str


def read_clicks(payload: dict[str, Any]) -> list[ButtonClick]:
    """Our button clicks in an interactive payload; anything else (other apps' actions, a
    value we did not write) is left out."""
    if payload.get("type") != "block_actions":
        return []
    raw_channel = payload.get("channel") or {}
    container = payload.get("container") or {}
    channel_id = str(raw_channel.get("id") or container.get("channel_id") or "")
    channel = Channel(channel_id, str(raw_channel.get("name") or ""))
    user = str((payload.get("user") or {}).get("id") or "")
    response_url = str(payload.get("response_url") or "")
    clicks = []
    for action in payload.get("actions") or []:
        vote = ACTIONS.get(str(action.get("action_id")))
        if vote is None:
            continue
        try:
            value = json.loads(str(action.get("value") or ""))
            subscription, paper_id = str(value["subscription"]), str(value["paper"])
        except (ValueError, KeyError, TypeError):
            continue
        clicks.append(ButtonClick(subscription, paper_id, vote, user, channel, response_url))
    return clicks


class SlackClicks:
    """The Socket Mode connection of the daemon, from ``start`` to ``close``."""

    def __init__(
        self,
        app_token: str,
        desk: TakesVotes,
        *,
        api_url: str | None = None,
        stop: threading.Event,
        ping_interval: float = 5.0,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.desk = desk
        self.changed = changed  # told when the first connection succeeded or failed
        self.stop = stop
        base = api_url or DEFAULT_API_URL
        self._api_url = base if base.endswith("/") else base + "/"
        self._sdk_log = logging.getLogger("watcher.daemon.clicks.sdk")
        # slack_sdk says every connect and reconnect at INFO, and a failed one at ERROR
        # (with the URL it was given): ours says what matters, once.
        self._sdk_log.setLevel(logging.CRITICAL)
        self.client = SocketModeClient(
            app_token=app_token,
            web_client=WebClient(base_url=self._api_url, timeout=_TIMEOUT, logger=self._sdk_log),
            logger=self._sdk_log,
            ping_interval=ping_interval,
            concurrency=2,
        )
        self.client.socket_mode_request_listeners.append(self._on_request)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self.error: str | None = None  # why the last attempt to connect failed
        self._thread = threading.Thread(target=self._connect, name="watcher-slack", daemon=True)

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

    def start(self) -> SlackClicks:
        self._thread.start()
        return self

    def close(self) -> None:
        self.client.close()
        self._thread.join(timeout=5)

    def _connect(self) -> None:
        """Connect once; until that works, try again with a growing pause. From then on the
        client's own monitor reconnects."""
        pause = FIRST_RETRY
        while not self.stop.is_set():
            try:
                self.client.connect()
            except SlackApiError as error:
                code = str(error.response.get("error") or error.response.status_code)
                self.error = (
                    f"Slack refused SLACK_APP_TOKEN ({code}): it must be the app-level token "
                    "(xapp-...) with connections:write, of an app with Socket Mode on"
                )
            except Exception as error:  # the network: DNS, refused, TLS
                self.error = f"cannot reach Slack for Socket Mode: {type(error).__name__}"
            if self.client.is_connected():
                self.error = None
                log.info("Slack feedback: connected over Socket Mode", extra={"event": "slack"})
                self.changed()
                return
            if self.error is None:
                self.error = "the Socket Mode connection could not be opened"
            log.error(
                "Slack feedback: %s; trying again in %.0f s", self.error, pause,
                extra={"event": "slack"},
            )  # fmt: skip
            self.changed()
            self.stop.wait(pause)
            pause = min(pause * 2, MAX_RETRY)

    def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        # First the ack: Slack shows the person an error after 3 s without one.
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        if request.type != "interactive" or self._seen_before(request.envelope_id):
            return
        for click in read_clicks(request.payload):
            answer = self.desk.take(
                click.subscription,
                click.paper_id,
                click.vote,
                via="slack",
                who=f"{click.user} in {click.channel.id}",
                channel=click.channel,
            )
            self._answer(click, answer)

    def _seen_before(self, envelope_id: str) -> bool:
        with self._seen_lock:
            if envelope_id in self._seen:
                return True
            self._seen[envelope_id] = None
            if len(self._seen) > _SEEN_ENVELOPES:
                self._seen.popitem(last=False)
            return False

    def _answer(self, click: ButtonClick, answer: Answer) -> None:
        """Tell the person who clicked, and only them (an ephemeral message)."""
        if not self._trusted(click.response_url):
            log.warning("Slack feedback: no response_url to answer %s", click.user)
            return
        try:
            WebhookClient(click.response_url, timeout=_TIMEOUT, logger=self._sdk_log).send(
                text=answer.text, response_type="ephemeral", replace_original=False
            )
        except Exception as error:  # the vote is recorded; only the answer is lost
            log.warning(
                "Slack feedback: could not answer the click (%s)", type(error).__name__,
                extra={"event": "slack"},
            )  # fmt: skip

    def _trusted(self, url: str) -> bool:
        """A response_url of Slack's own (or of the Slack API configured: a test server)."""
        parts, api = urlsplit(url), urlsplit(self._api_url)
        if parts.scheme == "https" and (parts.hostname or "").endswith(".slack.com"):
            return True
        return bool(parts.hostname) and (parts.scheme, parts.netloc) == (api.scheme, api.netloc)
