"""RAFT (Zhang et al. 2024): teach the model to READ retrieved passages, built from the corpus with no API key.

Each training question gets its **oracle** passage (the chunk of a gold document that holds the answer)
plus **hard distractors**: the chunks of *other* documents that the course retriever ranks highest for
that question. A fraction ``p_oracle`` of the examples keep the oracle (0.8, as in the paper; the
reference script in ShishirPatil/gorilla defaults to 1.0); the rest carry distractors only and the same
target, so the model cannot rely on the oracle always being there (or, with ``without_oracle="abstain"``,
learns to say that the passages do not answer: the kit's choice, since facts that move belong in the index). The target quotes the evidence
verbatim between ``##begin_quote##`` and ``##end_quote##``, cites the passage and then gives the answer,
as plain text or as JSON (``RaftConfig.json_target``). Everything random draws from one ``random.Random``.

>>> from labkit.retrieval.chunk import Chunk
>>> oracle = Chunk("wiki-returns#1", "wiki-returns", 1, "public", 1, ("Returns",), "Opened items carry a 15% restocking fee.")
>>> print(text_target(evidence_quote(oracle.text, ["15%"]), 2, "15%"))
##begin_quote##Opened items carry a 15% restocking fee.##end_quote## [2] <ANSWER>: 15%
>>> final_answer('{"quote": "...", "passage": 2, "answer": "15%"}'), final_answer("... [2] <ANSWER>: 15%")
('15%', '15%')
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from labkit import prompts
from labkit.course.corpus import Corpus
from labkit.errors import LabkitError
from labkit.evals import answer_matches, normalize_answer
from labkit.retrieval.chunk import Chunk
from labkit.storage import atomic_write
from labkit.tuning.train import Example

BEGIN_QUOTE, END_QUOTE, ANSWER_TAG = "##begin_quote##", "##end_quote##", "<ANSWER>:"

ANSWER_SCHEMA = {  # the JSON target: what "format compliance" means for a RAFT reply
    "title": "labkit RAFT answer",
    "type": "object",
    "required": ["quote", "passage", "answer"],
    "additionalProperties": False,
    "properties": {
        "quote": {"type": "string"},
        "passage": {"type": ["integer", "null"], "minimum": 1},
        "answer": {"type": "string", "minLength": 1},
    },
}


@dataclass(frozen=True)
class RaftConfig:
    """How the RAFT set is built."""

    examples: int = 96  # training questions drawn (one phrasing per fact)
    distractors: int = 2  # distractor passages next to the oracle (k - 1 for a top-k retriever)
    p_oracle: float = 0.8  # share of examples that keep the oracle (the paper's P)
    pool: int = 6  # distractors are drawn from this many nearest chunks of other documents
    json_target: bool = True  # the answer as JSON (ANSWER_SCHEMA) rather than plain text
    quote_words: int = 24  # a longer evidence line is cut to this many words around the answer
    role: str = "agent"  # whose view of the corpus the passages come from
    without_oracle: str = "answer"  # target when the oracle is left out: "answer" (the paper) or "abstain"
    siblings: bool = False  # also draw the oracle's own document's other chunks (never a chunk holding the answer)
    order: str = "shuffled"  # the passages "shuffled" (the paper) or "ranked" as the retriever ranks them

    def __post_init__(self):
        for name, value, known in (("without_oracle", self.without_oracle, WITHOUT_ORACLE), ("order", self.order, ORDERS)):
            if value not in known:
                raise LabkitError(f"RaftConfig.{name}={value!r} is not a known choice", f"choose one of: {', '.join(known)}")


WITHOUT_ORACLE = ("answer", "abstain")  # answer anyway (from memory, as in the paper) or say the passages lack it
ORDERS = ("shuffled", "ranked")  # shuffled: the oracle anywhere (the paper); ranked: where the retriever puts it


@dataclass(frozen=True)
class RaftExample:
    """One RAFT training (or probe) example."""

    record_id: str
    question: str
    passages: tuple[Chunk, ...]  # in prompt order
    oracle: Chunk
    has_oracle: bool
    quote: str
    answer: str
    target: str

    def messages(self) -> list[dict]:
        """The prompt: the same RAG prompt the base model gets (labkit.prompts.rag_messages)."""
        return prompts.rag_messages(self.question, [(c.doc_id, c.searchable_text) for c in self.passages])

    @property
    def passage(self) -> int | None:
        """The oracle's 1-based position among the passages (None when it was left out)."""
        return self.passages.index(self.oracle) + 1 if self.has_oracle else None

    def to_example(self) -> Example:
        return Example(self.messages(), self.target)


