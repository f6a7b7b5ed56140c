"""Scale benchmark: arXiv's holiday fortnight through `watcher once`, one process per day,
for 100, 1,000 and 10,000 generated rule files.

Run from the project root:
    python bench/scale.py [--n 100,1000,10000] [--days K] [--timeout-per-cycle S]
                          [--clock day|real] [--code DIR | --ref REV] [--keep]

How a day is replayed. As in tests/test_replay.py, a local HTTP server on 127.0.0.1 plays
rss.arxiv.org (``WATCHER_ARXIV_RSS_URL``) with the recorded feeds of ../shared/fixtures, one
capture day at a time, and the arXiv API (``WATCHER_ARXIV_API_URL``, answering "no papers"
to the gap fills the stale days trigger); ``WATCHER_ARXIV_MIN_INTERVAL=0``. Each day is one
fresh process running the real CLI command, ``once --rules R --data D``: the real fetch edge
(HTTP), parser, Store on disk in a temp data dir, matcher, and local delivery (digest files
under D/digests; the terminal echo goes to /dev/null). The announcement date comes from the
served feeds, as in the replay test. The code reads no setting for the clock (no env var,
no flag), and the replay test runs on the real clock. With the real clock, every replayed
day is "first seen" today, so the text archive is a single ever-growing day file: fine for
what the replay test checks, but not what 19 days of use write to disk. So by default
(``--clock day``) each day's process is ``python -c`` with a three-line driver that sets
``watcher.cli.now`` (the CLI's one clock, which it hands to the pipeline and the notifiers)
to 06:00 New York time on the day's announcement date, then calls ``watcher.cli.main(["once",
...])``. ``--clock real`` runs plain ``python -m watcher once`` as the replay test does.
The code run is ``--code DIR``'s watcher/ (default: this checkout, via PYTHONPATH), or
``--ref REV``'s as committed (git archive), for when the working tree is mid-edit.

Measured per day: the command's own time ("cycle s", timed by the driver around
``cli.main``) and the whole process's ("proc s": the interpreter's start and the imports
too, what a user's cron job costs); its peak RSS (the driver's own VmHWM: ``ru_maxrss`` from
wait4 would keep the forked copy of this benchmark from before exec); bytes written (sum of
the sizes of files created or changed in the data dir; also the kernel's ``write_bytes``
from /proc/PID/io, read before the child is reaped); the store's size (the data dir without
``digests/``) and the local digests' size apart: the digests are the local destination's
output, what a user asked for, not state. Also ``watcher rules check`` over each N's rule
files, through the same driver. The targets are judged on "cycle s".

Rule files (the README's format) are generated from a fixed seed. Terms are picked by
document frequency in the fixtures' titles and abstracts, so that each subscription matches
a planned share of the papers in its feeds: log-uniform between 0.5 % and 3 %, and every
twentieth about 10 %. Words, prefixes (``stem*``) and two-word phrases; some topics have a
``none`` term, a few an ``all`` term. Printed: that plan as measured with our own tokenizer
on the whole fixture sample, and the real matcher's share on the first announcement day
(from the cycle's delivery lines).

Targets (printed as met/MISSED): N=1,000: every cycle <= 3 s, a quiet day <= 0.5 s, last /
first announcement day <= 1.2x, data dir growth <= 5 MB per announcement day, peak RSS <= 300
MB. N=10,000: every cycle <= 30 s, peak RSS <= 1.5 GB, rules check <= 10 s.
Needs ../shared/fixtures; skips (exit 0) without it.
"""

from __future__ import annotations

