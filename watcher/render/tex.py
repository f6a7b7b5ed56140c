"""TeX in feed text, shown as the Unicode a reader expects (pure).

arXiv gives titles, authors and abstracts as their submitters typed them, in TeX:
``Kr\\"uger``, ``\\texttt{MAXCUT}``, ``$\\Delta$-hard``. Every format but the classic
Markdown layout (the seed digest, byte for byte as arXiv gave it) shows ``tex_to_unicode``
of them: accents and common macros decoded by pylatexenc (the kept library for this), math
shown without its ``$`` delimiters, its macros decoded (``$O(\\sqrt{n})$`` -> ``O(√(n))``,
``$10^{-3}$`` -> ``10^-3``), so an expression stays legible. Matching never sees this: it
reads the text as the feed gave it.

Only text that has TeX in it is touched (a backslash or a ``$``): plain text keeps every
character, ``--``, ``~`` and ``%`` included. URLs are kept out of the decoding (a ``~`` or
``%`` in a link must survive), ``%`` never starts a comment (abstracts say "50%"), ``&`` is
an ampersand, and a macro pylatexenc does not know is shown as written (``\\foo{x}``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pylatexenc.latex2text import (
    LatexNodes2Text,
    MacroTextSpec,
    SpecialsTextSpec,
    get_default_latex_context_db,
)
from pylatexenc.latexwalker import LatexWalker
from pylatexenc.latexwalker import get_default_latex_context_db as get_default_walker_db
from pylatexenc.macrospec import MacroSpec

__all__ = ["has_tex", "tex_to_unicode"]

_URL = re.compile(r"https?://[^\s<>\"'{}]+")

# Macros that only style their argument: show the argument. pylatexenc's walker knows some
# of them with an argument but its text converter has no rule and drops them whole
# (``\texttt{MAXCUT}`` became ""), others it does not know at all.
_STYLE_MACROS = (
    "texttt",
    "textsf",
    "textrm",
    "textnormal",
    "textup",
    "textmd",
    "textsl",
    "mathtt",
    "mathsf",
    "mathit",
    "mathnormal",
    "boldsymbol",
    "bm",
    "operatorname",
    "url",
)

# Switches that change the font or size of what follows (``{\\bf x}``, ``\\small ASP``):
# the text is shown, the switch is not.
_SWITCHES = (
    "em", "bf", "it", "rm", "sf", "tt", "sl", "sc", "bfseries", "itshape", "mdseries",
    "normalfont", "tiny", "scriptsize", "footnotesize", "small", "normalsize", "large",
    "Large", "LARGE", "huge", "Huge", "centering", "noindent",
)  # fmt: skip

_REFERENCE_MACROS = ("cite", "citep", "citet", "citealp", "ref", "eqref", "autoref", "cref")


@lru_cache(maxsize=1)
def _converter() -> tuple[LatexNodes2Text, object]:
    text_db = get_default_latex_context_db()
    text_db.add_context_category(
        "watcher",
        prepend=True,
        macros=[MacroTextSpec(name, simplify_repl="%s") for name in _STYLE_MACROS]
        # \href{url}{text}: the text (the default rule fails when an argument is missing).
        + [MacroTextSpec("href", simplify_repl="%(2)s")]
        # A citation or reference means nothing outside the paper: a mark, not "<cit.>".
        + [MacroTextSpec(name, simplify_repl="[…]") for name in _REFERENCE_MACROS]
        + [MacroTextSpec(name, discard=True) for name in _SWITCHES],
        # "&" is an ampersand in prose ("Q&A"), not a table's column separator.
        specials=[SpecialsTextSpec("&", "&")],
    )
    walker_db = get_default_walker_db()
    walker_db.add_context_category(
        "watcher",
        prepend=True,
        macros=[MacroSpec(name, "{") for name in _STYLE_MACROS]
        + [MacroSpec("href", "{{")]
        + [MacroSpec(name, "[[{") for name in _REFERENCE_MACROS]
        + [MacroSpec(name, "") for name in _SWITCHES],
    )
    # A macro neither knows takes one argument, so that it is shown with it as written
    # (``\\foo{x}``; see _KeepUnknown) rather than as ``\\foox``; the text converter's own
    # symbols (``\\log``, ``\\alpha``) take none there.
    known = {spec.macroname for spec in walker_db.iter_macro_specs()}
    walker_db.add_context_category(
        "watcher-symbols",
        macros=[
            MacroSpec(spec.macroname, "")
            for spec in text_db.iter_macro_specs()
            if spec.macroname not in known
        ],
    )
    walker_db.set_unknown_macro_spec(MacroSpec("", "{"))
    converter = _KeepUnknown(latex_context=text_db, math_mode="text", strict_latex_spaces=False)
    return converter, walker_db


class _KeepUnknown(LatexNodes2Text):  # type: ignore[misc]
    """A macro pylatexenc has no rule for is shown as written (``x\\pruning`` stays), not
    dropped with its name: a reader can make sense of ``\\foo``, not of a missing word."""

    def macro_node_to_text(self, node: Any) -> str:
        if self.latex_context.get_macro_spec(node.macroname) is None:
            return str(node.latex_verbatim())
        return str(super().macro_node_to_text(node))


def has_tex(text: str) -> bool:
    """Whether ``text`` may hold TeX worth decoding (a backslash or a math ``$``)."""
    return "\\" in text or "$" in text


# "%" in an abstract is a percent sign ("4.4--14.2% while..."), never the start of a comment
# that would hide the rest of the line from decoding.
_BARE_PERCENT = re.compile(r"(?<!\\)%")


def _decode(part: str) -> str:
    converter, walker_db = _converter()
    part = _BARE_PERCENT.sub(r"\\%", part)
    walker = LatexWalker(part, latex_context=walker_db, tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    return str(converter.nodelist_to_text(nodes))


# URLs stand in the text as private-use characters while it is decoded (pylatexenc passes
# them through), so a URL inside a macro's argument (\footnote{code at https://...}) stays
# where it was and whole.
_HELD = 0xE000
_HELD_MAX = 0x1900  # the Basic Multilingual Plane's private-use area: U+E000..U+F8FF
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


@lru_cache(maxsize=8192)
def tex_to_unicode(text: str) -> str:
    """``text`` with its TeX accents, macros and math shown as Unicode (see the module
    docstring); unchanged when it has none. Cached: a paper is often in several digests."""
    if not has_tex(text):
        return text
    urls = _URL.findall(text)
    if len(urls) >= _HELD_MAX or _PRIVATE_USE.search(text):
        return text  # (no room to hold its URLs aside: shown as arXiv gave it)
    held = iter(range(len(urls)))
    placeheld = _URL.sub(lambda _: chr(_HELD + next(held)), text)
    decoded = _decode_or_keep(placeheld)
    if decoded is placeheld:
        return text
    return _PRIVATE_USE.sub(lambda m: urls[ord(m.group()) - _HELD], decoded)


def _decode_or_keep(part: str) -> str:
    try:
        decoded = _decode(part)
    except Exception:  # pylatexenc on odd input: the text as given beats no text
        return part
    # Decoding never swallows a whole field: if the TeX came out as nothing, keep the source.
    held = set(_PRIVATE_USE.findall(part))
    if (not decoded.strip() and part.strip()) or set(_PRIVATE_USE.findall(decoded)) != held:
        return part
    return decoded
