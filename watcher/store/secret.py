"""The key that signs the feedback links of email digests (``secret.key``, mode 0600).

``WATCHER_SECRET_KEY`` wins when set; otherwise a random key is generated once into the
data directory and read back ever after, so the links of a mail sent before a restart
still work. Created with ``O_EXCL`` under a 0600 mode (never world-readable, not even for
a moment); two processes starting at once end with the same key (the loser reads the
winner's). A key file that is empty, damaged or readable by others is an error naming the
file, never a key silently replaced: replacing it would void every link already mailed.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from watcher.errors import StoreError

KEY_FILE = "secret.key"
_KEY_BYTES = 32


def signing_key(data_dir: Path, configured: str | None = None) -> bytes:
    """The signing key: ``configured`` (WATCHER_SECRET_KEY) if given, else the data
    directory's, generated on first use."""
    if configured:
        return configured.encode("utf-8")
    path = data_dir / KEY_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(_KEY_BYTES).encode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read(path)
    except OSError as error:
        raise StoreError(
            f"cannot create the link signing key: {error.strerror}", where=str(path)
        ) from None
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes().strip()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise StoreError(
            f"cannot read the link signing key: {error.strerror}", where=str(path)
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StoreError(
            "the link signing key is readable by other users: chmod 600 it (and, if others "
            "may have read it, delete it: a new one is made, old links stop working)",
            where=str(path),
        )
    if len(data) < 32:
        raise StoreError(
            "the link signing key is empty or damaged: delete the file to make a new one "
            "(links already mailed then stop working), or set WATCHER_SECRET_KEY",
            where=str(path),
        )
    return data
