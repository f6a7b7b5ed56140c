"""EmailNotifier against a real SMTP server (aiosmtpd on 127.0.0.1), reading what arrived."""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial

import pytest

from tests import factories
from tests.smtpserver import (  # the fixtures are used by name
    PASSWORD,
    USER,
    Handler,
    SmtpServer,
    free_port,
    smtp_server,
    smtp_server_factory,
    smtp_tls_server,
)
from watcher.errors import DeliveryError, DeliveryUnknown, SettingsError
from watcher.models import Destination, Digest, Paper
from watcher.notify.email import EmailNotifier, SmtpConfig
from watcher.render import build_message, list_id

__all__ = ["smtp_server", "smtp_server_factory", "smtp_tls_server"]  # fixtures, used by name

NOW = datetime(2024, 9, 20, 6, 30, tzinfo=UTC)
FROM = "arXiv watcher <watcher@example.org>"
ABSTRACT_OPENING = "We study post-training quantization of large language models."
ABSTRACT = (
    ABSTRACT_OPENING
    + (
        "\nCareful rounding recovers most of the accuracy lost at four bits, and we show"
        " why the error concentrates in a few outlier channels of the attention layers."
    )
    * 8
)


def paper(n: int, title: str | None = None, **fields: object) -> Paper:
    values: dict[str, object] = {
        "id": f"2409.{10000 + n}",
        "version": 1,
        "title": title if title is not None else f"Low-bit quantization of transformers, part {n}",
        "authors": ("Ada Lovelace", "Alan Turing", "Grace Hopper"),
        "abstract": ABSTRACT,
        "categories": ("cs.LG", "cs.CL"),
        "announce_type": "new",
        "published": datetime(2024, 9, 18, tzinfo=UTC),
    }
    values.update(fields)
    return Paper(**values)  # type: ignore[arg-type]


digest = partial(factories.digest, period="2024-09-20")


def replaced(n: int, title: str | None = None) -> Paper:
    return paper(n, title or f"Revised: pruning at scale, number {n:03d}", version=2 + n % 3)


def to(*addrs: str) -> Destination:
    return Destination("email", addrs)


def plain_config(server: SmtpServer, **overrides: object) -> SmtpConfig:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "mail_from": FROM,
        "timeout": 5.0,
        "local_hostname": "client.test",
    }
    values.update(overrides)
    return SmtpConfig(**values)  # type: ignore[arg-type]


def tls_config(server: SmtpServer, **overrides: object) -> SmtpConfig:
    values: dict[str, object] = {
        "security": "starttls",
        "user": USER,
        "password": PASSWORD,
        "ssl_context_factory": server.client_context,
    }
    values.update(overrides)
    return plain_config(server, **values)


def notifier(config: SmtpConfig, **kwargs: object) -> EmailNotifier:
    return EmailNotifier(config, clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]


def html_part(server: SmtpServer) -> str:
    (mail,) = server.messages
    part = mail.message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_part(server: SmtpServer) -> str:
    (mail,) = server.messages
    part = mail.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


# --- what arrives ------------------------------------------------------------------------


def test_mail_is_multipart_alternative_with_headers(smtp_server: SmtpServer) -> None:
    receipt = notifier(plain_config(smtp_server)).send(
        to("team@example.org"), digest(paper(1), paper(2))
    )

    (mail,) = smtp_server.messages
    msg = mail.message
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == "arXiv digest: efficient-ml, 2024-09-20 (2 papers)"
    assert msg["From"] == FROM
    assert msg["To"] == "team@example.org"
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["List-Id"] == "<efficient-ml.arxiv-watcher>"
    assert re.fullmatch(r"<[^<>@\s]+@example\.org>", msg["Message-ID"])
    assert mail.mail_from == "watcher@example.org"
    assert mail.rcpt_tos == ("team@example.org",)
    assert "Low-bit quantization of transformers, part 2" in text_part(smtp_server)
    assert 'href="https://arxiv.org/abs/2409.10001v1"' in html_part(smtp_server)

    assert receipt.destination == "email:team@example.org"
    assert receipt.reference == msg["Message-ID"]
    assert receipt.delivered_at == NOW


def test_several_recipients_each_receive_it(smtp_server: SmtpServer) -> None:
    addrs = ("a@example.org", "b@example.org", "c@example.net")
    notifier(plain_config(smtp_server)).send(to(*addrs), digest(paper(1)))

    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == addrs
    assert mail.message["To"] == ", ".join(addrs)


