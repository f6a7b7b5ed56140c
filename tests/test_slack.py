"""Slack delivery against a local server speaking the Slack Web API (tests/slackserver.py)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from typing import Any

import pytest

from tests.fakes import FakeClock
from tests.slackserver import OK, Call, Reply, SlackServer
from watcher.errors import DeliveryError, DeliveryUnknown
from watcher.models import Destination, Digest, Match, Paper, Term, TopicHit
from watcher.notify.slack import SlackConfig, SlackNotifier
from watcher.render.formats import clip
from watcher.render.slack import (
    build_messages,
    highlight_mrkdwn,
    message_chars,
    paper_text,
    shorten_authors,
    slack_escape,
)
from watcher.rules import parse_term

TOKEN = "xoxb-1234567890-secret-token-value"
WEBHOOK_SECRET = "T0001/B0002/webhooksecretpart123"
NOW = datetime(2024, 9, 16, 7, 0, tzinfo=UTC)
CHANNEL = Destination("slack", ("#efficient-ml",))
TOPICS = ("Quantization", "Pruning", "Attention")


# --- helpers --------------------------------------------------------------------------------


def paper(i: int, **changes: Any) -> Paper:
    fields: dict[str, Any] = {
        "id": f"2409.{10000 + i:05d}",
        "version": 1 + i % 3,
        "title": f"Paper number {i}: efficient low-bit inference for large models",
        "authors": tuple(f"Author{i}-{j} Surname" for j in range(1 + i % 9)),
        "abstract": ("We study quantization of  large\nlanguage models. " * (1 + i % 12)).strip(),
    }
    fields.update(changes)
    return Paper(**fields)


def match(p: Paper, *topics: str) -> Match:
    names = topics or (TOPICS[sum(map(ord, p.id)) % 3],)
    return Match(p, "efficient-ml", tuple(TopicHit(t, ("quantiz*", "low-bit")) for t in names))


def digest(n: int = 0, *matches: Match) -> Digest:
    ms = tuple(matches) or tuple(match(paper(i)) for i in range(n))
    return Digest("efficient-ml", "2024-09-16", ms)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[SlackServer]:
    with SlackServer(token=TOKEN, clock=clock.monotonic) as server:
        yield server


def notifier(
    server: SlackServer,
    clock: FakeClock,
    *,
    token: str | None = TOKEN,
    webhook_url: str | None = None,
    environ: dict[str, str] | None = None,
    **kwargs: Any,
) -> SlackNotifier:
    config = SlackConfig(
        bot_token=token, webhook_url=webhook_url, api_url=server.api_url, timeout=5
    )
    return SlackNotifier(
        config,
        environ=environ or {},
        clock=lambda: NOW,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        **kwargs,
    )


def all_text(calls: list[Call]) -> str:
    return "\n".join(json.dumps(c.body, ensure_ascii=False) for c in calls)


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def assert_within_limits(blocks: list[dict[str, Any]]) -> None:
    assert 0 < len(blocks) <= 50
    assert all(len(t) <= 3000 for t in section_texts(blocks))
    assert message_chars(blocks) <= 12000


# --- pure: slack_blocks ---------------------------------------------------------------------


def test_escape_neutralises_mentions_and_links() -> None:
    assert slack_escape("<!channel> & <https://evil|click>") == (
        "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
    )


def test_small_digest_is_one_readable_message() -> None:
    d = digest(5)
    [msg] = build_messages(d)
    header = msg.blocks[0]
    assert header["type"] == "header"
    assert "efficient-ml" in header["text"]["text"]
    assert "2024-09-16" in header["text"]["text"]
    assert "*5 papers matched: all shown in full.*" in msg.blocks[1]["elements"][0]["text"]
    texts = section_texts(list(msg.blocks))
    for m in d.matches:
        assert sum(f"<{m.paper.abs_url}|" in t for t in texts) == 1
    assert msg.text.startswith("efficient-ml · 2024-09-16: 5 papers")
    assert "http" not in msg.text  # the fallback names titles; links live in the blocks once


def test_papers_grouped_by_first_topic_in_order() -> None:
    a = match(paper(1), "Pruning", "Quantization")
    b = match(paper(2), "Quantization")
    c = match(paper(3), "Pruning")
    [msg] = build_messages(digest(0, a, b, c))
    texts = section_texts(list(msg.blocks))
    topics = [t for t in texts if "http" not in t]
    assert topics == ["*Pruning* · 2 papers", "*Quantization* · 1 paper"]
    order = [m.paper.id for m in (a, c, b)]
    positions = [next(i for i, t in enumerate(texts) if pid in t) for pid in order]
    assert positions == sorted(positions)
    assert "Pruning: `quantiz*`, `low-bit` · Quantization: `quantiz*`" in texts[1]


def test_authors_shortened_and_abstract_trimmed() -> None:
    assert shorten_authors(("A", "B", "C", "D")) == "A, B, C, D"
    assert shorten_authors(tuple("ABCDEFG")) == "A, B, C et al. (+4 more)"
    long = "word " * 200 + "\n\n  tail"
    out = clip(long, 300)
    assert len(out) <= 300 and out.endswith("…") and "  " not in out
    assert out[:-1].endswith("word")
    p = paper(1, authors=tuple(f"Person {j}" for j in range(40)), abstract=long)
    [msg] = build_messages(digest(0, match(p)))
    text = section_texts(list(msg.blocks))[1]
    assert "Person 0, Person 1, Person 2 et al. (+37 more)" in text
    assert "Person 3," not in text
    assert "tail" not in text


@pytest.mark.parametrize(
    ("n", "limits"),
    [
        (300, {}),
        (37, {"max_blocks": 7}),
        (80, {"max_message_chars": 2500, "max_section_chars": 1200}),
        (3, {"max_message_chars": 700}),
    ],
)
def test_split_keeps_every_paper_once_within_limits(n: int, limits: dict[str, int]) -> None:
    d = digest(n)
    msgs = build_messages(d, **limits)
    max_blocks = limits.get("max_blocks", 50)
    max_section = limits.get("max_section_chars", 3000)
    blob = "\n".join(json.dumps(m.blocks) for m in msgs)
    for m in d.matches:
        assert blob.count(f"<{m.paper.abs_url}|") == 1
    for msg in msgs:
        assert len(msg.blocks) <= max_blocks
        assert all(len(t) <= max_section for t in section_texts(list(msg.blocks)))
        assert msg.text
    if len(msgs) > 1:
        summary = msgs[0]
        assert "abs/" not in json.dumps(summary.blocks)  # the summary holds counts only
        for msg in msgs:
            assert msg.chars <= limits.get("max_message_chars", 12000)


def test_hostile_strings_are_text_and_no_javascript_link() -> None:
    hostile = (
        paper(1, title="<!channel> free GPUs"),
        paper(2, title="<https://evil.example|click> & more", authors=("<!here>",)),
        paper(3, abstract="see <!everyone> and <@U123>"),
        paper(4, id="feed:abc", version=None, title="javascript paper", link="javascript:x()"),
        paper(5, id="feed:def", version=None, title="odd", link="https://a.example/x|<y>"),
    )
    msgs = build_messages(digest(0, *(match(p) for p in hostile)))
    blob = "\n".join(json.dumps(m.blocks, ensure_ascii=False) + m.text for m in msgs)
    for bad in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<https://evil"):
        assert bad not in blob
    assert "&lt;!channel&gt; free GPUs" in blob
    assert "&amp; more" in blob
    assert "javascript:" not in blob
    assert "*javascript paper*" in blob
    assert "a.example" not in blob  # a URL that could break out of <url|label> is not linked


def test_empty_digest_still_says_something() -> None:
    [msg] = build_messages(digest(0))
    assert msg.text and msg.blocks[0]["type"] == "header"


# --- pure: highlighting, updates, "+N more" ---------------------------------------------------


def terms(*written: str) -> list[Term]:
    return [parse_term(t) for t in written]


def slack_visible(mrkdwn: str) -> str:
    """What Slack shows: bold markers dropped, the three entities resolved."""
    return mrkdwn.replace("*", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_terms_bold_only_where_slack_parses_bold() -> None:
    text = (
        "Quantization, (pruning) and low-bit; but requantization, &quantized& and "
        "pre-pruning, x_quantized, stay plain: pruning"
    )
    out = highlight_mrkdwn(text, terms("quantiz*", "prun*", "low-bit"), 3000)
    assert out == (
        "*Quantization*, (*pruning*) and *low-bit*; but requantization, &amp;quantized&amp; and "
        "pre-pruning, x_quantized, stay plain: *pruning*"
    )
    assert slack_visible(out) == text


def test_highlight_escapes_each_piece_and_never_opens_a_link() -> None:
    text = "<script>quantized</script> <!channel> quantized <https://evil|quantized> a&b"
    out = highlight_mrkdwn(text, terms("quantiz*", "channel", "a&b", "script"), 3000)
    assert "<" not in out and ">" not in out
    assert slack_visible(out) == text
    assert "*quantized*" in out  # the one between spaces
    assert "&lt;script&gt;quantized&lt;/script&gt;" in out  # inside markup: plain
    assert "*a&amp;b*" in out  # escaped inside the bold run


def test_highlight_fits_the_limit_with_the_markers() -> None:
    text = " ".join(["quantization"] * 100)
    out = highlight_mrkdwn(text, terms("quantiz*"), 300)
    assert len(out) <= 300 and out.endswith("…")
    assert out.count("*") % 2 == 0 and "*quantization*" in out
    assert slack_visible(out).rstrip("…").strip() in text
    tiny = highlight_mrkdwn("&&&& quantization", terms("quantiz*"), 5)
    assert len(tiny) <= 5


def test_paper_section_bolds_the_matched_terms_in_the_abstract() -> None:
    p = paper(1, abstract="We quantize <b>weights</b> & prune; requantize.")
    m = Match(p, "efficient-ml", (TopicHit("Q", ("quantiz*",)), TopicHit("P", ("prun*",))))
    text = paper_text(m)
    assert ">We *quantize* &lt;b&gt;weights&lt;/b&gt; &amp; *prune*; requantize.\n" in text
    assert "_Matched:_ Q: `quantiz*` · P: `prun*`" in text


def updated_match(i: int) -> Match:
    return match(paper(500 + i, title=f"Revised paper {i}", version=2 + i % 3), "Pruning")


def test_updates_listed_last_once_each_in_one_message() -> None:
    d = Digest(
        "efficient-ml", "2024-09-16", digest(4).matches, (updated_match(1), updated_match(2))
    )
    [msg] = build_messages(d)
    texts = section_texts(list(msg.blocks))
    blob = json.dumps(msg.blocks)
    for m in (*d.matches, *d.updated):
        assert blob.count(f"<{m.paper.abs_url}|") == 1
    heading = texts.index("*Updated* · 2 papers")
    assert heading == len(texts) - 3  # after every topic, before the two updates
    assert texts[-1].startswith(f"*<{d.updated[1].paper.abs_url}|Revised paper 2>* · v4")
    assert "We study" not in texts[-1]  # an update is title, version and terms
    assert "_Matched:_ `quantiz*`, `low-bit`" in texts[-1]
    context = msg.blocks[1]["elements"][0]["text"]
    assert context.startswith("*4 papers matched: all shown in full; 2 updated.*")
    assert msg.text.startswith("efficient-ml · 2024-09-16: 4 papers, 2 updated")
    assert "• updated: Revised paper 1" in msg.text


def test_only_updates_is_not_an_empty_digest() -> None:
    d = Digest("efficient-ml", "2024-09-16", (), (updated_match(1),))
    [msg] = build_messages(d)
    blob = json.dumps(msg.blocks)
    assert "No new papers" not in blob and d.updated[0].paper.abs_url in blob
    assert msg.blocks[1]["elements"][0]["text"].startswith("*0 papers matched; 1 updated.* · arXiv")
    assert msg.text.startswith("efficient-ml · 2024-09-16: 1 updated")


@pytest.mark.parametrize(
    ("n", "updates", "limits"),
    [
        (120, 40, {}),
        (30, 25, {"max_blocks": 7}),
        (10, 60, {"max_message_chars": 2500, "max_section_chars": 1200}),
        (0, 90, {}),
    ],
)
def test_split_with_updates_keeps_every_link_once(
    n: int, updates: int, limits: dict[str, int]
) -> None:
    d = Digest(
        "efficient-ml",
        "2024-09-16",
        digest(n).matches,
        tuple(updated_match(i) for i in range(updates)),
    )
    msgs = build_messages(d, **limits)
    assert len(msgs) > 1
    blob = "\n".join(json.dumps(m.blocks) for m in msgs)
    for m in (*d.matches, *d.updated):
        assert blob.count(f"<{m.paper.abs_url}|") == 1, m.paper.id
    # Updates come after every new paper.
    last_new = max((blob.index(m.paper.abs_url) for m in d.matches), default=-1)
    assert all(blob.index(m.paper.abs_url) > last_new for m in d.updated)
    summary = msgs[0]
    assert "abs/" not in json.dumps(summary.blocks)
    assert f"• *Updated*: {updates}" in "\n".join(section_texts(list(summary.blocks)))
    for msg in msgs:
        assert len(msg.blocks) <= limits.get("max_blocks", 50)
        assert msg.chars <= limits.get("max_message_chars", 12000)
    assert f"of {n + updates}" in msgs[-1].text


def test_more_line_ends_a_single_message_and_is_in_the_summary() -> None:
    d = Digest("efficient-ml", "2024-09-16", digest(3).matches, omitted=7)
    [msg] = build_messages(d)
    line = "+7 more papers matched but are not shown (max_papers)."
    assert msg.blocks[-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}
    assert (
        "10 papers matched: 3 shown in full, 7 not shown (max_papers)."
        in (msg.blocks[1]["elements"][0]["text"])
    )
    assert "(7 not shown, max_papers)" in msg.text
    big = Digest("efficient-ml", "2024-09-16", digest(200).matches, omitted=12)
    summary, *replies = build_messages(big)
    assert replies
    assert (
        "212 papers matched: 200 shown in full, 12 not shown (max_papers)"
        in (summary.blocks[1]["elements"][0]["text"])
    )
    assert "(12 not shown, max_papers)" in summary.text


# --- the edge: bot token --------------------------------------------------------------------


def test_300_paper_digest_arrives_complete_in_one_thread(
    slack: SlackServer, clock: FakeClock
) -> None:
    d = digest(300)
    receipt = notifier(slack, clock).send(CHANNEL, d)

    calls = slack.calls
    assert len(calls) > 2 and all(c.method == "chat.postMessage" for c in calls)
    first, replies = calls[0], calls[1:]
    assert first.body["channel"] == "#efficient-ml"
    assert "thread_ts" not in first.body
    assert receipt.reference == "1726000001.000001"
    assert receipt.destination == "slack:#efficient-ml"
    assert receipt.delivered_at == NOW
    for reply in replies:
        assert reply.body["thread_ts"] == receipt.reference
        assert reply.body["channel"] == "C123"
    for call in calls:
        assert call.body["unfurl_links"] is False and call.body["unfurl_media"] is False
        assert call.body["text"]
        assert_within_limits(call.body["blocks"])
    blob = all_text(calls)
    for m in d.matches:
        assert blob.count(f"{m.paper.abs_url}|") == 1, m.paper.id


def test_hostile_titles_ping_nobody_on_the_wire(slack: SlackServer, clock: FakeClock) -> None:
    d = digest(
        0,
        match(paper(1, title="<!channel> urgent")),
        match(paper(2, title="<https://evil|click> & win")),
        match(paper(3, id="feed:x", version=None, title="js", link="javascript:alert(1)")),
    )
    notifier(slack, clock).send(CHANNEL, d)
    blob = all_text(slack.calls)
    assert "<!channel>" not in blob and "<https://evil" not in blob
    assert "&lt;!channel&gt; urgent" in blob and "&amp; win" in blob
    assert "javascript:" not in blob


def test_429_with_retry_after_then_success_delivers_once(
    slack: SlackServer, clock: FakeClock
) -> None:
    slack.script(Reply.rate_limited(retry_after=1))
    receipt = notifier(slack, clock).send(CHANNEL, digest(3))
    assert [c.reply for c in slack.calls] == [Reply.rate_limited(1), OK]
    assert len(slack.posts()) == 1
    assert 1.0 in clock.sleeps  # Retry-After honoured, through the injected sleep
    assert receipt.reference == "1726000001.000001"


def test_rate_limited_past_retries_is_temporary(slack: SlackServer, clock: FakeClock) -> None:
    slack.script(*[Reply.rate_limited(1)] * 3)
    with pytest.raises(DeliveryError) as info:
        notifier(slack, clock).send(CHANNEL, digest(3))
    assert not info.value.permanent
    assert len(slack.calls) == 3  # the first try and two retries


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        ("invalid_auth", "check SLACK_BOT_TOKEN"),
        ("token_revoked", "check SLACK_BOT_TOKEN"),
        ("channel_not_found", "channel #efficient-ml not found: check the name in the rule file"),
        ("not_in_channel", "invite the app to #efficient-ml"),
        ("invalid_blocks", "invalid_blocks"),
    ],
)
def test_slack_errors_are_permanent_with_the_fix(
    slack: SlackServer, clock: FakeClock, code: str, fix: str
) -> None:
    slack.script(Reply.slack_error(code))
    with pytest.raises(DeliveryError) as info:
        notifier(slack, clock).send(CHANNEL, digest(2))
    assert info.value.permanent
    assert not isinstance(info.value, DeliveryUnknown)
    assert fix in str(info.value)
    assert info.value.where == "slack:#efficient-ml"


def test_wrong_token_is_rejected_by_the_server(slack: SlackServer, clock: FakeClock) -> None:
    with pytest.raises(DeliveryError) as info:
        notifier(slack, clock, token="xoxb-wrong-token-abcdef").send(CHANNEL, digest(1))
    assert info.value.permanent and "SLACK_BOT_TOKEN" in str(info.value)
    assert "xoxb-wrong-token-abcdef" not in str(info.value)


def test_server_error_is_temporary(slack: SlackServer, clock: FakeClock) -> None:
    slack.script(Reply.server_error(500))
    with pytest.raises(DeliveryError) as info:
        notifier(slack, clock).send(CHANNEL, digest(2))
    assert not info.value.permanent
    assert not isinstance(info.value, DeliveryUnknown)
    assert "500" in str(info.value)
    assert len(slack.calls) == 1


def test_connection_refused_is_temporary(clock: FakeClock) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = SlackConfig(bot_token=TOKEN, api_url=f"http://127.0.0.1:{port}/api", timeout=5)
    n = SlackNotifier(config, monotonic=clock.monotonic, sleep=clock.sleep)
    with pytest.raises(DeliveryError) as info:
        n.send(CHANNEL, digest(1))
    assert not info.value.permanent and not isinstance(info.value, DeliveryUnknown)
    assert "could not reach Slack" in str(info.value)


def test_dropped_connection_is_unknown_and_not_resent(slack: SlackServer, clock: FakeClock) -> None:
    slack.script(Reply.dropped())
    with pytest.raises(DeliveryUnknown) as info:
        notifier(slack, clock).send(CHANNEL, digest(2))
    assert "may have arrived" in str(info.value)
    assert len(slack.calls) == 1  # slack_sdk's connection retry would have sent it twice


def test_failed_thread_reply_is_an_error_naming_the_sent_summary(
    slack: SlackServer, clock: FakeClock
) -> None:
    slack.script(OK, OK, Reply.server_error(503))
    with pytest.raises(DeliveryError) as info:
        notifier(slack, clock).send(CHANNEL, digest(100))
    assert not info.value.permanent
    assert "message 3 of" in str(info.value)
    assert "ts=1726000001.000001" in str(info.value)


def test_a_thread_cut_short_carries_on_where_it_stopped(
    slack: SlackServer, clock: FakeClock
) -> None:
    d = digest(100)
    slack.script(OK, OK, Reply.server_error(503))
    n = notifier(slack, clock)
    with pytest.raises(DeliveryError) as info:
        n.send(CHANNEL, d)
    assert info.value.resume == "C123|1726000001.000001|2|5"  # summary and a reply of 5 out
    receipt = n.send(CHANNEL, d, resume=info.value.resume)

    posted = slack.posts()
    assert sum("thread_ts" not in c.body for c in posted) == 1  # one summary, not two
    assert all(c.body["thread_ts"] == "1726000001.000001" for c in posted[1:])
    assert receipt.reference == "1726000001.000001"
    blob = all_text(posted)
    for m in d.matches:
        assert blob.count(f"{m.paper.abs_url}|") == 1, m.paper.id  # every paper exactly once


def test_posts_to_one_channel_are_paced_one_per_second(
    slack: SlackServer, clock: FakeClock
) -> None:
    n = notifier(slack, clock)
    n.send(CHANNEL, digest(60))
    n.send(CHANNEL, digest(2))  # the next digest to the same channel waits too
    times = [c.at for c in slack.calls]
    assert len(times) >= 4
    assert all(b - a >= 1.0 for a, b in pairwise(times))
    assert clock.sleeps and all(s <= 1.0 for s in clock.sleeps)
    assert len(clock.sleeps) == len(times) - 1


def test_other_channels_are_not_held_back(slack: SlackServer, clock: FakeClock) -> None:
    n = notifier(slack, clock)
    n.send(CHANNEL, digest(2))
    n.send(Destination("slack", ("#other",)), digest(2))
    assert clock.sleeps == []


# --- the edge: webhooks, configuration -------------------------------------------------------


def test_webhook_from_env_sends_all_messages_in_sequence(
    slack: SlackServer, clock: FakeClock
) -> None:
    url = slack.webhook_url(WEBHOOK_SECRET)
    dest = Destination("slack", ("#papers",), (("webhook_env", "TEAM_WEBHOOK"),))
    n = notifier(slack, clock, environ={"TEAM_WEBHOOK": url})
    d = digest(120)
    receipt = n.send(dest, d)
    assert receipt.reference == "webhook"
    calls = slack.calls
    assert len(calls) == len(build_messages(d)) > 1
    assert all(c.method == "webhook" and c.path.endswith(WEBHOOK_SECRET) for c in calls)
    assert all("thread_ts" not in c.body and c.body["unfurl_links"] is False for c in calls)
    assert "Authorization" not in calls[0].headers  # the bot token is not sent to a webhook
    blob = all_text(calls)
    for m in d.matches:
        assert blob.count(f"{m.paper.abs_url}|") == 1


def test_global_webhook_without_token(slack: SlackServer, clock: FakeClock) -> None:
    url = slack.webhook_url(WEBHOOK_SECRET)
    receipt = notifier(slack, clock, token=None, webhook_url=url).send(CHANNEL, digest(2))
    assert receipt.reference == "webhook" and slack.calls[0].method == "webhook"


def test_webhook_errors(slack: SlackServer, clock: FakeClock) -> None:
    url = slack.webhook_url(WEBHOOK_SECRET)
    dest = Destination("slack", ("#papers",), (("webhook_env", "TEAM_WEBHOOK"),))
    n = notifier(slack, clock, environ={"TEAM_WEBHOOK": url})
    slack.script(Reply(status=404, error="no_service"))
    with pytest.raises(DeliveryError) as info:
        n.send(dest, digest(2))
    assert info.value.permanent and "TEAM_WEBHOOK" in str(info.value)
    assert WEBHOOK_SECRET not in str(info.value)
    slack.script(Reply.server_error(500))
    with pytest.raises(DeliveryError) as info:
        n.send(dest, digest(2))
    assert not info.value.permanent
    slack.script(Reply.dropped())
    with pytest.raises(DeliveryUnknown):
        n.send(dest, digest(2))
    with pytest.raises(DeliveryError) as info:
        notifier(slack, clock).send(
            Destination("slack", ("#p",), (("webhook_env", "MISSING_HOOK"),)), digest(1)
        )
    assert info.value.permanent and "MISSING_HOOK" in str(info.value)


def test_url_in_rule_file_is_refused_without_echoing_it(
    slack: SlackServer, clock: FakeClock
) -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
    with pytest.raises(DeliveryError) as info:
        notifier(slack, clock).send(Destination("slack", (url,)), digest(1))
    assert info.value.permanent and "environment variable" in str(info.value)
    assert "XXXXsecretXXXX" not in f"{info.value} {info.value.where}"
    with pytest.raises(DeliveryError) as info:
        notifier(slack, clock).send(Destination("slack", ("xoxb-pasted-token",)), digest(1))
    assert info.value.permanent and "pasted" not in f"{info.value} {info.value.where}"
    assert slack.calls == []


def test_no_credentials_is_permanent(slack: SlackServer, clock: FakeClock) -> None:
    with pytest.raises(DeliveryError) as info:
        notifier(slack, clock, token=None).send(CHANNEL, digest(1))
    assert info.value.permanent and "SLACK_BOT_TOKEN" in str(info.value)


def test_config_from_env_and_repr_hides_secrets() -> None:
    config = SlackConfig.from_env(
        {"SLACK_BOT_TOKEN": TOKEN, "SLACK_WEBHOOK_URL": "https://h/" + WEBHOOK_SECRET}
    )
    assert config.bot_token == TOKEN and config.api_url is None
    for text in (repr(config), str(config), repr(SlackNotifier(config))):
        assert TOKEN not in text and WEBHOOK_SECRET not in text
    assert "bot_token='set'" in repr(config)
    assert SlackConfig.from_env({"SLACK_API_URL": "http://x/api/"}).api_url == "http://x/api/"


def test_no_secret_in_any_log_record_or_error(
    slack: SlackServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="slack_sdk")
    url = slack.webhook_url(WEBHOOK_SECRET)
    environ = {"TEAM_WEBHOOK": url}
    hook = Destination("slack", ("#papers",), (("webhook_env", "TEAM_WEBHOOK"),))
    errors: list[str] = []
    n = notifier(slack, clock, webhook_url=url, environ=environ)
    n.send(CHANNEL, digest(30))
    n.send(hook, digest(30))
    for reply in (Reply.slack_error("invalid_auth"), Reply.server_error(), Reply.dropped()):
        for dest in (CHANNEL, hook):
            slack.script(reply)
            with pytest.raises(DeliveryError) as info:
                n.send(dest, digest(2))
            errors.append(f"{info.value!s} {info.value!r} {info.value.where}")
    records = [f"{r.name} {r.getMessage()}" for r in caplog.records]
    assert any("Sending a request" in r for r in records)  # slack_sdk's debug log was captured
    for secret in (TOKEN, url, WEBHOOK_SECRET):
        assert not [r for r in records if secret in r], secret
        assert not [e for e in errors if secret in e], secret
    assert "xoxb-" not in caplog.text


def test_injected_builder_limits_are_used(slack: SlackServer, clock: FakeClock) -> None:
    n = notifier(slack, clock, build=partial(build_messages, max_blocks=6))
    n.send(CHANNEL, digest(12))
    assert len(slack.calls) > 2
    assert all(len(c.body["blocks"]) <= 6 for c in slack.calls)


def test_a_digest_with_updates_arrives_complete(slack: SlackServer, clock: FakeClock) -> None:
    d = Digest(
        "efficient-ml",
        "2024-09-16",
        digest(150).matches,
        tuple(updated_match(i) for i in range(30)),
    )
    receipt = notifier(slack, clock).send(CHANNEL, d)
    assert len(slack.calls) > 2
    assert all(c.body.get("thread_ts") == receipt.reference for c in slack.calls[1:])
    blob = all_text(slack.calls)
    for m in (*d.matches, *d.updated):
        assert blob.count(f"{m.paper.abs_url}|") == 1, m.paper.id
