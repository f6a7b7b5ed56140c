"""The fetch edge against a real HTTP server on 127.0.0.1; time is faked, so back-off and
spacing cost nothing (only the read-timeout test waits, for 0.3 s of real time)."""

from __future__ import annotations

import gzip
import itertools
import logging
import socket
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import FakeClock
from tests.feedserver import FeedServer, Reply, Request, feed_server  # noqa: F401
from watcher.errors import FeedError
from watcher.fetch import (
    FetchConfig,
    Fetcher,
    FetchResult,
    check_prolog,
    clamp_interval,
    human_size,
    is_arxiv_host,
    is_loopback,
    parse_retry_after,
    redact,
)
from watcher.models import RawFeed

MIB = 1024 * 1024
RSS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<rss version="2.0"><channel><title>cs.LG updates on arXiv.org</title>'
    b"<item><title>Pruning at scale</title><link>https://arxiv.org/abs/2409.12121</link></item>"
    b"</channel></rss>\n"
)
RSS_TYPE = "application/rss+xml; charset=utf-8"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeFetcher = Callable[..., Fetcher]


@pytest.fixture
def make_fetcher(clock: FakeClock) -> Iterator[MakeFetcher]:
    """Build Fetchers on the fake clock from FetchConfig keywords; all closed afterwards."""
    made: list[Fetcher] = []

    def make(**config: Any) -> Fetcher:
        fetcher = Fetcher(FetchConfig(**config), clock=clock, sleep=clock.sleep)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FeedServer]:
    """A FeedServer stamping arrivals with the fake clock."""
    with FeedServer(clock=clock) as srv:
        yield srv
    assert not srv.errors


def fail_where(fetcher: Fetcher, source: str, **kw: Any) -> FeedError:
    with pytest.raises(FeedError) as info:
        fetcher.fetch(source, **kw)
    return info.value


def fail(fetcher: Fetcher, source: str, **kw: Any) -> FeedError:
    error = fail_where(fetcher, source, **kw)
    assert error.where == source
    return error


# --- success --------------------------------------------------------------------------