import argparse
import bisect
import email.utils
import io
import itertools
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
HOLIDAYS = FIXTURES / "arxiv-rss" / "holidays-2024-12"
CATEGORIES = {"cs-ai": "cs.AI", "cs-cl": "cs.CL", "cs-cv": "cs.CV", "cs-lg": "cs.LG"}
FILE = re.compile(r"^(?P<day>\d{4}-\d{2}-\d{2})-(?P<cat>cs-[a-z]{2})\.xml$")
NEW_YORK = ZoneInfo("America/New_York")
SEED = 20241220
MB = 1024 * 1024
# The matcher's words: NFKC + casefold, then runs of letters and digits (watcher/match.py).
WORD = re.compile(r"[^\W_]+")
ANNOUNCEABLE = {"new", "cross"}
WIDE = 0.05  # plans above this share are the one-in-twenty wide subscriptions
# The endings a stem term leaves out: pruning -> prun*, quantization -> quantiz*.
SUFFIX = re.compile(r"(?:ations?|ings?|ed|es|s|ers?|ity|ities|al|ally|ive|ion|ions)$")
# The CLI with its clock set to the replayed day (--clock day). argv: moment, then the command.
DRIVER = (
    "import sys; from datetime import datetime; import watcher.cli as cli; "
    "moment = None if sys.argv[1] == '-' else datetime.fromisoformat(sys.argv[1]); "
    "cli.now = (lambda: moment) if moment else cli.now; "
    "import time; t = time.perf_counter(); code = cli.main(sys.argv[2:]); "
    "print(f'BENCH-CYCLE-SECONDS {time.perf_counter() - t:.4f}', file=sys.stderr); "
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
    "print(f'BENCH-VMHWM-KB {hwm}', file=sys.stderr); "
    "sys.exit(code)"
)
# What the driver reports of itself: the command's own time (after the interpreter started
# and imported watcher.cli), and the peak RSS of this program (VmHWM of its own memory map:
# ru_maxrss from wait4 would keep the forked copy of this benchmark from before exec).
CYCLE_LINE = re.compile(r"^BENCH-CYCLE-SECONDS ([0-9.]+)$", re.M)
HWM_LINE = re.compile(r"^BENCH-VMHWM-KB (\d+)$", re.M)


def _reported_hwm(stderr: str) -> int | None:
    found = HWM_LINE.search(stderr)
    return int(found[1]) * 1024 if found else None


def reported_seconds(stderr: str) -> float | None:
    found = CYCLE_LINE.search(stderr)
    return float(found[1]) if found else None


EMPTY_API = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n"
    b'<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
    b'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">'
    b"<id>https://arxiv.org/api/bench</id><title>arXiv Query: bench</title>"
    b"<updated>2025-01-07T00:00:00Z</updated>"
    b"<opensearch:totalResults>0</opensearch:totalResults>"
    b"<opensearch:startIndex>0</opensearch:startIndex>"
    b"<opensearch:itemsPerPage>0</opensearch:itemsPerPage></feed>\n"
)
# Words no one would write as a topic's term, however their frequency suits a target.
_STOPWORDS = """a about above across after again against all also although among an and another any
    are as at be because been before being below between both but by can could did do does
    doing during each either et etc even ever every few for from further had has have having
    he her here hers how however i if in into is it its itself just less many may me might
    more most much must my neither no nor not now of off often on once one only or other our
    out over own per rather same several she should since so some such than that the their
    them then there these they this those though through thus to too two under until up upon
    us very via was we well were what when where whether which while who whom whose why will
    with within without would yet you your paper propose proposed approach method methods
    results show shows shown based using use used new novel existing work study first three
    different various also further moreover furthermore recent recently significantly
    significant achieve achieves demonstrate demonstrates extensive experiments including"""
STOPWORDS = frozenset(_STOPWORDS.split())


# --- the fixtures ----------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    abstract: str
    announce_type: str


@dataclass
class Day:
    name: str  # capture day, the fixture files' prefix
    bodies: dict[str, bytes]  # category -> the recorded feed
    items: dict[str, list[Item]]
    announced: date  # the listing's date (the channel's pubDate)
    status: dict[str, str] = field(default_factory=dict)  # category -> new / empty / stale

    @property
    def kind(self) -> str:
        """new: some feed has a new listing; quiet: all empty (weekend, holiday); stale."""
        values = set(self.status.values())
        return "new" if "new" in values else "quiet" if values == {"empty"} else "stale"

    def moment(self) -> datetime:
        return datetime.combine(self.announced, clock_time(6), tzinfo=NEW_YORK)


def parse_feed(body: bytes) -> tuple[date | None, list[Item]]:
    channel = ET.fromstring(body).find("channel")
    assert channel is not None
    pub = channel.findtext("pubDate")
    announced = email.utils.parsedate_to_datetime(pub).date() if pub else None
    items = []
    for node in channel.findall("item"):
        guid = (node.findtext("guid") or "").rsplit(":", 1)[-1]
        text = node.findtext("description") or ""
        items.append(
            Item(
                id=re.sub(r"v\d+$", "", guid),
                title=" ".join((node.findtext("title") or "").split()),
                abstract=text.split("Abstract:", 1)[-1].strip(),
                announce_type=node.findtext("{http://arxiv.org/schemas/atom}announce_type")
                or "new",
            )
        )
    return announced, items


