"""Every headline number in a lab's prose is produced by a cell of that lab.

The labs' markdown quotes the figures their cells print (the Summary above all, and the paragraphs that read a
result). When a notebook is re-executed and a figure moves, or the prose is rewritten, the two drift apart
silently. For each solution notebook, HEADLINES lists the numbers its prose states; each entry must occur
(1) in some markdown cell of that notebook, so that the list follows the prose, and (2) in the stored text of
some code cell's output (stream, or the text/plain, text/markdown or text/html of a result), so that the prose
states what a cell produced. Whitespace is collapsed on both sides, and the prose's `**`, `*` and backticks
are dropped before matching.

An entry is one string when prose and output spell it alike, or a pair ("prose text", "output text") when they
do not (prose "9 of these 10", output "90% [60-98]"). Numbers the prose attributes to docs/BENCHMARKS.md, to
another machine or run, or to an exercise's *Expected* note about a run the notebook does not make are left out.

To update: if (1) fails, the prose changed: copy the new wording of that number into the entry. If (2) fails,
a re-executed cell prints another figure: fix the prose first (then the entry), never only the list.
"""

import functools
import json
import re
from pathlib import Path

import pytest

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"

HEADLINES = {
    "00_setup": [("a vector of 384 numbers", "shape: (3, 384)"), ("A 135M-parameter model", "135M parameters"),
                 "2-core CPU", ("0.82 for the paraphrase", "paraphrase: 0.82"),
                 ("0.53 for the near-miss", "near-miss: 0.53")],
    "01_prompt_only": [("with 24 questions", "'n': 24"), ("between 0% and 14%", "0% [0-14]"),
                       ("Accuracy is near zero", "'accuracy': 0.0"),
                       ("hallucination near 100%", "'hallucination_rate': 1.0"),
                       ("some 600 prompt tokens", "prompt tokens per query: 639")],
    "02_chunk_and_embed": ["32 tokens",
                           ("window #2 holds the end of one section",
                            "#2 31 tokens [-] it comes back with all accessories. ## Restocking fee"),
                           ("254, the whole of MiniLM's window", "254 246 0.52 0.59"),
                           ("Each vector has 384 numbers", "in all 384 dimensions")],
    "03_vector_search": ["384-d", ("about a thousand chunks", "1014 chunks"),
                         ("from efSearch 32", "the first setting at 0.95 or more: efSearch=32"),
                         ("nprobe 64 of its 512 clusters", "the first setting at 0.95 or more: nprobe=64 of 512"),
                         ("miss a fifth or more", "HNSW: recall@10 from 0.8 (efSearch=8)")],
    "04_rag": ["25% [12-45]", "12% [4-31]", "not distinguishable at n = 24",
               ("coverage 0.30", "the calibrated gate: min_coverage 0.30"),
               ("answered 79% of the 24 questions with 46% of all 24 right",
                "min_coverage 0.30: answers 79% of questions, accuracy 46%"),
               ("reached 46% only by answering 42%", "min_score 0.7: answers 42% of questions, accuracy 46%"),
               ("6 right against 3", "right with k=1: 38% [18-61] of 16"), ("n = 430", "99% [98-100] of 430")],
    "05_fresh_facts": [("took milliseconds", " ms; update call to the next answer: "),   # a timing: its unit only
                       ("cosines 0.77, 0.61, 0.56", "(public, cosine 0.77), wiki-warranty (public, cosine 0.61)"),
                       ("the 38 changes of the log touch 38 documents", "38 changes touch 38 documents")],
    "06_finetune_behaviour": [("112 example replies", "112 training tasks"),
                              ("the stored run took 296 s", ", 296 s, micro-batch"),
                              ("19.5 MB against the base model's 538 MB", "19.5 MB (the base model: 538 MB"),
                              "2.51 before training, 0.68 after",
                              ("lowest at the last step", "lowest 0.68 at step 21 of 21"),
                              ("8 of these 10", "80% [49-94]"), ("no reply validated (0 of 10)",
                               "format from top-3 retrieved (style guide) v1 10 0% [0-28]"),
                              ("10 of 10 on the tuned", "tuned, 1-line prompt, JSON guard v1 10 100% [72-100]"),
                              ("9 of the 10 used the whole 200-token budget", "the whole budget of 200 tokens: 9 of 10"),
                              ("hundreds of prompt tokens saved", "saved per reply against few-shot: 525")],
    "07_finetune_facts_antipattern": [
        ("35% of the very questions it trained on", "35% [18-57]"), ("20% of their paraphrases", "20% [8-42]"),
        ("31 of 31", "31 100% [89-100]"), ("drop to 26%", "26% [14-43]"),
        ("45% get the old value", "gives the OLD value on 45% of the 38 changed facts"),
        ("little more than half of them", "trained known general questions 58%"),
        ("it answered 92% of the 12 general questions",
         "epoch 0: trained course facts 0%, trained known general questions 92%"),
        ("at 100% from the fourth", "epoch 4: trained course facts 20%, trained known general questions 100%"),
        ("10 ids, only 4 distinct", "the tuned answers state 10 ids, 4 distinct"),
        ("10% of the unseen-fact answers", "facts (c) unseen facts v1 20 0% [0-16] 0% 0% 100% 0% 10%")],
    "08_raft": [("probability P (here 0.8)", "(P = 0.8)"),
                ("answers 60% correctly", "60% [39-78]"), ("the base model answers 25%", "25% [11-47]"),
                ("75% of the time", "75% [53-89]"), ("35% against 25%", "35% [18-57]"),
                ("95–100% here", "95% [76-99]"), ("0% with no passages", "RAFT, no passages v1 20 0% [0-16]")],
    "09_capstone_decision": [("8 facts and 4 unanswerable", "8 fact questions, 4 unanswerable"),
                             "100% [68-100]", "0% [0-49]", "100% [51-100]", "92% [65-99]",
                             ("an interval of [68-100]", "format compliance 100% [68-100] spans the 90% bar"),
                             ("On these 12 questions", "n = 12"), ("up to some 55 points wide", "50% [22-78]")],
    "10_your_own_pile": [("12 of 13 abstentions", "v1 13 92% [67-99]"),
                         ("none of the 45 held-out questions", "v1 45 0% [0-8]"),
                         ("RAG about half", "rag's accuracy is 53% [39-67]"), "not distinguishable at n = 45",
                         ("nearly 30 points wide", "an interval 28 points wide"),
                         ("with 4 update questions", "updates 4 questions"),
                         ("four times the questions halve the width", "4x the questions halve it")],
}


