"""The ``watcher`` command. Reads the clock, the environment and the arguments, asks
watcher.app for the edges, runs the pipeline and prints what happened."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from watcher import __version__, app
from watcher.errors import WatcherError
from watcher.match import compile_matcher
from watcher.models import CycleReport, FeedReport
from watcher.pipeline import gather, run_cycle
from watcher.render import render_format
from watcher.rules import RuleSet, load_rules
from watcher.settings import Settings, load_settings, read_environment
from watcher.store import Store

FEED_STATUS = {
    "new": "new announcement",
    "empty": "no announcement (weekend or holiday: empty feed)",
    "stale": "stale: yesterday's listing re-served, ignored",
    "not-modified": "unchanged since the last poll",
    "failed": "FAILED",
}


def now() -> datetime:
    return datetime.now(UTC)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO; a URL may carry credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        code: int = args.handler(args)
        return code
    except WatcherError as exc:
        print(f"watcher: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watcher",
        description="Follow arXiv: match new papers against the keyword rules in rules/*.yaml "
        "and deliver digests to Slack, email, or Markdown files under the data directory.",
        epilog="Settings come from the environment or a .env file; see .env.example.",
    )
    parser.add_argument("--version", action="version", version=f"arxiv-watcher {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    once = sub.add_parser(
        "once",
        help="run one cycle: poll, match, record, deliver",
        description="Run one cycle: read the feeds, find papers not seen before, match them "
        "against the rule files, record them and deliver each subscription's digest. "
        "Digests for destinations that are not configured go to DATA/digests/ and the terminal.",
    )
    _add_cycle_arguments(once)
    once.set_defaults(handler=cmd_once)

    preview = sub.add_parser(
        "preview",
        help="show what a cycle would send, recording nothing",
        description="Read the feeds and render the digests a cycle would send, without "
        "recording anything or sending anywhere.",
    )
    _add_cycle_arguments(preview)
    preview.add_argument(
        "--format",
        choices=("markdown", "text", "html"),
        default="markdown",
        help="how to render the digests (default: markdown)",
    )
    preview.set_defaults(handler=cmd_preview)

    rules = sub.add_parser("rules", help="work with rule files", description="Rule file tools.")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    check = rules_sub.add_parser(
        "check",
        help="validate rule files",
        description="Validate every *.yaml file in DIR (default: WATCHER_RULES_DIR or ./rules). "
        "Prints one line per problem with file, line and field; exit code 1 if any.",
    )
    check.add_argument("dir", nargs="?", type=Path, help="rules directory")
    check.set_defaults(handler=cmd_rules_check)
    return parser


def _add_cycle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--feed",
        action="append",
        default=[],
        metavar="PATH_OR_URL",
        help="read this feed instead of the rule files' own feeds (repeatable); "
        "a local file, a URL, or an arXiv category such as cs.LG",
    )
    parser.add_argument("--rules", type=Path, help="rules directory (default: ./rules)")
    parser.add_argument("--data", type=Path, help="data directory (default: ./data)")


def _settings(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    settings = load_settings(environ)
    if getattr(args, "rules", None):
        settings = replace(settings, rules_dir=args.rules)
    if getattr(args, "data", None):
        settings = replace(settings, data_dir=args.data)
    return settings


def _load_rules(settings: Settings, err: TextIO) -> RuleSet:
    ruleset = load_rules(settings.rules_dir)
    for error in ruleset.errors:
        print(f"rule error (file skipped): {error}", file=err)
    if not ruleset.subscriptions:
        raise WatcherError(f"no usable rule files in {settings.rules_dir}")
    return ruleset


def cmd_once(args: argparse.Namespace) -> int:
    environ = read_environment()
    settings = _settings(args, environ)
    ruleset = _load_rules(settings, sys.stderr)
    subs = ruleset.subscriptions
    with Store.open(settings.data_dir) as store, app.build_fetcher(settings) as fetcher:
        report = run_cycle(
            fetcher,
            store,
            compile_matcher(subs),
            subs,
            app.source_map(subs, settings, args.feed),
            app.build_notifiers(settings, sys.stdout, now, environ, subs),
            now(),
            rule_errors=[str(e) for e in ruleset.errors],
        )
    print_report(report, sys.stderr)
    return 1 if _needs_attention(report) else 0


def cmd_preview(args: argparse.Namespace) -> int:
    environ = read_environment()
    settings = _settings(args, environ)
    ruleset = _load_rules(settings, sys.stderr)
    subs = ruleset.subscriptions
    available = frozenset(app.build_notifiers(settings, None, now, environ, subs))
    with (
        Store.open(settings.data_dir, read_only=True) as store,
        app.build_fetcher(settings) as fetcher,
    ):
        plan = gather(
            fetcher,
            store,
            compile_matcher(subs),
            subs,
            app.source_map(subs, settings, args.feed),
            available,
            now(),
        )
    for line in _feed_lines(plan.feeds):
        print(line, file=sys.stderr)
    if not plan.digests:
        print(f"Nothing to send: {len(plan.new_papers)} new papers, none matched.", file=sys.stderr)
    for destination, digest in plan.digests:
        print(
            f"\n==> {digest.subscription} -> {destination.key} ({digest.period})\n", file=sys.stderr
        )
        sys.stdout.write(render_format(digest, args.format))
    return 1 if any(f.status == "failed" for f in plan.feeds) else 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    settings = _settings(args, read_environment())
    directory = args.dir or settings.rules_dir
    ruleset = load_rules(directory)
    for error in ruleset.errors:
        print(error)
    names = ", ".join(s.name for s in ruleset.subscriptions) or "none"
    status = "with errors" if ruleset.errors else "OK"
    print(f"{directory}: {len(ruleset.subscriptions)} valid subscriptions ({names}); {status}")
    return 1 if ruleset.errors else 0


def _feed_lines(feeds: Sequence[FeedReport]) -> list[str]:
    lines = []
    for feed in feeds:
        what = FEED_STATUS[feed.status]
        if feed.status == "failed":
            lines.append(f"feed {feed.source}: {what}: {feed.error}")
            continue
        day = f" {feed.announced.isoformat()}" if feed.announced else ""
        counts = f", {feed.papers} papers, {feed.new} new" if feed.status == "new" else ""
        lines.append(f"feed {feed.source}: {what}{day}{counts}")
    return lines


def print_report(report: CycleReport, out: TextIO) -> None:
    for line in _feed_lines(report.feeds):
        print(line, file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)
    for d in report.deliveries:
        print(
            f"{d.status}: {d.subscription} {d.period} ({d.papers} papers) -> {d.destination}"
            f"{': ' + d.detail if d.detail else ''}",
            file=out,
        )
    if report.new_papers == 0 and not report.deliveries:
        seen = sum(f.papers for f in report.feeds)
        print(
            f"No new papers: the {seen} papers in {len(report.feeds)} feed(s) "
            "were all seen before.",
            file=out,
        )
    else:
        print(
            f"{report.new_papers} new papers, {report.matches} matches, "
            f"{sum(1 for d in report.deliveries if d.status == 'delivered')} digests delivered.",
            file=out,
        )


def _needs_attention(report: CycleReport) -> bool:
    return bool(
        report.rule_errors
        or any(f.status == "failed" for f in report.feeds)
        or any(d.status != "delivered" for d in report.deliveries)
    )


if __name__ == "__main__":
    sys.exit(main())
