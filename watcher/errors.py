"""One root for every error a user can cause, each carrying what failed and where.

Stages raise these; the pipeline turns them into values in the CycleReport so that one bad
feed, rule file or destination never stops the rest of a cycle.
"""

from __future__ import annotations


class WatcherError(Exception):
    """Root of all arxiv-watcher errors. ``where`` names the feed, file or destination."""

    def __init__(self, message: str, *, where: str = "") -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class FeedError(WatcherError):
    """A feed could not be fetched or its body is not a usable feed."""


class ParseError(FeedError):
    """The bytes are not a feed we can read (HTML page, truncated XML, DTD, API error)."""


class RuleError(WatcherError):
    """A rule file is invalid. ``where`` is ``path:line`` and ``field`` the offending key."""

    def __init__(
        self, message: str, *, path: str, line: int | None = None, field: str = ""
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        location = f"{path}:{line}" if line is not None else path
        detail = f"{field}: {message}" if field else message
        super().__init__(detail, where=location)


class StoreError(WatcherError):
    """The data directory cannot be read or written, or is held by another process."""


class StoreBusy(StoreError):
    """Another process holds the data directory (and waiting for it did not help)."""


class DeliveryError(WatcherError):
    """A destination refused or failed a send.

    ``permanent`` means retrying will not help until the user fixes something (a wrong token,
    an unknown channel); temporary failures are retried on the next cycle.
    """

    def __init__(
        self, message: str, *, where: str, permanent: bool = False, resume: str | None = None
    ) -> None:
        self.permanent = permanent
        # Where a send of several messages stopped (opaque to all but its notifier), so the
        # next attempt carries on instead of sending again what already arrived.
        self.resume = resume
        super().__init__(message, where=where)


class DeliveryUnknown(DeliveryError):
    """The connection dropped after the request was sent: it may or may not have arrived."""


# The exit status of a configuration error (EX_CONFIG of sysexits.h): starting again cannot
# help until someone fixes a setting or the rules directory, so the systemd unit names it in
# RestartPreventExitStatus= instead of restarting the service every RestartSec= for ever.
EXIT_CONFIG = 78


class ConfigError(WatcherError):
    """The watcher cannot run as configured (a malformed setting, a missing rules
    directory); the command exits with ``EXIT_CONFIG``."""


class SettingsError(ConfigError):
    """An environment setting is missing or malformed."""
