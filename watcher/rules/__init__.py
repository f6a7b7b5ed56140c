"""Rule files: load and validate them (``load``), watch them for edits (``watch``), and try
them against history (``tools``: rules test, explain).

Loading is pure apart from reading the files it is given; it never touches the data
directory. The term and query language itself lives in watcher.query.
"""

from watcher.query import QuerySyntaxError, parse_query, parse_term
from watcher.rules.load import RULE_SUFFIXES, RuleSet, iter_rule_files, load_rule_file, load_rules

__all__ = [
    "RULE_SUFFIXES",
    "QuerySyntaxError",
    "RuleSet",
    "iter_rule_files",
    "load_rule_file",
    "load_rules",
    "parse_query",
    "parse_term",
]
