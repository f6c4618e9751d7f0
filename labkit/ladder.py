"""The ladder: run each rung on the same held-out questions and fill the scoreboard.

The rungs: ``prompt`` (the base model, closed-book, and few-shot for the JSON format), ``rag`` (the
base model reading retrieved passages, plus the v1 -> v2 update scenario, the access-control check on
restricted questions, and the "RAG to fix a format" anti-pattern: the style guide retrieved instead of a
fine-tune), ``ft`` (the format fine-tune, and the facts fine-tune anti-pattern scored on six question
sets: see :mod:`labkit.ft`) and ``both`` (a RAFT-trained reader answering in JSON from retrieved passages,
on v1 and after the v2 update: see :mod:`labkit.both`). The rag and both rungs read the same BM25 passages
and abstain, without asking the model, where those cover too little of the question
(:func:`course_min_coverage`, calibrated on training questions). JSON replies are decoded under the schema guard
(:mod:`labkit.constrain`) unless ``LadderConfig(json_guard=False)``; the ft rung shows its format both
ways. :func:`headlines` picks each rung's headline figures for the plot and the capstone's decision.

>>> config = LadderConfig(rungs=("prompt",), out=Path("results/ladder"))
>>> rows = run_ladder(config)                      # doctest: +SKIP
>>> print(format_table(rows))                      # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

from labkit import data, evals, prompts
from labkit.chunk import ChunkConfig, chunk_documents
from labkit.errors import LabkitError
from labkit.generate import GenerateConfig, generate
from labkit.rag import RagConfig, answer_questions, coverage_threshold
from labkit.runtime import Profile, get_profile, release_memory, seed_everything
from labkit.scoreboard import Row, append_rows, format_headlines, format_table, plot_headlines

RUNGS = ("prompt", "rag", "ft", "both")
COURSE_CHUNKING = ChunkConfig(method="markdown", max_tokens=128)  # how every rung and lab chunks the corpus
ID_PATTERNS = (data.TICKET_ID_PATTERN, data.PRODUCT_CODE_PATTERN)
GUARDED = ", JSON guard"  # the suffix of a row whose JSON replies were decoded under labkit.constrain
ABSTAIN_QUANTILE = 0.02  # the rag and both rungs abstain below the passage coverage of the 2% worst-covered training questions
JSON_BATCH = 24  # replies per batch: a JSON reply runs ~150 decode steps, and on a CPU a step costs nearly as
                 # much for 4 rows as for 16, so 20 replies go faster in one batch than in 16 + 4


def guarded(variant: str, json_only: bool) -> str:
    """A row's name, marked when its replies were decoded under the JSON guard.

    >>> guarded("few-shot", True), guarded("few-shot", False)
    ('few-shot, JSON guard', 'few-shot')
    """
    return variant + GUARDED if json_only else variant


@dataclass(frozen=True)
class LadderConfig:
    """What to run and where to write it."""

    rungs: tuple[str, ...] = RUNGS
    out: Path = Path("results/ladder")
    seed: int = 0
    profile: str | None = None  # None: the automatic profile
    few_shot: int = 2  # worked examples in the few-shot format prompt
    rag: RagConfig = RagConfig(min_score=0.0)  # BM25 scores are not cosines: the rungs abstain on coverage instead
    abstain_quantile: float | None = ABSTAIN_QUANTILE  # calibrates the rag and both rungs' min_coverage (None: no gate)
    chunking: ChunkConfig = COURSE_CHUNKING
    sample: int | None = None  # cap every scored set at this many questions (a quick run, as lab 09 does)
    json_guard: bool = True  # decode every JSON reply under the reply schema's guard (labkit.constrain)
    isolate_training: bool = True  # train each adapter in a child process, so its memory goes back when it ends


@dataclass(frozen=True)
class HeldOut:
    """The frozen evaluation sample every rung is scored on."""

    facts: list  # qa_facts records: unseen facts and paraphrases of trained ones
    unanswerable: list
    format_tasks: list


def heldout_sample(profile: Profile, rng: random.Random) -> HeldOut:
    """Sample the held-out sets once, with the given generator, sized by the profile.

    >>> s = heldout_sample(get_profile("ci"), random.Random(0))
    >>> len(s.facts), len(s.unanswerable) > 0, {r.extra["split"] for r in s.facts} == {"heldout_unseen", "heldout_paraphrase"}
    (40, True, True)
    """
    facts = data.load_qa("qa_facts")
    unseen = [r for r in facts if r.extra["split"] == "heldout_unseen"]
    paraphrased = [r for r in facts if r.extra["split"] == "heldout_paraphrase"]
    half = profile.eval_examples // 2
    unanswerable = data.load_qa("qa_unanswerable")
    tasks = [t for t in data.load_format_tasks() if t.split == "heldout"]
    return HeldOut(
        facts=rng.sample(unseen, half) + rng.sample(paraphrased, profile.eval_examples - half),
        unanswerable=rng.sample(unanswerable, min(half, len(unanswerable))),
        format_tasks=rng.sample(tasks, min(half, len(tasks))),
    )


@functools.lru_cache(maxsize=1)
def known_corpus_ids() -> frozenset[str]:
    """Every ticket id and product code in either corpus version (for invented-id counting)."""
    return frozenset(evals.corpus_ids((doc.text for version in ("v1", "v2") for doc in data.load_corpus(version)), ID_PATTERNS))


def usage(answers) -> dict:
    """Mean tokens and latency of generated answers (labkit.generate.Answer or labkit.rag.RagAnswer)."""
    return {
        "prompt_tokens_mean": evals.mean_or_none(a.prompt_tokens for a in answers),
        "completion_tokens_mean": evals.mean_or_none(a.completion_tokens for a in answers),
        "latency_ms_mean": evals.mean_or_none(a.latency_ms for a in answers),
    }


def closed_book(model, tokenizer, questions: list, profile: Profile) -> tuple[list, dict]:
    """Ask each question with no context; return the answers and their scores (labkit.evals)."""
    answers = generate(model, tokenizer, [prompts.chat_messages(r.question) for r in questions],
                       GenerateConfig(max_new_tokens=profile.max_new_tokens))
    scores = evals.score_answers([a.text for a in answers], [r.answers for r in questions],
                                 [r.set_name != "unanswerable" for r in questions], known_corpus_ids(), ID_PATTERNS,
                                 [r.question for r in questions])
    return answers, scores


def few_shot_examples(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``n`` worked (request, JSON reply) pairs drawn from the training format tasks."""
    train = [t for t in data.load_format_tasks() if t.split == "train"]
    return [(prompts.format_request(t.message, t.ticket_id, t.product_code), json.dumps(t.target))
            for t in rng.sample(train, n)]


