"""The capstone's decision: which rung of the ladder to reach for, argued from measured numbers.

The escalation ladder as a procedure: state what a use case needs (:class:`Needs`), then walk the rungs
from the cheapest (prompt, rag, ft, both) and stop at the first whose measured headline figures
(:func:`labkit.scoreboard.headlines`) meet every need. :func:`differences` and :func:`reach_for` rebuild
the two classic tables ("RAG vs fine-tuning: the main differences" and "I want to… reach for…") with a
measured number in every cell the kit can measure.

>>> summary = {"prompt": {"accuracy": 0.05, "format_compliance": 0.3},
...            "rag": {"accuracy": 0.4, "citation_recall": 0.7, "stale_rate": 0.0, "update_seconds": 2.0},
...            "ft": {"accuracy": 0.05, "format_compliance": 0.95, "stale_rate": 0.3, "update_seconds": 170.0},
...            "both": {"accuracy": 0.5, "citation_recall": 0.8, "format_compliance": 1.0, "stale_rate": 0.0,
...                     "update_seconds": 12.0}}
>>> cheapest_rung(Needs(), summary), cheapest_rung(Needs(fresh=True, cite=True), summary)
('prompt', 'rag')
>>> cheapest_rung(Needs(strict_format=True), summary), cheapest_rung(Needs(fresh=True, strict_format=True), summary)
('ft', 'both')
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from labkit.errors import LabkitError
from labkit.ladder.ft import FACT_SET_NAMES, FAIR_SETS
from labkit.scoreboard import RUNGS, Row, chosen_seed, compare, rate_cell


@dataclass(frozen=True)
class Needs:
    """What a use case needs, each with the bar a rung's measured figure must clear."""

    private_facts: bool = False  # answers come from your documents: accuracy at least ``min_accuracy``
    fresh: bool = False  # facts change: an update absorbed within ``max_update_seconds``, stale at most ``max_stale``
    cite: bool = False  # answers must point at their source: citation recall at least ``min_citation_recall``
    strict_format: bool = False  # another program parses the reply: compliance at least ``min_format``
    max_latency_ms: float | None = None  # per query, where it matters
    min_accuracy: float = 0.3
    max_update_seconds: float = 60.0
    max_stale: float = 0.05
    min_citation_recall: float = 0.5
    min_format: float = 0.9


def unmet(needs: Needs, figures: dict) -> list[str]:
    """The needs that a rung's ``figures`` (one entry of :func:`labkit.scoreboard.headlines`) fail, in words;
    a figure the rung never measured fails its need.

    >>> unmet(Needs(cite=True, fresh=True), {"citation_recall": 0.8, "stale_rate": 0.0, "update_seconds": None})
    ['fresh: cannot absorb an update (no update measured)']
    """
    def value(key):
        return figures.get(key)

    failed = []
    if needs.private_facts and not (value("accuracy") is not None and value("accuracy") >= needs.min_accuracy):
        failed.append(f"private facts: accuracy {_pct(value('accuracy'))} < {needs.min_accuracy:.0%}")
    if needs.fresh:
        seconds, stale = value("update_seconds"), value("stale_rate")
        if seconds is None:
            failed.append("fresh: cannot absorb an update (no update measured)")
        elif seconds > needs.max_update_seconds or stale is None or stale > needs.max_stale:
            failed.append(f"fresh: {seconds:.0f} s to absorb an update, {_pct(stale)} stale "
                          f"(needs <= {needs.max_update_seconds:.0f} s and <= {needs.max_stale:.0%})")
    if needs.cite and not (value("citation_recall") is not None and value("citation_recall") >= needs.min_citation_recall):
        failed.append(f"cite: citation recall {_pct(value('citation_recall'))} < {needs.min_citation_recall:.0%}")
    if needs.strict_format and not (value("format_compliance") is not None
                                    and value("format_compliance") >= needs.min_format):
        failed.append(f"strict format: compliance {_pct(value('format_compliance'))} < {needs.min_format:.0%}")
    if needs.max_latency_ms is not None and not (value("latency_ms") is not None
                                                 and value("latency_ms") <= needs.max_latency_ms):
        failed.append(f"latency: {value('latency_ms')} ms > {needs.max_latency_ms:.0f} ms")
    return failed


