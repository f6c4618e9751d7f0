"""The ladder: run each rung on the same held-out questions and fill the scoreboard.

The rungs, in climbing order: ``prompt`` (the base model, closed-book, and few-shot for the JSON format:
:mod:`labkit.ladder.prompt`), ``rag`` (the base model reading retrieved passages, the v1 -> v2 update, the
access check and the "RAG to fix a format" anti-pattern: :mod:`labkit.ladder.rag`), ``ft`` (the format
fine-tune, and the facts fine-tune anti-pattern on six question sets: :mod:`labkit.ladder.ft`) and ``both``
(a RAFT-trained reader answering in JSON from retrieved passages, on v1 and after the update:
:mod:`labkit.ladder.both`). Each rung files its own rows and marks its headlines; JSON replies are decoded
under the schema guard (:mod:`labkit.constrain`) unless ``LadderConfig(json_guard=False)``. With
``train_seeds`` (``ladder --seeds 0,1,2``) the rungs that train (ft and both) run once per seed on the same
questions, and the runner reports each trained headline's spread over the seeds, the both-vs-rag comparison
on each seed and the claims checked on every seed. This module only runs them: nothing in the kit imports it
but the command line.

>>> config = LadderConfig(rungs=("prompt",), out=Path("results/ladder"))
>>> rows = run_ladder(config)                      # doctest: +SKIP
>>> print(format_table(rows))                      # doctest: +SKIP
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

from labkit.course.corpus import Corpus, course_corpus
from labkit.course.sample import heldout_sample, largest_sample
from labkit.errors import LabkitError
from labkit.ladder.both import BothConfig, both_rung
from labkit.ladder.claims import verify_claims
from labkit.ladder.decide import Needs, decision, fair_comparisons, rank
from labkit.ladder.ft import FAIR_SETS, ft_rung, scored_fact_sets
from labkit.ladder.prompt import prompt_rung
from labkit.ladder.rag import ABSTAIN_QUANTILE, COURSE_CHUNKING, rag_rung
from labkit.models import load_generator
from labkit.retrieval.answer import RagConfig
from labkit.retrieval.chunk import ChunkConfig
from labkit.runtime import get_profile, release_memory, seed_everything
from labkit.storage import atomic_write
from labkit.scoreboard import (RUNGS, Row, append_rows, format_headlines, format_spread, format_table, headlines,
                               plot_headlines)


COMPARED = (("rag", "prompt"), ("both", "rag"))  # the climbs the runner reports with a paired interval
TRAINED = ("ft", "both")  # the rungs that train adapters: repeated once per training seed


@dataclass(frozen=True)
class LadderConfig:
    """What to run and where to write it."""

    rungs: tuple[str, ...] = RUNGS
    out: Path = Path("results/ladder")
    seed: int = 0
    profile: str | None = None  # None: the automatic profile
    few_shot: int = 2  # worked examples in the few-shot format prompt
    rag: RagConfig = RagConfig(min_score=0.0)  # BM25 scores are not cosines: the rungs abstain on coverage instead
    abstain_quantile: float | None = ABSTAIN_QUANTILE  # calibrates the rag and both rungs' gate (labkit.ladder.rag.gate; None: no gate)
    chunking: ChunkConfig = COURSE_CHUNKING
    train_seeds: tuple[int, ...] | None = None  # train ft and both once per seed (None: once, with ``seed``)
    sample: int | None = None  # cap every scored set at this many questions (a quick run, as lab 09 does)
    full: bool = False  # score every held-out question (labkit.course.sample.largest_sample), for those with time
    json_guard: bool = True  # decode every JSON reply under the reply schema's guard (labkit.constrain)
    isolate_training: bool = True  # train each adapter in a child process, so its memory goes back when it ends
    report: bool = True  # print the scoreboard, the comparisons and the claims at the end (a notebook shows its own)
    needs: Needs | None = None  # what the decision (out/decision.txt) asks of a rung (None: default_needs(corpus))
    index: str = "faiss"  # the dense index: "faiss", "qdrant:PATH" or "qdrant+http://HOST:PORT"
    raft_on: str = "corpus"  # the both rung's RAFT set: "corpus" (the one measured) or "course" (the course's reader)


def default_needs(corpus: Corpus) -> Needs:
    """What a corpus of your own asks of a rung unless told otherwise: answers from its documents, and fresh
    answers after its update where it has one.

    >>> default_needs(course_corpus())
    Needs(private_facts=True, fresh=True, cite=False, strict_format=False, max_latency_ms=None, min_accuracy=0.3, max_update_seconds=60.0, max_stale=0.05, min_citation_recall=0.5, min_format=0.9)
    """
    return Needs(private_facts=True, fresh=corpus.has_update)


def run_ladder(config: LadderConfig = LadderConfig(), corpus: Corpus | None = None) -> list[Row]:
    """Run the chosen rungs on ``corpus`` (the course company by default; a folder of your own:
    :func:`labkit.course.own.own_corpus`), append their rows to ``out/scoreboard.json``, plot ``out/ladder.png``
    and write the decision for ``config.needs`` to ``out/decision.txt``. The course's claims are checked on the
    course only."""
    unknown = [r for r in config.rungs if r not in RUNGS]
    if unknown:
        raise LabkitError(f"unknown rung(s): {', '.join(unknown)}", f"choose from: {', '.join(RUNGS)}")
    seeds = config.train_seeds if config.train_seeds is not None else (config.seed,)
    if not seeds or len(set(seeds)) != len(seeds) or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise LabkitError(f"training seeds {seeds!r}: need one or more different whole numbers >= 0",
                          "pass e.g. train_seeds=(0, 1, 2), or on the command line --seeds 0,1,2")
    course = corpus is None
    corpus = corpus or course_corpus()
    profile = get_profile(config.profile)
    size = largest_sample(corpus) if config.full else config.sample or corpus.sample_size  # the same on every profile
    rng = seed_everything(config.seed)
    heldout = heldout_sample(corpus, size, rng)
    print(f"[ladder] profile {profile.name}: {len(heldout.facts)} fact questions, "
          f"{len(heldout.unanswerable)} unanswerable, {len(heldout.format_tasks)} format tasks")
    # the facts fine-tune's sets, drawn once: every training seed scores them, and RAG answers them beside it
    sets = scored_fact_sets(corpus, random.Random(config.seed), limit=config.sample) if "ft" in config.rungs else None
    model, tokenizer = load_generator(profile.generator)
    rows: list[Row] = []
    if "prompt" in config.rungs:
        print("[ladder] rung prompt: closed-book questions, few-shot JSON replies, the updated facts closed-book")
        # the worked examples get their own generator, so the sample's size does not change which are drawn
        rows += prompt_rung(model, tokenizer, corpus, heldout, profile, random.Random(config.seed), config.few_shot,
                            profile.generator, config.json_guard, limit=config.sample)
    if "rag" in config.rungs:
        print("[ladder] rung rag: index v1, answer with passages, check restricted questions, apply the v2 update")
        fair = {name: getattr(sets, name) for name in FAIR_SETS} if sets else None
        rows += rag_rung(model, tokenizer, corpus, heldout, profile, profile.generator, config.rag, config.chunking,
                         config.abstain_quantile, config.sample, config.json_guard, fact_sets=fair, index=config.index)
        release_memory()
    for first, train_seed in zip((True, *[False] * (len(seeds) - 1)), seeds):
        if "ft" in config.rungs:  # the base model's baseline rows once, with the first seed
            rows += ft_rung(model if first else None, tokenizer, corpus, heldout, profile, random.Random(config.seed),
                            profile.generator, limit=config.sample, json_only=config.json_guard,
                            isolate=config.isolate_training, train_seed=train_seed, sets=sets)
            release_memory()
        if "both" in config.rungs:
            compare_base = first and "rag" not in config.rungs  # else the rag rung has read the same passages already
            if not compare_base:
                model = None  # the base model is done with: its memory goes back before RAFT trains
                release_memory()
            rows += both_rung(model, tokenizer, corpus, heldout, profile, profile.generator,
                              replace(BothConfig(), json_only=config.json_guard, abstain_quantile=config.abstain_quantile,
                                      train_on=config.raft_on),
                              config.chunking, limit=config.sample, isolate=config.isolate_training,
                              compare_base=compare_base, train_seed=train_seed, index=config.index)
            model = None
    for row in rows:
        row.seed = config.seed
    out = Path(config.out)
    all_rows = append_rows(out / "scoreboard.json", rows)
    summary = headlines(all_rows, seeds[0])
    plot_headlines(summary, out / "ladder.png")
    needs = config.needs or default_needs(corpus)
    decided = f"corpus {corpus.name!r}, needs: {needs}\n{decision(needs, summary)}\n"
    atomic_write(out / "decision.txt", decided)
    if config.report:
        report(all_rows, summary, seeds, config.seed, claims=course)
        print(f"\n[ladder] the decision for {corpus.name}:\n{decided}")
        print(f"[ladder] wrote {out / 'scoreboard.json'}, {out / 'ladder.png'} and {out / 'decision.txt'}")
    return all_rows


def report(all_rows: list[Row], summary: dict[str, dict], seeds: tuple[int, ...], seed: int = 0,
           claims: bool = True) -> None:
    """What the runner prints at the end: the scoreboard, the headlines (of the first training seed), their
    spread over the training seeds, the climbs of :data:`COMPARED` with their paired intervals (on each seed
    where a trained rung is compared), and (``claims``) the course's claims. ``summary``: the headlines of the
    first seed."""
    print(format_table(all_rows))
    print()
    print(format_headlines(summary))
    if len(seeds) > 1:
        print(f"\n[ladder] the trained rungs' headlines on each training seed (the table above: seed {seeds[0]})")
        print(format_spread(all_rows))
    for a, b in COMPARED:
        trains = {a, b} & set(TRAINED)
        for train_seed in seeds if trains else seeds[:1]:  # rag vs prompt trains nothing: once is enough
            by_seed = headlines(all_rows, train_seed)
            if a not in by_seed or b not in by_seed:
                continue
            said = f"training seed {train_seed}: " if trains and len(seeds) > 1 else ""
            try:
                print(f"[ladder] {said}{rank(by_seed, a, b, seed)}")
            except LabkitError as problem:  # rows of earlier runs, scored on other questions
                print(f"[ladder] {said}{a} vs {b}: not compared ({problem.problem})")
    for train_seed in seeds:  # the facts fine-tune against RAG on the very questions it was scored on
        said = f"training seed {train_seed}, " if len(seeds) > 1 else ""
        for line in fair_comparisons(all_rows, train_seed, seed):
            print(f"[ladder] {said}{line}")
    if not claims:
        return
    try:
        print("\n".join(f"[ladder] {line}" for line in verify_claims(all_rows).splitlines()))
    except LabkitError as problem:
        print(f"[ladder] {problem}")