def load_days() -> list[Day]:
    names = sorted({m["day"] for p in HOLIDAYS.iterdir() if (m := FILE.match(p.name))})
    days: list[Day] = []
    for name in names:
        bodies, items, dates = {}, {}, []
        for slug, cat in CATEGORIES.items():
            bodies[cat] = (HOLIDAYS / f"{name}-{slug}.xml").read_bytes()
            announced, items[cat] = parse_feed(bodies[cat])
            if announced:
                dates.append(announced)
        day = Day(name, bodies, items, max(dates))
        for cat, listed in items.items():
            before = [i.id for i in days[-1].items[cat]] if days else []
            ids = [i.id for i in listed]
            day.status[cat] = "empty" if not ids else "stale" if ids == before else "new"
        days.append(day)
    return days


# --- rule generation -------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    return WORD.findall(text.casefold())


class Corpus:
    """Every paper of the fixtures, with an inverted index of words and two-word phrases."""

    def __init__(self, days: list[Day]) -> None:
        self.doc: dict[str, int] = {}
        self.universe: dict[str, set[int]] = {cat: set() for cat in CATEGORIES.values()}
        self.words: dict[str, set[int]] = {}
        self.phrases: dict[str, set[int]] = {}
        self.title_words: dict[str, set[int]] = {}  # words and phrases
        for day in days:
            for cat, items in day.items.items():
                for item in items:
                    if item.id not in self.doc:
                        number = self.doc[item.id] = len(self.doc)
                        self._index(number, item)
                    self.universe[cat].add(self.doc[item.id])
        self.size = len(self.doc)
        self.vocabulary = sorted(self.words)
        cap = 0.15 * self.size  # the widest plan is 12 %: wider single terms never fit
        # Topic words show up in titles too ("pruning", "hessian"); words of the prose around
        # them ("removed", "regime") hardly ever do: a term must be in 1 title in 8 of its papers.
        useful = [
            (len(docs), w)
            for w, docs in self.words.items()
            if len(w) >= 4
            and w.isalpha()
            and w not in STOPWORDS
            and len(docs) <= cap
            and 8 * len(self.title_words.get(w, ())) >= len(docs)
        ]
        self.by_df = sorted(useful)
        self.by_df_keys = [df for df, _ in self.by_df]
        pairs = [
            (len(docs), p)
            for p, docs in self.phrases.items()
            if 2 <= len(docs) <= cap
            and not any(w in STOPWORDS for w in p.split())
            and 8 * len(self.title_words.get(p, ())) >= len(docs)
        ]
        self.phrase_by_df = sorted(pairs)
        self.phrase_keys = [df for df, _ in self.phrase_by_df]

    def _index(self, number: int, item: Item) -> None:
        for text, titles in ((item.title, True), (item.abstract, False)):
            words = tokens(text)
            for word in words:
                self.words.setdefault(word, set()).add(number)
                if titles:
                    self.title_words.setdefault(word, set()).add(number)
            for first, second in itertools.pairwise(words):
                if len(first) >= 3 and len(second) >= 3 and first.isalpha() and second.isalpha():
                    phrase = f"{first} {second}"
                    self.phrases.setdefault(phrase, set()).add(number)
                    if titles:
                        self.title_words.setdefault(phrase, set()).add(number)

    def prefix_docs(self, stem: str) -> set[int]:
        start = bisect.bisect_left(self.vocabulary, stem)
        found: set[int] = set()
        for word in self.vocabulary[start:]:
            if not word.startswith(stem):
                break
            found |= self.words[word]
        return found


def _near(rng: random.Random, keys: list[int], items: list[tuple[int, str]], df: float) -> str:
    """A random entry whose document frequency is within a factor 1.6 of ``df``."""
    lo = bisect.bisect_left(keys, max(1.0, df / 1.6))
    hi = bisect.bisect_right(keys, max(1.0, df * 1.6))
    if hi <= lo:
        lo, hi = max(0, lo - 20), min(len(items), lo + 20)
    return items[rng.randrange(lo, hi)][1]