def load_notebook(stem):
    return json.loads((SOLUTIONS / f"{stem}.ipynb").read_text(encoding="utf-8"))


def squash(text):
    return " ".join(text.split())


def output_text(output):
    if output["output_type"] == "stream":
        return "".join(output["text"])
    data = output.get("data", {})
    return " ".join("".join(data[kind]) for kind in ("text/plain", "text/markdown", "text/html") if kind in data)


@functools.lru_cache(maxsize=None)
def texts(stem):
    """The notebook's markdown cells (emphasis dropped) and its code cells' outputs, whitespace collapsed."""
    cells = load_notebook(stem)["cells"]
    prose = [squash(re.sub(r"\*\*|\*|`", "", "".join(c["source"]))) for c in cells if c["cell_type"] == "markdown"]
    outputs = [squash(output_text(o)) for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    return prose, outputs


def cases():
    for stem, entries in HEADLINES.items():
        for entry in entries:
            prose, output = (entry, entry) if isinstance(entry, str) else entry
            yield pytest.param(stem, prose, output, id=f"{stem[:2]}: {prose}")


def test_every_lab_is_listed():
    assert sorted(HEADLINES) == sorted(p.stem for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("stem, prose, output", list(cases()))
def test_headline_number_is_produced(stem, prose, output):
    markdown, outputs = texts(stem)
    assert any(prose in cell for cell in markdown), (
        f"{stem}: {prose!r} is no longer in the prose; update HEADLINES to the new wording")
    assert any(output in text for text in outputs), (
        f"{stem}: the prose says {prose!r} but no stored output contains {output!r}")
