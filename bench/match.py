"""Matcher benchmark: 3,000 generated abstracts x 1,000 generated rules of 10 terms.

Run from the project root:  python bench/match.py  [--papers N] [--rules N] [--sample N]

Prints the compiled matcher's time (compiling, and matching every paper), the reference
matcher's time (tests/reference_matcher.py, the oracle of the test suite) on a sample of the
papers scaled up to all of them, the speed-up, and whether the targets are met: at least
300x the reference, and under 0.5 s for matching. Everything is generated from a fixed seed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reference_matcher import reference_match
from watcher.match import compile_matcher
from watcher.models import Paper, Subscription, Topic
from watcher.rules import parse_term

TARGET_SPEEDUP = 300.0
TARGET_SECONDS = 0.5
# Runs of the compiled matcher; the best one counts, as timeit advises: on a shared machine
# the slower runs measure the neighbours.
RUNS = 5

COMMON = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "we",
    "that",
    "for",
    "on",
    "with",
    "this",
    "are",
    "by",
    "as",
    "an",
    "be",
    "our",
    "from",
    "which",
    "can",
    "these",
    "it",
    "at",
    "or",
    "show",
    "results",
    "method",
    "model",
    "models",
    "using",
    "based",
    "approach",
    "propose",
    "paper",
    "performance",
    "data",
    "new",
    "two",
    "more",
    "than",
    "also",
    "not",
    "their",
    "such",
    "has",
    "have",
    "both",
    "while",
    "however",
    "between",
    "each",
    "when",
    "only",
    "into",
    "over",
    "under",
    "other",
    "its",
    "used",
    "use",
    "novel",
    "existing",
    "across",
    "large",
    "small",
    "different",
    "multiple",
    "first",
    "high",
    "low",
    "improve",
    "improves",
    "improved",
    "significant",
    "state",
    "art",
    "experiments",
    "experimental",
    "demonstrate",
    "framework",
    "task",
    "tasks",
    "training",
    "trained",
    "learning",
    "network",
    "networks",
    "deep",
    "neural",
    "proposed",
    "achieves",
    "achieve",
    "compared",
    "baseline",
    "baselines",
    "accuracy",
    "efficient",
    "efficiency",
    "problem",
    "problems",
    "time",
    "cost",
    "analysis",
    "study",
    "evaluate",
    "evaluation",
    "benchmark",
    "benchmarks",
    "further",
    "without",
    "through",
    "many",
    "most",
    "well",
    "known",
    "challenging",
    "recent",
    "recently",
    "work",
    "works",
    "simple",
    "effective",
    "effectively",
    "robust",
    "general",
    "setting",
    "settings",
    "several",
    "three",
    "may",
    "provide",
    "provides",
    "present",
    "presents",
    "introduce",
    "introduces",
    "scale",
    "scaling",
    "training",
    "inference",
    "memory",
    "computation",
    "computational",
    "power",
    "theory",
    "theoretical",
    "empirical",
    "empirically",
    "finally",
    "particular",
    "particularly",
    "thus",
    "therefore",
    "moreover",
    "where",
    "how",
    "what",
]

TECH = [
    "transformer",
    "attention",
    "sparse",
    "sparsity",
    "pruning",
    "pruned",
    "quantization",
    "quantized",
    "distillation",
    "distilled",
    "compression",
    "compressed",
    "lora",
    "adapter",
    "adapters",
    "token",
    "tokens",
    "embedding",
    "embeddings",
    "gradient",
    "gradients",
    "optimizer",
    "convergence",
    "diffusion",
    "generative",
    "reinforcement",
    "policy",
    "reward",
    "agent",
    "agents",
    "graph",
    "graphs",
    "convolution",
    "convolutional",
    "recurrent",
    "language",
    "vision",
    "multimodal",
    "retrieval",
    "augmented",
    "reasoning",
    "alignment",
    "preference",
    "federated",
    "privacy",
    "differential",
    "adversarial",
    "robustness",
    "uncertainty",
    "bayesian",
    "variational",
    "kernel",
    "kernels",
    "regression",
    "classification",
    "segmentation",
    "detection",
    "tracking",
    "depth",
    "point",
    "cloud",
    "cloud",
    "mesh",
    "rendering",
    "radiance",
    "speech",
    "audio",
    "translation",
    "summarization",
    "dialogue",
    "instruction",
    "tuning",
    "finetuning",
    "pretraining",
    "pretrained",
    "hallucination",
    "calibration",
    "causal",
    "counterfactual",
    "fairness",
    "bias",
    "interpretability",
    "explanation",
    "saliency",
    "contrastive",
    "self",
    "supervised",
    "semi",
    "unsupervised",
    "clustering",
    "manifold",
    "spectral",
    "eigenvalue",
    "stochastic",
    "sampling",
    "monte",
    "carlo",
    "markov",
    "chain",
    "langevin",
    "score",
    "matching",
    "flow",
    "normalizing",
    "mixture",
    "experts",
    "routing",
    "gating",
    "expert",
    "sharding",
    "parallelism",
    "pipeline",
    "throughput",
    "latency",
    "hardware",
    "accelerator",
    "fpga",
    "gpu",
    "kernel",
    "fused",
    "flash",
    "rotary",
    "positional",
    "encoding",
    "context",
    "window",
    "long",
    "sequence",
    "state",
    "space",
    "mamba",
    "recurrence",
    "linear",
    "quadratic",
    "complexity",
    "lowrank",
    "factorization",
    "tensor",
    "decomposition",
    "hashing",
    "sketching",
    "streaming",
    "online",
    "bandit",
    "regret",
    "exploration",
    "curriculum",
    "meta",
    "few",
    "shot",
    "zero",
    "continual",
    "lifelong",
    "forgetting",
    "catastrophic",
    "domain",
    "adaptation",
    "shift",
    "generalization",
    "transfer",
    "ensemble",
    "dropout",
    "normalization",
    "batch",
    "layer",
    "residual",
    "skip",
    "connection",
    "initialization",
    "lottery",
    "ticket",
    "binarized",
    "ternary",
    "bit",
    "mixed",
    "precision",
    "integer",
    "fixed",
    "point",
    "outlier",
    "activation",
    "weights",
]

SUFFIXES = ["", "", "", "s", "ing", "ed", "ation", "al", "ly", "er"]
AFFIXES = ["", "hyper", "multi", "sub", "co", "meta", "auto", "semi", "cross", "inter", "micro"]
# Technical words: the roots above, and compounds of them as papers coin them
# ("multiagent", "subgraph", "cokernel"): about 2,500 words, few shared by any two papers.
VOCABULARY = sorted({a + t for a in AFFIXES for t in TECH})
PHRASES = [
    "low rank",
    "mixture of experts",
    "state space model",
    "large language model",
    "knowledge distillation",
    "neural architecture search",
    "mixed precision",
    "lottery ticket",
    "point cloud",
    "few shot",
    "zero shot",
    "self supervised",
    "flash attention",
    "key value cache",
    "post training quantization",
]


def _technical(rng: random.Random) -> str:
    """A technical word, Zipf-like: a few are in every paper, most are rare."""
    index = min(int(rng.paretovariate(0.6)) - 1, len(VOCABULARY) - 1)
    return VOCABULARY[index * 7919 % len(VOCABULARY)]


def make_abstract(rng: random.Random) -> str:
    words: list[str] = []
    for _ in range(rng.randint(150, 260)):
        roll = rng.random()
        if roll < 0.75:
            words.append(rng.choice(COMMON))
        elif roll < 0.997:
            words.append(_technical(rng) + rng.choice(SUFFIXES))
        else:
            words.append(rng.choice(PHRASES).replace(" ", rng.choice([" ", "-"])))
        if rng.random() < 0.08:
            words[-1] += rng.choice([",", ".", ";", ":"])
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def make_title(rng: random.Random) -> str:
    parts = [_technical(rng).capitalize() for _ in range(rng.randint(2, 4))]
    if rng.random() < 0.25:
        parts += [rng.choice(["for", "via", "with", "under"]), rng.choice(PHRASES)]
    return " ".join(parts)


def make_term(rng: random.Random) -> str:
    roll = rng.random()
    word = rng.choice(VOCABULARY)
    if roll < 0.35:
        return word
    if roll < 0.75:  # a stem, as people write them: quantiz*, distill*, sparsif*
        return word[: max(5, len(word) - rng.randint(1, 3))] + "*"
    if roll < 0.8:
        return rng.choice(PHRASES).replace(" ", "-")
    return f'"{rng.choice(VOCABULARY)} {rng.choice(TECH)}"'


def make_rules(rng: random.Random, count: int) -> list[Subscription]:
    subs = []
    for i in range(count):
        terms = [parse_term(make_term(rng)) for _ in range(10)]
        # 10 terms: 6 any, 2 none, and 2 all (or 2 more any) -- the shapes real rules have.
        if rng.random() < 0.3:
            topic = Topic("t", any=tuple(terms[:6]), all=tuple(terms[6:8]), none=tuple(terms[8:]))
        else:
            topic = Topic("t", any=tuple(terms[:8]), none=tuple(terms[8:]))
        subs.append(Subscription(f"rule-{i}", f"rule-{i}.yaml", ("cs.LG",), (topic,)))
    return subs


def make_papers(rng: random.Random, count: int) -> list[Paper]:
    return [
        Paper(
            id=f"2409.{i:05d}",
            version=1,
            title=make_title(rng),
            authors=("A. Author", "B. Author"),
            abstract=make_abstract(rng),
            categories=("cs.LG",),
        )
        for i in range(count)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=3000)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=30, help="papers the reference runs on")
    args = parser.parse_args()
    rng = random.Random(20240918)
    papers = make_papers(rng, args.papers)
    rules = make_rules(rng, args.rules)
    print(
        f"{len(papers):,} papers (mean abstract {_mean_len(papers):,.0f} chars) x "
        f"{len(rules):,} rules of 10 terms"
    )

    start = time.perf_counter()
    matcher = compile_matcher(rules)
    compile_s = time.perf_counter() - start
    runs = []
    matches = 0
    for _ in range(RUNS):
        fresh = compile_matcher(rules)  # a cold word cache every run
        start = time.perf_counter()
        matches = sum(len(fresh.match(p)) for p in papers)
        runs.append(time.perf_counter() - start)
    fast_s = min(runs)
    print(
        f"compiled matcher: compile {compile_s:.3f} s; match all papers {fast_s:.3f} s "
        f"(best of {RUNS}; runs {', '.join(f'{r:.3f}' for r in runs)}); "
        f"{matches:,} matches, {matches / len(papers):.1f} per paper"
    )

    sample = papers[: args.sample]
    start = time.perf_counter()
    expected = [reference_match(rules, p) for p in sample]
    ref_sample_s = time.perf_counter() - start
    ref_s = ref_sample_s * len(papers) / len(sample)
    agree = all(matcher.match(p) == e for p, e in zip(sample, expected, strict=True))
    print(
        f"reference matcher: {ref_sample_s:.2f} s on {len(sample)} papers, "
        f"scaled to {len(papers):,}: {ref_s:.1f} s; agrees with the compiled matcher: {agree}"
    )

    speedup = ref_s / fast_s
    ok_speed = speedup >= TARGET_SPEEDUP
    ok_time = fast_s < TARGET_SECONDS
    print(
        f"speed-up: {speedup:,.0f}x (target >= {TARGET_SPEEDUP:.0f}x: "
        f"{'met' if ok_speed else 'MISSED'}); time {fast_s:.3f} s "
        f"(target < {TARGET_SECONDS} s: {'met' if ok_time else 'MISSED'})"
    )
    return 0 if ok_speed and ok_time and agree else 1


def _mean_len(papers: list[Paper]) -> float:
    return sum(len(p.abstract) for p in papers) / len(papers)


if __name__ == "__main__":
    sys.exit(main())
