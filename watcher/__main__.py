"""``python -m watcher`` runs the same command as ``watcher``."""

import sys

from watcher.cli import main

sys.exit(main())
