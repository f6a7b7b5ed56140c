"""The term and query language of rule files: words, prefixes, phrases and boolean queries.

Pure and dependency-free: rule validation (watcher.rules), the matcher (watcher.match) and
the renderers (highlighting, watcher.render) all read terms through this one module, so a
term means the same thing wherever it is used. Text and terms are split into words by the
same ``tokenize``: NFKC, casefold, and any run of non-alphanumeric characters is a boundary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container

from watcher.models import QueryAnd, QueryNode, QueryNot, QueryOr, Term

# Runs of alphanumerics (Unicode-aware): ``\w`` minus the underscore.
WORD_RUN = re.compile(r"[^\W_]+")

# A term's identity in the index: its words and whether the last word is a prefix.
TermKey = tuple[tuple[str, ...], bool]


def normalize(text: str) -> str:
    """NFKC and casefold: the one normal form shared by rule terms and paper text."""
    if text.isascii():
        return text.lower()  # the same result, without the Unicode tables
    return unicodedata.normalize("NFKC", text).casefold()


# ASCII text: every character that is not a letter or digit becomes a space, then split.
# The same words as ``WORD_RUN`` finds, in a third of the time (most abstracts are ASCII).
_ASCII_SEPARATORS = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})


def tokenize(text: str) -> list[str]:
    """Split ``text`` into normalised words; every non-alphanumeric character separates."""
    if text.isascii():
        return text.lower().translate(_ASCII_SEPARATORS).split()
    return WORD_RUN.findall(normalize(text))


def term_key(term: Term) -> TermKey:
    return (term.words, term.prefix)


# --- boolean queries ---------------------------------------------------------------------


def query_terms(node: QueryNode, positive: bool = True) -> list[tuple[Term, bool]]:
    """Every term of a query tree with its polarity (False under an odd number of NOTs)."""
    if isinstance(node, Term):
        return [(node, positive)]
    if isinstance(node, QueryNot):
        return query_terms(node.part, not positive)
    return [pair for part in node.parts for pair in query_terms(part, positive)]


def evaluate_query(node: QueryNode, hits: Container[TermKey]) -> bool:
    """The query's truth for a paper whose found terms are ``hits``."""
    if isinstance(node, Term):
        return term_key(node) in hits
    if isinstance(node, QueryNot):
        return not evaluate_query(node.part, hits)
    if isinstance(node, QueryAnd):
        return all(evaluate_query(part, hits) for part in node.parts)
    if isinstance(node, QueryOr):
        return any(evaluate_query(part, hits) for part in node.parts)
    raise TypeError(f"not a query node: {node!r}")


# --- terms -------------------------------------------------------------------------------


def parse_term(text: str) -> Term:
    """Parse one search term; raise ValueError (with a user-facing message) if invalid.

    ``prun*`` is a word prefix (a ``*`` only at the end of the last word); several words,
    optionally in double quotes, are a phrase; any non-alphanumeric character separates
    words, so ``low-bit`` is the phrase ``low bit``. Matching is case-insensitive (NFKC
    and casefold, exactly like ``watcher.match.tokenize``).
    """
    written = text.strip()
    body = written
    if len(body) >= 2 and body[0] == body[-1] == '"':
        body = body[1:-1].strip()
    prefix = body.endswith("*")
    if prefix:
        body = body[:-1]
        if not body[-1:].isalnum():
            raise ValueError(f"{written!r}: '*' must directly follow a word, as in prun*")
    if "*" in body:
        raise ValueError(f"{written!r}: '*' is only allowed at the end of the last word")
    words = tuple(tokenize(body))
    if not words:
        raise ValueError(f"{written!r} has no letters or digits to match")
    if prefix and len(words[-1]) < 2:
        raise ValueError(f"{written!r}: a one-character prefix would match almost anything")
    return Term(text=written, words=words, prefix=prefix)


class QuerySyntaxError(ValueError):
    """A query that does not parse; ``position`` counts characters of the query from 1."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"character {position}: {message}")
        self.position = position


_QUERY_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<quoted>"[^"]*"?)|(?P<word>[^\s()"]+))')
_OPERATORS = ("AND", "OR", "NOT")


def parse_query(text: str) -> QueryNode:
    """Parse a boolean query into a tree of terms; raise QuerySyntaxError if invalid.

    ``quantiz* OR "low-bit"``, ``(prun* OR sparsit*) AND NOT quantum``: AND, OR and NOT in
    capitals, parentheses, and terms written as in term lists (words, ``prefix*``, "quoted
    phrases"). NOT binds tighter than AND, AND tighter than OR. Terms side by side without
    an operator are an error rather than an implicit AND, because ``low bit`` in a term list
    is a phrase.
    """
    tokens: list[tuple[str, str, int]] = []  # (kind, text, 1-based position)
    pos = 0
    while pos < len(text):
        m = _QUERY_TOKEN.match(text, pos)
        if m is None or m.end() == pos:  # only trailing spaces are left
            break
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        where = m.start(kind) + 1
        if kind == "quoted" and (len(value) < 2 or not value.endswith('"')):
            raise QuerySyntaxError("this quote is never closed", where)
        if kind == "word" and value.upper() in _OPERATORS:
            if value not in _OPERATORS:
                raise QuerySyntaxError(
                    f"write the operator {value.upper()} in capitals "
                    f'(or quote "{value}" to search for the word)',
                    where,
                )
            kind = "op"
        tokens.append((kind, value, where))
    if not tokens:
        raise QuerySyntaxError("the query is empty", 1)
    parser = _QueryParser(tokens, len(text) + 1)
    root = parser.expression()
    if parser.index < len(tokens):
        kind, value, where = tokens[parser.index]
        if value == ")":
            raise QuerySyntaxError("')' without a matching '('", where)
        raise QuerySyntaxError(
            f"expected AND or OR before {value!r} (to search for a phrase, quote it)", where
        )
    if evaluate_query(root, frozenset()):
        raise QuerySyntaxError(
            "the query matches papers containing none of its terms; give at least one "
            "term that must occur, as in 'prun* AND NOT quantum'",
            1,
        )
    return root


class _QueryParser:
    def __init__(self, tokens: list[tuple[str, str, int]], end: int) -> None:
        self.tokens = tokens
        self.index = 0
        self.end = end

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def expression(self) -> QueryNode:
        parts = [self.conjunction()]
        while (token := self.peek()) is not None and token[:2] == ("op", "OR"):
            self.index += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else QueryOr(tuple(parts))

    def conjunction(self) -> QueryNode:
        parts = [self.unary()]
        while (token := self.peek()) is not None and token[:2] == ("op", "AND"):
            self.index += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else QueryAnd(tuple(parts))

    def unary(self) -> QueryNode:
        token = self.peek()
        if token is not None and token[:2] == ("op", "NOT"):
            self.index += 1
            return QueryNot(self.unary())
        return self.primary()

    def primary(self) -> QueryNode:
        token = self.peek()
        after = self.tokens[self.index - 1][1] if self.index else ""
        context = f" after {after!r}" if after else ""
        if token is None:
            raise QuerySyntaxError(f"expected a term or '('{context}, found the end", self.end)
        kind, value, where = token
        if kind == "op" or value == ")":
            raise QuerySyntaxError(f"expected a term or '('{context}, found {value!r}", where)
        self.index += 1
        if value == "(":
            inner = self.expression()
            closing = self.peek()
            if closing is None or closing[1] != ")":
                raise QuerySyntaxError("this '(' is never closed", where)
            self.index += 1
            return inner
        try:
            return parse_term(value)
        except ValueError as error:
            raise QuerySyntaxError(f"invalid term {error}", where) from None