def _pct(value) -> str:
    return "not measured" if value is None else f"{value:.0%}"


def cheapest_rung(needs: Needs, summary: dict[str, dict]) -> str | None:
    """The first rung, cheapest first, whose measured figures meet every need (None: no rung does)."""
    for rung in RUNGS:
        if rung in summary and not unmet(needs, summary[rung]):
            return rung
    return None


def close_calls(needs: Needs, figures: dict) -> list[str]:
    """The rates a need compares with a bar that lies inside the rate's 95% interval (``figures["ci"]``, as
    :func:`labkit.scoreboard.headlines` gives it): met or failed, one more right or wrong reply could flip
    them, so more questions, not the point estimate, should decide.

    >>> close_calls(Needs(strict_format=True), {"format_compliance": 0.89, "ci": {"format_compliance": (0.57, 0.98)}})
    ['format compliance 89% [57-98] spans the 90% bar']
    """
    bars = {"accuracy": (needs.private_facts, needs.min_accuracy, "accuracy"),
            "citation_recall": (needs.cite, needs.min_citation_recall, "citation recall"),
            "format_compliance": (needs.strict_format, needs.min_format, "format compliance"),
            "stale_rate": (needs.fresh, needs.max_stale, "staleness")}
    found = []
    for key, (needed, bar, name) in bars.items():
        span = figures.get("ci", {}).get(key)
        if needed and span is not None and span[0] <= bar <= span[1]:
            found.append(f"{name} {figures[key]:.0%} [{100 * span[0]:.0f}-{100 * span[1]:.0f}] spans the {bar:.0%} bar")
    return found


def justify(needs: Needs, summary: dict[str, dict]) -> str:
    """Why the cheapest rung wins: what each cheaper rung failed, with its numbers, and, for the rung chosen
    (or, when none is, the last rung measured), where a bar lies inside a rate's 95% interval
    (:func:`close_calls`): that the call is close."""
    chosen = cheapest_rung(needs, summary)
    present = [rung for rung in RUNGS if rung in summary]
    lines = []
    for rung in present:
        failed = unmet(needs, summary[rung])
        close = close_calls(needs, summary[rung]) if rung == (chosen or present[-1]) else []
        caution = f" (close call: {'; '.join(close)})" if close else ""
        if rung == chosen:
            lines.append(f"{rung}: meets every need -> reach for it{caution}")
            break
        lines.append(f"{rung}: " + "; ".join(failed) + caution)
    if chosen is None:
        lines.append("no rung meets every need: relax a bar or measure a bigger model")
    return "\n".join(lines)


def rank(summary: dict[str, dict], a: str, b: str, seed: int = 0, role: str = "answers") -> str:
    """Whether rung ``a`` answers better than rung ``b``, in words: "beats" only when the paired bootstrap
    interval of their accuracy difference, on the same questions, excludes zero; otherwise "not
    distinguishable at n = ...", however large the gap looks. ``summary`` is :func:`labkit.scoreboard.headlines`.

    >>> from labkit.scoreboard import Row, headlines
    >>> ids = [f"q{i}" for i in range(40)]
    >>> rows = [Row("rag", "bm25", metric_role="answers", headline=True, question_ids=ids, correct=[1] * 10 + [0] * 30),
    ...         Row("both", "raft", metric_role="answers", headline=True, question_ids=ids, correct=[1] * 30 + [0] * 10)]
    >>> print(rank(headlines(rows), "both", "rag"))
    both beats rag by +50 points (95% paired interval +35 to +65, n = 40)
    """
    rows = [summary.get(r, {}).get("rows", {}).get(role) for r in (a, b)]
    missing = [r for r, row in zip((a, b), rows) if row is None]
    if missing:
        raise LabkitError(f"no {role} headline row for {', '.join(missing)}", "run those rungs of the ladder first")
    return compare(rows[0], rows[1], random.Random(seed)).describe(a, b)


def _fig(summary: dict, rung: str, key: str, kind: str = "pct") -> str:
    value = summary.get(rung, {}).get(key)
    if value is None:
        return "not measured"
    return {"pct": f"{value:.0%}", "s": f"{value:.0f} s", "ms": f"{value:.0f} ms"}[kind]


