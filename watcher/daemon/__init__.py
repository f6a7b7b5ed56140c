"""``watcher run``: the long-running service — its lifecycle and the rules in use
(``service``), its jobs as values (``jobs``), its log lines (``log``), the heartbeat
``watcher status`` reads (``heartbeat``), and backfills for new subscriptions (``backfill``).

The daemon wires nothing itself (watcher.app builds every cycle) and decides nothing about
papers (the pipeline does): it keeps time, reloads rules, and runs the pipeline's stages.
The command (``watcher run``) is declared in watcher.cli.
"""

from watcher.daemon.jobs import JobSpec, next_runs, recheck_sources
from watcher.daemon.service import Daemon
from watcher.notify.redact import RedactingNotifier, secrets_of

__all__ = ["Daemon", "JobSpec", "RedactingNotifier", "next_runs", "recheck_sources", "secrets_of"]
