"""The top rung: fine-tune the behaviour, retrieve the facts.

The model is trained with RAFT (:mod:`labkit.tuning.raft`) to read the passages the retriever gives it and to
answer in a small JSON format (quote, passage, answer); at question time it reads retrieved passages
(the BM25 view of :func:`labkit.ladder.rag.build_retriever`), and abstains unasked where they cover too
little of the question (the rag rung's gate). After the v2 update it absorbs the change as the rag rung
does (:func:`labkit.ladder.rag.absorb_update`). The set is built from what that retriever serves: its order,
and distractors that may be other sections of the oracle's own page. :func:`comparison` is the RAFT paper's
table on the course data: the same held-out questions with retrieval, without, with the oracle passage
only and with distractors only, for the base model, the facts fine-tune and the RAFT model.

>>> config = BothConfig()
>>> config.raft.p_oracle, config.k, config.raft.distractors + 1 == config.k, config.raft.order
(0.8, 3, True, 'ranked')
>>> rows = both_rung(model, tokenizer, course_corpus(), heldout, profile)     # doctest: +SKIP
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Sequence

from labkit import evals, prompts
from labkit.course import sample
from labkit.course.corpus import Corpus, course_corpus
from labkit.course.sample import HeldOut
from labkit.errors import LabkitError
from labkit.generate import Answer, GenerateConfig, generate
from labkit.ladder.rag import (ABSTAIN_QUANTILE, COURSE_CHUNKING, COURSE_READER, RETRIEVERS, absorb_update,
                               build_retriever, close_retriever, gate, pick_retriever)
from labkit.retrieval.answer import RagConfig, cited_doc_ids, relevant_enough
from labkit.retrieval.chunk import ChunkConfig
from labkit.runtime import Profile
from labkit.scoreboard import Row, guarded, usage
from labkit.tuning import raft
from labkit.tuning.fit import fit
from labkit.tuning.train import TrainConfig

RAFT_TRAINING = TrainConfig(epochs=1.0, learning_rate=1e-3, max_seq_len=640)  # one pass over 192: more facts, not more passes
ANSWER_TOKENS = 96  # room for a JSON answer: the longest RAFT target is about 80 tokens
TRAIN_ON = ("corpus", "course")  # where the RAFT set comes from (BothConfig.train_on)


@dataclass(frozen=True)
class BothConfig:
    """The RAFT set, its training run, the retriever that mines distractors and serves passages, and how
    many passages it gives."""

    # siblings and ranked: trained on the passages a small-chunk retriever serves, in its order (docs/BENCHMARKS.md)
    raft: raft.RaftConfig = raft.RaftConfig(examples=192, without_oracle="abstain", siblings=True, order="ranked")
    training: TrainConfig = RAFT_TRAINING
    k: int = 3  # passages per question (the oracle plus ``raft.distractors`` in training)
    retriever: str = COURSE_READER  # one of labkit.ladder.rag.RETRIEVERS
    json_only: bool = True  # decode the RAFT model's replies under the JSON guard (labkit.constrain)
    abstain_quantile: float | None = ABSTAIN_QUANTILE  # the rung's coverage gate, as the rag rung's (None: none)
    seed: int = 0  # draws the training questions and builds the set
    min_examples_seen: int = 96  # a smaller set (a corpus of your own) trains for more epochs, to see this many
    train_on: str = "corpus"  # the RAFT set: from the corpus measured, or "course": the course's reader, reused

    def __post_init__(self):
        if self.retriever not in RETRIEVERS:
            raise LabkitError(f"BothConfig.retriever={self.retriever!r} is not a course retriever",
                              f"choose one of: {', '.join(RETRIEVERS)}")
        if self.train_on not in TRAIN_ON:
            raise LabkitError(f"BothConfig.train_on={self.train_on!r} is not a choice", f"choose one of: {', '.join(TRAIN_ON)}")
        if self.retriever == "dense" and self.abstain_quantile is not None:
            raise LabkitError("BothConfig(retriever='dense') cannot gate on coverage: a dense index has no term statistics",
                              "pass abstain_quantile=None with it, or read 'bm25' or 'hybrid'")


@dataclass
class Passages:
    """For each question, the chunks a variant puts in its prompt (an empty list: none at all)."""

    name: str
    per_question: list[list] = field(default_factory=list)
    gated: list[bool] = field(default_factory=list)  # True: too little of the question in them, abstain unasked

    def asks(self, i: int) -> bool:
        return not (self.gated and self.gated[i])


def retrieved(retriever, records: Sequence, k: int, role: str = "agent", min_coverage: float = 0.0,
              min_passage_coverage: float = 0.0) -> Passages:
    """The top-``k`` chunks ``role`` may read, from ``retriever``, for each question; with ``min_coverage``
    (``min_passage_coverage``), questions whose passages (whose best passage) cover less of them are gated, as
    :func:`labkit.retrieval.answer.answer_questions` does (:func:`labkit.ladder.rag.gate` calibrates both)."""
    hits = [retriever.search(r.question, k=k, role=role) for r in records]
    config = RagConfig(k=k, min_score=float("-inf"), min_coverage=min_coverage, min_passage_coverage=min_passage_coverage)
    return Passages(f"top-{k} retrieved", [[h.chunk for h in found] for found in hits],
                    [not relevant_enough(retriever, r.question, found, config) for r, found in zip(records, hits)])


def probe_passages(records: Sequence, chunks: Sequence, retriever, config: raft.RaftConfig,
                   rng: random.Random) -> tuple[Passages, Passages]:
    """Oracle-only and distractor-only passages for answerable ``records`` (the paper's probes)."""
    oracle, distract = Passages("oracle only"), Passages("distractors only")
    by_doc = raft.chunks_by_doc(chunks)
    for r in records:
        example = raft.build_example(r, by_doc, retriever, config, rng, keep_oracle=False)
        oracle.per_question.append([example.oracle] if example else [])
        distract.per_question.append(list(example.passages) if example else [])
    return oracle, distract


def answer_with(model, tokenizer, records: Sequence, passages: Passages, max_new_tokens: int = ANSWER_TOKENS,
                json_only: bool = False) -> list:
    """Ask every question with its passages (the RAG prompt; no passages: the same prompt without any);
    ``json_only`` decodes under the JSON guard with the RAFT answer schema. A gated question is not asked:
    its reply is the abstention (in the JSON answer format under ``json_only``)."""
    asked = [i for i in range(len(records)) if passages.asks(i)]
    conversations = [prompts.rag_messages(records[i].question, [(c.doc_id, c.searchable_text)
                                                                for c in passages.per_question[i]]) for i in asked]
    generated = generate(model, tokenizer, conversations, GenerateConfig(
        max_new_tokens=max_new_tokens, json_schema=raft.ANSWER_SCHEMA if json_only else None))
    abstain = raft.json_target("", None, prompts.ABSTAIN_ANSWER) if json_only else prompts.ABSTAIN_ANSWER
    replies = [Answer(abstain, 0, 0, 0.0) for _ in records]
    for i, answer in zip(asked, generated):
        replies[i] = answer
    return replies


def score_row(corpus: Corpus, answers: list, records: Sequence, passages: Passages, variant: str, base: dict,
              version: str = "v1", golds: Sequence | None = None, json_format: bool = False, **describe) -> Row:
    """One scoreboard row: answers scored on their final answer (:func:`labkit.tuning.raft.final_answer`), so a
    value inside a quote does not count; citations from ``[n]``, a JSON ``passage`` or a named document.
    ``describe``: what the row is (``question_set``, ``metric_role``, ``headline``)."""
    scores = sample.score(corpus, [raft.final_answer(a.text) for a in answers], records, golds)
    cited = []
    for a, r, chunks in zip(answers, records, passages.per_question):
        doc_ids = [c.doc_id for c in chunks]
        named = cited_doc_ids(a.text, doc_ids)
        numbered = [doc_ids[n - 1] for n in raft.cited_passage(a.text) if 1 <= n <= len(doc_ids)]
        if r.gold_doc_ids and chunks:
            cited.append(evals.citation_scores(list(dict.fromkeys(numbered + named)), r.gold_doc_ids))
    row = Row(variant=variant, corpus_version=version, **base, **describe, **scores, **usage(answers),
              citation_precision=evals.mean_or_none(p for p, _ in cited),
              citation_recall=evals.mean_or_none(c for _, c in cited))
    if json_format and not any(passages.gated):  # else its canned abstentions would count: format_row
        row.format_compliance = evals.rate(evals.format_compliant(a.text, raft.ANSWER_SCHEMA) for a in answers)
    return row


def format_row(answers: list, passages: Passages, variant: str, base: dict, **describe) -> Row:
    """The format compliance of the JSON replies the model wrote: a question the gate kept from the model has
    a canned abstention for its reply, which is valid JSON by construction and says nothing about the model,
    so it is left out of both the rate and its ``n``.

    >>> from labkit.generate import Answer
    >>> replies = [Answer('{"answer": "12"', 0, 0, 0.0), Answer('{"answer": "x"}', 0, 0, 0.0)]
    >>> row = format_row(replies, Passages("top-3", [[], []], [True, False]), "RAFT", {"rung": "both"})
    >>> row.n, row.question_set
    (1, 'heldout, asked')
    """
    written = [a for i, a in enumerate(answers) if passages.asks(i)]
    return Row(variant=variant, **base, question_set="heldout, asked", metric_role="format", n=len(written),
               format_compliance=evals.rate(evals.format_compliant(a.text, raft.ANSWER_SCHEMA) for a in written),
               **describe)


def raft_set(corpus: Corpus, hybrid, config: BothConfig) -> list:
    """The RAFT training set from a course retriever's chunks, with distractors mined by the configured
    retriever, drawn and built with ``random.Random(config.seed)``, from the passages the corpus's asker
    reads. A corpus with fewer qualifying facts than ``config.raft.examples`` gives all it has."""
    rng = random.Random(config.seed)
    built = replace(config.raft, role=corpus.asker)
    available = len(raft.trainable_facts(corpus, built.role))
    records = raft.training_records(corpus, rng, min(config.raft.examples, available), built.role)
    return raft.build_set(records, hybrid.dense.all_chunks(), pick_retriever(hybrid, config.retriever), built, rng)


def reader_set(corpus: Corpus, hybrid, config: BothConfig) -> list:
    """What the RAFT reader trains on: :func:`raft_set` of ``corpus`` (read through ``hybrid``), or with
    ``config.train_on="course"`` the course's set, whatever corpus is measured: reading passages, quoting
    and abstaining is a behaviour, and a reader trained on one pile reads another (on the course's own
    questions, the same set: its cached adapter is reused)."""
    if config.train_on == "course" and corpus is not course_corpus():
        course = course_corpus()
        return raft_set(course, build_retriever(course, "v1", COURSE_CHUNKING), config)
    return raft_set(corpus, hybrid, config)


def seeded(config: BothConfig, seed: int) -> BothConfig:
    """``config`` with one seed for everything random in RAFT: which training questions, which distractors,
    the adapter's initialisation and the order of the examples.

    >>> seeded(BothConfig(), 2).seed, seeded(BothConfig(), 2).training.seed
    (2, 2)
    """
    return replace(config, seed=seed, training=replace(config.training, seed=seed))


def train_raft(model_key: str, examples: Sequence, config: BothConfig, isolate: bool = False):
    """Train (or load the identical cached run of) the RAFT adapter: :func:`labkit.tuning.fit.fit` (``isolate``:
    in a child process), for enough epochs to see ``config.min_examples_seen`` examples.

    >>> epochs_for(BothConfig(), 192), epochs_for(BothConfig(), 12)   # the course's set; a small one of your own
    (1.0, 8.0)
    """
    if not examples:
        raise LabkitError("no RAFT training example: no training question has its answer in a passage",
                          "check that the fact questions' answers appear verbatim in their documents")
    training = replace(config.training, epochs=epochs_for(config, len(examples)))
    return fit(model_key, [e.to_example() for e in examples], training, isolate=isolate)


def epochs_for(config: BothConfig, n_examples: int) -> float:
    """The epochs that show the reader at least ``config.min_examples_seen`` examples (never fewer than
    ``config.training.epochs``)."""
    return max(config.training.epochs, round(config.min_examples_seen / max(n_examples, 1), 1))


def variant_name(config: BothConfig, what: str = "RAFT") -> str:
    """A row's name: the model and the passages it read, e.g. 'RAFT + bm25 top-3, JSON guard'."""
    return guarded(f"{what} + {config.retriever} top-{config.k}", what == "RAFT" and config.json_only)


def update_row(model, tokenizer, corpus: Corpus, hybrid, base: dict, config: BothConfig, variant: str,
               chunking: ChunkConfig = COURSE_CHUNKING, limit: int | None = None, thresholds: dict | None = None) -> Row:
    """Corpus v2 lands: :func:`labkit.ladder.rag.absorb_update` (upsert the changed documents into ``hybrid``,
    then ask until the first right answer), then ask every update question (the first ``limit``) with the
    configured retriever (gated by ``thresholds``: :func:`labkit.ladder.rag.gate`). The row is scored against v2,
    with the stale rate."""
    thresholds = thresholds or {}
    questions = corpus.questions("updates")[:limit]
    reader = pick_retriever(hybrid, config.retriever)

    def answer(records: list, passages: Passages) -> list:
        return answer_with(model, tokenizer, records, passages, json_only=config.json_only)

    def final_answers(records: list) -> list[str]:
        passages = retrieved(reader, records, config.k, corpus.asker, **thresholds)
        return [raft.final_answer(a.text) for a in answer(records, passages)]

    seconds = absorb_update(hybrid, corpus, chunking, questions, final_answers)
    passages = retrieved(reader, questions, config.k, corpus.asker, **thresholds)
    answers = answer(questions, passages)
    row = score_row(corpus, answers, questions, passages, variant, base, "v2", [r.extra["answers_v2"] for r in questions],
                    json_format=True, question_set="updates", metric_role="update", headline=True)
    row.stale_rate = sample.stale_rate([raft.final_answer(a.text) for a in answers], questions)
    row.update_seconds = seconds
    return row


def comparison(base_model, tokenizer, corpus: Corpus, raft_fitted, records: Sequence, hybrid, config: BothConfig,
               facts_fitted=None) -> tuple[list[Row], dict]:
    """The RAFT paper's table on the course data, for answerable ``records``: the base model, the facts
    fine-tune (``facts_fitted``, optional) and the RAFT model reading the same retrieved passages, then
    the RAFT model with no passages, with the oracle only and with distractors only (mined like the
    training set, seeded by ``config.seed + 1``). Each row is filed under the rung whose system it measures
    (the base model reading passages: rag; the facts fine-tune: ft; RAFT: both). Returns the rows and
    ``{row name: answers}``."""
    retriever = pick_retriever(hybrid, config.retriever)
    top = retrieved(retriever, records, config.k, corpus.asker)
    oracle, distract = probe_passages(records, hybrid.dense.all_chunks(), retriever, config.raft,
                                      random.Random(config.seed + 1))
    none = Passages("no passages", [[] for _ in records])
    plan = [("base", base_model, tokenizer, top, "rag")]
    if facts_fitted is not None:
        plan.append(("facts fine-tune", facts_fitted.model, facts_fitted.tokenizer, top, "ft"))
    plan += [("RAFT", raft_fitted.model, raft_fitted.tokenizer, passages, "both") for passages in (top, none, oracle, distract)]
    rows, replies = [], {}
    for who, model, tok, passages, rung in plan:
        is_raft = who == "RAFT"
        answers = answer_with(model, tok, records, passages, json_only=is_raft and config.json_only)
        name = f"{who}, {passages.name}"
        replies[name] = answers
        rows.append(score_row(corpus, answers, records, passages, name, {"rung": rung}, json_format=is_raft,
                              question_set="heldout answerable", metric_role="answers"))
    return rows, replies


def both_rung(model, tokenizer, corpus: Corpus, heldout: HeldOut, profile: Profile, model_name: str = "",
              config: BothConfig = BothConfig(), chunking: ChunkConfig = COURSE_CHUNKING, limit: int | None = None,
              isolate: bool = False, compare_base: bool = True, train_seed: int | None = None,
              index: str = "faiss") -> list[Row]:
    """RAFT-train the JSON reader (``isolate``: in a child process) on ``corpus`` cut by ``chunking``, then
    score it with retrieval on v1 and after the v2 update (the first ``limit`` updated facts); ``compare_base``
    adds the base model reading the same retrieved passages, as a baseline row (the ladder leaves it to its rag
    rung, which reads them already, and passes no base ``model``). ``train_seed`` (default ``config.seed``)
    draws and builds the RAFT set (:func:`reader_set`) and seeds its training run (:func:`seeded`); the rows
    of the RAFT model record it. ``index``: the dense index (:func:`labkit.ladder.rag.build_index`)."""
    if compare_base and model is None:
        raise LabkitError("both_rung(compare_base=True) needs the base model", "pass the base model, or compare_base=False")
    config = seeded(config, config.seed if train_seed is None else train_seed)
    base = {"rung": "both", "model": model_name, "profile": profile.name}
    print(f"[ladder] rung both: index v1 (dense + BM25), build the RAFT set ({config.retriever} distractors"
          f"{', from the course' if config.train_on == 'course' else ''}), train (seed {config.seed})")
    hybrid = build_retriever(corpus, "v1", chunking, index=index)
    fitted = train_raft(model_name or profile.generator, reader_set(corpus, hybrid, config), config, isolate)
    questions = heldout.questions
    reader = pick_retriever(hybrid, config.retriever)
    thresholds = gate(corpus, reader, config.k, config.abstain_quantile)
    top = retrieved(reader, questions, config.k, corpus.asker, **thresholds)
    rows = []
    if compare_base:
        print("[ladder] rung both: the base model reads the retrieved passages")
        rows.append(score_row(corpus, answer_with(model, tokenizer, questions, top), questions, top,
                              variant_name(config, "base") + " (same passages as both)", base,
                              question_set="heldout", metric_role="answers"))
    print("[ladder] rung both: the RAFT model reads the retrieved passages")
    replies = answer_with(fitted.model, fitted.tokenizer, questions, top, json_only=config.json_only)
    main = score_row(corpus, replies, questions, top, variant_name(config), base, json_format=True,
                     question_set="heldout", metric_role="answers", headline=True)
    main.train_seconds, main.adapter_mb = fitted.result.seconds, fitted.adapter_mb
    written = format_row(replies, top, variant_name(config) + ", the replies it wrote", base, headline=True)
    raft_rows = [main, written]
    if corpus.has_update:
        print("[ladder] rung both: corpus v2 lands: upsert the changed documents, ask the updated facts")
        raft_rows.append(update_row(fitted.model, fitted.tokenizer, corpus, hybrid, base, config,
                                    variant_name(config), chunking, limit, thresholds))
    for row in raft_rows:
        row.train_seed = config.seed
    close_retriever(hybrid)
    return [*rows, *raft_rows]
