"""Replace a file so that a crash leaves either the old or the new one, never half of either.

The one way every file under the data directory is written (the store, the daemon's
heartbeat, local digests, kept rule files): a temp file in the same directory, flushed and
fsynced, renamed over the target, then the directory fsynced so the rename itself survives a
power cut.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(
    path: Path, payload: bytes, *, durable: bool = True, mode: int | None = None
) -> None:
    """Write ``payload`` to ``path`` atomically (creating the directory if needed).
    Raises OSError; the temp file never outlives a failure.

    ``durable=False`` leaves out the fsyncs: the file is still whole or absent for any
    reader and after a crash of the process, and the caller makes a batch of such files
    durable at once (one ``os.sync()`` for a thousand local digests, not two thousand
    fsyncs). ``mode``: the file's permissions (a temp file is made readable by its owner
    only; a feed a web server serves must be readable by others)."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_directory(directory)


def fsync_directory(directory: Path) -> None:
    """Make a rename or deletion in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