@dataclass
class TopicPlan:
    name: str
    any: list[str] = field(default_factory=list)
    all: list[str] = field(default_factory=list)
    none: list[str] = field(default_factory=list)
    any_docs: set[int] = field(default_factory=set)
    all_docs: set[int] | None = None
    none_docs: set[int] = field(default_factory=set)

    def docs(self) -> set[int]:
        found = self.any_docs if self.all_docs is None else self.any_docs & self.all_docs
        return found - self.none_docs


@dataclass
class SubPlan:
    name: str
    feeds: list[str]
    target: float
    topics: list[TopicPlan]
    planned: float = 0.0  # the share of the corpus (in its feeds) it matches, own tokenizer

    def yaml(self) -> str:
        def terms(values: list[str]) -> str:
            return "[" + ", ".join(json.dumps(v) for v in values) + "]"

        lines = [
            f"name: {self.name}",
            f"description: generated by bench/scale.py, planned for {self.target:.1%} of the "
            "papers in its feeds",
            f"feeds: [{', '.join(self.feeds)}]",
            "topics:",
        ]
        for topic in self.topics:
            lines.append(f"  - name: {json.dumps(topic.name)}")
            for key in ("any", "all", "none"):
                if values := getattr(topic, key):
                    lines.append(f"    {key}: {terms(values)}")
        lines += ["deliver:", "  - local: true", "schedule: daily", "timezone: America/New_York"]
        return "\n".join(lines) + "\n"


def plan_subscription(rng: random.Random, corpus: Corpus, number: int) -> SubPlan:
    wide = number % 20 == 19  # one in twenty
    # Log-uniform 0.5-3 %; the wide ones about 10 %.
    target = rng.uniform(0.08, 0.12) if wide else 0.005 * (0.03 / 0.005) ** rng.random()
    cats = sorted(CATEGORIES.values())
    feeds = cats if rng.random() < 0.4 else sorted(rng.sample(cats, rng.randint(1, 3)))
    universe = set().union(*(corpus.universe[c] for c in feeds))
    scale = corpus.size / len(universe)  # corpus-wide document frequency per universe doc
    topics = [TopicPlan(f"Topic {t + 1}") for t in range(rng.choice((1, 1, 2, 2, 3, 4)))]
    for topic in topics:
        roll = rng.random()
        if roll < 0.2:  # "... and none of these": a moderately common word
            word = _near(rng, corpus.by_df_keys, corpus.by_df, 0.03 * corpus.size)
            topic.none.append(word)
            topic.none_docs = set(corpus.words[word])
        elif roll < 0.28 and not wide:  # "... in papers that say X": a common `all` word
            word = _near(rng, corpus.by_df_keys, corpus.by_df, 0.12 * corpus.size)
            topic.all.append(word)
            topic.all_docs = set(corpus.words[word])
    want = target * len(universe)
    covered: set[int] = set()
    for step in range(80):
        remaining = want - len(covered)
        if remaining <= 0.03 * want:
            break
        topic = topics[step % len(topics)]
        widen = 1.0 if topic.all_docs is None else 4.0  # an `all` term keeps about a quarter
        term, docs = _pick_term(rng, corpus, remaining * rng.uniform(0.1, 0.6) * scale * widen)
        if term in topic.any or term in topic.none or term in topic.all:
            continue
        gain = len(((topic.docs() | (docs - topic.none_docs)) & universe) - covered)
        if gain > 1.3 * remaining + 1:
            continue
        topic.any.append(term)
        topic.any_docs = topic.any_docs | docs
        covered = set().union(*(t.docs() for t in topics)) & universe
    kept = [t for t in topics if t.any]
    if not kept:  # nothing fitted: one rare word
        word = corpus.by_df[0][1]
        kept = [TopicPlan("Topic 1", any=[word], any_docs=set(corpus.words[word]))]
    names: set[str] = set()
    for topic in kept:  # named for their first term; names are unique within a file
        topic.name = topic.any[0].title()
        while topic.name.casefold() in names:
            topic.name += " too"
        names.add(topic.name.casefold())
    plan = SubPlan(f"sub-{number:05d}", feeds, target, kept)
    plan.planned = len(set().union(*(t.docs() for t in kept)) & universe) / len(universe)
    return plan