def test_200_returns_body_content_type_and_status(
    server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    server.route("/rss/cs.LG", Reply.feed(RSS, RSS_TYPE))
    url = server.url("/rss/cs.LG")
    result = make_fetcher().fetch(url)
    assert result == FetchResult(RawFeed(url, RSS, RSS_TYPE, None, 200), False, None)


def test_user_agent_and_accept_sent_as_configured(
    server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    ua = "arxiv-watcher/0.1.0 (+https://github.com/arxiv-watcher; mailto:you@example.org)"
    server.route("/feed", Reply.feed(RSS))
    make_fetcher(user_agent=ua).fetch(server.url("/feed"))
    (request,) = server.requests
    assert request.headers["user-agent"] == ua
    assert "application/rss+xml" in request.headers["accept"]
    assert "if-none-match" not in request.headers


def test_default_user_agent_names_tool_and_contact() -> None:
    ua = FetchConfig().user_agent
    assert ua.startswith("arxiv-watcher/") and "mailto:" in ua


def test_etag_is_returned_sent_back_and_304_means_not_modified(
    server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    tag = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # unquoted, as arXiv

    def conditional(request: Request) -> Reply:
        if request.headers.get("if-none-match") == tag:
            return Reply(304, headers={"ETag": tag})
        return Reply.feed(RSS, headers={"ETag": tag})

    server.route("/feed", conditional)
    fetcher = make_fetcher()
    first = fetcher.fetch(server.url("/feed"))
    assert first.etag == tag and first.raw is not None and first.raw.etag == tag
    second = fetcher.fetch(server.url("/feed"), etag=first.etag)
    assert second == FetchResult(None, True, tag)
    assert server.requests[1].headers["if-none-match"] == tag


def test_200_despite_if_none_match_is_a_normal_result(
    server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    # rss.arxiv.org never answers 304: a 200 to a conditional request is just the feed.
    server.route("/feed", Reply.feed(RSS, headers={"ETag": "new"}))
    result = make_fetcher().fetch(server.url("/feed"), etag="old")
    assert not result.not_modified and result.raw is not None and result.etag == "new"


def test_html_page_with_200_is_returned_for_the_parser_to_judge(
    server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    html = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>hi</body></html>"
    server.route("/login", Reply(200, html, headers={"Content-Type": "text/html"}))
    result = make_fetcher().fetch(server.url("/login"))
    assert result.raw is not None
    assert result.raw.body == html and result.raw.content_type == "text/html"


def test_gzip_body_is_decoded(server: FeedServer, make_fetcher: MakeFetcher) -> None:
    server.route("/feed", Reply.feed(gzip.compress(RSS), headers={"Content-Encoding": "gzip"}))
    result = make_fetcher().fetch(server.url("/feed"))
    assert result.raw is not None and result.raw.body == RSS
    assert "gzip" in server.requests[0].headers["accept-encoding"]


def test_redirect_is_followed_and_source_kept(
    server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    server.route("/rss/cs.LG", Reply.redirect("/moved/cs.LG", 301))
    server.route("/moved/cs.LG", Reply.redirect(server.url("/final/cs.LG"), 302))
    server.route("/final/cs.LG", Reply.feed(RSS))
    url = server.url("/rss/cs.LG")
    result = make_fetcher().fetch(url, etag="abc")
    assert result.raw is not None and result.raw.body == RSS and result.raw.source == url
    assert [r.path for r in server.requests] == ["/rss/cs.LG", "/moved/cs.LG", "/final/cs.LG"]
    assert all(r.headers["if-none-match"] == "abc" for r in server.requests)


def test_redirect_loop_stops_after_five(server: FeedServer, make_fetcher: MakeFetcher) -> None:
    server.route("/loop", Reply.redirect("/loop"))
    error = fail(make_fetcher(), server.url("/loop"))
    assert "more than 5 redirects" in error.message
    assert len(server.requests) == 6


# --- HTTP errors and back-off -------------------------------------------------------------


def test_429_then_200_honours_retry_after(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    server.route("/feed", Reply(429, headers={"Retry-After": "2"}), Reply.feed(RSS))
    result = make_fetcher().fetch(server.url("/feed"))
    assert result.raw is not None and result.raw.body == RSS
    assert clock.sleeps == [2.0]
    assert server.requests[1].time - server.requests[0].time == 2.0


def test_retry_after_as_http_date_is_measured_against_the_server_date(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    served_at = 1_700_000_000.0
    headers = {
        "Date": formatdate(served_at, usegmt=True),
        "Retry-After": formatdate(served_at + 7, usegmt=True),
    }
    server.route("/feed", Reply(503, headers=headers), Reply.feed(RSS))
    make_fetcher().fetch(server.url("/feed"))
    assert clock.sleeps == [7.0]


def test_503_three_times_names_status_attempts_and_retry_after(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    server.route("/feed", Reply(503, b"busy", headers={"Retry-After": "120"}))
    error = fail(make_fetcher(), server.url("/feed"))
    assert error.message == "HTTP 503 after 3 attempts (Retry-After 120s)"
    assert len(server.requests) == 3
    assert clock.sleeps == [120.0, 120.0]


def test_503_without_retry_after_backs_off_exponentially(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    server.route("/feed", Reply(503))
    error = fail(make_fetcher(max_attempts=4, max_backoff=15), server.url("/feed"))
    assert error.message == "HTTP 503 after 4 attempts"
    assert clock.sleeps == [5.0, 10.0, 15.0]  # 20 capped at max_backoff


def test_retry_after_beyond_the_cap_gives_up_at_once_and_for_the_host(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    server.route("/a", Reply(429, headers={"Retry-After": "3600"}))
    server.route("/b", Reply.feed(RSS))
    fetcher = make_fetcher()
    error = fail(fetcher, server.url("/a"))
    assert "Retry-After 3600s" in error.message and "300s" in error.message
    assert len(server.requests) == 1 and clock.sleeps == []
    # The host asked for an hour off: another feed on it fails fast instead of asking.
    later = fail(fetcher, server.url("/b"))
    assert "asked us to wait" in later.message
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 410, 500])
def test_error_status_is_a_feed_error_without_retry(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock, status: int
) -> None:
    server.route("/feed", Reply(status, b"<html>error page</html>"))
    error = fail(make_fetcher(), server.url("/feed"))
    assert error.message.startswith(f"HTTP {status} ")
    assert len(server.requests) == 1 and clock.sleeps == []


def test_502_is_retried(server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock) -> None:
    server.route("/feed", Reply(502), Reply.feed(RSS))
    assert make_fetcher().fetch(server.url("/feed")).raw is not None
    assert clock.sleeps == [5.0]


# --- transport failures -----------------------------------------------------------------


def test_read_timeout(server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock) -> None:
    server.route("/slow", Reply(200, RSS, delay=2.0))
    url = server.url("/slow")
    error = fail(make_fetcher(read_timeout=0.3, max_attempts=2), url)
    assert error.message == f"timed out after 0.3s reading {url} (2 attempts)"
    assert len(server.requests) == 2 and clock.sleeps == [5.0]


def test_connection_refused(make_fetcher: MakeFetcher, clock: FakeClock) -> None:
    with socket.socket() as s:  # a port that was free a moment ago and has no listener now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = fail(make_fetcher(), f"http://127.0.0.1:{port}/feed")
    assert error.message == "connection refused (3 attempts)"
    assert clock.sleeps == [5.0, 10.0]


def test_connection_reset_mid_body(server: FeedServer, make_fetcher: MakeFetcher) -> None:
    server.route("/feed", Reply.feed(RSS * 1000, drop_after=4096, chunk_size=1024))
    error = fail(make_fetcher(max_attempts=1), server.url("/feed"))
    assert error.message.startswith("connection reset")


def test_connection_reset_then_success_is_retried(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    server.route("/feed", Reply.feed(RSS * 100, drop_after=100), Reply.feed(RSS))
    result = make_fetcher().fetch(server.url("/feed"))
    assert result.raw is not None and result.raw.body == RSS
    assert clock.sleeps == [5.0]


# --- size cap -----------------------------------------------------------------------------


def test_declared_body_over_the_cap_is_refused_before_reading(
    server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    big = b"<rss>" + b" " * (8 * MIB)
    server.route("/big", Reply.feed(big))
    error = fail(make_fetcher(max_bytes=64 * 1024), server.url("/big"))
    assert error.message == "body larger than 64 KB cap"
    assert server.wait_idle()
    assert server.requests[0].sent < len(big) // 2


def test_streamed_body_over_the_cap_stops_reading(
    server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    big = b"<rss>" + b" " * (40 * MIB)  # chunked: no size known up front
    server.route("/big", Reply.feed(big, chunked=True))
    error = fail(make_fetcher(max_bytes=1 * MIB), server.url("/big"))
    assert error.message == "body larger than 1 MB cap"
    assert server.wait_idle()
    request = server.requests[0]
    assert request.outcome == "client-gone"
    assert request.sent < len(big) // 2  # socket buffers hold a few MB at most


def test_default_cap_is_20_mb_and_applies_after_gzip(
    server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    assert human_size(FetchConfig().max_bytes) == "20 MB"
    bomb = gzip.compress(b"<rss>" + b" " * (4 * MIB))
    server.route("/bomb", Reply.feed(bomb, headers={"Content-Encoding": "gzip"}))
    error = fail(make_fetcher(max_bytes=1 * MIB), server.url("/bomb"))
    assert error.message == "body larger than 1 MB cap"


# --- DOCTYPE / ENTITY -----------------------------------------------------------------------

LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY lol "lol">\n'
    b' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n'
    b"<rss><channel><title>&lol2;</title></channel></rss>"
)


def test_doctype_document_is_refused(server: FeedServer, make_fetcher: MakeFetcher) -> None:
    server.route("/evil", Reply.feed(LAUGHS))
    error = fail(make_fetcher(), server.url("/evil"))
    assert error.message == "refused: the document declares a DOCTYPE/ENTITY"


@pytest.mark.parametrize(
    "body",
    [
        LAUGHS,
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "x.dtd"><rss/>',
        b'<?xml version="1.0"?><!-- c --><!doctype feed SYSTEM "http://e/x.dtd"><feed/>',
        b'<!ENTITY x "y"><rss/>',
        b"\xef\xbb\xbf  \n<!DOCTYPE rss><rss/>",
        b"<!DOCTYPE html [<!ENTITY x 'y'>]><html/>",
        b"<!DOCTYPE html><!DOCTYPE rss><rss/>",
        '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE rss><rss/>'.encode("utf-16"),
        "<!DOCTYPE rss><rss/>".encode("utf-16-be"),
    ],
)
def test_check_prolog_refuses(body: bytes) -> None:
    with pytest.raises(FeedError, match="DOCTYPE/ENTITY"):
        check_prolog(body)


@pytest.mark.parametrize(
    "body",
    [
        RSS,
        b"",
        b"<!DOCTYPE html><html><body>503 Service Unavailable</body></html>",
        b'<!-- <!DOCTYPE x> in a comment --><?pi <!ENTITY?><feed xmlns="x"/>',
        b"<rss><description>&lt;!DOCTYPE x&gt; <![CDATA[<!DOCTYPE y>]]></description></rss>",
        b"<rss><!DOCTYPE after-the-root-is-not-a-prolog></rss>",
        RSS.decode().encode("utf-16"),
    ],
)
def test_check_prolog_accepts(body: bytes) -> None:
    check_prolog(body)


# --- politeness -------------------------------------------------------------------------------


def test_arxiv_like_host_gets_one_request_every_3_seconds(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    server.route("/rss/cs.LG", Reply.feed(RSS))
    server.route("/rss/cs.CL", Reply.feed(RSS))
    fetcher = make_fetcher(extra_polite_hosts=("127.0.0.1",), min_interval=3.0)
    for path in ("/rss/cs.LG", "/rss/cs.CL", "/rss/cs.LG"):
        fetcher.fetch(server.url(path))
    times = [r.time for r in server.requests]
    assert [b - a for a, b in itertools.pairwise(times)] == [3.0, 3.0]
    assert clock.sleeps == [3.0, 3.0]


def test_spacing_counts_time_already_spent(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    server.route("/feed", Reply.feed(RSS))
    fetcher = make_fetcher(extra_polite_hosts=("127.0.0.1",))
    fetcher.fetch(server.url("/feed"))
    clock.now += 2.5  # the pipeline parsed and matched for 2.5 s
    fetcher.fetch(server.url("/feed"))
    assert clock.sleeps == [0.5]


def test_redirect_hops_and_retries_are_spaced_too(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    server.route("/old", Reply.redirect("/new"))
    server.route("/new", Reply(429, headers={"Retry-After": "1"}), Reply.feed(RSS))
    make_fetcher(extra_polite_hosts=("127.0.0.1",)).fetch(server.url("/old"))
    # A retry starts again from the configured URL; Retry-After 1 < the 3 s spacing.
    assert [r.path for r in server.requests] == ["/old", "/new", "/old", "/new"]
    times = [r.time for r in server.requests]
    assert [b - a for a, b in itertools.pairwise(times)] == [3.0, 3.0, 3.0]


def test_rss_and_api_hosts_share_one_turn(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    # arXiv asks for one request every 3 s across RSS, API and OAI-PMH together: two
    # arXiv-like host names (here both loopback) take turns from the same clock.
    server.route("/rss", Reply.feed(RSS))
    server.route("/api", Reply.feed(RSS))
    fetcher = make_fetcher(extra_polite_hosts=("127.0.0.1", "localhost"))
    fetcher.fetch(server.url("/rss"))
    fetcher.fetch(server.url("/api").replace("127.0.0.1", "localhost"))
    fetcher.fetch(server.url("/rss"))
    times = [r.time for r in server.requests]
    assert [b - a for a, b in itertools.pairwise(times)] == [3.0, 3.0]


def test_loopback_interval_below_3s_is_honoured(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    server.route("/feed", Reply.feed(RSS))
    fetcher = make_fetcher(extra_polite_hosts=("127.0.0.1",), min_interval=0.2)
    for _ in range(3):
        fetcher.fetch(server.url("/feed"))
    assert clock.sleeps == pytest.approx([0.2, 0.2])


def test_other_hosts_are_not_spaced(
    server: FeedServer, make_fetcher: MakeFetcher, clock: FakeClock
) -> None:
    server.route("/feed", Reply.feed(RSS))
    fetcher = make_fetcher()
    for _ in range(3):
        fetcher.fetch(server.url("/feed"))
    assert clock.sleeps == []


def test_clamp_interval(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="watcher.fetch"):
        assert clamp_interval("rss.arxiv.org", 1.0) == 3.0
        assert clamp_interval("feeds.example.org", -1.0) == 3.0
    assert len(caplog.records) == 2 and "3s" in caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="watcher.fetch"):
        assert clamp_interval("export.arxiv.org", 5.0) == 5.0
        assert clamp_interval("127.0.0.1", 0.2) == 0.2
        assert clamp_interval("127.3.4.5", 0.0) == 0.0
        assert clamp_interval("localhost", 1.0) == 1.0
        assert clamp_interval("::1", 1.0) == 1.0
    assert caplog.records == []


def test_host_classification() -> None:
    assert is_arxiv_host("arxiv.org") and is_arxiv_host("rss.arxiv.org")
    assert is_arxiv_host("EXPORT.arXiv.org.")
    assert not is_arxiv_host("notarxiv.org") and not is_arxiv_host("arxiv.org.evil.com")
    assert is_loopback("127.0.0.1") and is_loopback("[::1]") and is_loopback("localhost")
    assert not is_loopback("10.0.0.1") and not is_loopback("example.org")


# --- local files ------------------------------------------------------------------------------


def test_local_path_and_file_url(tmp_path: Path, make_fetcher: MakeFetcher) -> None:
    path = tmp_path / "cs LG.xml"
    path.write_bytes(RSS)
    fetcher = make_fetcher()
    by_path = fetcher.fetch(str(path))
    assert by_path == FetchResult(
        RawFeed(str(path), RSS, "application/xml", None, 200), False, None
    )
    url = path.as_uri()  # file:///.../cs%20LG.xml
    by_url = fetcher.fetch(url)
    assert by_url.raw is not None and by_url.raw.body == RSS and by_url.raw.source == url


def test_missing_local_file_names_the_path(tmp_path: Path, make_fetcher: MakeFetcher) -> None:
    missing = tmp_path / "nope.xml"
    error = fail(make_fetcher(), str(missing))
    assert error.message == f"no such file: {missing}"
    assert str(missing) in str(error)
    error = fail(make_fetcher(), missing.as_uri())
    assert str(missing) in error.message


def test_local_file_gets_the_same_cap_and_refusal(
    tmp_path: Path, make_fetcher: MakeFetcher
) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b"<rss>" + b" " * 5000)
    assert "cap" in fail(make_fetcher(max_bytes=1000), str(big)).message
    evil = tmp_path / "evil.xml"
    evil.write_bytes(LAUGHS)
    assert "DOCTYPE/ENTITY" in fail(make_fetcher(), str(evil)).message
    assert "directory" in fail(make_fetcher(), str(tmp_path)).message


def test_unsupported_scheme(make_fetcher: MakeFetcher) -> None:
    assert "unsupported" in fail(make_fetcher(), "ftp://example.org/feed.xml").message


# --- small pieces -----------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = formatdate(1_700_000_000, usegmt=True)
    assert parse_retry_after(formatdate(1_700_000_090, usegmt=True), date) == 90.0
    assert parse_retry_after(formatdate(1_699_999_000, usegmt=True), date) == 0.0


def test_redact_hides_credentials_only() -> None:
    assert redact("https://user:secret@example.org:8443/feed?x=1") == (
        "https://example.org:8443/feed?x=1"
    )
    assert redact("https://rss.arxiv.org/rss/cs.LG") == "https://rss.arxiv.org/rss/cs.LG"


def test_credentials_in_a_url_stay_out_of_errors_and_logs(
    server: FeedServer, make_fetcher: MakeFetcher, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("/feed", Reply(503))
    url = server.url("/feed").replace("http://", "http://reader:s3cret@")
    with caplog.at_level(logging.DEBUG, logger="watcher.fetch"):
        error = fail_where(make_fetcher(), url)
    assert "s3cret" not in str(error) and error.where == redact(url)
    assert caplog.records and "s3cret" not in caplog.text
    assert redact("https://u:p@[::1") == "https://[::1"


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        FetchConfig(max_attempts=0)
    with pytest.raises(ValueError):
        FetchConfig(max_bytes=0)


def test_context_manager_closes_the_client(server: FeedServer, clock: FakeClock) -> None:
    server.route("/feed", Reply.feed(RSS))
    with Fetcher(clock=clock, sleep=clock.sleep) as fetcher:
        fetcher.fetch(server.url("/feed"))
    with pytest.raises(RuntimeError):
        fetcher.fetch(server.url("/feed"))


# --- the feed server itself -------------------------------------------------------------------


def test_feed_server_scripts_replace_and_record(feed_server: FeedServer) -> None:  # noqa: F811
    feed_server.route("/a", Reply(500), Reply(200, b"one"), Reply(200, b"last"))
    with httpx.Client() as client:
        got = [client.get(feed_server.url("/a")).status_code for _ in range(4)]
        assert got == [500, 200, 200, 200]
        assert client.get(feed_server.url("/a")).content == b"last"  # the last reply repeats
        assert client.get(feed_server.url("/missing")).status_code == 404
        feed_server.set_routes({"/b": Reply(200, b"day 2")})  # replay the next day
        assert client.get(feed_server.url("/a")).status_code == 404
        assert client.get(feed_server.url("/b?x=1")).content == b"day 2"
    assert [r.path for r in feed_server.requests][-3:] == ["/missing", "/a", "/b"]
    assert feed_server.requests[-1].target == "/b?x=1"
    feed_server.clear_requests()
    assert feed_server.requests == []


def test_feed_server_stops_cleanly_with_idle_and_slow_connections() -> None:
    # The httpx client keeps an idle keep-alive connection open while the server stops.
    with FeedServer({"/slow": Reply(200, b"x", delay=30)}) as srv, httpx.Client() as client:
        assert client.get(srv.url("/nothing")).status_code == 404
        with socket.create_connection(("127.0.0.1", srv.port)) as raw:
            raw.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            while len(srv.requests) < 2:
                time.sleep(0.01)
            assert srv.wait_idle(0.1) is False  # the slow request is still pending
            srv.stop()  # must not wait the 30 s, nor hang on the idle connection
    assert srv.requests[-1].outcome == "stopped"


def test_an_unresolvable_host_fails_at_once_without_retries(clock: FakeClock) -> None:
    def no_dns(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known") from socket.gaierror(
            -2, "Name or service not known"
        )

    fetcher = Fetcher(
        FetchConfig(), clock=clock, sleep=clock.sleep, transport=httpx.MockTransport(no_dns)
    )
    with fetcher, pytest.raises(FeedError) as caught:
        fetcher.fetch("https://rss.example.org/rss/cs.LG")
    assert "cannot resolve host rss.example.org" in str(caught.value)
    assert clock.sleeps == []  # no back-off: every other feed would wait for nothing
