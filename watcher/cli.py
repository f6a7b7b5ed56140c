"""The ``watcher`` command. Reads the clock, the environment and the arguments, asks
watcher.app for the edges, runs the pipeline and prints what happened.

(About 550 lines: the argument parser of every command and each command's few lines; the
work is elsewhere, and splitting the commands over modules would scatter one help text.)"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from watcher import __version__, app, logs, stopsignal
from watcher.daemon import Daemon
from watcher.daemon.heartbeat import read_health, read_last_run, read_liveness, write_last_run
from watcher.errors import EXIT_CONFIG, ConfigError, SettingsError, WatcherError
from watcher.feedback import PaperRefError, Vote, parse_paper_ref
from watcher.library import read_library
from watcher.models import (
    CycleReport,
    Destination,
    DestinationTally,
    EntryView,
    FeedState,
    JobRun,
    Receipt,
    Subscription,
)
from watcher.notify import secrets_of
from watcher.pipeline import gather, run_cycle
from watcher.render.preview import PREVIEW_FORMATS, WHOLE_DOCUMENTS, preview, preview_filename
from watcher.rules import RuleSet, load_rules
from watcher.rules import tools as ruletools
from watcher.rules.index import Stamp, load_rules_indexed, write_index
from watcher.settings import (
    Settings,
    add_dir_arguments,
    feedback_channels,
    load_settings,
    read_environment,
    with_dirs,
)
from watcher.sources import command_line_feed_problem, resolve_source
from watcher.status import (
    STALE_AFTER,
    count,
    feed_line,
    last_run_error,
    render_status,
    storage_problems,
    summarize,
)
from watcher.store import AtomicJSONStorage, Store, feedback_files, read_feedback, record_vote
from watcher.store.files import restore_previous
from watcher.store.relevance import read_states


class UsageError(WatcherError):
    """A command line naming something that does not exist: exit code 2, as argparse's."""


