"""The Atom destination: the feed file read back by feedparser (bozo == 0), the elements
RFC 4287 requires, stable entry ids across rewrites, the last N papers kept, an update
taking its paper's place, and a damaged file refused rather than emptied."""

from __future__ import annotations

import stat
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from tests.factories import digest, paper
from watcher import app
from watcher.errors import DeliveryError
from watcher.models import Destination
from watcher.notify.atom import AtomNotifier
from watcher.pipeline import deliver
from watcher.render.atom import ATOM, entry_id
from watcher.settings import Settings
from watcher.store import Store

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
FEED = Destination("atom", ("efficient-ml.xml",))
A = f"{{{ATOM}}}"


def write(tmp_path: Path, *digests: object, destination: Destination = FEED) -> Path:
    clock = iter(NOW + timedelta(days=n) for n in range(100))
    notifier = AtomNotifier(tmp_path / "atom", clock=lambda: next(clock))
    for d in digests:
        notifier.send(destination, d)  # type: ignore[arg-type]
    return notifier.path_of(destination)


def test_feedparser_reads_the_feed_without_complaint(tmp_path: Path) -> None:
    hostile = paper(
        "2409.00002",
        title="<script>alert(1)</script> & Quantized <b>nets</b>",
        abstract="We quantize <img src=x onerror=alert(1)> weights & activations.",
        published=datetime(2024, 9, 17, tzinfo=UTC),
    )
    path = write(tmp_path, digest(paper("2409.00001", abstract="Quantized models."), hostile))
    parsed = feedparser.parse(path.read_bytes())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "arXiv watcher: efficient-ml"
    first, second = parsed.entries
    assert first.id == entry_id("2409.00001") and first.link == "https://arxiv.org/abs/2409.00001v1"
    assert [t.term for t in first.tags] == ["Quantization"]
    assert first.updated_parsed[:3] == (2026, 11, 10)
    assert "<strong>Quantized</strong>" in first.content[0].value
    assert second.title == "<script>alert(1)</script> & Quantized <b>nets</b>"  # as text
    content = second.content[0].value  # HTML, where the feed's markup shows as text
    assert "<img" not in content and "&lt;img src=x onerror=alert(1)&gt;" in content
    assert second.published_parsed[:3] == (2024, 9, 17)
    assert second.authors[0].name == "Ann Author"


def test_every_element_rfc_4287_requires_is_there(tmp_path: Path) -> None:
    root = ET.fromstring(
        write(tmp_path, digest(paper("2409.00001"), paper("2409.00002"))).read_bytes()
    )
    assert root.tag == A + "feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(A + name)) == 1, name
    assert root.find(f"{A}author/{A}name") is not None  # entries without authors are covered
    for entry in root.findall(A + "entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(A + name)) == 1, name
        assert entry.find(A + "content") is not None or entry.find(A + "link") is not None
        datetime.strptime(entry.findtext(A + "updated") or "", "%Y-%m-%dT%H:%M:%SZ")


def test_each_digest_goes_in_front_ids_stay_and_the_last_n_are_kept(tmp_path: Path) -> None:
    destination = Destination("atom", ("small.xml",), (("entries", "3"),))
    days = [digest(paper(f"2409.0000{n}"), period=f"2024-09-1{n}") for n in range(1, 5)]
    path = write(tmp_path, *days, destination=destination)
    parsed = feedparser.parse(path.read_bytes())
    assert parsed.bozo == 0
    assert [e.id for e in parsed.entries] == [entry_id(f"2409.0000{n}") for n in (4, 3, 2)]
    # Entries kept from earlier rewrites keep their own updated time.
    assert [e.updated_parsed[2] for e in parsed.entries] == [13, 12, 11]


def test_a_new_version_takes_its_papers_place(tmp_path: Path) -> None:
    first = digest(paper("2409.00001"), paper("2409.00002"))
    update = digest(updated=[paper("2409.00001", 2)], period="2024-09-19")
    parsed = feedparser.parse(write(tmp_path, first, update).read_bytes())
    assert [e.id for e in parsed.entries] == [entry_id("2409.00001"), entry_id("2409.00002")]
    assert parsed.entries[0].title.endswith("(v2)")
    assert parsed.entries[0].link.endswith("2409.00001v2")


def test_the_default_keeps_200_entries(tmp_path: Path) -> None:
    many = [digest(*[paper(f"2409.{d:02d}{n:03d}") for n in range(50)]) for d in range(5)]
    parsed = feedparser.parse(write(tmp_path, *many).read_bytes())
    assert len(parsed.entries) == 200 and parsed.entries[0].id == entry_id("2409.04000")


def test_a_relative_name_is_under_data_atom_an_absolute_path_as_given(tmp_path: Path) -> None:
    assert write(tmp_path, digest(paper("2409.00001"))) == tmp_path / "atom" / "efficient-ml.xml"
    served = tmp_path / "www" / "feeds" / "ml.xml"
    path = write(
        tmp_path, digest(paper("2409.00001")), destination=Destination("atom", (str(served),))
    )
    assert path == served and served.is_file()
    assert stat.S_IMODE(served.stat().st_mode) == 0o644  # a web server can read it


@pytest.mark.parametrize("damage", [b"", b"<feed", b"<rss version='2.0'><channel/></rss>"])
def test_a_damaged_or_foreign_file_is_refused_not_emptied(tmp_path: Path, damage: bytes) -> None:
    path = tmp_path / "atom" / "efficient-ml.xml"
    path.parent.mkdir()
    path.write_bytes(damage)
    with pytest.raises(DeliveryError, match="move it away") as caught:
        write(tmp_path, digest(paper("2409.00001")))
    assert caught.value.permanent and path.read_bytes() == damage


def test_through_the_outbox_the_feed_is_written_and_never_unknown(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    registry = app.build_notifiers(settings, None, lambda: NOW, {})
    with Store.open(tmp_path) as store:
        store.enqueue(FEED, digest(paper("2409.00001")))
        store.commit(now=NOW)
        [entry] = store.pending()
        [report] = deliver(store, registry, NOW)
        assert report.status == "delivered"
        assert report.detail == str(tmp_path / "atom" / "efficient-ml.xml")
    parsed = feedparser.parse((tmp_path / "atom" / "efficient-ml.xml").read_bytes())
    assert [e.id for e in parsed.entries] == [entry_id("2409.00001")]
    # Had the process died mid-write, the entry would be pending, not "unknown": the feed is
    # simply written again (sending it twice gives the same feed).
    with Store.open(tmp_path) as store:
        store.enqueue(FEED, digest(paper("2409.00002"), period="2024-09-19"))
        store.commit(now=NOW)
        [again] = store.pending()
    with Store.open(tmp_path, read_only=True) as reader:
        assert [e.status for e in reader.entries()] == ["pending"]
    assert entry.key != again.key
