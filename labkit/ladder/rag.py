"""The second rung: the base model reading retrieved passages.

The course retriever is dense (MiniLM) + BM25 over the chunked corpus, fused by rank
(:func:`build_retriever`); the rung reads its BM25 view (:data:`COURSE_READER`), as the both rung does,
and abstains, without asking the model, where the passages cover too little of the question
(:func:`min_coverage`, calibrated on training questions only). Around the main row: the access check
(restricted questions asked by a role that may not read their source), the anti-pattern "RAG to fix a
format" (the style guide retrieved instead of a fine-tune), and the update scenario: corpus v2 lands,
the changed documents are upserted, and :func:`absorb_update` times the first right answer. The both
rung absorbs its update with the same function.

>>> from labkit.course.corpus import course_corpus
>>> chunks = v2_update_chunks(course_corpus(), str.split)
>>> sorted({c.doc_id for c in chunks}) == list(course_corpus().changed_doc_ids)
True
>>> rows = rag_rung(model, tokenizer, course_corpus(), heldout, get_profile("ci"))   # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Callable, Sequence

from labkit import evals, prompts
from labkit.course import sample
from labkit.course.corpus import Corpus
from labkit.course.sample import HeldOut
from labkit.errors import LabkitError
from labkit.ladder.prompt import json_replies, style_adherence
from labkit.retrieval.answer import RagConfig, answer_questions, coverage_threshold, passage_coverage_threshold
from labkit.retrieval.chunk import ChunkConfig, chunk_documents
from labkit.retrieval.embed import EmbedConfig, Embedder
from labkit.retrieval.index import VectorIndex
from labkit.retrieval.lexical import BM25Index, HybridConfig, HybridRetriever
from labkit.retrieval.qdrant import QdrantIndex, parse_spec
from labkit.runtime import Profile, cache_dir
from labkit.scoreboard import Row, guarded, usage

COURSE_CHUNKING = ChunkConfig(method="markdown", max_tokens=128)  # how every rung and lab chunks the corpus
COURSE_FUSION = 10  # rrf_k: on the course questions BM25 finds ticket ids that MiniLM barely sees (lab 03)
RETRIEVERS = ("bm25", "hybrid", "dense")  # the views of a course retriever
COURSE_READER = "bm25"  # what the rag and both rungs read: on the course questions BM25 has the oracle chunk in its top 3 most often
ABSTAIN_QUANTILE = 0.02  # the rag and both rungs abstain below the passage coverage of the 2% worst-covered training questions


def build_index(corpus: Corpus, version: str = "v1", chunking: ChunkConfig = COURSE_CHUNKING, embedder=None,
                index: str = "faiss"):
    """Chunk and embed one version of ``corpus`` into a vector index with its roles: FAISS
    (:class:`labkit.retrieval.index.VectorIndex`) or, with ``index="qdrant:PATH"`` or
    ``"qdrant+http://HOST:PORT"``, a Qdrant collection named after the corpus, built anew
    (:class:`labkit.retrieval.qdrant.QdrantIndex`). The default embedder keeps its vectors in the labkit cache
    (``<cache>/embeddings``), so the labs and the ladder embed the course corpus once, not once per index."""
    embedder = embedder or Embedder(EmbedConfig(cache_dir=cache_dir() / "embeddings"))
    chunks = chunk_documents(corpus.documents(version), chunking, embedder.tokenizer, progress=False)
    qdrant = parse_spec(index, collection=re.sub(r"[^A-Za-z0-9_-]+", "-", f"labkit-{corpus.name}"))
    if qdrant is not None:
        return QdrantIndex.build(chunks, embedder, qdrant, access_policy=corpus.roles)
    return VectorIndex.build(chunks, embedder, access_policy=corpus.roles)


def build_retriever(corpus: Corpus, version: str = "v1", chunking: ChunkConfig = COURSE_CHUNKING,
                    embedder=None, index: str = "faiss") -> HybridRetriever:
    """Dense (``index``: FAISS, or a Qdrant spec, :func:`build_index`) + BM25 over one version of ``corpus``,
    fused by rank (:class:`labkit.retrieval.lexical.HybridRetriever`).

    Its scores are fused ranks, not cosines: use it with ``RagConfig(min_score=0.0)``."""
    dense = build_index(corpus, version, chunking, embedder, index)
    lexical = BM25Index.build(dense.all_chunks(), access_policy=corpus.roles)
    return HybridRetriever(dense, lexical, HybridConfig(rrf_k=COURSE_FUSION))


def close_retriever(hybrid: HybridRetriever) -> None:
    """Let go of a retriever's dense index where it holds a resource (a Qdrant folder, which one client at a
    time may open); a FAISS index needs nothing."""
    getattr(hybrid.dense, "close", lambda: None)()


def pick_retriever(hybrid: HybridRetriever, name: str = COURSE_READER):
    """The ``name`` view of a course retriever (:func:`build_retriever`): its BM25 index, its dense index, or
    the fused pair. All share the hybrid's indexes, so its upsert updates each."""
    if name not in RETRIEVERS:
        raise LabkitError(f"{name!r} is not a course retriever", f"choose one of: {', '.join(RETRIEVERS)}")
    return {"bm25": hybrid.lexical, "dense": hybrid.dense, "hybrid": hybrid}[name]


