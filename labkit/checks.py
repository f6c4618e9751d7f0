"""Exercise checkers: run a learner's function against labkit's reference on fixtures.

Each checker prints one line per outcome: a pass, or the first failing case with
what was expected, what came back, and a hint. A stub that still raises
``NotImplementedError`` is re-raised, so an unfinished lab stops at its exercise.
Under ``labkit grade`` (``LABKIT_GRADE=1`` in the kernel) each outcome also prints
one machine-readable line, ``LABKIT-CHECK {"verdict": ..., "detail": ...}``.

>>> check(lambda x: x * 2, lambda x: x + x, cases=[(1,), (5,)], name="double")
pass: double agrees with labkit on 2 cases
True
>>> check(lambda x: x, lambda x: x + x, cases=[(3,)], name="double", hint="add it to itself")
FAIL: double(3) returned 3, expected 6
  hint: add it to itself
False
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterable

from labkit.course.data import PRODUCT_CODE_PATTERN, TICKET_ID_PATTERN
from labkit.course.own import denied_roles, example_corpus
from labkit.evals import fabricated_ids, normalize_answer
from labkit.hints import NotDone, on_fail
from labkit.ladder.decide import Needs, cheapest_rung
from labkit.ladder.ft import FACT_SET_NAMES, format_example
from labkit.prompts import rag_messages
from labkit.retrieval.chunk import Chunk, chunk_window
from labkit.retrieval.index import Hit
from labkit.retrieval.lexical import reciprocal_rank_fusion

MARKER = "LABKIT-CHECK "  # what labkit.grade reads back from a check's output
GRADE_ENV = "LABKIT_GRADE"  # set to "1" in the kernel by labkit.grade


def check(learner: Callable, reference: Callable, cases: Iterable[tuple], name: str | None = None,
          hint: str = "", same: Callable[[Any, Any], bool] | None = None) -> bool:
    """Compare ``learner(*case)`` with ``reference(*case)`` for every case; print and return the verdict."""
    name = name or getattr(learner, "__name__", "your function")
    same = same or (lambda got, want: got == want)
    cases = list(cases)
    for case in cases:
        want = reference(*case)
        try:
            got = learner(*case)
        except NotImplementedError as exc:
            _not_done(name, exc)
            raise
        except Exception as exc:  # show the learner their own error, briefly
            return _fail(f"{name}{_args(case)} raised {type(exc).__name__}: {exc}", hint)
        if not same(got, want):
            return _fail(f"{name}{_args(case)} returned {got!r}, expected {want!r}", hint)
    return _pass(f"{name} agrees with labkit on {len(cases)} cases")


def close(tolerance: float = 1e-4) -> Callable[[Any, Any], bool]:
    """A ``same`` for numbers and arrays: equal within ``tolerance``.

    >>> close()(0.33333, 1 / 3)
    True
    """
    import numpy as np

    def same(got, want) -> bool:
        try:
            return bool(np.allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), atol=tolerance))
        except (TypeError, ValueError):
            return False

    return same


def _args(case: tuple) -> str:
    text = "(" + ", ".join(_short(a) for a in case) + ")"
    return text


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mark(verdict: str, detail: str) -> None:
    """The machine-readable twin of a check's printed line, only under ``labkit grade``."""
    if os.environ.get(GRADE_ENV) == "1":
        print(MARKER + json.dumps({"verdict": verdict, "detail": detail}))


def _pass(message: str) -> bool:
    print("pass: " + message)
    _mark("pass", message)
    return True


def _fail(message: str, hint: str) -> bool:
    print("FAIL: " + message)
    if hint:
        print("  hint: " + hint)
    _mark("fail", message)
    return False


def _not_done(name: str, error: NotImplementedError) -> None:
    if not isinstance(error, NotDone):  # a lab's stub says so itself, in one message (labkit.hints)
        print(f"not done yet: {name} still raises NotImplementedError; replace the stub with your code.")
    _mark("stub", f"{name} still raises NotImplementedError")


# ---------------------------------------------------------------------------
# checkers for the labs' exercises (one per exercise, named after it)


def _reference_cosine(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def check_cosine(learner: Callable) -> bool:
    """Lab 00: cosine similarity of two vectors, compared with labkit's on a few fixtures."""
    cases = [([1.0, 0.0], [0.0, 1.0]), ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]), ([1.0, 1.0], [-1.0, -1.0]),
             ([0.3, -0.2, 0.9, 0.1], [0.5, 0.4, -0.1, 0.8]), ([3.0, 4.0], [4.0, 3.0])]
    return check(learner, _reference_cosine, cases, name="cosine", same=close(), hint=on_fail("00.1"))