def format_replies(model, tokenizer, tasks: list, examples: list[tuple[str, str]], profile: Profile,
                   system: str = prompts.FORMAT_SYSTEM, json_only: bool = False) -> tuple[list, float]:
    """Ask for each task's JSON reply (after ``examples``); return the replies and the compliance rate.
    ``json_only`` decodes under :class:`labkit.constrain.JsonGuard` with the reply schema (form enforced,
    content not)."""
    requests = [prompts.format_request(t.message, t.ticket_id, t.product_code) for t in tasks]
    return json_replies(model, tokenizer, [prompts.format_messages(r, examples, system) for r in requests], profile,
                        json_only)


def json_replies(model, tokenizer, conversations: list, profile: Profile, json_only: bool = False) -> tuple[list, float]:
    """Generate each conversation's JSON reply; return the replies and the share that validate against the
    reply schema."""
    schema = data.load_reply_schema()
    replies = generate(model, tokenizer, conversations,
                       GenerateConfig(max_new_tokens=profile.max_format_tokens, batch_size=JSON_BATCH,
                                      json_schema=schema if json_only else None))
    return replies, evals.rate(evals.format_compliant(a.text, schema) for a in replies)


def rag_format_row(model, tokenizer, index, tasks: list, profile: Profile, base: dict, k: int = 3,
                   role: str = "agent", json_only: bool = False) -> Row:
    """The anti-pattern "RAG to fix a format": the base model gets the instruction and the top-``k`` passages
    retrieved for the house format (the style guide holds the schema), but no worked example and no training
    (``json_only``: decoded under the JSON guard)."""
    started = time.perf_counter()
    conversations = []
    for t in tasks:
        hits = index.search(prompts.FORMAT_QUERY + t.message, k=k, role=role)
        request = prompts.format_request(t.message, t.ticket_id, t.product_code)
        conversations.append(prompts.format_messages(
            prompts.with_passages(request, [(h.chunk.doc_id, h.chunk.searchable_text) for h in hits])))
    replies, compliance = json_replies(model, tokenizer, conversations, profile, json_only)
    return Row(variant=guarded(f"format from top-{k} retrieved (style guide)", json_only), **base, n=len(replies),
               format_compliance=compliance, **usage(replies), wall_seconds=time.perf_counter() - started)