def reader_hits(hybrid: HybridRetriever, records: Sequence, k: int = 3, role: str = "agent") -> dict[str, list[bool]]:
    """Why the rungs read :data:`COURSE_READER`: for each view of a course retriever (:data:`RETRIEVERS`), whether
    each question's gold document is among the top ``k`` chunks ``role`` may read. The model is not asked:
    a passage that is not retrieved cannot be read, whatever the reader.

    >>> hits = reader_hits(build_retriever(course_corpus()), course_corpus().train_facts()[:20])   # doctest: +SKIP
    >>> {name: sum(found) for name, found in hits.items()}                                          # doctest: +SKIP
    {'bm25': 17, 'hybrid': 16, 'dense': 11}
    """
    return {name: [bool(set(r.gold_doc_ids) & {h.chunk.doc_id for h in pick_retriever(hybrid, name).search(
                r.question, k=k, role=role)}) for r in records]
            for name in RETRIEVERS}


def min_coverage(corpus: Corpus, reader, k: int, role: str | None = None,
                 quantile: float | None = ABSTAIN_QUANTILE) -> float:
    """The abstention gate for ``reader`` (a BM25 view): :func:`labkit.retrieval.answer.coverage_threshold` on
    the training split's fact questions that ``role`` (default: the corpus's asker) may read. No held-out or
    unanswerable question is used. ``quantile=None``: no gate (0.0)."""
    if quantile is None:
        return 0.0
    role = role or corpus.asker
    questions = [r.question for r in corpus.train_facts(role)]
    if not questions:
        raise LabkitError(f"corpus {corpus.name!r}: no training question that {role!r} may read, so the "
                          "abstention gate cannot be calibrated", "give more fact questions (a share of them "
                          "trains), or run without the gate (abstain_quantile=None)")
    return coverage_threshold(reader, questions, k, role, quantile)


def min_passage_coverage(corpus: Corpus, reader, k: int, quantile: float | None = ABSTAIN_QUANTILE) -> float:
    """The gate's second half: :func:`labkit.retrieval.answer.passage_coverage_threshold` on the training split's
    fact questions, asked by the corpus's asker where it may read their answer (answer) and by the most
    privileged role that may not (:meth:`Corpus.denied_asker`: abstain). No held-out question is used; a
    corpus where every role reads everything has no such gate (0.0), nor does ``quantile=None``."""
    if quantile is None:
        return 0.0
    answerable = [(r.question, corpus.asker) for r in corpus.train_facts()]
    train = [r for r in corpus.questions("facts") if r.extra["split"] == "train"]
    denied = [(r.question, role) for r in train for role in [corpus.denied_asker(r)] if role is not None]
    return passage_coverage_threshold(reader, answerable, denied, k) if answerable else 0.0


def gate(corpus: Corpus, reader, k: int, quantile: float | None = ABSTAIN_QUANTILE) -> dict[str, float]:
    """The rag and both rungs' abstention gate, calibrated on ``corpus``'s training split, as
    :class:`labkit.retrieval.answer.RagConfig` fields: the passages together must cover the question
    (:func:`min_coverage`) and one passage alone must (:func:`min_passage_coverage`), or the reply abstains
    without asking the model. ``replace(config, **gate(...))``."""
    return {"min_coverage": min_coverage(corpus, reader, k, quantile=quantile),
            "min_passage_coverage": min_passage_coverage(corpus, reader, k, quantile)}


