"""Email delivery: one multipart/alternative mail per digest, sent over SMTP. The edge around
the pure :mod:`watcher.render.email` (the composition and its size budget).

Security first: STARTTLS is required when asked for (never a silent fall back to plain text),
certificates are verified, every socket call has a timeout, and the password never reaches
an exception message or a log line.

Failures are mapped for the outbox: DeliveryError(permanent=True) when only the user can fix
it (wrong password, unknown recipient, no STARTTLS), DeliveryError(permanent=False) when the
next cycle may succeed (connection refused, 4xx), DeliveryUnknown when the connection dropped
after the message was handed over with DATA (it may have been delivered).

``stop`` (the daemon's stop request) shuts the connection of a send in progress at once
(watcher.notify.abort): the same rules then say what became of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import make_msgid, parseaddr
from typing import Literal, NoReturn, get_args

from watcher.errors import DeliveryError, DeliveryUnknown, SettingsError
from watcher.models import Destination, Digest, Receipt
from watcher.notify.abort import abortable
from watcher.render import one_line, render
from watcher.render.email import DEFAULT_MAX_BYTES, Renderer, build_message, header_text
from watcher.render.links import PaperLinks

__all__ = ["EmailNotifier", "Security", "SmtpConfig"]

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]
SECURITIES: tuple[Security, ...] = get_args(Security)

Clock = Callable[[], datetime]
# (subscription, recipient, the mail's date) -> each paper's signed feedback URLs.
LinkFactory = Callable[[str, str, datetime], PaperLinks]

_ADDR = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_FALLBACK_DOMAIN = "arxiv-watcher.invalid"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _valid_addr(addr: str) -> bool:
    """A plain ASCII addr-spec (``user@host``): nothing a header or SMTP command could abuse."""
    return len(addr) <= 254 and bool(_ADDR.match(addr)) and ".." not in addr


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the SMTP server (SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD,
    SMTP_SECURITY, MAIL_FROM).

    ``security``: ``starttls`` (default; the server must offer it), ``ssl`` (implicit TLS,
    usually port 465) or ``none`` (only for a trusted local relay, and then without a login).
    Certificates are verified against the system CAs, or against ``cafile`` (a private CA);
    ``ssl_context_factory`` overrides both (tests pass a context trusting their own CA).
    ``local_hostname`` is the EHLO name (default: this host's FQDN).
    """

    host: str
    port: int = 587
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    security: Security = "starttls"
    mail_from: str = "arxiv-watcher@localhost"
    timeout: float = 30.0
    cafile: str | None = None
    ssl_context_factory: Callable[[], ssl.SSLContext] | None = dataclasses.field(
        default=None, compare=False
    )
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITIES:
            raise SettingsError(
                f"SMTP_SECURITY must be one of {', '.join(SECURITIES)}, not {self.security!r}",
                where="SMTP_SECURITY",
            )
        if not self.host or any(c.isspace() for c in self.host):
            raise SettingsError(f"SMTP_HOST is not a host name: {self.host!r}", where="SMTP_HOST")
        if not 0 < self.port < 65536:
            raise SettingsError(f"SMTP_PORT out of range: {self.port}", where="SMTP_PORT")
        if self.timeout <= 0:
            raise SettingsError(
                f"the SMTP connection timeout must be positive, not {self.timeout!r}", where="SMTP"
            )
        if not _valid_addr(self.envelope_from):
            raise SettingsError(
                f"MAIL_FROM needs a plain address like 'Name <me@example.org>', "
                f"not {self.mail_from!r}",
                where="MAIL_FROM",
            )
        if self.user and self.security == "none":
            raise SettingsError(
                "SMTP_USER is set but SMTP_SECURITY=none would send the password in plain "
                "text; use starttls or ssl",
                where="SMTP_SECURITY",
            )

    def __repr__(self) -> str:
        password = "'***'" if self.password else "None"
        return (
            f"SmtpConfig(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"password={password}, security={self.security!r}, mail_from={self.mail_from!r}, "
            f"timeout={self.timeout})"
        )

    __str__ = __repr__

    @property
    def envelope_from(self) -> str:
        """The bare address of ``mail_from`` (for MAIL FROM and the Message-ID domain)."""
        return parseaddr(self.mail_from)[1]

    @property
    def domain(self) -> str:
        domain = self.envelope_from.rpartition("@")[2].lower()
        return domain if re.fullmatch(r"[a-z0-9.-]+", domain) else _FALLBACK_DOMAIN

    def ssl_context(self) -> ssl.SSLContext:
        if self.ssl_context_factory is not None:
            return self.ssl_context_factory()
        return ssl.create_default_context(cafile=self.cafile)