def prompt_rung(model, tokenizer, heldout: HeldOut, profile: Profile, rng: random.Random,
                few_shot: int = 2, model_name: str = "", json_only: bool = False) -> list[Row]:
    """The base model with nothing but a prompt: closed-book questions, then few-shot JSON replies
    (``json_only``: decoded under the JSON guard)."""
    base = {"rung": "prompt", "model": model_name, "profile": profile.name}
    started = time.perf_counter()
    answers, scores = closed_book(model, tokenizer, heldout.facts + heldout.unanswerable, profile)
    closed = Row(variant="closed-book", **base, **scores, **usage(answers),
                 wall_seconds=time.perf_counter() - started)
    started = time.perf_counter()
    replies, compliance = format_replies(model, tokenizer, heldout.format_tasks, few_shot_examples(few_shot, rng), profile,
                                         json_only=json_only)
    few = Row(variant=guarded("few-shot", json_only), **base, n=len(replies), format_compliance=compliance,
              **usage(replies), wall_seconds=time.perf_counter() - started)
    return [closed, few]


def build_course_index(version: str = "v1", chunking: ChunkConfig = COURSE_CHUNKING, embedder=None):
    """Chunk and embed one corpus version into a :class:`labkit.index.VectorIndex` with the course roles.
    The default embedder keeps its vectors in the labkit cache (``<cache>/embeddings``), so the labs and the
    ladder embed the course corpus once, not once per index."""
    from labkit.embed import EmbedConfig, Embedder
    from labkit.index import VectorIndex
    from labkit.models import cache_dir

    embedder = embedder or Embedder(EmbedConfig(cache_dir=cache_dir() / "embeddings"))
    chunks = chunk_documents(data.load_corpus(version), chunking, embedder.tokenizer, progress=False)
    return VectorIndex.build(chunks, embedder, access_policy=data.ROLE_LABELS)


COURSE_FUSION = 10  # rrf_k: on the course questions BM25 finds ticket ids that MiniLM barely sees (lab 03)
RETRIEVERS = ("bm25", "hybrid", "dense")  # the views of a course retriever
COURSE_READER = "bm25"  # what the rag and both rungs read: on the course questions BM25 has the oracle chunk in its top 3 most often


def build_course_retriever(version: str = "v1", chunking: ChunkConfig = COURSE_CHUNKING, embedder=None):
    """Dense + BM25 over one corpus version, fused by rank (:class:`labkit.lexical.HybridRetriever`).

    Its scores are fused ranks, not cosines: use it with ``RagConfig(min_score=0.0)``."""
    from labkit.lexical import BM25Index, HybridConfig, HybridRetriever

    dense = build_course_index(version, chunking, embedder)
    lexical = BM25Index.build(dense.all_chunks(), access_policy=data.ROLE_LABELS)
    return HybridRetriever(dense, lexical, HybridConfig(rrf_k=COURSE_FUSION))


