"""``python -m watcher`` and the ``watcher`` command (pyproject.toml's script points here).

The first thing it does is hold stop signals (watcher.stopsignal): the imports of the
command take most of a second, and a stop in that time must not be lost."""

import sys

from watcher import stopsignal


def main() -> int:
    stopsignal.hold()
    from watcher.cli import main as command

    return command()


if __name__ == "__main__":
    sys.exit(main())