def rag_row(model, tokenizer, corpus: Corpus, index, questions: list, config: RagConfig, role: str, base: dict,
            variant: str, version: str = "v1", **describe) -> tuple[Row, list]:
    """Answer ``questions`` with retrieval as ``role``; score them like the prompt rung, plus citations.
    ``describe``: what the row is (``question_set``, ``metric_role``, ``headline``). Returns the row and the
    answers."""
    started = time.perf_counter()
    answers = answer_questions([r.question for r in questions], index, model, tokenizer, role, config)
    cited = [evals.citation_scores(a.cited_doc_ids, r.gold_doc_ids) for a, r in zip(answers, questions)
             if r.gold_doc_ids]
    row = Row(variant=variant, corpus_version=version, **base, **describe,
              **sample.score(corpus, [a.text for a in answers], questions), **usage(answers),
              citation_precision=evals.mean_or_none(p for p, _ in cited),
              citation_recall=evals.mean_or_none(r for _, r in cited),
              wall_seconds=time.perf_counter() - started)
    return row, answers


def rag_format_row(model, tokenizer, corpus: Corpus, index, tasks: list, profile: Profile, base: dict, k: int = 3,
                   role: str | None = None, json_only: bool = False) -> Row:
    """The anti-pattern "RAG to fix a format": the base model gets the instruction and the top-``k`` passages
    retrieved for the house format (the style guide holds the schema), but no worked example and no training
    (``json_only``: decoded under the JSON guard). Scores compliance and the house voice, as the fine-tune's rows."""
    started = time.perf_counter()
    conversations = []
    for t in tasks:
        hits = index.search(prompts.FORMAT_QUERY + t.message, k=k, role=role or corpus.asker)
        request = prompts.format_request(t.message, t.ticket_id, t.product_code)
        conversations.append(prompts.format_messages(
            prompts.with_passages(request, [(h.chunk.doc_id, h.chunk.searchable_text) for h in hits])))
    replies, compliance = json_replies(model, tokenizer, corpus, conversations, profile, json_only)
    return Row(variant=guarded(f"format from top-{k} retrieved (style guide)", json_only), **base,
               question_set="format", metric_role="format", headline=True, n=len(replies),
               format_compliance=compliance, style_adherence=style_adherence([a.text for a in replies], corpus),
               **usage(replies), wall_seconds=time.perf_counter() - started)


def restricted_check(model, tokenizer, corpus: Corpus, index, config: RagConfig, base: dict, variant: str,
                     limit: int | None = None) -> tuple[int, Row | None]:
    """Ask every restricted question (the first ``limit``) as the most privileged role that may NOT read its
    source. Returns the number of answers that give the restricted value away, and a row scoring the replies
    as to an unanswerable question (for that role, the right reply is to abstain; a value is invented or
    leaked); no row where the corpus has no restricted question."""
    records = corpus.questions("restricted")[:limit]
    by_role: dict[str, list] = {}
    for r in records:
        denied = corpus.most_privileged(r.extra["denied_roles"])
        by_role.setdefault(denied, []).append(r)
    leaks, asked, texts, started = 0, [], [], time.perf_counter()
    for role, group in by_role.items():
        answers = answer_questions([r.question for r in group], index, model, tokenizer, role, config)
        leaks += sum(evals.answer_matches(a.text, r.answers) for a, r in zip(answers, group))
        asked += group
        texts += answers
    if not asked:
        return leaks, None
    denied = [replace(r, answers=("abstain",), answer_type="abstain") for r in asked]
    row = Row(variant=variant, **base, question_set="restricted", metric_role="answers",
              **sample.score(corpus, [a.text for a in texts], denied), **usage(texts), restricted_leaks=leaks,
              wall_seconds=time.perf_counter() - started)
    return leaks, row


def v2_update_chunks(corpus: Corpus, tokenizer, chunking: ChunkConfig = COURSE_CHUNKING) -> list:
    """The chunks of every document the update changed, in their v2 text (what an upsert applies)."""
    return chunk_documents(corpus.changed_documents(), chunking, tokenizer, progress=False)