def fair_sets(rows: list[Row], train_seed: int | None = None) -> list[tuple[str, Row | None, Row | None]]:
    """The facts fine-tune beside RAG on the same questions: for each of its trained, paraphrased and unseen
    fact sets (:data:`labkit.ladder.ft.FAIR_SETS`), ``(set label, RAG's row, the fine-tune's row)`` (None where
    a rung did not answer that set). The fine-tune's rows are those of ``train_seed`` (default: the first).

    >>> rows = [Row("rag", "bm25 top-3", question_set="unseen", n=20, accuracy=0.5),
    ...         Row("ft", "facts (c)", question_set="unseen", n=20, accuracy=0.0, train_seed=0),
    ...         Row("ft", "closed-book (c)", question_set="unseen", n=20, accuracy=0.0)]
    >>> [(label, rag.accuracy, ft.accuracy) for label, rag, ft in fair_sets(rows) if rag]
    [('(c) unseen facts', 0.5, 0.0)]
    """
    chosen = chosen_seed(rows, train_seed)

    def found(rung: str, name: str, seed: int | None) -> Row | None:
        return next((r for r in rows if r.rung == rung and r.question_set == name and r.train_seed == seed), None)

    return [(FACT_SET_NAMES[name], found("rag", name, None), found("ft", name, chosen)) for name in FAIR_SETS]


def fair_comparisons(rows: list[Row], train_seed: int | None = None, seed: int = 0) -> list[str]:
    """The facts fine-tune against RAG on each of :func:`fair_sets`, question by question (a paired bootstrap
    seeded with ``seed``), in words: "beats" only when the interval of the difference excludes zero.

    >>> ids = [f"q{i}" for i in range(20)]
    >>> rows = [Row("rag", "bm25", question_set="unseen", question_ids=ids, correct=[1] * 11 + [0] * 9),
    ...         Row("ft", "facts (c)", question_set="unseen", question_ids=ids, correct=[0] * 20, train_seed=0)]
    >>> print(fair_comparisons(rows)[0])
    (c) unseen facts: rag beats ft by +55 points (95% paired interval +35 to +75, n = 20)
    """
    return [f"{label}: {compare(ft, rag, random.Random(seed)).describe('ft', 'rag')}"
            for label, rag, ft in fair_sets(rows, train_seed) if rag is not None and ft is not None]


def _accuracy_cell(row: Row | None, closed_book: bool = False) -> str:
    if row is None or row.accuracy is None:
        return "not measured"
    return f"{rate_cell(row.accuracy, row.interval('accuracy'))} of {row.n}" + (", closed-book" if closed_book else "")


def differences(summary: dict[str, dict], rows: list[Row] | None = None) -> list[tuple[str, str, str]]:
    """RAG vs fine-tuning, the main differences, each cell with the number measured here:
    (aspect, RAG, fine-tuning). With the ladder's ``rows``, accuracy is compared on the same questions, on the
    facts the fine-tune was trained on, their paraphrases and facts it never saw (:func:`fair_sets`), each
    cell with its interval and ``n``; without them, each rung's headline accuracy (different questions)."""
    if rows:
        accuracy = [(f"accuracy, {label} (same questions)", _accuracy_cell(rag), _accuracy_cell(ft, True))
                    for label, rag, ft in fair_sets(rows)]
    else:
        accuracy = [("accuracy on the course's facts (each rung's own questions)", _fig(summary, "rag", "accuracy"),
                     f"{_fig(summary, 'ft', 'accuracy')} (unseen facts, closed-book)")]
    return [
        ("where the knowledge lives", "in the index, read at question time", "in the weights, fixed at training time"),
        *accuracy,
        ("hallucination (wrong, not abstaining)", _fig(summary, "rag", "hallucination_rate"),
         _fig(summary, "ft", "hallucination_rate")),
        ("traceable to a source (citation recall)", _fig(summary, "rag", "citation_recall"), "none: no passage to cite"),
        ("a fact changes: time to absorb it", _fig(summary, "rag", "update_seconds", "s") + " (re-index the document)",
         _fig(summary, "ft", "update_seconds", "s") + " (a retraining run)"),
        ("stale answers after the change", _fig(summary, "rag", "stale_rate"), _fig(summary, "ft", "stale_rate")),
        ("strict output format", f"not its job (few-shot prompt: {_fig(summary, 'prompt', 'format_compliance')})",
         _fig(summary, "ft", "format_compliance")),
        ("cost per query", _fig(summary, "rag", "latency_ms", "ms") + " (long prompts)",
         _fig(summary, "ft", "latency_ms", "ms")),
    ]