def test_hostile_title_and_subscription_never_reach_a_header_line(
    smtp_server: SmtpServer,
) -> None:
    hostile = "Subject\r\nBcc: x@evil.example\n\x1b[31m\u202e"
    notifier(plain_config(smtp_server)).send(
        to("team@example.org"), digest(paper(1, title=hostile), subscription=hostile)
    )

    (mail,) = smtp_server.messages
    subject = mail.message["Subject"]
    assert "\r" not in subject and "\n" not in subject and "\x1b" not in subject
    assert "\u202e" not in subject
    assert subject.startswith("arXiv digest: Subject Bcc: x@evil.example")
    assert mail.message["Bcc"] is None
    assert mail.rcpt_tos == ("team@example.org",)
    header_block = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?im)^bcc:", header_block)
    assert re.fullmatch(
        r"<subject-bcc-x-evil-example[a-z0-9-]*\.arxiv-watcher>", mail.message["List-Id"]
    )


def test_html_escapes_titles_and_never_links_javascript(smtp_server: SmtpServer) -> None:
    script = paper(1, title="<script>alert(1)</script> & friends")
    js_link = paper(2, id="feed:0123abcd", version=None, link="javascript:alert(2)")
    notifier(plain_config(smtp_server)).send(to("team@example.org"), digest(script, js_link))

    page = html_part(smtp_server)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in page
    assert "<script" not in page.lower()
    hrefs = re.findall(r'href\s*=\s*"([^"]*)"', page, flags=re.IGNORECASE)
    assert hrefs, "expected links to the arXiv papers"
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert "javascript:" not in " ".join(hrefs).lower()


def test_300_papers_stay_under_the_budget_and_list_the_rest(smtp_server: SmtpServer) -> None:
    papers = [
        paper(n, title=f"Quantized attention at scale, study number {n:03d}") for n in range(300)
    ]
    notifier(plain_config(smtp_server)).send(to("team@example.org"), digest(*papers))

    (mail,) = smtp_server.messages
    assert len(mail.raw) < 100_000
    assert mail.message["Subject"].endswith("(300 papers)")
    text, page = text_part(smtp_server), html_part(smtp_server)
    match = re.search(r"(\d+) more papers", text)
    assert match, "the mail must say how many more papers there are"
    more = int(match.group(1))
    assert 0 < more < 300
    assert f"{more} more papers" in page
    # The body's title counts the whole digest, not just the papers shown in full.
    assert "(300 papers)" in text and "(300 papers)" in page
    assert f"({300 - more} papers)" not in text + page
    # Every paper appears once: the first ones in full, the rest by title and link.
    for p in papers:
        assert text.count(p.title) == 1, p.title
        assert page.count(p.title) >= 1, p.title
    last = papers[-1]
    assert f"https://arxiv.org/abs/{last.versioned_id}" in text
    assert f'href="https://arxiv.org/abs/{last.versioned_id}"' in page
    assert text.count(ABSTRACT_OPENING) == 300 - more >= 1
    # In the HTML the matched term is marked: "quantization" is inside a <mark>.
    assert page.count(ABSTRACT_OPENING.split("quantization")[0]) == 300 - more
    assert page.count(">quantization</mark> of large language models.") == 300 - more


def test_budget_is_a_parameter_and_titles_are_capped_when_even_they_do_not_fit() -> None:
    papers = [paper(n) for n in range(300)]
    composed = build_message(
        digest(*papers),
        mail_from=FROM,
        to=["team@example.org"],
        now=NOW,
        message_id="<1@example.org>",
        max_bytes=20_000,
    )
    assert len(composed.data) <= 20_000
    assert composed.shown == 0
    text = composed.message.get_body(("plain",))
    assert text is not None
    body = str(text.get_content())
    assert "300 more papers" in body
    assert re.search(r"and \d+ more, not listed", body)


# --- STARTTLS and AUTH -------------------------------------------------------------------


def test_starttls_and_auth_deliver_with_the_test_ca(smtp_tls_server: SmtpServer) -> None:
    receipt = notifier(tls_config(smtp_tls_server)).send(to("team@example.org"), digest(paper(1)))

    (mail,) = smtp_tls_server.messages
    assert mail.message["Message-ID"] == receipt.reference
    assert mail.rcpt_tos == ("team@example.org",)


def test_implicit_tls_delivers_with_the_test_ca(
    smtp_server_factory: Callable[..., SmtpServer],
) -> None:
    server = smtp_server_factory(implicit_tls=True)
    notifier(tls_config(server, security="ssl")).send(to("team@example.org"), digest(paper(1)))

    (mail,) = server.messages
    assert mail.rcpt_tos == ("team@example.org",)


