"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, capturing every mail it accepts.

Variants: plain (a local relay), STARTTLS + AUTH with a certificate made at test time by
trustme, one that refuses chosen recipients with 550, one that answers 451, and one that
drops the connection after DATA. Use them as fixtures (``pytest_plugins =
["tests.smtpserver"]`` in a test module) or through ``running_server()``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
SERVER_NAME = "smtp.test"
USER = "watcher"
PASSWORD = "s3cret-Pa55word"


def free_port() -> int:
    """A port nothing listens on right now. aiosmtpd 1.4.x cannot be given port 0 (its
    start-up probe connects to the port it was given), so pick one first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True)
class Captured:
    """One accepted mail: the envelope and the message exactly as it arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage


@dataclass
class Handler:
    """aiosmtpd handler: captures mail; can refuse recipients, defer, or hang up after DATA."""

    refuse: dict[str, str] = field(default_factory=dict)  # address -> reply, e.g. "550 ..."
    defer: str | None = None  # a reply to every RCPT, e.g. "451 ..."
    drop_after_data: bool = False
    delay: float = 0.0  # seconds to take over DATA, after the mail is captured
    messages: list[Captured] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.defer is not None:
            return self.defer
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.drop_after_data:
            transport = server.transport
            assert isinstance(transport, asyncio.Transport)
            transport.abort()  # the mail arrived, the client never hears so
            return "250 OK"
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        captured = Captured(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message=parsed,
        )
        with self.lock:
            self.messages.append(captured)
        if self.delay:
            await asyncio.sleep(self.delay)  # a client killed meanwhile never hears
        return "250 Message accepted for delivery"


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == LoginPassword(
        USER.encode(), PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    """A running server: where it listens, what it captured, and the CA its certificate is
    from (TLS variant)."""

    host: str
    port: int
    handler: Handler
    ca: trustme.CA | None = None

    @property
    def messages(self) -> list[Captured]:
        with self.handler.lock:
            return list(self.handler.messages)

    def client_context(self) -> ssl.SSLContext:
        """A client context like ssl.create_default_context(), trusting only the test CA."""
        context = ssl.create_default_context()
        assert self.ca is not None, "not a TLS server"
        self.ca.configure_trust(context)
        return context


@contextmanager
def running_server(
    handler: Handler | None = None, *, tls: bool = False, implicit_tls: bool = False
) -> Iterator[SmtpServer]:
    """Start aiosmtpd on 127.0.0.1 at a free port; stop it (and its thread) on exit.

    ``tls=True``: STARTTLS offered and required, AUTH (PLAIN, LOGIN) only after it, for
    USER/PASSWORD, with a certificate for 127.0.0.1 and localhost from a fresh trustme CA.
    ``implicit_tls=True``: TLS from the first byte (SMTP_SECURITY=ssl, port 465 style), with
    the same AUTH.
    """
    handler = handler or Handler()
    kwargs: dict[str, Any] = {}
    ca: trustme.CA | None = None
    if tls or implicit_tls:
        ca = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(HOST, "localhost").configure_cert(server_context)
        kwargs = {"authenticator": _authenticator}
        if implicit_tls:
            # aiosmtpd 1.4 only counts STARTTLS as TLS for auth_require_tls, so it would hide
            # AUTH on an implicit-TLS socket; and auth_required without auth_require_tls
            # warns. The connection is TLS from the first byte, so neither is needed.
            kwargs.update(ssl_context=server_context, auth_require_tls=False)
        else:
            kwargs.update(
                tls_context=server_context,
                require_starttls=True,
                auth_required=True,
                auth_require_tls=True,
            )
    controller = Controller(
        handler,
        hostname=HOST,
        port=free_port(),
        server_hostname=SERVER_NAME,  # spares aiosmtpd a socket.getfqdn() lookup
        ready_timeout=10.0,
        **kwargs,
    )
    controller.start()
    try:
        yield SmtpServer(HOST, controller.port, handler, ca)
    finally:
        controller.stop()


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain local relay (no STARTTLS, no AUTH) that accepts everything."""
    with running_server() as server:
        yield server


@pytest.fixture
def smtp_tls_server() -> Iterator[SmtpServer]:
    """STARTTLS required, AUTH for USER/PASSWORD, certificate from ``server.ca``."""
    with running_server(tls=True) as server:
        yield server


@pytest.fixture
def smtp_server_factory() -> Iterator[Callable[..., SmtpServer]]:
    """``factory(Handler(refuse={...}), tls=..., implicit_tls=...)``, stopped at teardown."""
    with ExitStack() as stack:

        def start(
            handler: Handler | None = None, *, tls: bool = False, implicit_tls: bool = False
        ) -> SmtpServer:
            return stack.enter_context(running_server(handler, tls=tls, implicit_tls=implicit_tls))

        yield start
