"""``watcher run``: the long-running service — its lifecycle and jobs (``service``), the
heartbeat ``watcher status`` reads (``heartbeat``), and backfills for new subscriptions
(``backfill``).

The daemon wires nothing itself (watcher.app builds every cycle) and decides nothing about
papers (the pipeline does): it keeps time, reloads rules, and runs the pipeline's stages.
"""

from watcher.daemon.service import (
    Daemon,
    JobSpec,
    RedactingNotifier,
    next_runs,
    recheck_sources,
    secrets_of,
)

__all__ = ["Daemon", "JobSpec", "RedactingNotifier", "next_runs", "recheck_sources", "secrets_of"]