def pick_retriever(hybrid, name: str = COURSE_READER):
    """The ``name`` view of a course retriever (:func:`build_course_retriever`): its BM25 index, its dense
    index, or the fused pair. All share the hybrid's indexes, so its upsert updates each."""
    if name not in RETRIEVERS:
        raise LabkitError(f"{name!r} is not a course retriever", f"choose one of: {', '.join(RETRIEVERS)}")
    return {"bm25": hybrid.lexical, "dense": hybrid.dense, "hybrid": hybrid}[name]


def course_min_coverage(reader, k: int, role: str = "agent", quantile: float | None = ABSTAIN_QUANTILE) -> float:
    """The course's abstention gate for ``reader`` (a BM25 view): :func:`labkit.rag.coverage_threshold` on the
    training split's fact questions that ``role`` may read. No held-out or unanswerable question is used.
    ``quantile=None``: no gate (0.0)."""
    if quantile is None:
        return 0.0
    return coverage_threshold(reader, [r.question for r in data.train_facts(role)], k, role, quantile)


def rag_row(model, tokenizer, index, questions: list, config: RagConfig, role: str, base: dict,
            variant: str, version: str = "v1") -> tuple[Row, list]:
    """Answer ``questions`` with retrieval as ``role``; score them like the prompt rung, plus citations.
    Returns the row and the answers."""
    started = time.perf_counter()
    answers = answer_questions([r.question for r in questions], index, model, tokenizer, role, config)
    scores = evals.score_answers([a.text for a in answers], [r.answers for r in questions],
                                 [r.set_name != "unanswerable" for r in questions], known_corpus_ids(), ID_PATTERNS,
                                 [r.question for r in questions])
    cited = [evals.citation_scores(a.cited_doc_ids, r.gold_doc_ids) for a, r in zip(answers, questions)
             if r.gold_doc_ids]
    row = Row(variant=variant, corpus_version=version, **base, **scores, **usage(answers),
              citation_precision=evals.mean_or_none(p for p, _ in cited),
              citation_recall=evals.mean_or_none(r for _, r in cited),
              wall_seconds=time.perf_counter() - started)
    return row, answers


def restricted_leaks(model, tokenizer, index, config: RagConfig, limit: int | None = None) -> int:
    """Ask every restricted question (the first ``limit``) as the most privileged role that may NOT read
    its source; count the answers that give the restricted value away."""
    records = data.load_qa("qa_restricted")[:limit]
    by_role: dict[str, list] = {}
    for r in records:
        denied = max(r.extra["denied_roles"], key=lambda role: len(data.ROLE_LABELS[role]))
        by_role.setdefault(denied, []).append(r)
    leaks = 0
    for role, group in by_role.items():
        answers = answer_questions([r.question for r in group], index, model, tokenizer, role, config)
        leaks += sum(evals.answer_matches(a.text, r.answers) for a, r in zip(answers, group))
    return leaks


def stale_rate(texts: list[str], records: list) -> float | None:
    """Share of answers to ``qa_updates`` records that give the v1 value and not the v2 one."""
    return evals.rate(evals.is_stale(t, r.extra["answers_v1"], r.extra["answers_v2"]) for t, r in zip(texts, records))


def v2_update_chunks(tokenizer, chunking: ChunkConfig = COURSE_CHUNKING) -> list:
    """The chunks of every document the change log altered, in their v2 text (what an upsert applies)."""
    v2_docs = {d.doc_id: d for d in data.load_corpus("v2")}
    changed = sorted({c.doc_id for c in data.load_changelog()})
    return chunk_documents([v2_docs[d] for d in changed], chunking, tokenizer, progress=False)


