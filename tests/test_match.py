"""Matching: examples, an oracle property test, and recall of the shipped rule on the seed."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import factories
from tests.conftest import RULES_DIR
from tests.factories import subscription as sub
from tests.reference_matcher import oracle_hits, reference_match
from tests.seed import read_seed
from watcher.match import (
    author_keys,
    compile_matcher,
    highlight_spans,
    name_words,
    watched_authors,
)
from watcher.models import (
    Match,
    Paper,
    Query,
    QueryAnd,
    QueryNode,
    QueryNot,
    QueryOr,
    Subscription,
    Term,
    Topic,
    TopicHit,
)
from watcher.query import tokenize
from watcher.rules import load_rule_file, parse_query, parse_term

# --- the oracle lives in tests/reference_matcher.py (shared with bench/match.py) -----------


def oracle_match(subscriptions: list[Subscription], paper: Paper) -> tuple[Match, ...]:
    return reference_match(subscriptions, paper)


# --- helpers -----------------------------------------------------------------------------


def paper(
    title: str = "",
    abstract: str = "",
    authors: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
) -> Paper:
    """A paper of this text alone (positional: title, abstract)."""
    return factories.paper(title=title, abstract=abstract, authors=authors, categories=categories)


def terms(*texts: str) -> tuple[Term, ...]:
    return tuple(parse_term(t) for t in texts)


def hits_of(subscription: Subscription, p: Paper) -> dict[str, tuple[str, ...]]:
    matches = compile_matcher([subscription]).match(p)
    return {h.topic: h.terms for m in matches for h in m.hits}


# --- examples ----------------------------------------------------------------------------


def test_tokenize_splits_on_non_alphanumerics_and_folds_case() -> None:
    assert tokenize("Low-Bit  quantiZation, (4-bit)_x ﬁne Straße") == [
        "low",
        "bit",
        "quantization",
        "4",
        "bit",
        "x",
        "fine",
        "strasse",
    ]


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_text_splits_like_unicode_text(text: str) -> None:
    # ASCII takes a faster path; it must find exactly the words the general one finds.
    assert tokenize(text) == re.findall(r"[^\W_]+", text.lower())


def test_prefix_is_a_word_prefix_not_a_substring() -> None:
    s = sub("s", Topic("Pruning", any=terms("prun*")))
    assert hits_of(s, paper("Pruning LLMs")) == {"Pruning": ("prun*",)}
    assert hits_of(s, paper("We Pruned it")) == {"Pruning": ("prun*",)}
    assert hits_of(s, paper("to prun or not")) == {"Pruning": ("prun*",)}
    assert hits_of(s, paper("The sprung mass of a car")) == {}
    assert hits_of(s, paper("unpruned networks")) == {}


def test_exact_word_does_not_match_longer_words() -> None:
    s = sub("s", Topic("Sparsity", any=terms("sparse")))
    assert hits_of(s, paper("Sparse attention")) == {"Sparsity": ("sparse",)}
    assert hits_of(s, paper("sparsely activated")) == {}
    assert hits_of(s, paper("nonsparse")) == {}


def test_hyphens_and_spaces_are_equivalent_in_phrases() -> None:
    s = sub("s", Topic("Q", any=terms("low-bit")), Topic("R", any=terms("low rank")))
    for text in ("low bit", "Low-Bit", "low-bit", "LOW   bit", "low—bit", "(low)bit"):
        assert hits_of(s, paper(abstract=f"a {text} model")) == {"Q": ("low-bit",)}, text
    assert hits_of(s, paper("a low-rank adapter")) == {"R": ("low rank",)}
    assert hits_of(s, paper("low, in bit")) == {}
    assert hits_of(s, paper("lowbit")) == {}
    assert hits_of(s, paper("bit low")) == {}


def test_prefix_on_the_last_phrase_word() -> None:
    s = sub("s", Topic("MoE", any=terms('"mixture of expert*"')))
    assert hits_of(s, paper("A Mixture-of-Experts model")) == {"MoE": ('"mixture of expert*"',)}
    assert hits_of(s, paper("mixture of the experts")) == {}


def test_case_and_unicode_insensitive() -> None:
    s = sub("s", Topic("T", any=terms("QUANTIZATION", "straße", "ﬁlter")))
    assert hits_of(s, paper("quantization")) == {"T": ("QUANTIZATION",)}
    assert hits_of(s, paper("STRASSE")) == {"T": ("straße",)}
    assert hits_of(s, paper("a Filter bank")) == {"T": ("ﬁlter",)}


def test_none_excludes_and_all_requires() -> None:
    q = Topic("Quantization", any=terms("quantiz*"), none=terms("quantum"))
    s = sub("s", q)
    assert hits_of(s, paper("Quantized LLMs")) == {"Quantization": ("quantiz*",)}
    assert hits_of(s, paper("Quantized Hall effect", "a quantum material")) == {}
    assert hits_of(s, paper("quantumness of quantization")) == {"Quantization": ("quantiz*",)}

    both = sub("s", Topic("Sparse attention", all=terms("sparse", "attention")))
    assert hits_of(both, paper("sparse attention")) == {"Sparse attention": ("sparse", "attention")}
    assert hits_of(both, paper("sparse models")) == {}

    mixed = sub("s", Topic("T", any=terms("prun*", "distill*"), all=terms("LLM*")))
    assert hits_of(mixed, paper("Pruning and distilling LLMs")) == {
        "T": ("prun*", "distill*", "LLM*")
    }
    assert hits_of(mixed, paper("LLMs")) == {}
    assert hits_of(mixed, paper("pruning CNNs")) == {}


def test_fields_restrict_where_terms_are_searched() -> None:
    by_author = Topic("Han lab", any=terms("song han"), fields=("authors",))
    by_category = Topic("Stats", any=terms("stat.ML"), fields=("categories",))
    s = sub("s", by_author, by_category)
    p = paper("Song Han's method", "We follow Song Han", authors=("Ji Lin", "Song Han"))
    assert hits_of(s, p) == {"Han lab": ("song han",)}
    assert hits_of(s, paper("Song Han", "Song Han", authors=("Someone Else",))) == {}
    assert hits_of(s, paper(categories=("cs.LG", "stat.ML"))) == {"Stats": ("stat.ML",)}
    # Default fields are title and abstract only.
    title_only = sub("s", Topic("T", any=terms("pruning")))
    assert hits_of(title_only, paper(authors=("Pruning Person",))) == {}


def test_multiple_subscriptions_in_order_with_shared_terms() -> None:
    a = sub("a", Topic("Pruning", any=terms("prun*")), Topic("Attention", any=terms("attention")))
    b = sub("b", Topic("Nothing", any=terms("zebra")))
    c = sub("c", Topic("Also pruning", any=terms("PRUN*", "sparse")))
    matcher = compile_matcher([a, b, c])
    p = paper("Attention pruning", "sparse heads")
    assert matcher.match(p) == (
        Match(p, "a", (TopicHit("Pruning", ("prun*",)), TopicHit("Attention", ("attention",)))),
        Match(p, "c", (TopicHit("Also pruning", ("PRUN*", "sparse")),)),
    )
    assert matcher.match(paper("zebra")) == (
        Match(paper("zebra"), "b", (TopicHit("Nothing", ("zebra",)),)),
    )
    assert matcher.match(paper("nothing here")) == ()
    assert compile_matcher([]).match(p) == ()


def test_prefixes_of_several_lengths() -> None:
    s = sub("s", Topic("T", any=terms("qu*", "quant*", "quantiz*", "quantization")))
    assert hits_of(s, paper("quantization")) == {"T": ("qu*", "quant*", "quantiz*", "quantization")}
    assert hits_of(s, paper("quantum")) == {"T": ("qu*", "quant*")}
    assert hits_of(s, paper("q")) == {}


# --- the property: the index agrees with the oracle --------------------------------------

VOCAB = [
    "prune",
    "Pruning",
    "sprung",
    "low",
    "bit",
    "lowbit",
    "quantum",
    "Quantization",
    "sparse",
    "sparsity",
    "a",
    "x1",
    "ﬁlter",
    "Straße",
]
SEPARATORS = [" ", "-", ", ", "  ", "/", "(", "_", "—", "\n"]


@st.composite
def texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(VOCAB), max_size=8))
    out = draw(st.sampled_from(["", " ", "-"]))
    for word in words:
        word = draw(st.sampled_from([word, word.upper(), word.lower(), word.title()]))
        out += word + draw(st.sampled_from(SEPARATORS))
    return out


@st.composite
def rule_terms(draw: st.DrawFn) -> Term:
    words = draw(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3))
    if len(words[-1]) >= 2 and draw(st.booleans()):
        last = words[-1]
        words[-1] = last[: draw(st.integers(2, max(2, len(last))))] + "*"
    joined = draw(st.sampled_from([" ", "-"])).join(words)
    if draw(st.booleans()):
        joined = joined.upper()
    return parse_term(f'"{joined}"' if draw(st.booleans()) else joined)


CATEGORY_FILTERS = [(), ("cs",), ("stat",), ("cs.LG",), ("stat.ML", "cs.CV"), ("CS.lg",)]
PAPER_CATEGORIES = [(), ("cs.LG",), ("cs.CV", "stat.ML"), ("cs.AI",), ("math.OC",), ("cs",)]
NAMES = [
    "Song Han",
    "Han Song",
    "Yann LeCun",
    "Yann Le Cun",
    "Y. LeCun",
    "Samuel R. Bowman",
    "Samuel Bowman",
    "Samuel R. J. Bowman",
    "R\\'emi Gribonval",
    "Rémi Gribonval",
    "Remi Gribonval (OCKHAM)",
    "Cher",
    "CHER (Nowhere, Inc.)",
]


def queries(leaf: st.SearchStrategy[Term]) -> st.SearchStrategy[QueryNode]:
    def grow(children: st.SearchStrategy[QueryNode]) -> st.SearchStrategy[QueryNode]:
        parts = st.lists(children, min_size=2, max_size=3).map(tuple)
        return st.one_of(parts.map(QueryAnd), parts.map(QueryOr), children.map(QueryNot))

    return st.recursive(leaf, grow, max_leaves=5)


@st.composite
def topics(draw: st.DrawFn) -> Topic:
    term_list = st.lists(rule_terms(), max_size=3).map(tuple)
    any_, all_ = draw(term_list), draw(term_list)
    authors = tuple(draw(st.lists(st.sampled_from(NAMES), max_size=2, unique=True)))
    query = None
    if draw(st.booleans()):
        query = Query("generated", draw(queries(rule_terms())))
    if not any_ and not all_ and not authors and query is None:
        any_ = (draw(rule_terms()),)
    fields = draw(
        st.sampled_from(
            [("title", "abstract"), ("title",), ("authors",), ("abstract",), ("comment",)]
        )
    )
    return Topic(
        name=f"t{draw(st.integers(0, 10**6))}",
        any=any_,
        all=all_,
        none=draw(st.lists(rule_terms(), max_size=2).map(tuple)),
        fields=fields,
        categories=draw(st.sampled_from(CATEGORY_FILTERS)),
        authors=authors,
        query=query,
    )


@st.composite
def subscriptions(draw: st.DrawFn) -> list[Subscription]:
    count = draw(st.integers(1, 3))
    return [sub(f"s{i}", *draw(st.lists(topics(), min_size=1, max_size=3))) for i in range(count)]


@settings(max_examples=400, deadline=None)
@given(
    subscriptions(),
    texts(),
    texts(),
    st.lists(st.one_of(texts(), st.sampled_from(NAMES)), max_size=3),
    st.sampled_from(PAPER_CATEGORIES),
    st.one_of(st.none(), texts()),
)
def test_index_agrees_with_oracle(
    subs: list[Subscription],
    title: str,
    abstract: str,
    authors: list[str],
    categories: tuple[str, ...],
    comment: str | None,
) -> None:
    p = replace(paper(title, abstract, tuple(authors), categories), comment=comment)
    fast, slow = compile_matcher(subs).match(p), oracle_match(subs, p)
    assert fast == slow
    assert [m.score for m in fast] == [m.score for m in slow]


# --- the shipped rule: all 100 seed papers, and not unrelated ones -----------------------


def seed_papers(seed_path: Path) -> list[Paper]:
    return [
        s.paper(published=datetime.fromisoformat(s.date).replace(tzinfo=UTC))
        for s in read_seed(seed_path)
    ]


def test_shipped_rule_matches_every_seed_paper(seed_path: Path) -> None:
    papers = seed_papers(seed_path)
    assert len(papers) == 100
    rule = load_rule_file(RULES_DIR / "efficient-ml.yaml")
    matcher = compile_matcher([rule])
    missed = [p for p in papers if not matcher.match(p)]
    for p in missed:
        print(f"MISSED {p.versioned_id}: {p.title}")
    assert not missed, f"{len(missed)} seed papers missed: {[p.id for p in missed]}"
    # The oracle agrees on the real texts too.
    for p in papers:
        assert matcher.match(p) == oracle_match([rule], p)


def test_quantum_exclusion_costs_no_seed_paper(seed_path: Path) -> None:
    rule = load_rule_file(RULES_DIR / "efficient-ml.yaml")
    quantization = next(t for t in rule.topics if t.name == "Quantization")
    assert [t.text for t in quantization.none] == ["quantum"]
    unexcluded = Topic(quantization.name, any=quantization.any, fields=quantization.fields)
    relaxed = Subscription(
        rule.name,
        rule.path,
        rule.feeds,
        tuple(unexcluded if t is quantization else t for t in rule.topics),
    )
    strict, loose = compile_matcher([rule]), compile_matcher([relaxed])
    for p in seed_papers(seed_path):
        assert bool(strict.match(p)) == bool(loose.match(p)), p.title


UNRELATED = [
    paper(
        "Quantized conductance in a topological quantum wire",
        "We observe quantized conductance plateaus in a quantum spin Hall insulator "
        "at millikelvin temperatures, consistent with helical edge states.",
    ),
    paper(
        "Fatigue of sprung steel in heavy vehicle suspensions",
        "The sprung and unsprung masses of a truck were measured; leaf springs fatigue "
        "faster under cyclic loads than coil springs.",
    ),
    paper(
        "A survey of coral reef fish populations",
        "We counted reef fish in the Pacific over ten years and relate the counts to "
        "water temperature and fishing pressure.",
    ),
    paper(
        "Apprenticeship and unions in the 19th century",
        "Archival records of guild apprenticeships show how skills passed between "
        "generations of craftsmen.",
    ),
]


def test_shipped_rule_ignores_unrelated_papers() -> None:
    matcher = compile_matcher([load_rule_file(RULES_DIR / "efficient-ml.yaml")])
    for p in UNRELATED:
        assert matcher.match(p) == (), p.title


# --- fields, categories, authors, queries, scores ----------------------------------------


def test_comment_journal_ref_and_announce_type_fields() -> None:
    p = replace(
        paper("A title", "An abstract"),
        comment="Accepted at NeurIPS 2024; code at github",
        journal_ref="Proc. ICML 2024",
        announce_type="replace-cross",
    )
    s = sub(
        "s",
        Topic("Venue", any=terms("neurips"), fields=("comment",)),
        Topic("Journal", any=terms("icml"), fields=("journal_ref",)),
        Topic("Replaced", any=terms("replace-cross"), fields=("announce_type",)),
        Topic("Nope", any=terms("neurips")),
    )
    assert hits_of(s, p) == {
        "Venue": ("neurips",),
        "Journal": ("icml",),
        "Replaced": ("replace-cross",),
    }
    # Missing values are empty text, not an error.
    assert hits_of(s, paper("A title")) == {}


def test_category_filter_is_applied_before_terms() -> None:
    t = Topic("Pruning in ML", any=terms("prun*"), categories=("cs.LG", "stat"))
    s = sub("s", t)
    assert hits_of(s, paper("Pruning", categories=("cs.LG",))) == {"Pruning in ML": ("prun*",)}
    assert hits_of(s, paper("Pruning", categories=("math.OC", "stat.ML"))) != {}
    assert hits_of(s, paper("Pruning", categories=("cs.CV",))) == {}
    assert hits_of(s, paper("Pruning", categories=("statistics",))) == {}
    assert hits_of(s, paper("Pruning")) == {}  # no categories (a generic feed): filtered out
    archive = sub("s", Topic("CS", any=terms("prun*"), categories=("cs",)))
    assert hits_of(archive, paper("Pruning", categories=("cs.CV",))) == {"CS": ("prun*",)}
    assert hits_of(archive, paper("Pruning", categories=("csx.CV",))) == {}


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('Ralf Bornd\\"orfer', ("ralf", "borndorfer")),
        ("R\\'emi Gribonval (OCKHAM)", ("remi", "gribonval")),
        ("David Kla\\v{s}ka", ("david", "klaska")),
        ("Vojt\\v{e}ch K\\r{u}r", ("vojtech", "kur")),
        ("Stanis{\\l}aw Wiktor Strzelecki", ("stanislaw", "wiktor", "strzelecki")),
        ("Fran\\c{c}ois Schwarzentruber", ("francois", "schwarzentruber")),
        ("Jo\\~ao F. Ferreira", ("joao", "f", "ferreira")),
        ('Oskar Hallstr\\"om', ("oskar", "hallstrom")),
        ("{\\O}ystein {\\AA}se", ("oystein", "ase")),
        ('J\\"{u}rgen Gro{\\ss}', ("jurgen", "gross")),
        ("Lu\\'{\\i}s Gomes", ("luis", "gomes")),
        ("H\\'el\\`ene Verhaeghe", ("helene", "verhaeghe")),
        ("Rémi Gribonval", ("remi", "gribonval")),
        ("Łukasz Kaiser", ("lukasz", "kaiser")),
        ("Søren Hauberg", ("soren", "hauberg")),
        ("Jürgen Schmidhuber (IDSIA (USI, SUPSI), KAUST)", ("jurgen", "schmidhuber")),
        ("Xihong Su, Jr.", ("xihong", "su", "jr")),
        ("Julien Grand-Cl\\'ement", ("julien", "grand", "clement")),
    ],
)
def test_name_words_strip_affiliations_accents_and_tex(raw: str, words: tuple[str, ...]) -> None:
    assert name_words(raw) == words


@pytest.mark.parametrize(
    ("watched", "author", "same"),
    [
        ("Yann LeCun", "Yann LeCun (NYU)", True),
        ("Yann LeCun", "Yann Le Cun", True),
        ("yann lecun", "YANN LECUN", True),
        ("Yann LeCun", "Y. LeCun", False),  # a first name is never guessed from an initial
        ("Y. LeCun", "Y. LeCun (Meta)", True),
        ("Samuel Bowman", "Samuel R. Bowman", True),
        ("Samuel R. Bowman", "Samuel Bowman", True),
        ("Samuel R. Bowman", "Samuel R. J. Bowman", True),
        ("Samuel Bowman", "Samuel Ryan Bowman", False),  # only initials are optional
        ("Rémi Gribonval", "R\\'emi Gribonval (OCKHAM)", True),
        ("Julien Grand-Clément", "Julien Grand Cl\\'ement", True),
        ("Song Han", "Han Song", False),
        ("Song Han", "Song Hang", False),
        ("Song Han", "Song", False),
        ("Pedro Maristany de las Casas", "Pedro Casas", False),
    ],
)
def test_author_names(watched: str, author: str, same: bool) -> None:
    assert bool(author_keys(watched) & author_keys(author)) is same
    assert watched_authors([watched], [author]) == ((watched,) if same else ())


def test_author_watch_list_topic() -> None:
    lab = Topic("Han lab", authors=("Song Han", "Ji Lin"))
    s = sub("s", lab)
    p = paper("Anything", authors=("Someone Else", "Song Han (MIT)"))
    assert hits_of(s, p) == {"Han lab": ("Song Han",)}
    assert hits_of(s, paper("Anything", "by Song Han", authors=("Other",))) == {}
    # With terms too, both must hold: papers by the lab about pruning.
    about = sub("s", Topic("Han on pruning", any=terms("prun*"), authors=("Song Han",)))
    assert hits_of(about, replace(p, title="Pruning")) == {"Han on pruning": ("prun*", "Song Han")}
    assert hits_of(about, p) == {}
    assert hits_of(about, paper("Pruning", authors=("Ji Lin",))) == {}


def query(text: str) -> Query:
    return Query(text, parse_query(text))


def test_boolean_query() -> None:
    q = Topic("Q", query=query('(quantiz* OR "low-bit") AND NOT quantum'))
    s = sub("s", q)
    assert hits_of(s, paper("Quantized LLMs")) == {"Q": ("quantiz*",)}
    assert hits_of(s, paper("Low bit LLMs, quantized")) == {"Q": ("quantiz*", '"low-bit"')}
    assert hits_of(s, paper("Quantized quantum circuits")) == {}
    assert hits_of(s, paper("Nothing")) == {}
    nested = sub("s", Topic("N", query=query("NOT (quantum OR physics) AND (prun* OR sparse)")))
    assert hits_of(nested, paper("pruning")) == {"N": ("prun*",)}
    assert hits_of(nested, paper("pruning physics")) == {}
    # A query with any/all: every condition must hold.
    both = sub("s", Topic("B", any=terms("llm*"), query=query("prun* OR distill*")))
    assert hits_of(both, paper("Pruning LLMs")) == {"B": ("llm*", "prun*")}
    assert hits_of(both, paper("Pruning CNNs")) == {}


def test_score_weighs_title_over_abstract_and_authors_most() -> None:
    s = Subscription(
        "s",
        "s.yaml",
        ("cs.LG",),
        (
            Topic("Pruning", any=terms("prun*", "sparse")),
            Topic("Also pruning", any=terms("prun*")),
            Topic("Lab", authors=("Song Han",)),
        ),
    )
    matcher = compile_matcher([s])

    def score(p: Paper) -> float:
        (m,) = matcher.match(p)
        return m.score

    assert score(paper("Pruning")) == 3  # prun* in the title: counted once per field
    assert score(paper("x", "pruning")) == 1
    assert score(paper("Pruning", "pruning")) == 4
    assert score(paper("Pruning", "sparse pruning")) == 5
    assert score(paper("x", "pruning", authors=("Song Han",))) == 6
    assert score(paper("x", "y", authors=("Song Han",))) == 5


# --- highlight spans -----------------------------------------------------------------------


def marked(text: str, *written: str) -> list[str]:
    return [text[a:b] for a, b in highlight_spans(text, terms(*written))]


def test_highlight_words_prefixes_and_phrases() -> None:
    text = "Pruning pruned nets; we prune. Sprung, unpruned."
    assert marked(text, "prun*") == ["Pruning", "pruned", "prune"]
    assert highlight_spans(text, terms("prun*")) == [(0, 7), (8, 14), (24, 29)]
    assert marked("sparse, sparsely SPARSE", "sparse") == ["sparse", "SPARSE"]
    assert marked("a Low-Bit and low  bit and low—bit model", "low bit") == [
        "Low-Bit",
        "low  bit",
        "low—bit",
    ]
    assert marked("lowbit, bit low", "low-bit") == []
    assert marked("Mixture-of-Experts (MoE)", '"mixture of expert*"') == ["Mixture-of-Experts"]


def test_highlight_offsets_exact_with_accents_and_compatibility_characters() -> None:
    text = "Ré-sumé: café au lait, ﬁne-tuning Straße and CAFÉ"
    assert marked(text, "café") == ["café", "CAFÉ"]
    assert marked(text, "fine-tun*") == ["ﬁne-tuning"]
    assert marked(text, "strasse") == ["Straße"]
    assert marked(text, "re sume") == []  # é is not e: accents count in text terms
    assert marked(text, "ré-sumé") == ["Ré-sumé"]
    decomposed = "cafe\u0301 and re\u0301sume\u0301"  # e + combining acute accent
    assert marked(decomposed, "café") == ["cafe\u0301"]
    assert highlight_spans(decomposed, terms("café")) == [(0, 5)]


def test_highlight_merges_overlaps_and_sorts() -> None:
    text = "low-rank low-rank adapters"
    spans = highlight_spans(text, terms("rank adapt*", "low-rank", "low"))
    assert spans == [(0, 8), (9, 26)]
    assert highlight_spans("", terms("x")) == []
    assert highlight_spans("some text", ()) == []
    assert highlight_spans("a b", (Term("", ()),)) == []


def test_highlight_punctuation_and_underscores_separate() -> None:
    text = "(pruning)_and [PRUNING]. x_pruning_y\npruning"
    assert highlight_spans(text, terms("pruning")) == [(1, 8), (15, 22), (27, 34), (37, 44)]


@settings(max_examples=300, deadline=None)
@given(texts(), st.lists(rule_terms(), min_size=1, max_size=3))
def test_highlight_agrees_with_matching(text: str, written: list[Term]) -> None:
    spans = highlight_spans(text, written)
    found = any(oracle_hits(t, text) for t in written)
    assert bool(spans) == found
    for start, end in spans:
        # Each span starts and ends on a word and holds at least one matching term.
        assert text[start].isalnum() and text[end - 1].isalnum()
        assert any(oracle_hits(t, text[start:end]) for t in written)
    assert spans == sorted(spans)
    assert all(a[1] < b[0] for a, b in pairwise(spans))


def test_query_of_only_negated_terms_still_reads_its_fields() -> None:
    # Found by the property test: a hand-built query true on an empty paper, next to an
    # author-only topic, must still look at the text.
    negated = Query("NOT (prune AND prune)", QueryNot(QueryAnd(terms("prune", "prune"))))
    s = sub("s", Topic("A", authors=("Song Han",)), Topic("Q", query=negated))
    assert hits_of(s, paper(abstract="prune ")) == {}
    assert hits_of(s, paper(abstract="other")) == {"Q": ()}