def _pick_term(rng: random.Random, corpus: Corpus, df: float) -> tuple[str, set[int]]:
    roll = rng.random()
    if roll < 0.15 and corpus.phrase_by_df:
        phrase = _near(rng, corpus.phrase_keys, corpus.phrase_by_df, df)
        return (phrase.replace(" ", "-") if rng.random() < 0.3 else phrase), corpus.phrases[phrase]
    word = _near(rng, corpus.by_df_keys, corpus.by_df, df)
    stem = SUFFIX.sub("", word)
    if roll < 0.5 and stem != word and len(stem) >= 4:  # as people write them: prun*, quantiz*
        return f"{stem}*", corpus.prefix_docs(stem)
    return word, corpus.words[word]


def write_rules(directory: Path, plans: list[SubPlan]) -> None:
    directory.mkdir(parents=True)
    for plan in plans:
        (directory / f"{plan.name}.yaml").write_text(plan.yaml(), encoding="utf-8")


# --- the local arXiv -------------------------------------------------------------------


class FeedServer:
    """Plays rss.arxiv.org (one day's recorded feeds) and an arXiv API that finds nothing."""

    def __init__(self) -> None:
        self.feeds: dict[str, bytes] = {}
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                path = self.path.split("?", 1)[0]
                if path.startswith("/rss/") and path[5:] in server.feeds:
                    self._reply(server.feeds[path[5:]], "application/rss+xml")
                elif path == "/api/query":
                    self._reply(EMPTY_API, "application/atom+xml")
                else:
                    self.send_error(404)

            def _reply(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- one process -----------------------------------------------------------------------


@dataclass
class Child:
    rc: int
    seconds: float
    max_rss: int  # bytes: the child's own VmHWM (ru_maxrss would count the forked parent)
    write_bytes: int | None
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def work(self) -> float:
        """The command's own time, as the driver measured it (wall time if it could not):
        the process less the interpreter's start and the imports."""
        reported = reported_seconds(self.stderr)
        return self.seconds if reported is None else reported


def run_child(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> Child:
    """Run ``cmd``; its wall time, peak RSS (wait4) and /proc/PID/io (read before reaping)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        fired = threading.Event()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)

        def kill() -> None:
            fired.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        write_bytes = None
        try:
            io = Path(f"/proc/{proc.pid}/io").read_text()
            write_bytes = int(re.search(r"^write_bytes: (\d+)", io, re.M)[1])  # type: ignore[index]
        except (OSError, TypeError):
            pass
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        err_text = err.read().decode("utf-8", "replace")
        return Child(
            rc=proc.returncode,
            seconds=seconds,
            max_rss=_reported_hwm(err_text) or usage.ru_maxrss * 1024,
            write_bytes=write_bytes,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err_text,
            timed_out=fired.is_set(),
        )


Snapshot = dict[str, tuple[int, int, int]]


def snapshot(directory: Path) -> Snapshot:
    files: Snapshot = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with_stat = os.stat(path)
            files[path] = (with_stat.st_size, with_stat.st_mtime_ns, with_stat.st_ino)
    return files


# --- one N -----------------------------------------------------------------------------


@dataclass
class DayResult:
    day: Day
    new_papers: int
    child: Child
    written: int
    state_json: int
    data_dir: int  # the store: everything under the data directory but digests/
    digests: int
    digest_bytes: int  # digests/: the local destination's output, not state


@dataclass
class RunResult:
    n: int
    days: list[DayResult] = field(default_factory=list)
    exceeded: str | None = None
    check: Child | None = None
    shares: list[float] = field(default_factory=list)
    narrow: list[float] = field(default_factory=list)  # planned for 0.5-3 %
    wide: list[float] = field(default_factory=list)  # planned for about 10 %
    share_day: str = ""

    def of_kind(self, kind: str) -> list[DayResult]:
        return [d for d in self.days if d.day.kind == kind]


DELIVERED = re.compile(r"^delivered: (\S+) \S+ \((\d+) papers?\)", re.M)


def replay(
    n: int,
    days: list[Day],
    plans: list[SubPlan],
    work: Path,
    env: dict[str, str],
    args: argparse.Namespace,
) -> RunResult:
    result = RunResult(n)
    rules, data, cwd = work / "rules", work / "data", work / "cwd"
    write_rules(rules, plans)
    data.mkdir()
    cwd.mkdir()
    print(f"  {n:,} rule files written ({sum(1 for _ in rules.iterdir()):,} in {rules})")
    python = sys.executable
    result.check = run_child(
        [python, "-c", DRIVER, "-", "rules", "check", str(rules)], env, cwd, args.timeout_per_cycle
    )
    check = result.check
    first_line = (check.stdout.strip().splitlines() or ["(nothing printed)"])[0][:150]
    print(
        f"  rules check: {check.work:.2f} s ({check.seconds:.2f} s with the interpreter's "
        f"start), exit {check.rc}, peak RSS "
        f"{check.max_rss / MB:.0f} MB{'' if check.rc == 0 else ': ' + first_line}"
        f"{' (timed out)' if check.timed_out else ''}"
    )
    seen: set[str] = set()
    server = FeedServer()
    env = {
        **env,
        "WATCHER_ARXIV_RSS_URL": server.url("/rss/"),
        "WATCHER_ARXIV_API_URL": server.url("/api/query"),
        "WATCHER_ARXIV_MIN_INTERVAL": "0",
    }
    command = ["once", "--rules", str(rules), "--data", str(data)]
    try:
        for day in days:
            server.feeds = day.bodies
            if args.clock == "day":
                cmd = [python, "-c", DRIVER, day.moment().isoformat(), *command]
            else:
                cmd = [python, "-m", "watcher", *command]
            before = snapshot(data)
            child = run_child(cmd, env, cwd, args.timeout_per_cycle)
            after = snapshot(data)
            fresh = {
                i.id
                for items in day.items.values()
                for i in items
                if i.announce_type in ANNOUNCEABLE
            } - seen
            seen |= {i.id for items in day.items.values() for i in items}
            digests = [p for p in after if p not in before and "/digests/" in p]
            result.days.append(
                DayResult(
                    day=day,
                    new_papers=len(fresh),
                    child=child,
                    written=sum(sig[0] for p, sig in after.items() if before.get(p) != sig),
                    state_json=after.get(str(data / "state.json"), (0, 0, 0))[0],
                    data_dir=sum(sig[0] for p, sig in after.items() if "/digests/" not in p),
                    digests=len(digests),
                    digest_bytes=sum(sig[0] for p, sig in after.items() if "/digests/" in p),
                )
            )
            if child.timed_out:
                result.exceeded = (
                    f"exceeded: the cycle of {day.name} was stopped after "
                    f"{args.timeout_per_cycle:g} s; the rest of N={n:,} not run"
                )
                break
            if child.rc != 0 and sum(d.child.rc != 0 for d in result.days) == 1:
                lines = child.stderr.strip().splitlines()
                why = [ln for ln in lines if re.search(r"error|FAILED|failed|Traceback", ln)]
                tail = " | ".join(why[:3] or lines[-4:])
                print(f"  note: {day.name} exited {child.rc}: {tail[:400]}")
            if not result.shares and day.kind == "new" and child.rc == 0:
                shares = _shares(day, plans, child.stderr)
                result.shares = list(shares.values())
                result.wide = [shares[p.name] for p in plans if p.target > WIDE]
                result.narrow = [shares[p.name] for p in plans if p.target <= WIDE]
                result.share_day = day.name
    finally:
        server.close()
    return result


def _shares(day: Day, plans: list[SubPlan], stderr: str) -> dict[str, float]:
    """Per subscription: papers delivered / announceable papers in its feeds that day."""
    papers = {name: int(count) for name, count in DELIVERED.findall(stderr)}
    per_cat = {
        cat: {i.id for i in items if i.announce_type in ANNOUNCEABLE}
        for cat, items in day.items.items()
    }
    shares = {}
    for plan in plans:
        universe = set().union(*(per_cat[c] for c in plan.feeds))
        shares[plan.name] = papers.get(plan.name, 0) / len(universe) if universe else 0.0
    return shares


# --- report ----------------------------------------------------------------------------


def mb(size: float) -> str:
    return f"{size / MB:.2f}"


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    p95 = statistics.quantiles(values, n=20, method="inclusive")[18]
    wide = sum(v >= 0.07 for v in values) / len(values)
    return (
        f"median {statistics.median(values):.2%}, p95 {p95:.2%}, max {max(values):.2%}; "
        f"{wide:.1%} of subscriptions >= 7%"
    )


def print_table(result: RunResult) -> None:
    print(
        f"  {'day':10} {'kind':5} {'new':>4} {'cycle s':>8} {'proc s':>7} {'rc':>3} "
        f"{'digests':>7} {'written MB':>10} {'io MB':>7} {'store MB':>9} {'digests MB':>10} "
        f"{'RSS MB':>6}"
    )
    for r in result.days:
        c = r.child
        io = "n/a" if c.write_bytes is None else mb(c.write_bytes)
        flag = " (timeout)" if c.timed_out else ""
        print(
            f"  {r.day.name:10} {r.day.kind:5} {r.new_papers:>4} {c.work:>8.2f} "
            f"{c.seconds:>7.2f} {c.rc:>3} {r.digests:>7} {mb(r.written):>10} {io:>7} "
            f"{mb(r.data_dir):>9} {mb(r.digest_bytes):>10} {c.max_rss / MB:>6.0f}{flag}"
        )


@dataclass
class Target:
    label: str
    limit: float
    unit: str
    measure: Callable[[RunResult], float | None]
    needs_all_days: bool = False


def _every_cycle(r: RunResult) -> float | None:
    return max((d.child.work for d in r.days), default=None)


def _quiet(r: RunResult) -> float | None:
    return max((d.child.work for d in r.of_kind("quiet")), default=None)


def _last_first(r: RunResult) -> float | None:
    new = r.of_kind("new")
    return new[-1].child.work / new[0].child.work if len(new) >= 2 else None


def _growth(r: RunResult) -> float | None:
    grown = [
        (d.data_dir - (r.days[i - 1].data_dir if i else 0)) / MB
        for i, d in enumerate(r.days)
        if d.day.kind == "new"
    ]
    return max(grown, default=None)


def _rss(r: RunResult) -> float | None:
    return max((d.child.max_rss / MB for d in r.days), default=None)


def _check(r: RunResult) -> float | None:
    return None if r.check is None else r.check.work


TARGETS = {
    1000: [
        Target("every cycle", 3.0, "s", _every_cycle, needs_all_days=True),
        Target("a quiet day (slowest)", 0.5, "s", _quiet),
        Target("last/first announcement day", 1.2, "x", _last_first),
        Target("store growth per announcement day (max; digests/ apart)", 5.0, "MB", _growth),
        Target("peak RSS (max over the daily processes)", 300.0, "MB", _rss),
    ],
    10000: [
        Target("every cycle", 30.0, "s", _every_cycle, needs_all_days=True),
        Target("peak RSS (max over the daily processes)", 1536.0, "MB", _rss),
        Target("rules check", 10.0, "s", _check),
    ],
}


def summarize(result: RunResult, planned_days: int) -> None:
    r = result
    new, quiet = r.of_kind("new"), r.of_kind("quiet")

    def cycle(rows: list[DayResult], at: int) -> str:
        return f"{rows[at].child.work:.2f} s ({rows[at].day.name})" if rows else "not reached"

    print(f"  summary N={r.n:,}:")
    print(
        f"    first announcement day {cycle(new, 0)}; last {cycle(new, -1)}; "
        f"quiet day {cycle(quiet, 0)}"
        + (f", slowest quiet {_quiet(r):.2f} s" if len(quiet) > 1 else "")
    )
    ratio, slowest, rss = _last_first(r), _every_cycle(r), _rss(r)
    written = [d.written for d in r.days]
    print(
        f"    last/first {'n/a' if ratio is None else f'{ratio:.2f}x'}; max cycle "
        f"{'n/a' if slowest is None else f'{slowest:.2f} s'}; written per cycle: max "
        f"{mb(max(written, default=0))} MB, mean {mb(sum(written) / max(1, len(written)))} MB; "
        f"peak RSS {'n/a' if rss is None else f'{rss:.0f} MB'} (max over the daily processes)"
    )
    failed = [d.day.name for d in r.days if d.child.rc != 0]
    if failed:
        print(f"    exit code != 0 on: {', '.join(failed)}")
    if r.shares:
        print(f"    real matcher on {r.share_day}, share of the day's papers per subscription: "
              f"{spread(r.shares)}")  # fmt: skip
    if r.narrow and r.wide:
        print(f"      planned 0.5-3 %: median {statistics.median(r.narrow):.2%}; planned ~10 % "
              f"({len(r.wide)}): median {statistics.median(r.wide):.2%}")  # fmt: skip
    if r.exceeded:
        print(f"    {r.exceeded}")
    for target in TARGETS.get(r.n, []):
        value = target.measure(r)
        short = target.needs_all_days and (r.exceeded or len(r.days) < planned_days)
        if target.needs_all_days and r.exceeded:
            verdict = "MISSED (a cycle exceeded the timeout)"
        elif value is None:
            verdict = "not measured"
        else:
            verdict = "met" if value <= target.limit else "MISSED"
            if r.exceeded and verdict == "met":
                verdict = "not judged (a cycle was stopped at the timeout: a lower bound)"
            elif short and verdict == "met":
                verdict += f" (on {len(r.days)} of {planned_days} days only)"
        shown = "n/a" if value is None else f"{value:.2f} {target.unit}"
        print(f"    target {target.label} <= {target.limit:g} {target.unit}: {shown} -> {verdict}")


# --- main ------------------------------------------------------------------------------


def code_env(code: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WATCHER_", "SLACK_", "SMTP_")) and k != "PYTHONPATH"
    }
    env["PYTHONPATH"] = str(code)
    return env


def preflight(env: dict[str, str], cwd: Path, clock: str) -> str | None:
    probe = "import watcher.cli as cli; assert callable(cli.now), 'watcher.cli.now is gone'"
    if clock == "real":
        probe = "import watcher.cli"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=cwd, capture_output=True, text=True
    )
    return None if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


def parse_counts(text: str) -> list[int]:
    return [int(part.replace("_", "").replace(",", "")) for part in text.split(",") if part]


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=parse_counts, default=[100, 1000, 10000])
    parser.add_argument("--days", type=int, default=None, help="replay only the first K days")
    parser.add_argument("--timeout-per-cycle", type=float, default=300.0, metavar="S")
    parser.add_argument(
        "--clock",
        choices=("day", "real"),
        default="day",
        help="day: watcher.cli.now set to the replayed day (default); real: python -m watcher",
    )
    code = parser.add_mutually_exclusive_group()
    code.add_argument("--code", type=Path, default=ROOT, help="the tree whose watcher/ to run")
    code.add_argument("--ref", help="run watcher/ as of this git revision (git archive)")
    parser.add_argument("--keep", action="store_true", help="keep the temp directories")
    args = parser.parse_args(None if argv is None else list(argv))
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # a long run's progress, as it goes
    if not HOLIDAYS.exists():
        print(f"skipped: needs the recorded feeds in {HOLIDAYS} (absent in a plain clone)")
        return 0

    work = Path(tempfile.mkdtemp(prefix="watcher-scale-"))
    try:
        code_dir = args.code.resolve()
        if args.ref:
            code_dir = work / "code"
            code_dir.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.ref, "watcher"],
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(code_dir)], input=archive, check=True)
        env = code_env(code_dir)
        if problem := preflight(env, work, args.clock):
            print(f"cannot run watcher from {code_dir}: {problem}")
            return 1
        all_days = load_days()
        days = all_days[: args.days] if args.days else all_days
        print(
            f"watcher from {code_dir}{f' (git {args.ref})' if args.ref else ''}; clock: "
            + (
                "each day's process has watcher.cli.now = 06:00 New York on its listing's date"
                if args.clock == "day"
                else "real (python -m watcher once, as tests/test_replay.py)"
            )
        )
        kinds = " ".join(f"{d.name[5:]}:{d.kind}" for d in days)
        print(f"replaying {len(days)} of {len(all_days)} capture days: {kinds}")

        start = time.perf_counter()
        corpus = Corpus(all_days)
        rng = random.Random(SEED)
        plans = [plan_subscription(rng, corpus, i) for i in range(max(args.n))]
        print(
            f"{max(args.n):,} subscriptions planned in {time.perf_counter() - start:.1f} s from "
            f"{corpus.size:,} fixture papers ({len(corpus.words):,} words); seed {SEED}; the "
            "first N are each run's rule files"
        )
        for n in args.n:
            print(f"  plan, own tokenizer on all fixture papers, N={n:,}: "
                  f"{spread([p.planned for p in plans[:n]])}")  # fmt: skip

        for n in args.n:
            print(f"\n=== N = {n:,} ===")
            run_dir = work / f"n{n}"
            run_dir.mkdir()
            started = time.perf_counter()
            result = replay(n, days, plans[:n], run_dir, env, args)
            print_table(result)
            summarize(result, len(all_days))
            print(f"  (N={n:,} took {time.perf_counter() - started:.0f} s in all)")
            if not args.keep:
                shutil.rmtree(run_dir, ignore_errors=True)
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
