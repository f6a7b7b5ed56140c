"""What a reader sees in a digest (issue 15, "In the digests"; issue 10's counts at the top):
TeX shown as Unicode, one count everywhere, the mail's title list inside its column,
links in abstracts, https links, no empty lines or internal ids, Slack in the rule file's
order with the matched term in view, and a term with its hyphen variant as one term."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag
from slack_sdk.models.blocks import Block

from tests import factories
from tests.factories import paper, subscription, topic
from watcher.daemon.backfill import run_backfill
from watcher.daemon.log import log_deliveries
from watcher.digest import digest_counts, make_digest
from watcher.match import compile_matcher
from watcher.models import LOCAL, DeliveryReport, Destination, Digest, Match, TopicHit
from watcher.notify.local import LocalNotifier
from watcher.pipeline import deliver
from watcher.query import parse_term
from watcher.render import build_message, render, render_format, subject
from watcher.render.slack import build_messages, highlight_mrkdwn
from watcher.render.tex import tex_to_unicode
from watcher.store import Store

NOW = datetime(2024, 9, 18, 12, tzinfo=UTC)


def mail(d: Digest, max_bytes: int = 100_000) -> tuple[str, str]:
    composed = build_message(
        d, mail_from="w@example.org", to=["t@example.org"], now=NOW, message_id="<1@x>",
        max_bytes=max_bytes,
    )  # fmt: skip
    text = composed.message.get_body(("plain",))
    page = composed.message.get_body(("html",))
    assert text is not None and page is not None
    return str(text.get_content()), str(page.get_content())


def slack_blob(d: Digest, **kwargs: Any) -> str:
    messages = build_messages(d, **kwargs)
    for message in messages:
        for block in message.blocks:
            Block.parse(block).validate_json()  # type: ignore[union-attr]
    return json.dumps([list(m.blocks) for m in messages], ensure_ascii=False)


# --- TeX -------------------------------------------------------------------------------------

TEX_TITLE = r"\texttt{MAXCUT} is $\Delta$-hard in $O(\sqrt{n})$ rounds"
TEX_AUTHORS = (r"Martin Kr\"uger", r"Stefan Sch\"utte", r"Ana Zuzu\'arregui")
TEX_ABSTRACT = r"We show that 50% of \emph{quantized} models lose $10^{-3}$ accuracy."


def tex_digest() -> Digest:
    p = paper(title=TEX_TITLE, authors=TEX_AUTHORS, abstract=TEX_ABSTRACT)
    return factories.digest(p)


def test_tex_is_unicode_in_every_format_but_the_seed_layout() -> None:
    d = tex_digest()
    message = render(d, highlight=True)
    text, page = mail(d)
    bodies = {
        "text": message.text,
        "html": message.html,
        "annotated": message.markdown,
        "mail text": text,
        "mail html": page,
        "slack": slack_blob(d),
    }
    for name, body in bodies.items():
        assert "Krüger" in body and "Schütte" in body and "Zuzuárregui" in body, name
        assert "MAXCUT is Δ-hard in O(√(n)) rounds" in body, name
        assert "10^-3 accuracy" in body and "50% of" in body, name
        assert "\\texttt" not in body and '\\"u' not in body and "$\\Delta$" not in body, name
    seed = render_format(d, "markdown")
    assert TEX_TITLE.replace("<", "\\<") in seed and ",".join(TEX_AUTHORS) in seed
    assert TEX_ABSTRACT in seed


def test_tex_decoding_leaves_plain_text_urls_and_unknown_macros_alone() -> None:
    assert tex_to_unicode("A -- B ~ 50% & Q&A") == "A -- B ~ 50% & Q&A"
    assert tex_to_unicode(r"code: https://x.org/a~b/c%20d, $\alpha$") == (
        "code: https://x.org/a~b/c%20d, \u03b1"
    )
    assert tex_to_unicode(r"we introduce \oursystem{}, 4.4--14.2% while 36$\times$ faster") == (
        "we introduce \\oursystem{}, 4.4\u201314.2% while 36\u00d7 faster"
    )
    assert tex_to_unicode(r"as in \citep{x} and \textbf{RAG}") == "as in […] and RAG"


def test_real_feed_tex_is_decoded(fixtures_dir: Path) -> None:
    from watcher.models import RawFeed
    from watcher.parse import parse_feed

    files = sorted((fixtures_dir / "arxiv-rss" / "holidays-2024-12").glob("*.xml"))[:10]
    authors = {a for f in files for p in parse_feed(RawFeed(str(f), f.read_bytes())).papers
               for a in p.authors}  # fmt: skip
    accented = [a for a in authors if '\\"' in a or "\\'" in a]
    assert accented
    assert all("\\" not in tex_to_unicode(a) for a in accented)


# --- counts ----------------------------------------------------------------------------------


def two_topics(max_papers: int | None = 2) -> tuple[Digest, list[Match]]:
    sub = subscription(
        "s", topic("Pruning", "prun*"), topic("Quantization", "quantiz*"), max_papers=max_papers
    )
    papers = [
        paper(f"2409.0000{i}", title=t, published=datetime(2024, 9, 18, i, tzinfo=UTC))
        for i, t in enumerate(["pruned", "quantized", "pruned", "quantized", "quantized"], 1)
    ]
    matches = [m for p in papers for m in compile_matcher([sub]).match(p)]
    return make_digest(sub, "2024-09-18", matches), matches


def test_one_count_in_subject_header_footer_and_slack() -> None:
    d, _ = two_topics()
    counts = digest_counts(d)
    assert (counts.matched, counts.in_full, counts.capped) == (5, 2, 3)
    assert [(c.topic, c.papers) for c in counts.topics] == [("Pruning", 2), ("Quantization", 3)]
    assert subject(d).endswith("(5 papers)")
    head = "5 papers matched: 2 shown in full, 3 not shown (max_papers)."
    topics = "By topic: Pruning 2, Quantization 3"
    message = render(d, highlight=True)
    for body in (message.text, message.html, message.markdown):
        first = body.index(d.matches[0].paper.abs_url)
        assert body.index(head) < body.index(topics) < first  # at the top
    assert "+3 more papers matched but are not shown (max_papers)." in message.text
    blob = slack_blob(d)
    assert head in blob and topics in blob


def test_the_mail_counts_what_it_lists_by_title() -> None:
    abstract = "Opening line. " + "quantized " * 150
    papers = [paper(f"2409.{i:05d}", abstract=abstract) for i in range(60)]
    text, page = mail(factories.digest(*papers), 40_000)
    header = text.splitlines()[2]
    in_full = int(header.split(": ")[1].split(" shown")[0])
    assert header == f"60 papers matched: {in_full} shown in full, {60 - in_full} listed by title."
    assert 0 < in_full < 60 and header in page
    assert text.count("Opening line.") == in_full


def test_log_status_and_backfill_count_matched_papers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d, _ = two_topics()
    caplog.set_level(logging.INFO, logger="watcher.daemon")
    with Store.open(tmp_path / "a") as store:
        store.enqueue(LOCAL, d)
        store.commit()
        (view,) = store.entry_views()
        assert (view.papers, view.updated) == (5, 0)  # what status says: matched
        local = LocalNotifier(tmp_path / "out", None, lambda: NOW)
        reports = deliver(store, {"local": local}, NOW)
    assert [r.papers for r in reports] == [5]
    log_deliveries(reports)
    assert "delivered: s 2024-09-18 (5 papers) -> local" in caplog.text
    log_deliveries([DeliveryReport("s", "local", "p", 5, "delivered", updated=2)])
    assert "(5 papers, 2 updated)" in caplog.text

    sub = subscription("s", topic("Q", "quantiz*"), max_papers=1, backfill_days=7)
    seen = datetime(2024, 9, 17, 12, tzinfo=UTC)
    fresh = [paper(f"2409.1000{i}", title="quantized", announce_type="new") for i in range(4)]
    with Store.open(tmp_path / "b") as store:
        store.record_papers(fresh, seen)
        store.commit()
        # Four matched; the digest shows one and says "+3 more": the backfill counts four.
        assert run_backfill(store, sub, frozenset({"local"}), NOW) == 4
        (entry,) = store.entries()
        assert digest_counts(entry.digest).matched == 4


def test_outbox_keeps_the_topic_counts(tmp_path: Path) -> None:
    d, _ = two_topics()
    with Store.open(tmp_path) as store:
        store.enqueue(LOCAL, d)
        store.commit()
    with Store.open(tmp_path) as store:
        (entry,) = store.entries()
        assert entry.digest.topics == d.topics and entry.digest.omitted == 3


# --- the mail --------------------------------------------------------------------------------


def column(page: str) -> Tag:
    soup = BeautifulSoup(page, "html.parser")
    div = soup.find("div", style=lambda s: bool(s) and "max-width:760px" in s)
    assert isinstance(div, Tag)
    return div


def test_the_mails_title_list_is_in_the_column_styled_and_by_topic() -> None:
    hits = (TopicHit("Quantization", ("quantiz*",)),)
    papers = [
        paper(f"2409.{i:05d}", title=f'Kr\\"uger paper {i}', abstract="quantized " * 150)
        for i in range(60)
    ]
    text, page = mail(factories.digest(*papers, hits=hits), 40_000)
    inside = column(page)
    links = [a for a in inside.find_all("a") if "Krüger paper 59" in a.get_text()]
    assert links, "the last paper is listed by title inside the 760 px column"
    assert "color:" in str(links[0].get("style"))  # not the client's default blue
    assert "Quantization &middot;" in page or "Quantization ·" in inside.get_text()
    assert "Kr\\" not in page and "Kr\\" not in text
    assert "Quantization (" in text.split("titles and links only")[1]


def test_urls_in_abstracts_are_links_and_only_http() -> None:
    abstract = (
        "Code at https://github.com/o/r. Demo (https://x.org/a?b=1&c=2) and "
        'javascript:alert(1) and https://evil.example/"onmouseover="x'
    )
    page = render_format(factories.digest(paper(abstract=abstract)), "html")
    soup = BeautifulSoup(page, "html.parser")
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert "https://github.com/o/r" in hrefs  # the full stop is not part of it
    assert "https://x.org/a?b=1&c=2" in hrefs  # nor the closing parenthesis
    assert "https://evil.example/" in hrefs
    assert not any("javascript" in h or "onmouseover" in h for h in hrefs)
    assert all(not a.has_attr("onmouseover") for a in soup.find_all("a"))


def test_the_max_papers_line_is_not_read_as_part_of_updated() -> None:
    d = factories.digest(paper(), updated=[paper("2409.00009", 2)], omitted=4)
    text, page = mail(d)
    line = "+4 more papers matched but are not shown (max_papers)."
    assert text.index(line) < text.index("Updated\n")
    assert page.index(line) < page.index(">Updated</h2>")


# --- links, authors, ids ---------------------------------------------------------------------


def test_links_are_https_no_empty_authors_and_no_feed_ids() -> None:
    arxiv = paper(authors=())
    other = paper("feed:9e1d71018cde0000", None, title="A blog post", link="https://b.example/p")
    d = factories.digest(arxiv, other)
    message = render(d, highlight=True)
    text, page = mail(d)
    seed = render_format(d, "markdown")
    for body in (message.text, message.html, message.markdown, text, page, slack_blob(d), seed):
        assert "feed:" not in body
        assert ">Authors: \n" not in body and "Authors:\n" not in body
    for body in (message.text, message.html, message.markdown, text, page, slack_blob(d)):
        assert "https://arxiv.org/abs/2409.00001v1" in body
        assert "http://arxiv.org" not in body


def test_a_term_and_its_hyphen_variant_are_one_term() -> None:
    both = subscription(
        "s", factories.topic("RAG", "retrieval-augmented", '"retrieval augmented"', "rag")
    )
    one = subscription("s", factories.topic("RAG", "retrieval-augmented", "rag"))
    p = paper(title="Retrieval-augmented generation", abstract="retrieval augmented RAG")
    [twice] = compile_matcher([both]).match(p)
    [once] = compile_matcher([one]).match(p)
    assert twice.hits[0].terms == ("retrieval-augmented", "rag")  # one chip
    assert twice.score == once.score
    page = render_format(Digest("s", "p", (twice,)), "html")
    assert page.count("retrieval augmented") == 0 or "RAG: retrieval-augmented, rag" in page


# --- Slack -----------------------------------------------------------------------------------


def test_a_webhook_digest_does_not_promise_a_thread() -> None:
    papers = [paper(f"2409.{i:05d}", abstract="quantized models " * 80) for i in range(60)]
    d = factories.digest(*papers)
    threaded = build_messages(d)
    webhook = build_messages(d, threaded=False)
    assert len(webhook) > 1
    assert "thread" in json.dumps(list(threaded[0].blocks))
    assert "thread" not in json.dumps([list(m.blocks) for m in webhook]) + webhook[0].text
    assert f"papers in the next {len(webhook) - 1} messages" in json.dumps(list(webhook[0].blocks))


def test_slack_topics_come_in_the_rule_files_order() -> None:
    d, _ = two_topics(max_papers=None)
    # The newest paper is a Quantization one; the rule file names Pruning first.
    assert d.matches[0].hits[0].topic == "Quantization"
    blocks = build_messages(d)[0].blocks
    headings = [b["text"]["text"] for b in blocks if b["type"] == "section"
                and b["text"]["text"].startswith("*") and " · " in b["text"]["text"]
                and "<" not in b["text"]["text"]]  # fmt: skip
    assert [h.split("*")[1] for h in headings] == ["Pruning", "Quantization"]


def test_slack_snippet_shows_the_first_matched_term_in_bold() -> None:
    abstract = "Background sentence about nothing much. " * 12 + "We prune the heads."
    terms = (parse_term("prun*"),)
    snippet = highlight_mrkdwn(abstract, terms, 300)
    assert "*prune*" in snippet and snippet.startswith("…") and len(snippet) <= 300
    d = factories.digest(paper(abstract=abstract), hits=(TopicHit("Pruning", ("prun*",)),))
    assert "*prune*" in slack_blob(d)
    short = highlight_mrkdwn("We prune the heads.", terms, 300)
    assert short == "We *prune* the heads."


def test_a_webhook_send_says_no_thread(tmp_path: Path) -> None:
    from tests.slackserver import SlackServer
    from watcher.notify.slack import SlackConfig, SlackNotifier

    papers = [paper(f"2409.{i:05d}", abstract="quantized models " * 80) for i in range(60)]
    with SlackServer() as server:
        url = server.webhook_url("T1/B2/secret")
        notifier = SlackNotifier(
            SlackConfig(webhook_url=url, api_url=server.api_url, timeout=5, min_post_interval=0),
            environ={},
            clock=lambda: NOW,
        )
        notifier.send(Destination("slack", ("#p",)), factories.digest(*papers))
        blob = json.dumps([c.body for c in server.calls])
    assert len(server.calls) > 1 and "thread" not in blob