def now() -> datetime:
    return datetime.now(UTC)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.handler is not cmd_run:
        stopsignal.release()  # only the daemon sets handlers of its own
    # The product's own lines; the libraries' (httpx: every request URL, which may carry
    # credentials; slack_sdk: its own line beside ours) only with --verbose.
    logs.configure_command(verbose=getattr(args, "verbose", False))
    try:
        code: int = args.handler(args)
        return code
    except SettingsError as exc:
        print(f"watcher: error: {exc} (set in the environment or in .env)", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:
        print(f"watcher: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except UsageError as exc:
        print(f"watcher: error: {exc}", file=sys.stderr)
        return 2
    except WatcherError as exc:
        print(f"watcher: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `watcher status | head`: the reader left; nothing more to say to it.
        sys.stderr.close()
        return 0


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
        "Digests for destinations that are not configured go to DATA/digests/. Prints a line "
        "per feed and per digest; the digests themselves only with --show, or when there is "
        "a single subscription.",
    )
    _add_cycle_arguments(once)
    once.add_argument(
        "--show",
        action="store_true",
        help="also print every digest saved under DATA/digests/ to the terminal "
        "(the default with a single subscription)",
    )
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
        choices=PREVIEW_FORMATS,
        default="markdown",
        help="how to render the digests (default: markdown); slack: the Block Kit JSON "
        "Slack gets; for an email destination, html and text are the mail's own parts, "
        "within its size budget",
    )
    preview.add_argument(
        "--plain",
        action="store_true",
        help="Markdown without the matched-terms annotations (the classic digest layout); "
        "only with --format markdown",
    )
    preview.add_argument(
        "--destination",
        action="append",
        default=[],
        metavar="KEY",
        help="only what this destination gets (repeatable): local, email:a@example.org, "
        "slack:#papers, as the rule files name them",
    )
    preview.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write one file per digest and destination under DIR "
        "(<subscription>/<period>--<destination>.<ext>) instead of printing; needed for "
        "html and slack when there is more than one digest",
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
    ruletools.add_commands(rules_sub)  # rules test, rules explain, rules suggest
    _add_feedback_commands(sub)
    _add_outbox_commands(sub)
    _add_run_command(sub)
    return parser


def _add_feedback_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feedback = sub.add_parser(
        "feedback",
        help="like or dislike papers, per subscription (the relevance order learns from it)",
        description="Tell a subscription which papers you want more of (like) and which "
        "less (dislike). Votes are kept in DATA/feedback/ (a file per subscription), safe "
        "beside a running daemon; a paper not in the archive yet is kept and used once its "
        "text is known. IDs as arXiv writes them: 2409.12121, arXiv:2409.12121v2, https://arxiv.org/abs/2409.12121.",
    )
    verbs = feedback.add_subparsers(dest="feedback_command", required=True, metavar="COMMAND")
    for verb, what in (
        ("like", "like papers: more like them"),
        ("dislike", "dislike papers: fewer like them"),
        ("forget", "forget your vote on papers"),
    ):
        parser = verbs.add_parser(verb, help=what, description=f"{what.capitalize()}.")
        parser.add_argument("ids", nargs="+", metavar="ID", help="arXiv id or abs URL")
        parser.add_argument(
            "--subscription", "-s", required=True, metavar="NAME", help="the subscription's name"
        )
        add_dir_arguments(parser, rules="rules directory the subscription is in")
        parser.set_defaults(handler=cmd_feedback_vote, vote=verb)
    listing = verbs.add_parser(
        "list",
        help="show the votes",
        description="Show every vote (or one subscription's): paper, vote, when and how it "
        "was given, and the title when the archive has the paper.",
    )
    listing.add_argument("--subscription", "-s", metavar="NAME", help="only this subscription")
    add_dir_arguments(listing, rules="rules directory the subscription is in")
    listing.set_defaults(handler=cmd_feedback_list)


def _add_run_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run as a service: poll on arXiv's schedule, reload rule edits, deliver",
        description="Run in the foreground until SIGTERM or Ctrl-C: poll the feeds on "
        "arXiv's schedule (WATCHER_POLL_CRON, WATCHER_RECHECK_CRON in WATCHER_POLL_TIMEZONE, "
        "or every WATCHER_POLL_INTERVAL seconds), starting with a catch-up cycle; deliver "
        "each subscription's digest on its schedule; pick up added, edited and deleted rule "
        "files within seconds. One daemon per data directory. `watcher status` shows its "
        "health.",
    )
    add_dir_arguments(run)
    run.add_argument(
        "--log-json",
        action="store_true",
        help="log one JSON object per line (also WATCHER_LOG_FORMAT=json)",
    )
    _add_verbose(run)
    run.set_defaults(handler=cmd_run)