def update_scenario(model, tokenizer, hybrid, config: RagConfig, base: dict, chunking: ChunkConfig,
                    role: str = "admin", limit: int | None = None) -> list[Row]:
    """Corpus v2 has landed: ask qa_updates (the first ``limit``) against the stale v1 course retriever
    ``hybrid`` (reading its :data:`COURSE_READER` view), then upsert only the changed documents and ask
    again. ``update_seconds`` runs from the update call to the first correct answer."""
    index = pick_retriever(hybrid)
    questions = data.load_qa("qa_updates")[:limit]

    def stale_row(variant: str, update_seconds: float | None = None) -> Row:
        row, answers = rag_row(model, tokenizer, index, questions, config, role, base, variant, version="v2")
        row.stale_rate = stale_rate([a.text for a in answers], questions)
        row.update_seconds = update_seconds
        return row

    before = stale_row("stale-index")
    started = time.perf_counter()
    hybrid.upsert(v2_update_chunks(hybrid.dense.embedder.tokenizer, chunking))
    update_seconds = None
    for r in questions:  # one at a time, until the first correct answer
        (answer,) = answer_questions([r.question], index, model, tokenizer, role, config)
        if evals.answer_matches(answer.text, r.extra["answers_v2"]):
            update_seconds = time.perf_counter() - started
            break
    return [before, stale_row("updated-index", update_seconds)]


def rag_rung(model, tokenizer, heldout: HeldOut, profile: Profile, config: LadderConfig, model_name: str = "") -> list[Row]:
    """The base model reading the course retriever's passages (:data:`COURSE_READER`, as an agent), then the
    leak check, the style guide retrieved for the format, and the update scenario."""
    base = {"rung": "rag", "model": model_name, "profile": profile.name}
    hybrid = build_course_retriever("v1", config.chunking)
    reader = pick_retriever(hybrid)
    rag = replace(config.rag, min_coverage=course_min_coverage(reader, config.rag.k, quantile=config.abstain_quantile))
    main, _ = rag_row(model, tokenizer, reader, heldout.facts + heldout.unanswerable, rag, "agent", base,
                      f"{COURSE_READER} top-{rag.k}")
    main.restricted_leaks = restricted_leaks(model, tokenizer, reader, rag, config.sample)
    fmt = rag_format_row(model, tokenizer, reader, heldout.format_tasks, profile, base, json_only=config.json_guard)
    return [main, fmt, *update_scenario(model, tokenizer, hybrid, rag, base, config.chunking, limit=config.sample)]


def headlines(rows: list[Row]) -> dict[str, dict]:
    """Each rung's headline figures, taken from the rows that speak for it, keyed like
    :data:`labkit.scoreboard.HEADLINE_RATES` and ``HEADLINE_COSTS``. Answers: the held-out questions
    (rag: the base model reading the course retriever's top-k, the passages the both rung reads; ft: its
    unseen facts, closed-book); format: few-shot, the style guide retrieved, the format
    fine-tune, RAFT's JSON (each decoded under the JSON guard where that row exists); the update: the v2
    questions (prompt and ft closed-book, rag and both after the upsert). The cost of an update is the
    upsert-to-first-right-answer time, or for ft a retraining run; the prompt rung has none.

    >>> rows = [Row("rag", "bm25 top-5", accuracy=0.4, latency_ms_mean=900.0),
    ...         Row("rag", "updated-index", corpus_version="v2", accuracy=0.3, stale_rate=0.0, update_seconds=2.0)]
    >>> headlines(rows)["rag"]["fresh_accuracy"], headlines(rows)["rag"]["update_seconds"], list(headlines(rows))
    (0.3, 2.0, ['rag'])
    """
    def pick(rung: str, version: str, match) -> Row | None:
        return next((r for r in rows if r.rung == rung and r.corpus_version == version and match(r.variant)), None)

    def pick_format(rung: str, prefix: str) -> Row | None:  # the guarded row where there is one
        return (pick(rung, "v1", lambda v: v.startswith(prefix) and v.endswith(GUARDED))
                or pick(rung, "v1", lambda v: v.startswith(prefix)))

    chosen = {  # rung -> (answers row, format row, update row)
        "prompt": (pick("prompt", "v1", "closed-book".__eq__), pick_format("prompt", "few-shot"),
                   pick("prompt", "v2", lambda v: "(e)" in v)),
        "rag": (pick("rag", "v1", lambda v: " top-" in v and not v.startswith("format")), pick_format("rag", "format"),
                pick("rag", "v2", "updated-index".__eq__)),
        "ft": (pick("ft", "v1", lambda v: "(c)" in v),
               pick_format("ft", "format"),
               pick("ft", "v2", lambda v: "(e)" in v)),
        "both": (raft_v1 := pick("both", "v1", lambda v: v.startswith("RAFT")), raft_v1,
                 pick("both", "v2", lambda v: v.startswith("RAFT"))),
    }

    def get(row: Row | None, name: str):
        return getattr(row, name) if row is not None else None

    summary = {}
    for rung, (answers, fmt, update) in chosen.items():
        if answers is None and fmt is None and update is None:
            continue
        summary[rung] = {
            "accuracy": get(answers, "accuracy"), "hallucination_rate": get(answers, "hallucination_rate"),
            "citation_recall": get(answers, "citation_recall"), "format_compliance": get(fmt, "format_compliance"),
            "fresh_accuracy": get(update, "accuracy"), "stale_rate": get(update, "stale_rate"),
            "latency_ms": get(answers, "latency_ms_mean"), "update_seconds": get(update, "update_seconds"),
        }
    return summary