def check_normalize(learner: Callable) -> bool:
    """Lab 01: answer normalization, compared with :func:`labkit.evals.normalize_answer`."""
    cases = [("The price is $1,249.00!",), ("  Thirty   DAYS ",), ("An apple, a pear and THE plum.",),
             ("Firmware v4.2.1 (stable)",), ("TCK-2024-00417",), ("15%",)]
    return check(learner, normalize_answer, cases, name="normalize", hint=on_fail("01.1"))


def check_invented_ids(learner: Callable) -> bool:
    """Lab 01: invented identifiers, compared with :func:`labkit.evals.fabricated_ids` on the course patterns."""
    known = {"TCK-2024-00417", "TCK-2025-00002", "QM-1001"}
    cases = [(text, known) for text in (
        "It was ticket TCK-2024-00417.", "It was ticket TCK-2024-00418.", "QM-1001 and QM-9999, see TCK-2025-00002",
        "No identifier here.", "TCK-24-00417 is not in the pattern", "TCK-2023-11111, TCK-2023-22222")]
    return check(learner, lambda a, k: fabricated_ids(a, k, (TICKET_ID_PATTERN, PRODUCT_CODE_PATTERN)), cases,
                 name="invented_ids", hint=on_fail("01.2"))


def check_rag_prompt(learner: Callable) -> bool:
    """Lab 04: the RAG prompt builder, compared with :func:`labkit.prompts.rag_messages`."""
    cases = [("How long is the return window?", [("wiki-returns", "Returns are accepted within 45 days.")]),
             ("Which ticket?", [("ticket-TCK-2024-00417", "Battery swelling."), ("prod-QM-1001", "A sensor.")]),
             ("Anything?", [])]
    return check(learner, rag_messages, cases, name="rag_prompt", hint=on_fail("04.1"))


def check_build_example(learner: Callable, tasks: Iterable) -> bool:
    """Lab 06: one format task as a training example, compared with :func:`labkit.ladder.ft.format_example`."""
    return check(learner, format_example, [(t,) for t in tasks], name="build_example", hint=on_fail("06.1"))


def check_prediction(prediction: str) -> bool:
    """Lab 07: a prediction is one of the facts experiment's set names (:data:`labkit.ladder.ft.FACT_SET_NAMES`).

    >>> check_prediction("unseen")
    pass: you predict 'unseen' (c) unseen facts
    True
    """
    if not isinstance(prediction, str) or prediction not in FACT_SET_NAMES:
        return _fail(f"predict() returned {_short(prediction)}, which names no set", "return one of "
                     + ", ".join(repr(name) for name in FACT_SET_NAMES) + "; " + on_fail("07.1"))
    return _pass(f"you predict {prediction!r} {FACT_SET_NAMES[prediction]}")


def check_apply_update(learner: Callable, index, document, old_value: str, new_value: str) -> bool:
    """Lab 05: after ``learner(index, document)`` the index holds the new version of the document
    and no chunk of it still carries the old value."""
    learner(index, document)
    chunks = [c for c in index.chunks.values() if c.doc_id == document.doc_id]
    problems = []
    if not chunks:
        problems.append(f"no chunk of {document.doc_id} is in the index any more")
    if any(old_value in c.text for c in chunks):
        problems.append(f"a chunk of {document.doc_id} still says {old_value!r}")
    if not any(new_value in c.text for c in chunks):
        problems.append(f"no chunk of {document.doc_id} says {new_value!r}")
    if problems:
        return _fail("; ".join(problems), on_fail("05.1"))
    return _pass(f"{document.doc_id} now says {new_value!r} and never {old_value!r}")


def _reference_windows(tokens, max_tokens: int, overlap: int) -> list[list[str]]:
    from types import SimpleNamespace


    doc = SimpleNamespace(doc_id="d", text=" ".join(tokens), access="public", doc_version=1)
    return [c.text.split() for c in chunk_window(doc, str.split, max_tokens, overlap)]


def check_window_chunks(learner: Callable) -> bool:
    """Lab 02: overlapping token windows, compared with :func:`labkit.retrieval.chunk.chunk_window` (``str.split`` tokens)."""
    words = ("Refunds are issued within 7 business days of the return arriving at the Brackenfold warehouse, "
             "to the original payment method. Opened items that are not faulty carry a restocking fee.").split()
    cases = [(list("abcdefg"), 4, 2), (list("abcdefgh"), 4, 0), (list("abcdefgh"), 4, 1), (list("abc"), 5, 2),
             ([], 4, 1), (list("abcdef"), 3, 2), (words, 10, 3), (words, 12, 0)]
    return check(learner, _reference_windows, cases, name="window_chunks", hint=on_fail("02.1"))