def _add_outbox_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser(
        "status",
        help="show the daemon, rule files, deliveries per destination and each feed",
        description="Show the daemon (`watcher run`: last cycle, next runs), the rule files "
        "with their load errors, per destination the pending, failed (with the last error) "
        "and unknown deliveries and the delivered count with the last receipt, and per feed "
        "the last poll. Read-only: safe beside a running watcher. Exit code 1 when something "
        "needs attention (a failed or unknown delivery, a feed whose last poll failed, a rule "
        "file that does not load, a daemon that died or has a job long overdue).",
    )
    add_dir_arguments(status, rules="rules directory to validate")
    status.add_argument(
        "--require-daemon",
        action="store_true",
        help="exit 1 also when no `watcher run` daemon holds the data directory (health checks)",
    )
    status.add_argument(
        "--live",
        action="store_true",
        help="only say whether a `watcher run` daemon holds the data directory and wrote its "
        "heartbeat in the last 5 minutes: exit 0 if so, else 1 (a liveness check: a failing "
        "feed or delivery does not count)",
    )
    status.set_defaults(handler=cmd_status)

    retry = sub.add_parser(
        "retry",
        help="send deliveries of unknown fate (or failed ones) again",
        description="Queue deliveries again for the next cycle. A delivery is 'unknown' when "
        "it was sent but the answer was lost (or the watcher stopped mid-send): it may have "
        "arrived, so it is never resent on its own. Check the channel or mailbox first; "
        "KEY is shown by `watcher status`.",
    )
    retry.add_argument("keys", nargs="*", metavar="KEY", help="outbox key from watcher status")
    retry.add_argument("--unknown", action="store_true", help="every delivery of unknown fate")
    retry.add_argument(
        "--failed",
        action="store_true",
        help="every failed delivery, permanent ones included (after you fixed the cause)",
    )
    add_dir_arguments(retry, rules=None)
    retry.set_defaults(handler=cmd_retry)

    confirm = sub.add_parser(
        "confirm",
        help="record deliveries of unknown fate as arrived",
        description="Record deliveries of unknown fate as delivered, after you saw them in "
        "the channel or mailbox; `watcher status` stops reporting them.",
    )
    confirm.add_argument("keys", nargs="+", metavar="KEY", help="outbox key from watcher status")
    confirm.add_argument(
        "--ts",
        metavar="TS",
        help="a Slack digest whose summary is in doubt: the summary arrived as this message "
        "(its ts: the digits of its link, p1726640000000100 -> 1726640000.000100); the rest "
        "of the thread is sent next cycle",
    )
    add_dir_arguments(confirm, rules=None)
    confirm.set_defaults(handler=cmd_confirm)

    drop = sub.add_parser(
        "drop",
        help="give up on deliveries (forget them)",
        description="Forget outbox entries for good, for example a digest for a channel that "
        "no longer exists. Their papers stay seen and are not sent again anywhere.",
    )
    drop.add_argument("keys", nargs="+", metavar="KEY", help="outbox key from watcher status")
    add_dir_arguments(drop, rules=None)
    drop.set_defaults(handler=cmd_drop)

    repair = sub.add_parser(
        "repair",
        help="go on after a damaged delivery journal (outbox.log)",
        description="When a line of outbox.log is damaged, every command stops rather than "
        "guess which digests were sent. This keeps the marks before that line and holds "
        "every digest not known to be delivered as 'unknown': nothing is resent on its own. "
        "Then look in the destinations and use `watcher retry` or `watcher confirm` on what "
        "`watcher status` lists.",
    )
    repair.add_argument(
        "--previous",
        action="store_true",
        help="put back the version before the last write of a damaged outbox/open.json, "
        "feeds.json or a feedback/ file (their .prev); what that last write added is lost",
    )
    add_dir_arguments(repair, rules=None)
    repair.set_defaults(handler=cmd_repair)


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also log each HTTP request and the libraries' own lines (DEBUG)",
    )


def _add_cycle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--feed",
        action="append",
        default=[],
        type=_feed_argument,
        metavar="PATH_OR_URL",
        help="read this feed instead of the rule files' own feeds (repeatable); "
        "a local file, a URL, or an arXiv category such as cs.LG",
    )
    add_dir_arguments(parser)
    _add_verbose(parser)


def _feed_argument(value: str) -> str:
    """A ``--feed``: a URL, a path, or arXiv categories; a mistyped category is an error
    (it would otherwise be looked for as a local file)."""
    problem = command_line_feed_problem(value)
    if problem is None:
        return value
    raise argparse.ArgumentTypeError(problem)