def run_ladder(config: LadderConfig = LadderConfig()) -> list[Row]:
    """Run the chosen rungs, append their rows to ``out/scoreboard.json``, plot ``out/ladder.png``."""
    from labkit.both import BothConfig, both_rung
    from labkit.ft import ft_rung
    from labkit.models import load_generator

    unknown = [r for r in config.rungs if r not in RUNGS]
    if unknown:
        raise LabkitError(f"unknown rung(s): {', '.join(unknown)}", f"choose from: {', '.join(RUNGS)}")
    profile = get_profile(config.profile)
    if config.sample:
        profile = replace(profile, eval_examples=config.sample)
    rng = seed_everything(config.seed)
    heldout = heldout_sample(profile, rng)
    print(f"[ladder] profile {profile.name}: {len(heldout.facts)} fact questions, "
          f"{len(heldout.unanswerable)} unanswerable, {len(heldout.format_tasks)} format tasks")
    model, tokenizer = load_generator(profile.generator)
    rows: list[Row] = []
    if "prompt" in config.rungs:
        print("[ladder] rung prompt: closed-book questions, then few-shot JSON replies")
        # the worked examples get their own generator, so the sample's size does not change which are drawn
        rows += prompt_rung(model, tokenizer, heldout, profile, random.Random(config.seed), config.few_shot,
                            profile.generator, config.json_guard)
    if "rag" in config.rungs:
        print("[ladder] rung rag: index v1, answer with passages, check restricted questions, apply the v2 update")
        rows += rag_rung(model, tokenizer, heldout, profile, config, profile.generator)
        release_memory()
    if "ft" in config.rungs:
        rows += ft_rung(model, tokenizer, heldout, profile, random.Random(config.seed), profile.generator,
                        limit=config.sample, json_only=config.json_guard, isolate=config.isolate_training)
        release_memory()
    if "both" in config.rungs:
        compare_base = "rag" not in config.rungs  # else the rag rung has read the same passages already
        if not compare_base:
            model = None  # the base model is done with: its memory goes back before RAFT trains
            release_memory()
        rows += both_rung(model, tokenizer, heldout, profile, profile.generator,
                          replace(BothConfig(), json_only=config.json_guard, abstain_quantile=config.abstain_quantile),
                          limit=config.sample,
                          isolate=config.isolate_training, compare_base=compare_base)
    for row in rows:
        row.seed = config.seed
    out = Path(config.out)
    all_rows = append_rows(out / "scoreboard.json", rows)
    summary = headlines(all_rows)
    plot_headlines(summary, out / "ladder.png")
    print(format_table(all_rows))
    print()
    print(format_headlines(summary))
    print(f"[ladder] wrote {out / 'scoreboard.json'} and {out / 'ladder.png'}")
    return all_rows