def reach_for(summary: dict[str, dict], rows: list[Row] | None = None) -> list[tuple[str, str, str]]:
    """"I want to… reach for…", each row with the measured evidence: (I want to, reach for, because). With
    the ladder's ``rows``, "teach the model new facts" quotes the fine-tune and RAG on the same fact sets."""
    facts = (f"closed-book fine-tune: {_fig(summary, 'ft', 'accuracy')} right, "
             f"{_fig(summary, 'ft', 'hallucination_rate')} confidently wrong")
    if rows and all(rag and ft for _, rag, ft in fair_sets(rows)):
        trained, paraphrased, unseen = fair_sets(rows)
        facts = (f"fine-tune {trained[2].accuracy:.0%} on the facts it was trained on, {paraphrased[2].accuracy:.0%} "
                 f"on their paraphrases, {unseen[2].accuracy:.0%} on unseen ones (RAG on the same: "
                 f"{trained[1].accuracy:.0%}, {paraphrased[1].accuracy:.0%}, {unseen[1].accuracy:.0%})")
    return [
        ("answer from my own documents", "RAG",
         f"accuracy {_fig(summary, 'rag', 'accuracy')} vs {_fig(summary, 'prompt', 'accuracy')} closed-book"),
        ("keep answers current as facts change", "RAG",
         f"{_fig(summary, 'rag', 'update_seconds', 's')} to absorb the update, "
         f"{_fig(summary, 'rag', 'stale_rate')} stale (fine-tuning: {_fig(summary, 'ft', 'update_seconds', 's')}, "
         f"{_fig(summary, 'ft', 'stale_rate')} stale)"),
        ("show where an answer came from", "RAG", f"citation recall {_fig(summary, 'rag', 'citation_recall')}"),
        ("a fixed format or house voice", "fine-tuning",
         f"compliance {_fig(summary, 'ft', 'format_compliance')} vs {_fig(summary, 'prompt', 'format_compliance')} "
         f"few-shot"),
        ("teach the model new facts", "RAG, not fine-tuning", facts),
        ("current facts in a strict format", "both (RAFT + retrieval)",
         f"accuracy {_fig(summary, 'both', 'accuracy')}, compliance {_fig(summary, 'both', 'format_compliance')}, "
         f"{_fig(summary, 'both', 'stale_rate')} stale after the update"),
    ]


def decision(needs: Needs, summary: dict[str, dict]) -> str:
    """The decision as the runner writes it: :func:`justify`, then how sure it is: the rung chosen (or the last
    measured) with its accuracy's 95% interval and ``n``, and what that width means (on a few questions of your
    own, a gap narrower than the interval is not a measured difference; four times the questions halve it).

    >>> from labkit.scoreboard import Row, headlines
    >>> rows = [Row("rag", "bm25", metric_role="answers", headline=True, n=30, accuracy=0.5, citation_recall=0.7)]
    >>> print(decision(Needs(private_facts=True), headlines(rows)))
    rag: meets every need -> reach for it
    how sure: rag's accuracy is 50% [33-67] on n = 30 questions, an interval 34 points wide: a gap between two rungs narrower than that is not measured here (4x the questions halve it)
    """
    lines = [justify(needs, summary)]
    present = [rung for rung in RUNGS if rung in summary]
    rung = cheapest_rung(needs, summary) or (present[-1] if present else None)
    row = summary.get(rung, {}).get("rows", {}).get("answers") if rung else None
    span = summary.get(rung, {}).get("ci", {}).get("accuracy") if rung else None
    if row is not None and span is not None:
        width = round(100 * span[1]) - round(100 * span[0])
        lines.append(f"how sure: {rung}'s accuracy is {rate_cell(row.accuracy, span)} on n = {row.n} questions, an "
                     f"interval {width:.0f} points wide: a gap between two rungs narrower than that is not measured "
                     f"here (4x the questions halve it)")
    return "\n".join(lines)