def _settings(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    return with_dirs(
        load_settings(environ), getattr(args, "rules", None), getattr(args, "data", None)
    )


def _load_rules(settings: Settings, err: TextIO) -> RuleSet:
    ruleset, _ = _load_rules_stamped(settings, err)
    return ruleset


def _load_rules_stamped(settings: Settings, err: TextIO) -> tuple[RuleSet, dict[str, Stamp] | None]:
    """The rule files (those unchanged since the index of the data directory was written
    are not read again), and the stamps they had, for the index (None: it is current)."""
    if settings.rules_dir.is_dir():
        ruleset, stamped = load_rules_indexed(settings.rules_dir, settings.data_dir)
    else:
        ruleset, stamped = load_rules(settings.rules_dir), {}
    for error in ruleset.errors:
        print(f"rule error (file skipped): {error}", file=err)
    if not ruleset.subscriptions:
        raise WatcherError(f"no usable rule files in {settings.rules_dir}")
    return ruleset, stamped


def feed_urls(feeds: Iterable[str], settings: Settings) -> set[str]:
    """The URLs the feeds that rule files name are polled at (as watcher.app resolves them)."""
    return {resolve_source(f, settings.arxiv_rss_url, settings.arxiv_api_url).url for f in feeds}


def cmd_once(args: argparse.Namespace) -> int:
    environ = read_environment()
    settings = _settings(args, environ)
    ruleset, stamped = _load_rules_stamped(settings, sys.stderr)
    subs = ruleset.subscriptions
    # Whole digests on the terminal only when asked, or for a single subscription: an
    # institute's thousand subscriptions would print every digest (77 MB a day).
    echo = sys.stdout if args.show or len(subs) == 1 else None
    started = now()
    try:
        with Store.open(settings.data_dir) as store, app.build_fetcher(settings) as fetcher:
            # What each rule file said, for watcher status (it then reads only changed files).
            if stamped is not None:
                write_index(settings.data_dir, stamped, ruleset)
            report = run_cycle(
                app.build_cycle(settings, store, fetcher, subs, args.feed),
                app.build_notifiers(settings, echo, now, environ, subs),
                now(),
                rule_errors=[str(e) for e in ruleset.errors],
            )
            # Deliveries this cycle did not touch but that wait for a person (a permanent
            # failure, an unknown fate): status exits 1 for them, and so does once.
            reported = {(d.subscription, d.destination, d.period) for d in report.deliveries}
            waiting = [
                e
                for e in store.entry_views()
                if e.status in ("failed", "unknown")
                and (e.subscription, e.destination.key, e.period) not in reported
            ]
    except (WatcherError, OSError) as exc:
        # Recorded where status looks, so that it never says "All good" while cycles fail.
        write_last_run(settings.data_dir, JobRun("once", started, now(), "error", str(exc)))
        raise
    print_report(report, sys.stderr)
    if waiting:
        kinds = sorted({e.status for e in waiting})
        print(
            f"attention: {count(len(waiting), 'earlier delivery')} {' or '.join(kinds)}, "
            "waiting for you: see `watcher status`",
            file=sys.stderr,
        )
    attention = _needs_attention(report) or bool(waiting)
    outcome = JobRun("once", started, now(), "attention" if attention else "ok")
    write_last_run(settings.data_dir, outcome)
    return 1 if attention else 0


def cmd_preview(args: argparse.Namespace) -> int:
    if args.plain and args.format != "markdown":
        return _usage_error(
            "preview", f"--plain is the classic Markdown layout: it does not apply to "
            f"--format {args.format}"
        )  # fmt: skip
    environ = read_environment()
    settings = _settings(args, environ)
    ruleset = _load_rules(settings, sys.stderr)
    subs = ruleset.subscriptions
    named = {d.key for sub in subs for d in sub.deliver} | {"local"}
    if unknown := [key for key in args.destination if key not in named]:
        return _usage_error(
            "preview", f"no rule file delivers to {', '.join(unknown)}; "
            f"the destinations are: {', '.join(sorted(named))}"
        )  # fmt: skip
    configured = frozenset(app.build_notifiers(settings, None, now, environ, subs))
    # Every destination the rule files name, configured or not: the mail can be looked at
    # before SMTP is set up (marked below: a cycle now would save it locally instead).
    shown_kinds = configured | {"email", "slack"}
    with (
        Store.open(settings.data_dir, read_only=True) as store,
        app.build_fetcher(settings) as fetcher,
    ):
        cycle = app.build_cycle(settings, store, fetcher, subs, args.feed, shown_kinds)
        plan = gather(cycle, now())
    for line in map(feed_line, plan.feeds):
        print(line, file=sys.stderr)
    chosen = [
        (destination, digest)
        for destination, digest in plan.digests
        if not args.destination or destination.key in args.destination
    ]
    if not chosen:
        failed = sum(1 for f in plan.feeds if f.status == "failed")
        seen = sum(f.papers for f in plan.feeds)
        if failed:
            new = count(len(plan.new_papers), "new paper")
            why = f"{new}; {failed} of {len(plan.feeds)} feed(s) failed"
        elif not plan.new_papers and seen:
            # Right after `watcher once` on the same feed: say why the preview is empty.
            why = (
                f"the {seen} papers in {len(plan.feeds)} feed(s) were all seen before "
                "(a preview shows what the next `watcher once` would send)"
            )
        else:
            why = f"{count(len(plan.new_papers), 'new paper')}; none matched"
        print(f"Nothing to send: {why}.", file=sys.stderr)
    elif args.out is None and args.format in WHOLE_DOCUMENTS and len(chosen) > 1:
        what = "HTML documents" if args.format == "html" else "Slack JSON documents"
        return _usage_error(
            "preview", f"{len(chosen)} digests would print {len(chosen)} {what} one after "
            "another, which is no valid document: pass --out DIR (one file per digest and "
            "destination), or choose one with --destination KEY"
        )  # fmt: skip
    if args.out is not None and args.format == "slack":
        # Slack JSON is what only a Slack channel gets: no file of it for a mail or a folder.
        others = sorted({d.key for d, _ in chosen if d.kind != "slack"})
        if others:
            print(f"--format slack: skipped {', '.join(others)} (not Slack)", file=sys.stderr)
        chosen = [(d, digest) for d, digest in chosen if d.kind == "slack"]
    by_name = {sub.name: sub for sub in subs}
    mail_from = settings.mail_from or "arxiv-watcher <preview@localhost>"
    for destination, digest in chosen:
        shown = preview(
            destination,
            digest,
            args.format,
            highlight=not args.plain,
            now=now(),
            mail_from=mail_from,
        )
        notes = [shown.summary] if shown.summary else []
        if destination.kind not in configured:
            notes.append(_unconfigured_note(destination, by_name.get(digest.subscription),
                                            configured, settings.data_dir))  # fmt: skip
        about = f" ({digest.period}{''.join('; ' + n for n in notes)})"
        if args.out is not None:
            path = args.out / preview_filename(destination, digest, args.format)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(shown.body, encoding="utf-8")
            print(f"{digest.subscription} -> {destination.key}{about}: {path}", file=sys.stderr)
            continue
        print(f"\n==> {digest.subscription} -> {destination.key}{about}\n", file=sys.stderr)
        sys.stdout.write(shown.body)
    return 1 if any(f.status == "failed" for f in plan.feeds) else 0


def _unconfigured_note(
    destination: Destination,
    sub: Subscription | None,
    configured: frozenset[str],
    data_dir: Path,
) -> str:
    """What a cycle does with a digest for a destination that is not configured: it skips
    the destination, and a subscription left with none writes to the local one instead
    (pipeline._route)."""
    others = [d for d in (sub.deliver if sub else ()) if d.kind in configured]
    if others:
        where = f"sends it only to {', '.join(d.key for d in others)}"
    else:
        where = f"writes it to the local destination ({data_dir / 'digests'}) instead"
    return f"{destination.kind} is not configured: a cycle now {where}"


def _usage_error(command: str, message: str) -> int:
    """A wrong combination of arguments, found after parsing: said as argparse says it."""
    print(f"watcher {command}: error: {message}", file=sys.stderr)
    return 2


def cmd_rules_check(args: argparse.Namespace) -> int:
    settings = _settings(args, read_environment())
    directory = args.dir or settings.rules_dir
    ruleset = load_rules(directory)
    for error in ruleset.errors:
        print(error)
    broken = 0
    for sub in ruleset.subscriptions:
        if sub.library is None:
            continue
        try:
            library = read_library(Path(sub.library))
        except WatcherError as exc:
            broken += 1
            print(f"{sub.path}: library: {exc}")
            continue
        if library.skipped:
            print(
                f"{sub.path}: library: {count(len(library.entries), 'paper')}; "
                f"{library.skipped} {'entry' if library.skipped == 1 else 'entries'} skipped "
                "(no arXiv id, no title or abstract)"
            )
    warnings = [line for sub in ruleset.subscriptions for line in ruletools.field_warnings(sub)]
    for warning in warnings:
        print(warning)
    if not ruleset.subscriptions and not ruleset.errors:
        # What `watcher once` would then fail with: no OK for a folder that runs nothing.
        print(f"no usable rule files in {directory} (no *.yaml or *.yml file in it)")
        return 1
    names = ", ".join(s.name for s in ruleset.subscriptions) or "none"
    status = "with errors" if ruleset.errors or broken else "OK"
    if warnings:
        status += f", {count(len(warnings), 'warning')}"
    valid = count(len(ruleset.subscriptions), "valid subscription")
    print(f"{directory}: {valid} ({names}); {status}")
    return 1 if ruleset.errors or broken else 0


def cmd_feedback_vote(args: argparse.Namespace) -> int:
    settings = _settings(args, read_environment())
    subscription = _subscription_named(args.subscription, settings)
    try:
        # Every id is checked before any is recorded: a typo records nothing.
        papers = list(dict.fromkeys(parse_paper_ref(ref) for ref in args.ids))
    except PaperRefError as exc:
        raise UsageError(f"{exc}") from exc
    vote = None if args.vote == "forget" else Vote(args.vote)
    past = {Vote.LIKE: "liked", Vote.DISLIKE: "disliked", None: "no vote"}
    for paper in papers:
        change = record_vote(settings.data_dir, subscription, paper, vote, "cli", now())
        if vote is None:
            was = change.previous.value if change.previous else ""
            done = f"{was} forgotten" if change.changed else "had no vote"
        elif not change.changed:
            done = f"already {past[vote]}"
        else:
            was = f" (was {past[change.previous]})" if change.previous else ""
            done = f"{past[vote]}{was}"
        print(f"{paper}: {done} for {subscription}")
    return 0


def cmd_feedback_list(args: argparse.Namespace) -> int:
    settings = _settings(args, read_environment())
    book = read_feedback(settings.data_dir)
    if args.subscription is not None and args.subscription not in book.subscriptions:
        # A subscription whose file is gone may still have votes; any other name is a typo.
        _subscription_named(args.subscription, settings)
    votes = [v for v in book.votes if args.subscription in (None, v.subscription)]
    if not votes:
        print("No feedback yet: `watcher feedback like ID --subscription NAME` gives some.")
        return 0
    titles: dict[str, str] = {}
    if settings.data_dir.exists():
        with Store.open(settings.data_dir, read_only=True) as store:
            for v in votes:
                if v.paper_id not in titles:
                    paper = store.paper(v.paper_id)
                    titles[v.paper_id] = paper.title if paper else "(not in the archive yet)"
    for name in dict.fromkeys(v.subscription for v in votes):
        mine = book.for_subscription(name)
        print(f"{name}: {count(len(mine.likes), 'like')}, {count(len(mine.dislikes), 'dislike')}")
        for v in (v for v in votes if v.subscription == name):
            when = v.when.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
            print(f"  {v.vote.value:<8} {v.paper_id:<16} {when} {v.via:<5} {titles[v.paper_id]}")
    return 0


def _subscription_named(name: str, settings: Settings) -> str:
    """The subscription of the rule files called ``name`` (case aside), or a UsageError
    listing the names there are."""
    ruleset = load_rules(settings.rules_dir) if settings.rules_dir.is_dir() else None
    if ruleset is None:
        raise UsageError(f"no rules directory at {settings.rules_dir} (use --rules DIR)")
    for sub in ruleset.subscriptions:
        if sub.name.casefold() == name.casefold():
            return sub.name
    names = ", ".join(sorted(s.name for s in ruleset.subscriptions)) or "none"
    broken = len(ruleset.errors)
    why = f" ({count(broken, 'rule file')} that do not load: see `watcher rules check`)"
    raise UsageError(
        f"unknown subscription {name!r}; the rule files in {settings.rules_dir} have: "
        f"{names}{why if broken else ''}"
    )


def cmd_status(args: argparse.Namespace) -> int:
    environ = read_environment()
    settings = _settings(args, environ)
    if args.live:
        # The daemon beats from its rules job: a slower one than BEAT_EVERY beats less often.
        reload = timedelta(seconds=settings.rules_reload_interval)
        liveness = read_liveness(settings.data_dir, now(), max(STALE_AFTER, 3 * reload))
        print(liveness.line)
        return 0 if liveness.alive else 1
    daemon_health, rules = read_health(
        settings.data_dir, settings.rules_dir, now(), require_daemon=args.require_daemon
    )
    entries: list[EntryView] = []
    tallies: list[DestinationTally] = []
    feeds: dict[str, FeedState] = {}
    if not settings.data_dir.exists():
        print(f"No data directory at {settings.data_dir}: nothing has run yet.")
    else:
        with Store.open(settings.data_dir, read_only=True) as store:
            entries, tallies = store.entry_views(), store.delivery_tallies()
            feeds = store.feed_states()
    # Only the feeds the rule files read now can need attention (not a failed one-off
    # `watcher once --feed`, nor a feed since removed from the rules).
    current = None if rules.missing else feed_urls(rules.feeds, settings)
    status = summarize(
        entries,
        feeds,
        tallies=tallies,
        daemon=daemon_health,
        rules=rules,
        current_feeds=current,
    )
    if settings.data_dir.exists():
        # A read-only or full disk fails every cycle, and may keep it from saying so.
        writable = os.access(settings.data_dir, os.W_OK)
        try:
            free: int | None = shutil.disk_usage(settings.data_dir).free
        except OSError:
            free = None
        status = replace(
            status,
            last_run_error=last_run_error(read_last_run(settings.data_dir), daemon_health),
            storage=storage_problems(writable, free),
        )
        # A running daemon says how its Slack connection and web endpoint stand; else the
        # settings say what `watcher run` would turn on.
        live = daemon_health.feedback if daemon_health.pid is not None else ()
        status = replace(status, feedback_channels=live or feedback_channels(settings))
        try:
            votes = read_feedback(settings.data_dir)
            status = replace(status, feedback=tuple(votes.by_subscription().values()))
        except WatcherError as exc:
            status = replace(status, feedback_error=str(exc))
        states = read_states(settings.data_dir)
        if isinstance(states, dict):
            status = replace(status, relevance=tuple(states[name] for name in sorted(states)))
    options = ["--data", str(args.data)] if args.data else []
    # An error text may quote a secret (a webhook URL): hidden as the daemon's log hides it.
    secrets = secrets_of(settings, environ)
    secrets += [value for name in rules.webhook_env if (value := environ.get(name))]
    for line in render_status(status, options=options):
        print(logs.redact(line, secrets))
    return 1 if status.needs_attention else 0


def cmd_run(args: argparse.Namespace) -> int:
    environ = read_environment()
    settings = with_dirs(load_settings(environ), args.rules, args.data)
    if args.log_json:
        settings = replace(settings, log_format="json")
    return run_daemon(settings, environ, verbose=args.verbose)


def run_daemon(settings: Settings, environ: Mapping[str, str], *, verbose: bool = False) -> int:
    """Configure logging and run the daemon until SIGTERM/SIGINT; the exit code."""
    level = logging.DEBUG if verbose else logging.INFO
    logs.configure(
        settings.log_format,
        secrets=secrets_of(settings, environ),
        level=level,
        journal_stream=settings.journal_stream,
    )
    return Daemon(settings, environ).run()


def cmd_retry(args: argparse.Namespace) -> int:
    if not args.keys and not args.unknown and not args.failed:
        raise WatcherError(
            "name the deliveries to retry (KEY from watcher status), or --unknown, or --failed"
        )
    return _resolve(args, "retry")


def cmd_drop(args: argparse.Namespace) -> int:
    return _resolve(args, "drop")


def cmd_repair(args: argparse.Namespace) -> int:
    settings = _settings(args, read_environment())
    _existing_data_dir(settings)
    if args.previous:
        kept = [settings.data_dir / name for name in ("outbox/open.json", "feeds.json")]
        for path in [*kept, *feedback_files(settings.data_dir)]:
            try:
                AtomicJSONStorage(path, read_only=True).read()
                continue  # whole: nothing to roll back
            except WatcherError:
                pass
            if not restore_previous(path):
                raise WatcherError("damaged, and no previous version to put back", where=str(path))
            print(f"{path}: the previous version is back.")
    with Store.open(settings.data_dir, repair_journal=True) as store:
        held = [e for e in store.entry_views() if e.status == "unknown"]
    print(f"The delivery journal is whole again; {count(len(held), 'digest')} of unknown fate.")
    if held:
        print("Look in their destinations, then `watcher retry KEY` or `watcher confirm KEY`")
        print("for each (`watcher status` lists them).")
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    return _resolve(args, "confirm")


def _existing_data_dir(settings: Settings) -> None:
    """Raise unless the data directory exists: retry, confirm, drop and repair work on what
    a cycle left there, and a mistyped --data must not create an empty one and say "done"."""
    if not settings.data_dir.is_dir():
        raise WatcherError(
            "no data directory here: nothing has run with it (a typo in --data or "
            "WATCHER_DATA_DIR?)",
            where=str(settings.data_dir),
        )


def _resolve(args: argparse.Namespace, action: str) -> int:
    """Requeue (retry) or mark delivered (confirm) the named outbox entries."""
    settings = _settings(args, read_environment())
    _existing_data_dir(settings)
    code = 0
    with Store.open(settings.data_dir) as store:
        entries = {entry.key: entry for entry in store.entry_views()}
        keys = list(dict.fromkeys(args.keys))
        for flag, status in (("unknown", "unknown"), ("failed", "failed")):
            if getattr(args, flag, False):
                keys += [k for k, e in entries.items() if e.status == status and k not in keys]
        if not keys:
            which = "of unknown fate" if getattr(args, "unknown", False) else "that failed"
            print(f"No deliveries {which}.")
        for key in keys:
            entry = entries.get(key)
            allowed = {
                "retry": ("unknown", "failed"),
                "confirm": ("unknown",),
                "drop": ("pending", "failed", "unknown", "delivered"),
            }[action]
            if entry is None or entry.status not in allowed:
                if entry is not None:
                    what, wrong = f"it is {entry.status}", 1
                elif key in {e.key for e in store.delivery_log(key.rpartition("|")[2])}:
                    what, wrong = "it is delivered", 1
                else:
                    # A key that names nothing is a wrong argument (exit 2), not a state.
                    what, wrong = "no such delivery (`watcher status` lists the keys)", 2
                print(f"{key}: not changed: {what}", file=sys.stderr)
                code = max(code, wrong)
            elif action == "retry":
                store.requeue(key)
                print(f"{key}: queued again, the next cycle sends it")
            elif action == "drop":
                store.drop(key)
                print(f"{key}: dropped")
            else:
                receipt = Receipt(entry.destination.key, "confirmed by hand", now())
                if store.confirm(key, receipt, summary_ts=getattr(args, "ts", None)):
                    print(f"{key}: recorded as delivered")
                else:
                    print(f"{key}: the message in doubt recorded as arrived; the next cycle "
                          "sends the rest of the thread")  # fmt: skip
        store.checkpoint()
    return code


def print_report(report: CycleReport, out: TextIO) -> None:
    for line in map(feed_line, report.feeds):
        print(line, file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)
    for d in report.deliveries:
        print(
            f"{d.status}: {d.subscription} {d.period} ({count(d.papers, 'paper')}) "
            f"-> {d.destination}"
            f"{': ' + d.detail if d.detail else ''}",
            file=out,
        )
    failed = sum(1 for f in report.feeds if f.status == "failed")
    if report.new_papers == 0 and not report.deliveries and not failed:
        seen = sum(f.papers for f in report.feeds)
        print(
            f"No new papers: the {seen} papers in {len(report.feeds)} feed(s) "
            "were all seen before.",
            file=out,
        )
    elif report.new_papers == 0 and not report.deliveries:
        print(
            f"No new papers; {failed} of {len(report.feeds)} feed(s) failed (see above).", file=out
        )
    else:
        print(
            f"{count(report.new_papers, 'new paper')}, {count(report.matches, 'match')}, "
            f"{count(sum(d.status == 'delivered' for d in report.deliveries), 'digest')} "
            "delivered.",
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