def _reference_rrf(rankings, rrf_k: int = 60) -> list[tuple[str, float]]:

    hits = [[Hit(Chunk(cid, cid.split("#")[0], 1, "public", 0, (), ""), 0.0) for cid in ranking]
            for ranking in rankings]
    return [(h.chunk.chunk_id, h.score) for h in reciprocal_rank_fusion(hits, rrf_k)]


def _same_fusion(got, want) -> bool:
    try:
        ids_match = [cid for cid, _ in got] == [cid for cid, _ in want]
        return ids_match and close(1e-9)([s for _, s in got], [s for _, s in want])
    except (TypeError, ValueError):
        return False


def check_rrf(learner: Callable) -> bool:
    """Lab 03: fusing ranked chunk ids, compared with :func:`labkit.retrieval.lexical.reciprocal_rank_fusion`."""
    cases = [([["x", "y"], ["y", "z"]], 60), ([["a", "b"], ["b", "a"]], 60), ([["a", "b", "c"]], 60),
             ([["p#0", "q#1", "r#0"], [], ["r#0", "s#2"]], 60), ([["a", "b", "c"], ["c", "b", "a"], ["b"]], 1),
             ([], 60)]
    return check(learner, _reference_rrf, cases, name="rrf", same=_same_fusion, hint=on_fail("03.1"))


def _distractor_fixture():
    """A ranking as a retriever gives it: the oracle's own document near the top, a repeated chunk, other pages."""
    def chunk(doc_id: str, position: int = 0) -> Chunk:
        return Chunk(f"{doc_id}#{position}", doc_id, 1, "public", position, (), f"Part {position} of {doc_id}.")

    oracle = chunk("wiki-returns", 1)
    ranked = [chunk("wiki-returns", 0), chunk("wiki-fees"), oracle, chunk("wiki-fees"), chunk("prod-QM-1001"),
              chunk("wiki-returns", 2), chunk("prod-QM-1002"), chunk("prod-QM-1001", 1), chunk("ticket-TCK-2024-00417"),
              chunk("wiki-shipping"), chunk("wiki-warranty"), chunk("prod-QM-1003")]
    too_few = [oracle, chunk("wiki-returns", 0), chunk("wiki-fees"), chunk("wiki-fees"), chunk("prod-QM-1001")]
    return ranked, oracle, too_few


def _eligible(ranked, oracle) -> list:
    out = []
    for c in ranked:
        if c.doc_id != oracle.doc_id and c.chunk_id not in {x.chunk_id for x in out}:
            out.append(c)
    return out