def test_wrong_password_is_permanent_names_the_fix_and_hides_the_password(
    smtp_tls_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-Pa55word-42"
    config = tls_config(smtp_tls_server, password=wrong)

    with pytest.raises(DeliveryError) as caught:
        notifier(config).send(to("team@example.org"), digest(paper(1)))

    error = caught.value
    assert error.permanent
    assert f"SMTP login failed for user '{USER}'" in str(error)
    assert "check SMTP_USER/SMTP_PASSWORD" in str(error)
    assert wrong not in str(error) and wrong not in repr(error)
    assert wrong not in caplog.text
    assert wrong not in repr(config)
    assert smtp_tls_server.messages == []


def test_untrusted_certificate_is_a_permanent_error(smtp_tls_server: SmtpServer) -> None:
    # The system CAs do not know the test CA: verification is on, so this must fail.
    config = tls_config(smtp_tls_server, ssl_context_factory=ssl.create_default_context)
    with pytest.raises(DeliveryError) as caught:
        notifier(config).send(to("team@example.org"), digest(paper(1)))
    assert caught.value.permanent
    assert "could not be verified" in str(caught.value)
    assert smtp_tls_server.messages == []


def test_no_starttls_offered_is_permanent_and_nothing_goes_in_plain_text(
    smtp_server: SmtpServer,
) -> None:
    config = plain_config(smtp_server, security="starttls")
    with pytest.raises(DeliveryError) as caught:
        notifier(config).send(to("team@example.org"), digest(paper(1)))

    assert caught.value.permanent
    assert "does not offer STARTTLS" in str(caught.value)
    assert "SMTP_SECURITY=none only for a trusted local relay" in str(caught.value)
    assert smtp_server.messages == []


# --- refusals and failures ---------------------------------------------------------------


def test_550_recipient_is_permanent_names_it_and_sends_to_nobody(
    smtp_server_factory: Callable[..., SmtpServer],
) -> None:
    bad = "nobody@example.org"
    server = smtp_server_factory(Handler(refuse={bad: "550 5.1.1 <nobody@example.org>: unknown"}))
    with pytest.raises(DeliveryError) as caught:
        notifier(plain_config(server)).send(to("team@example.org", bad), digest(paper(1)))

    assert caught.value.permanent
    assert bad in str(caught.value)
    assert "team@example.org" not in str(caught.value).split("refused", 1)[1].split("(", 1)[0]
    assert caught.value.where == f"email:team@example.org,{bad}"
    assert server.messages == []


def test_451_is_temporary(smtp_server_factory: Callable[..., SmtpServer]) -> None:
    server = smtp_server_factory(Handler(defer="451 4.3.0 Try again later"))
    with pytest.raises(DeliveryError) as caught:
        notifier(plain_config(server)).send(to("team@example.org"), digest(paper(1)))

    assert not caught.value.permanent
    assert not isinstance(caught.value, DeliveryUnknown)
    assert "451" in str(caught.value)
    assert server.messages == []


def test_connection_refused_is_temporary_with_a_clear_message() -> None:
    port = free_port()  # nothing listens there
    config = SmtpConfig(host="127.0.0.1", port=port, security="none", mail_from=FROM, timeout=5)
    with pytest.raises(DeliveryError) as caught:
        notifier(config).send(to("team@example.org"), digest(paper(1)))

    assert not caught.value.permanent
    message = str(caught.value)
    assert f"connection refused by SMTP server 127.0.0.1:{port}" in message
    assert "SMTP_HOST and SMTP_PORT" in message


def test_connection_dropped_after_data_is_unknown(
    smtp_server_factory: Callable[..., SmtpServer],
) -> None:
    server = smtp_server_factory(Handler(drop_after_data=True))
    with pytest.raises(DeliveryUnknown) as caught:
        notifier(plain_config(server)).send(to("team@example.org"), digest(paper(1)))
    assert "may or may not have been delivered" in str(caught.value)


def test_invalid_recipient_address_is_permanent_before_connecting() -> None:
    config = SmtpConfig(host="127.0.0.1", port=free_port(), security="none", mail_from=FROM)
    with pytest.raises(DeliveryError) as caught:
        notifier(config).send(to("team@example.org\r\nRCPT TO:<x@evil>"), digest(paper(1)))
    assert caught.value.permanent
    assert "\r" not in str(caught.value) and "\n" not in str(caught.value)


# --- configuration -----------------------------------------------------------------------


def test_config_repr_never_shows_the_password() -> None:
    config = SmtpConfig(host="smtp.example.org", user="me", password="hunter2hunter2")
    assert "hunter2hunter2" not in repr(config)
    assert "hunter2hunter2" not in str(config)
    assert "password='***'" in repr(config)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"security": "tls"}, "SMTP_SECURITY"),
        ({"mail_from": "not an address"}, "MAIL_FROM"),
        ({"security": "none", "user": "me", "password": "pw"}, "SMTP_SECURITY"),
        ({"port": 0}, "SMTP_PORT"),
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"host": "smtp.example.org", **overrides}
    with pytest.raises(SettingsError) as caught:
        SmtpConfig(**values)  # type: ignore[arg-type]
    assert caught.value.where == field