# ---------------------------------------------------------------------------
# pieces


def _evidence_lines(text: str, answers: Sequence[str], question: str) -> list[tuple[int, str]]:
    """(words shared with the question, line) for every line of ``text`` holding an answer, best first."""
    asked = set(normalize_answer(question).split())
    lines = [line.strip() for line in text.splitlines() if answer_matches(line, answers)]
    scored = [(len(asked & set(normalize_answer(line).split())), line) for line in lines]
    return sorted(scored, key=lambda pair: -pair[0])  # stable: ties keep text order


def evidence_quote(text: str, answers: Sequence[str], max_words: int = 24, question: str = "") -> str:
    """The verbatim line of ``text`` that holds an answer (of several, the one sharing most words with
    ``question``), cut to ``max_words`` words around the answer.

    >>> evidence_quote("# Returns\\nWindow: 30 days.\\nFee: 15% on opened items.", ["15%"])
    'Fee: 15% on opened items.'
    >>> evidence_quote("Opened: 2023-11-15\\nClosed: 2023-11-15", ["2023-11-15"], question="When was it closed?")
    'Closed: 2023-11-15'
    >>> evidence_quote("no answer here", ["15%"])
    ''
    """
    found = _evidence_lines(text, answers, question)
    if not found:
        return ""
    words = found[0][1].split()
    if len(words) <= max_words:
        return found[0][1]
    first, last = _answer_span(words, answers)
    if last - first >= max_words:
        return " ".join(words[first:last])
    start = max(0, min(first - (max_words - (last - first)) // 2, len(words) - max_words))
    return " ".join(words[start:start + max_words])  # whitespace-normalized, still a verbatim word run


def _answer_span(words: list[str], answers: Sequence[str]) -> tuple[int, int]:
    """The shortest run ``words[first:last]`` that holds an answer (the first such run).

    >>> _answer_span("| Brackenfold (BFD) | 117 units |".split(), ["117 units"])
    (4, 6)
    """
    for size in range(1, len(words) + 1):
        for first in range(len(words) - size + 1):
            if answer_matches(" ".join(words[first:first + size]), answers):
                return first, first + size
    return 0, len(words)


def text_target(quote: str, passage: int | None, answer: str) -> str:
    """The plain-text target: the quoted evidence, the passage it came from (when present), the answer."""
    cite = f" [{passage}]" if passage else ""
    return f"{BEGIN_QUOTE}{quote}{END_QUOTE}{cite} {ANSWER_TAG} {answer}"


def json_target(quote: str, passage: int | None, answer: str) -> str:
    """The JSON target (validates against ``ANSWER_SCHEMA``).

    >>> json_target("Fee: 15%.", 1, "15%")
    '{"quote": "Fee: 15%.", "passage": 1, "answer": "15%"}'
    """
    return json.dumps({"quote": quote, "passage": passage, "answer": answer}, ensure_ascii=False)


def final_answer(reply: str) -> str:
    """The answer part of a reply: the JSON ``answer``, the text after ``<ANSWER>:``, else the whole reply.

    Scoring only this part means a correct value inside a quote does not count as a correct answer.
    """
    start = reply.find("{")
    if start >= 0:
        try:
            value = json.loads(reply[start:reply.rfind("}") + 1])
            if isinstance(value, dict) and isinstance(value.get("answer"), str):
                return value["answer"]
        except ValueError:
            pass
    if ANSWER_TAG in reply:
        return reply.rsplit(ANSWER_TAG, 1)[1].strip()
    return reply


def cited_passage(reply: str) -> list[int]:
    """Passage numbers a RAFT reply cites (the JSON ``passage`` or ``[n]`` markers).

    >>> cited_passage('{"quote": "x", "passage": 2, "answer": "y"}'), cited_passage("[3] <ANSWER>: y")
    ([2], [3])
    """
    found = [int(n) for n in re.findall(r'"passage":\s*(\d+)', reply)]
    return found or [int(n) for n in re.findall(r"\[(\d+)\]", reply)]


def chunks_by_doc(chunks: Sequence[Chunk]) -> dict[str, list[Chunk]]:
    """The chunks grouped by document id, each group in the given order."""
    grouped: dict[str, list[Chunk]] = {}
    for c in chunks:
        grouped.setdefault(c.doc_id, []).append(c)
    return grouped


def oracle_chunk(record, chunks_by_doc: dict[str, list[Chunk]]) -> Chunk | None:
    """The chunk of a gold document that holds a gold answer on the line closest to the question
    (None if no chunk holds it). A date that is also a page's effective date, say, picks the table row
    the question asks about, not the page footer."""
    best, best_overlap = None, -1
    for doc_id in record.gold_doc_ids:
        for chunk in chunks_by_doc.get(doc_id, []):
            found = _evidence_lines(chunk.text, record.answers, record.question)
            if found and found[0][0] > best_overlap:
                best, best_overlap = chunk, found[0][0]
    return best


def sample_distractors(ranked: Sequence[Chunk], oracle: Chunk, n: int, rng: random.Random, pool: int = 6,
                       answers: Sequence[str] | None = None) -> list[Chunk]:
    """``n`` distinct hard distractors: drawn with ``rng`` from the ``pool`` best-ranked chunks that are
    not from the oracle's document (so the oracle, and its neighbours, are never distractors). Given the
    gold ``answers``, the oracle's neighbours may be drawn too, and no chunk that holds an answer: on a
    corpus of small chunks the other sections of the oracle's page are what the retriever serves beside it.

    >>> c = [Chunk(f"d{i}#0", f"d{i}", 1, "public", 0, (), "t") for i in range(5)]
    >>> [x.doc_id for x in sample_distractors(c + c[:2], c[0], 3, random.Random(0), pool=4)]
    ['d4', 'd2', 'd1']
    >>> page = [Chunk(f"p#{i}", "p", 1, "public", i, (), t) for i, t in enumerate(["Price: $9", "Stock: 4", "Released 2020"])]
    >>> [x.chunk_id for x in sample_distractors(page + c, page[0], 2, random.Random(0), pool=2, answers=["4"])]
    ['d0#0', 'p#2']
    """
    seen, candidates = set(), []
    for chunk in ranked:
        if answers is None:
            excluded = chunk.doc_id == oracle.doc_id
        else:
            excluded = chunk.chunk_id == oracle.chunk_id or answer_matches(chunk.text, answers)
        if excluded or chunk.chunk_id in seen:
            continue
        seen.add(chunk.chunk_id)
        candidates.append(chunk)
    candidates = candidates[:max(pool, n)]
    if len(candidates) < n:
        raise LabkitError(f"only {len(candidates)} distractor candidates for {n} distractors",
                          "search deeper (a larger k) or ask for fewer distractors")
    return rng.sample(candidates, n)


def changes_later(record, updates: Sequence) -> bool:
    """True when the change log later changes this record's answer (kept out of training, so the v2
    update measures reading, not unlearning)."""
    return any(set(record.gold_doc_ids) & set(u.gold_doc_ids) and answer_matches(" ".join(u.extra["answers_v1"]),
                                                                                  [record.canonical])
               for u in updates)


# ---------------------------------------------------------------------------
# the set


def build_example(record, chunks_by_doc: dict[str, list[Chunk]], retriever, config: RaftConfig,
                  rng: random.Random, keep_oracle: bool | None = None) -> RaftExample | None:
    """One RAFT example for ``record`` (None when no chunk holds its answer). ``keep_oracle`` forces
    the oracle in (True) or out (False); by default it stays with probability ``config.p_oracle``."""
    oracle = oracle_chunk(record, chunks_by_doc)
    if oracle is None:
        return None
    keep = rng.random() < config.p_oracle if keep_oracle is None else keep_oracle
    depth = config.pool + 8
    while True:  # deeper when too few chunks qualify (a common answer, such as "4 units", rules many out)
        ranked = [h.chunk for h in retriever.search(record.question, k=depth, role=config.role)]
        try:
            passages = sample_distractors(ranked, oracle, config.distractors + (0 if keep else 1), rng, config.pool,
                                          record.answers if config.siblings else None)
            break
        except LabkitError:  # raised before rng is used, so a deeper search draws what it would have
            if len(ranked) < depth:  # the retriever has nothing more to give
                raise
            depth *= 4
    if keep:
        passages.append(oracle)
    rng.shuffle(passages)  # in either order, so that both draw the same random numbers
    if config.order == "ranked":  # as at question time: the retriever's best first (an oracle it misses, last)
        rank = {c.chunk_id: i for i, c in enumerate(ranked)}
        passages.sort(key=lambda c: rank.get(c.chunk_id, len(ranked)))
    quote = evidence_quote(oracle.text, record.answers, config.quote_words, record.question)
    number = passages.index(oracle) + 1 if keep else None
    answer = record.canonical
    if not keep and config.without_oracle == "abstain":
        quote, answer = "", prompts.ABSTAIN_ANSWER
    make = json_target if config.json_target else text_target
    return RaftExample(record.id, record.question, tuple(passages), oracle, keep, quote, answer,
                       make(quote, number, answer))


def trainable_facts(corpus: Corpus, role: str = "agent") -> dict[str, list]:
    """``{fact id: its train-split phrasings}`` for the facts of ``corpus`` that ``role`` may read and whose
    answer the update never touches: what a RAFT set may be drawn from."""
    updates = corpus.questions("updates")
    by_fact: dict[str, list] = {}
    for r in corpus.train_facts(role):
        if not changes_later(r, updates):
            by_fact.setdefault(r.extra["fact_id"], []).append(r)
    return by_fact


def training_records(corpus: Corpus, rng: random.Random, n: int, role: str = "agent") -> list:
    """``n`` train-split fact questions of ``corpus`` (one phrasing per fact, drawn by ``rng``) from
    :func:`trainable_facts`."""
    by_fact = trainable_facts(corpus, role)
    facts = sorted(by_fact)
    if n > len(facts):
        raise LabkitError(f"asked for {n} RAFT questions, only {len(facts)} facts qualify", f"ask for at most {len(facts)}")
    return [rng.choice(by_fact[f]) for f in rng.sample(facts, n)]


def build_set(records: Sequence, chunks: Sequence[Chunk], retriever, config: RaftConfig = RaftConfig(),
              rng: random.Random | None = None) -> list[RaftExample]:
    """RAFT examples for ``records`` from the corpus ``chunks``, with distractors mined by ``retriever``
    (anything with ``search(query, k, role)``, e.g. :func:`labkit.ladder.rag.build_retriever`)."""
    rng = rng or random.Random(0)
    by_doc = chunks_by_doc(chunks)
    built = [build_example(r, by_doc, retriever, config, rng) for r in records]
    return [e for e in built if e is not None]


# ---------------------------------------------------------------------------
# export in the reference implementation's fields


def to_reference_record(example: RaftExample, index: int) -> dict:
    """One example in the JSONL fields of gorilla's raft.py (id, type, question, context, oracle_context,
    cot_answer, instruction), so its format and eval tools can read the set."""
    texts = [c.searchable_text for c in example.passages]
    return {
        "id": f"seed_task_{index}",
        "type": "general",
        "question": example.question,
        "context": {"title": [[c.doc_id for c in example.passages]], "sentences": [texts]},
        "oracle_context": example.oracle.searchable_text,
        "cot_answer": text_target(example.quote, example.passage, example.answer),
        "instruction": "".join(f"<DOCUMENT>{t}</DOCUMENT>\n" for t in texts) + example.question,
    }


def export_jsonl(examples: Sequence[RaftExample], path: Path | str) -> Path:
    """Write the set as JSON lines in the reference fields, atomically (a crash leaves the old file)."""
    return atomic_write(path, "".join(json.dumps(to_reference_record(e, i), ensure_ascii=False) + "\n"
                                      for i, e in enumerate(examples)))