# --- sending (edge) ----------------------------------------------------------------------


def _timed_out(exc: BaseException) -> bool:
    """Is this a timeout, also as smtplib reports one (SMTPServerDisconnected raised while
    handling the socket's TimeoutError)?"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, TimeoutError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _reply(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    text = one_line(text)
    return text if len(text) <= 200 else text[:199] + "\u2026"


class EmailNotifier:
    """Sends digests to ``Destination(kind="email", target=(addr, ...))`` over SMTP.

    ``clock`` gives the Date header and the receipt time; ``renderer`` turns a Digest into
    subject, text and HTML (watcher.render.render); ``max_bytes`` is the size budget;
    ``links`` (set when WATCHER_PUBLIC_URL is) gives each paper its signed feedback links,
    made for the subscription and the recipients of this mail.
    """

    kind = "email"

    def __init__(
        self,
        config: SmtpConfig,
        *,
        clock: Clock = _utc_now,
        renderer: Renderer = render,
        max_bytes: int = DEFAULT_MAX_BYTES,
        stop: threading.Event | None = None,
        links: LinkFactory | None = None,
    ) -> None:
        self.config = config
        self.links = links
        self.stop = stop
        self.clock = clock
        self.renderer = renderer
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"EmailNotifier({self.config!r})"

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        """Mail ``digest`` to every address of ``destination``; the receipt is the Message-ID.

        All recipients or none: if the server refuses any of them, nothing is sent, so a retry
        never mails someone twice.
        """
        where = one_line(destination.key)  # for messages; a bad address may hold CR/LF
        recipients = self._recipients(destination)
        now = self.clock()
        # One mail goes to every address of the destination, so its links name them all.
        links = (
            None
            if self.links is None
            else self.links(digest.subscription, ", ".join(recipients), now)
        )
        composed = build_message(
            digest,
            mail_from=self.config.mail_from,
            to=recipients,
            now=now,
            message_id=make_msgid(domain=self.config.domain),
            renderer=self.renderer,
            max_bytes=self.max_bytes,
            links=links,
        )
        if len(composed.data) > self.max_bytes:
            log.warning(
                "digest %s does not fit in %d bytes even without papers",
                digest.subscription,
                self.max_bytes,
            )
        with abortable(self.stop) as active:
            try:
                self._transmit(recipients, composed.data, where)
            except DeliveryError as error:
                if active.aborted:
                    raise active.explain(error) from None
                raise
        log.info(
            "mailed the %s digest of %s to %s: %s (%d bytes, %d of %d papers in full)",
            header_text(digest.subscription),
            header_text(digest.period),
            where,
            composed.message_id,
            len(composed.data),
            composed.shown,
            len(digest.matches),
        )
        return Receipt(
            destination=destination.key, reference=composed.message_id, delivered_at=self.clock()
        )

    def _recipients(self, destination: Destination) -> list[str]:
        where = one_line(destination.key)
        if destination.kind != self.kind:
            raise DeliveryError(
                f"not an email destination: {destination.kind!r}", where=where, permanent=True
            )
        if not destination.target:
            raise DeliveryError(
                "no email addresses given in deliver: email", where=where, permanent=True
            )
        recipients: list[str] = []
        for raw in destination.target:
            addr = raw.strip()
            if not _valid_addr(addr):
                raise DeliveryError(
                    f"not a plain email address: {one_line(raw)!r}; fix the deliver: email list",
                    where=where,
                    permanent=True,
                )
            if addr.lower() not in (r.lower() for r in recipients):
                recipients.append(addr)
        return recipients

    # -- the SMTP conversation ------------------------------------------------------------

    def _fail(self, message: str, where: str, *, permanent: bool) -> NoReturn:
        raise DeliveryError(self._scrub(message), where=where, permanent=permanent)

    def _scrub(self, text: str) -> str:
        password = self.config.password
        return text.replace(password, "***") if password else text

    @property
    def _server(self) -> str:
        return f"SMTP server {self.config.host}:{self.config.port}"

    def _transmit(self, recipients: Sequence[str], data: bytes, where: str) -> None:
        smtp = self._connect(where)
        data_sent = False
        try:
            self._open(smtp, where)
            self._envelope(smtp, recipients, where)
            data_sent = True
            code, reply = smtp.data(data)
            if code != 250:
                self._refused(code, reply, "the message", where)
            self._quit(smtp)
        except DeliveryError:
            self._quit(smtp)
            raise
        except smtplib.SMTPResponseException as exc:
            self._quit(smtp)
            self._refused(exc.smtp_code, exc.smtp_error, "the command", where)
        except (smtplib.SMTPServerDisconnected, TimeoutError, ConnectionError) as exc:
            # smtplib turns most read/write failures into SMTPServerDisconnected.
            detail = self._scrub(_reply(str(exc)) or type(exc).__name__)
            if _timed_out(exc) and not data_sent:
                self._fail(
                    f"timed out after {self.config.timeout:g}s waiting for {self._server} "
                    f"({detail})",
                    where,
                    permanent=False,
                )
            if data_sent:
                raise DeliveryUnknown(
                    f"connection to {self._server} dropped after the message was sent "
                    f"({detail}); it may or may not have been delivered",
                    where=where,
                ) from None
            self._fail(f"lost the connection to {self._server}: {detail}", where, permanent=False)
        except smtplib.SMTPException as exc:
            self._quit(smtp)
            self._fail(f"{self._server}: {_reply(str(exc))}", where, permanent=False)
        except OSError as exc:
            detail = self._scrub(_reply(str(exc)) or type(exc).__name__)
            if data_sent:
                raise DeliveryUnknown(
                    f"connection to {self._server} failed after the message was sent "
                    f"({detail}); it may or may not have been delivered",
                    where=where,
                ) from None
            self._fail(f"connection to {self._server} failed: {detail}", where, permanent=False)
        finally:
            smtp.close()

    def _connect(self, where: str) -> smtplib.SMTP:
        """Open the connection (TLS from the start for ``ssl``) and read the greeting.

        smtplib closes its socket itself when the constructor fails, and it needs the host in
        the constructor to check the certificate's name at STARTTLS.
        """
        cfg = self.config
        try:
            if cfg.security == "ssl":
                return smtplib.SMTP_SSL(
                    cfg.host,
                    cfg.port,
                    local_hostname=cfg.local_hostname,
                    timeout=cfg.timeout,
                    context=cfg.ssl_context(),
                )
            return smtplib.SMTP(
                cfg.host, cfg.port, local_hostname=cfg.local_hostname, timeout=cfg.timeout
            )
        except smtplib.SMTPConnectError as exc:
            self._fail(
                f"{self._server} refused the connection: {exc.smtp_code} {_reply(exc.smtp_error)}",
                where,
                permanent=False,
            )
        except smtplib.SMTPServerDisconnected as exc:
            if _timed_out(exc):  # smtplib reports a read that timed out as a disconnection
                self._fail(
                    f"timed out after {cfg.timeout:g}s waiting for {self._server} to greet",
                    where,
                    permanent=False,
                )
            self._fail(
                f"{self._server} closed the connection before greeting ({_reply(str(exc))})",
                where,
                permanent=False,
            )
        except ssl.SSLCertVerificationError as exc:
            self._fail(self._cert_message(exc), where, permanent=True)
        except ssl.SSLError as exc:
            self._fail(self._tls_message(exc), where, permanent=False)
        except socket.gaierror as exc:
            self._fail(
                f"cannot resolve SMTP_HOST {cfg.host!r} ({exc.strerror}); check SMTP_HOST",
                where,
                permanent=False,
            )
        except ConnectionRefusedError:
            self._fail(
                f"connection refused by {self._server}: is the server running, and are "
                "SMTP_HOST and SMTP_PORT right?",
                where,
                permanent=False,
            )
        except TimeoutError:
            self._fail(
                f"timed out after {cfg.timeout:g}s connecting to {self._server}",
                where,
                permanent=False,
            )
        except OSError as exc:
            self._fail(f"cannot connect to {self._server}: {exc}", where, permanent=False)

    def _open(self, smtp: smtplib.SMTP, where: str) -> None:
        """Say hello, secure and log in; every failure here happens before anything is sent."""
        cfg = self.config
        smtp.ehlo()
        if cfg.security == "starttls":
            if not smtp.has_extn("starttls"):
                self._fail(
                    f"{self._server} does not offer STARTTLS; set SMTP_SECURITY=none only for a "
                    "trusted local relay",
                    where,
                    permanent=True,
                )
            try:
                smtp.starttls(context=cfg.ssl_context())
            except ssl.SSLCertVerificationError as exc:
                self._fail(self._cert_message(exc), where, permanent=True)
            except ssl.SSLError as exc:
                self._fail(self._tls_message(exc), where, permanent=False)
            smtp.ehlo()
        if cfg.user:
            self._login(smtp, cfg.user, cfg.password or "", where)

    def _login(self, smtp: smtplib.SMTP, user: str, password: str, where: str) -> None:
        try:
            smtp.login(user, password)
        except smtplib.SMTPAuthenticationError as exc:
            self._fail(
                f"SMTP login failed for user {user!r} at {self._server} "
                f"({exc.smtp_code} {_reply(exc.smtp_error)}): check SMTP_USER/SMTP_PASSWORD",
                where,
                permanent=True,
            )
        except smtplib.SMTPNotSupportedError:
            self._fail(
                f"{self._server} does not offer AUTH: unset SMTP_USER, or check SMTP_SECURITY "
                "(many servers offer AUTH only after STARTTLS)",
                where,
                permanent=True,
            )
        except smtplib.SMTPResponseException:
            raise
        except smtplib.SMTPServerDisconnected as exc:
            # A timeout or a dropped connection mid-login: the server's trouble, not the
            # settings'; the next cycle tries again.
            what = f"timed out after {self.config.timeout:g}s" if _timed_out(exc) else "lost"
            self._fail(
                f"{what} during login to {self._server} ({self._scrub(_reply(str(exc)))})",
                where,
                permanent=False,
            )
        except smtplib.SMTPException as exc:
            self._fail(
                f"SMTP login for user {user!r} impossible: {_reply(str(exc))}",
                where,
                permanent=True,
            )

    def _envelope(self, smtp: smtplib.SMTP, recipients: Sequence[str], where: str) -> None:
        code, reply = smtp.mail(self.config.envelope_from)
        if code != 250:
            self._refused(code, reply, f"the sender {self.config.envelope_from} (MAIL_FROM)", where)
        refused: list[tuple[str, int, bytes]] = []
        for addr in recipients:
            code, reply = smtp.rcpt(addr)
            if code not in (250, 251):
                refused.append((addr, code, reply))
        if not refused:
            return
        smtp.rset()
        permanent = [r for r in refused if r[1] >= 500]
        shown = permanent or refused
        names = "; ".join(f"{addr} ({code} {_reply(reply)})" for addr, code, reply in shown)
        if permanent:
            self._fail(
                f"{self._server} refused the recipient(s) {names}; fix the deliver: email list "
                "(nothing was sent to the others either)",
                where,
                permanent=True,
            )
        self._fail(
            f"{self._server} deferred the recipient(s) {names}; will retry", where, permanent=False
        )

    def _refused(self, code: int, reply: bytes | str, what: str, where: str) -> NoReturn:
        permanent = 500 <= code < 600
        verdict = "refused" if permanent else "deferred"
        self._fail(
            f"{self._server} {verdict} {what}: {code} {_reply(reply)}", where, permanent=permanent
        )

    def _cert_message(self, exc: ssl.SSLCertVerificationError) -> str:
        return (
            f"the TLS certificate of {self._server} could not be verified "
            f"({exc.verify_message or exc.reason}); check that SMTP_HOST is the name on the "
            "server's certificate"
        )

    def _tls_message(self, exc: ssl.SSLError) -> str:
        return (
            f"TLS with {self._server} failed ({exc.reason or exc}); check SMTP_PORT and "
            "SMTP_SECURITY (ssl is usually port 465, starttls 587)"
        )

    @staticmethod
    def _quit(smtp: smtplib.SMTP) -> None:
        # Polite, not needed: the verdict is already known. SMTPException is an OSError.
        with contextlib.suppress(OSError):
            smtp.quit()