def test_list_id_is_a_clean_label() -> None:
    assert list_id("Efficient ML / 2024") == "<efficient-ml-2024.arxiv-watcher>"
    assert list_id("\r\n<>") == "<digest.arxiv-watcher>"
    assert len(list_id("x" * 500)) <= len("<.arxiv-watcher>") + 63


# --- updates and "+N more" -------------------------------------------------------------------


def test_updates_and_more_arrive_in_both_parts(smtp_server: SmtpServer) -> None:
    d = digest(paper(1), paper(2), updated=(replaced(7), replaced(8)), omitted=4)
    notifier(plain_config(smtp_server)).send(to("team@example.org"), d)

    (mail,) = smtp_server.messages
    # 6 matched: 2 shown and 4 over max_papers, as the header and the "+4 more" line say.
    assert mail.message["Subject"] == "arXiv digest: efficient-ml, 2024-09-20 (6 papers, 2 updated)"
    text, page = text_part(smtp_server).replace("\r\n", "\n"), html_part(smtp_server)
    assert "\nUpdated\n-------\n" in text and ">Updated</h2>" in page
    for p in (replaced(7), replaced(8)):
        assert text.count(p.title) == 1 and page.count(p.title) == 1
        assert text.count(p.abs_url) == 1 and page.count(f'href="{p.abs_url}"') == 1
    assert text.index("Updated") > text.index("part 2")
    assert "Matched: Quantization (quantiz*, low-bit)" in text
    line = "+4 more papers matched but are not shown (max_papers)."
    assert "6 papers matched: 2 shown in full, 4 not shown (max_papers); 2 updated." in text
    # The line closes the list of new papers, not the Updated section after it.
    assert text.index("part 2") < text.index(line) < text.index("Updated")
    assert page.index(line) < page.index(">Updated</h2>")


def test_only_updates_say_so_in_the_subject(smtp_server: SmtpServer) -> None:
    d = digest(updated=(replaced(1), replaced(2), replaced(3)))
    notifier(plain_config(smtp_server)).send(to("team@example.org"), d)
    (mail,) = smtp_server.messages
    assert mail.message["Subject"] == "arXiv digest: efficient-ml, 2024-09-20 (3 updated)"
    assert "(0 papers" not in text_part(smtp_server)


def compose(d: Digest, max_bytes: int) -> tuple[int, str, str]:
    composed = build_message(
        d, mail_from=FROM, to=["team@example.org"], now=NOW, message_id="<1@x>", max_bytes=max_bytes
    )
    assert len(composed.data) <= max_bytes
    text = composed.message.get_body(("plain",))
    page = composed.message.get_body(("html",))
    assert text is not None and page is not None
    return composed.shown, str(text.get_content()), str(page.get_content())


def test_budget_counts_the_updates_and_keeps_every_paper_once() -> None:
    papers = [
        paper(n, title=f"Quantized attention at scale, study number {n:03d}") for n in range(80)
    ]
    ups = tuple(replaced(n) for n in range(100, 160))
    d = digest(*papers, updated=ups)
    shown, text, page = compose(d, 60_000)
    assert 0 < shown < 80
    # Shown with the updates in the budget: fewer papers in full than without them.
    shown_without, _, _ = compose(digest(*papers), 60_000)
    assert shown < shown_without
    for p in papers:
        assert text.count(p.title) == 1, p.title
    for p in ups:
        assert text.count(p.title) == 1 and text.count(p.abs_url) == 1, p.title
        assert page.count(f'href="{p.abs_url}"') == 1, p.title
    assert "(80 papers, 60 updated)" in text and "(80 papers, 60 updated)" in page
    assert text.count(ABSTRACT_OPENING) == shown


def test_updates_are_cut_last_and_said_to_be() -> None:
    ups = tuple(replaced(n) for n in range(300))
    shown, text, page = compose(digest(paper(1), updated=ups), 20_000)
    assert shown == 0
    kept = [p for p in ups if p.title in text]
    assert 0 < len(kept) < 300
    assert kept == list(ups[: len(kept)])  # the first ones, in digest order
    assert f"{300 - len(kept)} more updated papers, not listed" in text
    assert f"{300 - len(kept)} more updated papers, not listed" in page
    assert "1 more paper (titles and links only" in text  # the new paper is still listed
    assert paper(1).title in text