def absorb_update(hybrid: HybridRetriever, corpus: Corpus, chunking: ChunkConfig, questions: Sequence,
                  answer: Callable[[list], list[str]]) -> float | None:
    """Corpus v2 lands: upsert the changed documents into ``hybrid`` (both of its indexes), then ask the update
    ``questions`` one at a time (``answer(records) -> texts``) until the first right one (strictly: the new
    value, and not the old one beside it). Returns the seconds
    from the upsert to that answer (None when none is right): the time to a fresh answer."""
    started = time.perf_counter()
    hybrid.upsert(v2_update_chunks(corpus, hybrid.dense.embedder.tokenizer, chunking))
    for r in questions:
        (text,) = answer([r])
        if evals.answer_verdict(text, r.extra["answers_v2"], corpus.competing(r), r.question) == "right":
            return time.perf_counter() - started
    return None


def update_scenario(model, tokenizer, corpus: Corpus, hybrid: HybridRetriever, config: RagConfig, base: dict,
                    chunking: ChunkConfig, role: str | None = None, limit: int | None = None) -> list[Row]:
    """Corpus v2 has landed: ask the update questions (the first ``limit``) as ``role`` (default: the corpus's
    updater) against the stale v1 retriever ``hybrid`` (reading its :data:`COURSE_READER` view), then
    :func:`absorb_update` and ask again."""
    role = role or corpus.updater
    index = pick_retriever(hybrid)
    questions = corpus.questions("updates")[:limit]

    def update_row(variant: str, update_seconds: float | None = None, headline: bool = False) -> Row:
        row, answers = rag_row(model, tokenizer, corpus, index, questions, config, role, base, variant, "v2",
                               question_set="updates", metric_role="update", headline=headline)
        row.stale_rate = sample.stale_rate([a.text for a in answers], questions)
        row.update_seconds = update_seconds
        return row

    def answer(records: list) -> list[str]:
        return [a.text for a in answer_questions([r.question for r in records], index, model, tokenizer, role, config)]

    before = update_row("stale-index")
    seconds = absorb_update(hybrid, corpus, chunking, questions, answer)
    return [before, update_row("updated-index", seconds, headline=True)]


def rag_rung(model, tokenizer, corpus: Corpus, heldout: HeldOut, profile: Profile, model_name: str = "",
             config: RagConfig = RagConfig(min_score=0.0), chunking: ChunkConfig = COURSE_CHUNKING,
             abstain_quantile: float | None = ABSTAIN_QUANTILE, limit: int | None = None,
             json_only: bool = True, fact_sets: dict[str, list] | None = None, index: str = "faiss") -> list[Row]:
    """The base model reading the course retriever's passages (:data:`COURSE_READER`, as an agent; BM25 scores
    are not cosines, so ``config.min_score`` stays 0 and the gate is coverage), then the leak check (the first
    ``limit`` restricted questions), the style guide retrieved for the format (``json_only``: under the JSON
    guard), and the update scenario (the first ``limit`` update questions).

    ``fact_sets`` (``{question set: records}``, e.g. the facts fine-tune's trained, paraphrased and unseen
    facts) adds a row per set, the same reader on the same questions, so the two rungs compare fairly. ``index``: the dense index (:func:`build_index`)."""
    base = {"rung": "rag", "model": model_name, "profile": profile.name}
    hybrid = build_retriever(corpus, "v1", chunking, index=index)
    reader = pick_retriever(hybrid)
    gated = replace(config, **gate(corpus, reader, config.k, abstain_quantile))
    name = f"{COURSE_READER} top-{gated.k}"
    main, _ = rag_row(model, tokenizer, corpus, reader, heldout.questions, gated, corpus.asker, base, name,
                      question_set="heldout", metric_role="answers", headline=True)
    main.restricted_leaks, denied = restricted_check(model, tokenizer, corpus, reader, gated, base,
                                                     f"{name}, asked by a role that may not read the source", limit)
    beside = [rag_row(model, tokenizer, corpus, reader, records, gated, corpus.asker, base,
                      f"{name} on the ft rung's {set_name} facts", question_set=set_name, metric_role="answers")[0]
              for set_name, records in (fact_sets or {}).items() if records]
    rows = [main, *([denied] if denied else []), *beside]
    if heldout.format_tasks:
        rows.append(rag_format_row(model, tokenizer, corpus, reader, heldout.format_tasks, profile, base,
                                   json_only=json_only))
    if corpus.has_update:
        rows += update_scenario(model, tokenizer, corpus, hybrid, gated, base, chunking, limit=limit)
    close_retriever(hybrid)
    return rows
