"""The confirmation page of an email feedback link in a real browser: headless Chromium
(Debian's ``chromium``) shows it without JavaScript at a phone's width, and its one button
records the vote. Skipped where /usr/bin/chromium is not installed."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.factories import paper, subscription, topic
from watcher.daemon.votes import FeedbackDesk
from watcher.daemon.web import FeedbackApp, WebServer
from watcher.models import Destination
from watcher.render.links import LinkVote, sign
from watcher.store import Store, read_feedback
from watcher.store.secret import signing_key

CHROMIUM = Path("/usr/bin/chromium")
NOW = datetime(2024, 9, 18, 12, tzinfo=UTC)
SUB = subscription("efficient-ml", topic(), deliver=(Destination("email", ("team@example.org",)),))

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         "--no-proxy-server",
         f"--user-data-dir={tmp_path / 'profile'}",
         *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_confirmation_page_reads_on_a_phone_without_javascript(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store.open(data) as store:
        store.record_papers([paper("2409.00001")], NOW, matched_by={"2409.00001": ["efficient-ml"]})
        store.commit(NOW)
    key = signing_key(data)
    desk = FeedbackDesk(data, lambda: (SUB,), lambda: NOW)
    server = WebServer(FeedbackApp(key, desk, lambda: NOW), "127.0.0.1", 0).start()
    try:
        host, port = server.address
        token = sign(key, LinkVote("efficient-ml", "2409.00001", "like", "team@example.org",
                                   NOW + timedelta(days=1)))  # fmt: skip
        url = f"http://{host}:{port}/feedback/{token}"
        shown = chromium(tmp_path, "--window-size=390,844", "--dump-dom", url)
        shot = Path("/tmp/confirm.png")
        chromium(tmp_path, "--window-size=390,844", f"--screenshot={shot}", url)
    finally:
        server.close()
    assert "More like this?" in shown.stdout
    assert '<button type="submit"' in shown.stdout
    assert read_feedback(data).votes == ()  # the browser opened it: nothing recorded
    assert shot.exists() and shot.stat().st_size > 1000
