"""Matching: examples, an oracle property test, and recall of the shipped rule on the seed."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import RULES_DIR
from tests.seed import read_seed
from watcher.match import compile_matcher, field_text, tokenize
from watcher.models import Match, Paper, Subscription, Term, Topic, TopicHit
from watcher.rules import load_rule_file, parse_term

# --- the oracle: a regex per term over the normalised text, slow and obviously right -------


def oracle_text(text: str) -> str:
    """Lower-cased words separated by single spaces, with a space at both ends."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " " + " ".join(re.sub(r"[\W_]+", " ", folded).split()) + " "


def oracle_hits(term: Term, text: str) -> bool:
    pattern = " " + " ".join(map(re.escape, term.words)) + (r"[^ ]*" if term.prefix else "") + " "
    return re.search(pattern, oracle_text(text)) is not None


def oracle_match(subscriptions: list[Subscription], paper: Paper) -> tuple[Match, ...]:
    matches = []
    for sub in subscriptions:
        hits = []
        for topic in sub.topics:
            texts = [field_text(paper, f) for f in topic.fields]

            def hit(term: Term, texts: list[str] = texts) -> bool:
                return any(oracle_hits(term, text) for text in texts)

            if topic.any and not any(map(hit, topic.any)):
                continue
            if not all(map(hit, topic.all)) or any(map(hit, topic.none)):
                continue
            terms = dict.fromkeys(t.text for t in (*topic.any, *topic.all) if hit(t))
            hits.append(TopicHit(topic.name, tuple(terms)))
        if hits:
            matches.append(Match(paper, sub.name, tuple(hits)))
    return tuple(matches)


# --- helpers -----------------------------------------------------------------------------


def paper(
    title: str = "",
    abstract: str = "",
    authors: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
) -> Paper:
    return Paper(
        id="2409.00001",
        version=1,
        title=title,
        authors=authors,
        abstract=abstract,
        categories=categories,
    )


def terms(*texts: str) -> tuple[Term, ...]:
    return tuple(parse_term(t) for t in texts)


def sub(name: str, *topics: Topic) -> Subscription:
    return Subscription(name=name, path=f"{name}.yaml", feeds=("cs.LG",), topics=topics)


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


@st.composite
def topics(draw: st.DrawFn) -> Topic:
    term_list = st.lists(rule_terms(), max_size=3).map(tuple)
    any_, all_ = draw(term_list), draw(term_list)
    if not any_ and not all_:
        any_ = (draw(rule_terms()),)
    fields = draw(st.sampled_from([("title", "abstract"), ("title",), ("authors",), ("abstract",)]))
    return Topic(
        name=f"t{draw(st.integers(0, 10**6))}",
        any=any_,
        all=all_,
        none=draw(st.lists(rule_terms(), max_size=2).map(tuple)),
        fields=fields,
    )


@st.composite
def subscriptions(draw: st.DrawFn) -> list[Subscription]:
    count = draw(st.integers(1, 3))
    return [sub(f"s{i}", *draw(st.lists(topics(), min_size=1, max_size=3))) for i in range(count)]


@settings(max_examples=300, deadline=None)
@given(subscriptions(), texts(), texts(), st.lists(texts(), max_size=3))
def test_index_agrees_with_oracle(
    subs: list[Subscription], title: str, abstract: str, authors: list[str]
) -> None:
    p = paper(title, abstract, tuple(authors))
    assert compile_matcher(subs).match(p) == oracle_match(subs, p)


# --- the shipped rule: all 100 seed papers, and not unrelated ones -----------------------


def seed_papers(seed_path: Path) -> list[Paper]:
    return [
        Paper(
            id=s.id,
            version=s.version,
            title=s.title,
            authors=s.authors,
            abstract=s.abstract,
            published=datetime.fromisoformat(s.date).replace(tzinfo=UTC),
        )
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
