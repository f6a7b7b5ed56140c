"""A local stand-in for Slack's Socket Mode, for slack_sdk's real Socket Mode client.

Beside the Web API stand-in (tests/slackserver.py, which answers ``apps.connections.open``
with :attr:`SocketModeServer.url` when given this server), a WebSocket server on 127.0.0.1
(``websockets``) does what Slack does on the socket: a ``hello`` message on each new
connection, ``interactive`` envelopes carrying ``block_actions`` payloads (:meth:`click`),
acknowledgements read back by envelope id, a ``disconnect`` message or a dropped TCP
connection (:meth:`disconnect`), and, as Slack does, envelopes not acknowledged on a
connection that went away delivered again on the next one.

    with SlackServer() as web, SocketModeServer() as sock:
        web.socket_mode = sock
        ...
        envelope = sock.click(payload)
        sock.wait_for_ack(envelope)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class SocketModeServer:
    """Threaded Socket Mode stand-in; a context manager that shuts down cleanly."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="socket-mode")
        self._server: Server | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._current: ServerConnection | None = None
        self._ids = itertools.count(1)
        self.connections = 0  # connections that got their hello
        self.sent: dict[str, dict[str, Any]] = {}  # envelope id -> envelope
        self.acked: list[str] = []  # envelope ids, in the order acks arrived
        self.delivered: list[str] = []  # envelope ids, once per delivery (redeliveries too)
        self.hold_acks = False  # read acks but drop them (as if lost on the way)

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> SocketModeServer:
        self._thread.start()

        async def start() -> Server:
            # Slack's pings are the client's business here: the server only answers them.
            return await serve(self._handle, "127.0.0.1", 0, ping_interval=None)

        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shut() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=t{self.connections + 1}"

    # --- the socket -----------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        await connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "applink-test", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0TEST"},
                }
            )
        )
        with self._changed:
            self._current = connection
            self.connections += 1
            waiting = [e for e in self.sent if e not in self.acked]
            self._changed.notify_all()
        for envelope_id in waiting:  # what the last connection left unacknowledged
            await self._deliver(connection, envelope_id)
        try:
            async for raw in connection:
                message = json.loads(raw)
                envelope_id = message.get("envelope_id")
                with self._changed:
                    if envelope_id and not self.hold_acks and envelope_id not in self.acked:
                        self.acked.append(str(envelope_id))
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                if self._current is connection:
                    self._current = None
                self._changed.notify_all()

    async def _deliver(self, connection: ServerConnection, envelope_id: str) -> None:
        envelope = self.sent[envelope_id]
        attempt = self.delivered.count(envelope_id)
        with self._changed:
            self.delivered.append(envelope_id)
        await connection.send(json.dumps({**envelope, "retry_attempt": attempt}))

    def click(self, payload: dict[str, Any]) -> str:
        """Send one ``interactive`` envelope on the open connection; its envelope id."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": "interactive",
            "accepts_response_payload": False,
            "payload": payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self._changed:
            connection = self._current
            self.sent[envelope_id] = envelope
        assert connection is not None, "no client is connected"
        asyncio.run_coroutine_threadsafe(self._deliver(connection, envelope_id), self._loop).result(
            10
        )
        return envelope_id

    def disconnect(self, *, drop: bool = False) -> None:
        """End the open connection as Slack does every few hours: a ``disconnect`` message
        (``refresh_requested``), after which the client opens a new one; or ``drop``: the
        TCP connection cut without a word (a network failure)."""
        with self._changed:
            connection = self._current
        assert connection is not None, "no client is connected"

        async def end() -> None:
            if drop:
                connection.transport.abort()
            else:
                await connection.send(
                    json.dumps(
                        {
                            "type": "disconnect",
                            "reason": "refresh_requested",
                            "debug_info": {"host": "applink-test"},
                        }
                    )
                )

        asyncio.run_coroutine_threadsafe(end(), self._loop).result(10)

    # --- waiting --------------------------------------------------------------------------

    def wait_connected(self, count: int, timeout: float = 20) -> None:
        """Until ``count`` connections got their hello and one is open."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (self.connections >= count and self._current is not None):
                left = deadline - time.monotonic()
                assert left > 0, f"{self.connections} connection(s), wanted {count}"
                self._changed.wait(left)

    def wait_for_ack(self, envelope_id: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while envelope_id not in self.acked:
                left = deadline - time.monotonic()
                assert left > 0, f"envelope {envelope_id} was never acknowledged"
                self._changed.wait(left)