def check_distractor_sampler(learner: Callable) -> bool:
    """Lab RAFT: ``sample_distractors(ranked, oracle, n, rng, pool=6)``, checked for the properties of
    :func:`labkit.tuning.raft.sample_distractors` rather than for its exact picks: ``n`` distinct chunks, none from
    the oracle's document, all from the ``pool`` best-ranked eligible chunks, the same picks for the same
    seed and different picks for different seeds, and an error when there are too few candidates.

    >>> from labkit.tuning.raft import sample_distractors
    >>> check_distractor_sampler(sample_distractors)
    pass: sample_distractors draws n distinct chunks of other documents from the pool, seeded by rng (3 cases)
    True
    """
    import random

    name = getattr(learner, "__name__", "sample_distractors")
    ranked, oracle, too_few = _distractor_fixture()
    eligible = _eligible(ranked, oracle)

    def call(chunks, n, rng, pool):
        try:
            return learner(list(chunks), oracle, n, rng, pool=pool), None
        except NotImplementedError as exc:
            _not_done(name, exc)
            raise
        except Exception as exc:  # show the learner their own error, briefly
            return None, exc

    cases = [(2, 6), (3, 4), (6, 6)]  # (n, pool); with n == pool every candidate of the pool must come back
    state = random.getstate()  # a sampler that uses the global random module must not get lucky
    try:
        for n, pool in cases:
            label = f"{name}(ranked, oracle, n={n}, rng, pool={pool})"
            random.seed(1)
            got, exc = call(ranked, n, random.Random(7), pool)
            if exc is not None:
                return _fail(f"{label} raised {type(exc).__name__}: {exc}", "there are enough candidates here")
            try:
                got = list(got)
                ids = [c.chunk_id for c in got]
            except (TypeError, AttributeError):
                return _fail(f"{label} returned {_short(got)}, expected a list of {n} chunks",
                             "return the chunks themselves (rng.sample(candidates, n)), not their ids or texts")
            if len(got) != n:
                return _fail(f"{label} returned {len(got)} chunks, expected {n}", "return exactly n chunks")
            if len(set(ids)) != n:
                return _fail(f"{label} returned the same chunk twice: {ids}",
                             "the ranking can list a chunk twice: skip chunk ids you have already kept, and draw "
                             "without replacement (rng.sample, not rng.choices)")
            if any(c.doc_id == oracle.doc_id for c in got):
                return _fail(f"{label} returned a chunk of the oracle's document {oracle.doc_id!r}: {ids}",
                             "skip every chunk whose doc_id is oracle.doc_id, not only the oracle chunk itself")
            allowed = [c.chunk_id for c in eligible[:pool]]
            if not set(ids) <= set(allowed):
                return _fail(f"{label} returned {sorted(set(ids) - set(allowed))}, not among the {pool} best-ranked "
                             f"eligible chunks {allowed}", "keep the eligible chunks in rank order, cut the list to "
                                                           "the first pool, then draw from it")
            random.seed(2)
            again, exc = call(ranked, n, random.Random(7), pool)
            again_ids = None if exc is not None else [getattr(c, "chunk_id", c) for c in again]
            if again_ids != ids:
                return _fail(f"{label} with random.Random(7) gave {ids}, then {again_ids}",
                             "draw only with the rng you are given (rng.sample), never with the random module")
        n, pool = cases[0]
        picks = set()
        for seed in range(10):
            got, exc = call(ranked, n, random.Random(seed), pool)
            if exc is None:
                picks.add(tuple(getattr(c, "chunk_id", c) for c in got))
        if len(picks) < 2:
            return _fail(f"{name}(ranked, oracle, n={n}, rng, pool={pool}) gave {sorted(picks)} for all of "
                         "random.Random(0) ... random.Random(9)",
                         "draw at random with rng (rng.sample), rather than always taking the top n")
        got, exc = call(too_few, 3, random.Random(7), 6)
        if exc is None:
            shown = [getattr(c, "chunk_id", c) for c in got] if isinstance(got, (list, tuple)) else got
            return _fail(f"{name}(ranked, oracle, n=3, rng) returned {_short(shown, 80)}, but the ranking holds only "
                         f"{len(_eligible(too_few, oracle))} eligible chunks",
                         "raise an error (labkit.errors.LabkitError) when fewer than n candidates remain")
    finally:
        random.setstate(state)
    return _pass(f"{name} draws n distinct chunks of other documents from the pool, seeded by rng ({len(cases)} cases)")


def _decision_cases(n: int = 100) -> list[tuple]:
    """Seeded (needs, summary) pairs: every need switched on and off, figures that pass and fail each bar,
    rungs missing or figures not measured."""
    import random


    rng = random.Random(9)
    keys = ("accuracy", "citation_recall", "format_compliance", "stale_rate", "update_seconds", "latency_ms")
    cases = []
    for _ in range(n):
        needs = Needs(private_facts=rng.random() < 0.5, fresh=rng.random() < 0.5, cite=rng.random() < 0.4,
                      strict_format=rng.random() < 0.4,
                      max_latency_ms=rng.choice([None, None, 500.0, 2000.0]))
        summary = {}
        for rung in ("prompt", "rag", "ft", "both"):
            if rng.random() < 0.1:
                continue  # a rung that was not run
            figures = {}
            for key in keys:
                if rng.random() < 0.1:
                    figures[key] = None
                elif key == "update_seconds":
                    figures[key] = rng.choice([2.0, 12.0, 59.0, 61.0, 170.0])
                elif key == "latency_ms":
                    figures[key] = rng.choice([300.0, 1500.0, 2500.0])
                elif key == "stale_rate":
                    figures[key] = rng.choice([0.0, 0.0, 0.05, 0.3])
                else:
                    figures[key] = rng.choice([0.0, 0.29, 0.5, 0.89, 0.95, 1.0])
            summary[rung] = figures
        cases.append((needs, summary))
    return cases


def check_decision_procedure(learner: Callable) -> bool:
    """``learner(needs, summary)`` must return the cheapest rung whose figures meet every need
    (:func:`labkit.ladder.decide.cheapest_rung`), on seeded cases that switch each need and each bar."""
    return check(learner, cheapest_rung, _decision_cases(), name="choose_rung", hint=on_fail("09.1"))


def check_denied_roles(learner: Callable) -> bool:
    """Lab 10: ``denied_roles(record, access, roles)``, the roles that may not read a question's answer, on every
    fact question of the example pile (:func:`labkit.course.own.example_corpus`), against labkit's."""
    corpus = example_corpus()
    access = {d.doc_id: d.access for d in corpus.documents("v1")}
    cases = [(r, access, corpus.roles) for r in corpus.questions("facts") if r.extra["phrasing"] == 0]
    return check(learner, denied_roles, cases, name="denied_roles", hint=on_fail("10.1"))
