"""arxiv-watcher: follow arXiv feeds, match papers against keyword rules, deliver digests."""

__version__ = "0.1.0"
