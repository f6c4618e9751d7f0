"""The scoreboard: one row per measured (rung, variant, corpus version), in one JSON file.

Every rung of the ladder appends rows here; one function plots them side by side. A row says what it
is: its rung (the rung that measured it), the question set it was scored on, its metric role (what
it measures: ``answers``, ``format`` or the ``update``) and whether it is its rung's headline for that
role. :func:`headlines` reads those fields, never the variant names. A field that does not apply to a
row is ``None`` (``null`` in the file).

>>> row = Row(rung="prompt", variant="closed-book", n=3, accuracy=1 / 3)
>>> row.key
('prompt', 'closed-book', 'v1', None)
>>> guarded("few-shot", True), guarded("few-shot", False)
('few-shot, JSON guard', 'few-shot')
>>> print(format_table([row]))  # doctest: +NORMALIZE_WHITESPACE
rung    variant      corpus  n  accuracy
prompt  closed-book  v1      3  33% [6-79]
"""

from __future__ import annotations

import json
import random
import textwrap
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from labkit import evals, stats
from labkit.errors import LabkitError
from labkit.storage import atomic_write

SCHEMA_VERSION = 4  # 2: rows carry question_set, metric_role and headline; 3: intervals, question ids, verdicts;
                    # 4: train_seed (rows of trained systems, one per seed of `ladder --seeds`)
RUNGS = ("prompt", "rag", "ft", "both")  # the ladder, cheapest first: the one list every module and lab uses
METRIC_ROLES = ("answers", "format", "update")  # what a row measures: questions answered, replies' format,
                                                # questions asked after the corpus update
GUARDED = ", JSON guard"  # the suffix of a row whose JSON replies were decoded under labkit.constrain
RUNG_COLOURS = {"prompt": "#9e9e9e", "rag": "#1f77b4", "ft": "#ff7f0e", "both": "#2ca02c"}


@dataclass
class Row:
    """One measured configuration. Rates are fractions in [0, 1]; times in seconds unless named ms."""

    rung: str  # prompt, rag, ft or both: the rung that measured it
    variant: str  # what tells rows of one rung apart: closed-book, few-shot, facts, format, raft...
    model: str | None = None
    corpus_version: str = "v1"
    question_set: str | None = None  # what was asked: "heldout", "format", "updates", "unseen", ...
    metric_role: str | None = None  # one of METRIC_ROLES
    headline: bool = False  # True: this row speaks for its rung's metric role (labkit.scoreboard.headlines)
    profile: str | None = None
    seed: int | None = None  # drew the sample (which questions are scored)
    train_seed: int | None = None  # trained the adapter this row measures (None: nothing trained)
    n: int | None = None
    accuracy: float | None = None  # strict: a gold value and no competing one (labkit.evals.answer_verdict)
    accuracy_lenient: float | None = None  # "any gold occurs" (labkit.evals.answer_matches), beside it
    lenient_disagreements: int | None = None  # answers the two matchers judge differently
    mixed_rate: float | None = None  # a gold value and a competing one (after an update: old and new)
    hallucination_rate: float | None = None
    abstention_rate: float | None = None
    fabricated_id_rate: float | None = None
    citation_precision: float | None = None
    citation_recall: float | None = None
    format_compliance: float | None = None
    style_adherence: float | None = None  # compliant AND in the house voice (sign-off, no forbidden phrase)
    stale_rate: float | None = None
    restricted_leaks: int | None = None
    prompt_tokens_mean: float | None = None
    completion_tokens_mean: float | None = None
    latency_ms_mean: float | None = None
    train_seconds: float | None = None
    adapter_mb: float | None = None
    update_seconds: float | None = None
    wall_seconds: float | None = None
    question_ids: list[str] | None = None  # the questions scored, in order (answer and update rows)
    correct: list[int] | None = None  # each question's verdict (1 right), aligned with question_ids
    intervals: dict | None = None  # {rate: {"n", "ci_low", "ci_high"}}: filled by write_scoreboard (with_intervals)

    @property
    def key(self) -> tuple[str, str, str, int | None]:
        return (self.rung, self.variant, self.corpus_version, self.train_seed)

    def interval(self, rate: str, config: stats.IntervalConfig = stats.IntervalConfig()) -> tuple[float, float] | None:
        """The 95% Wilson interval of one of :data:`RATES` (None where the row has no such rate or no ``n``).

        >>> [f"{x:.0%}" for x in Row("rag", "top-3", n=20, accuracy=0.55).interval("accuracy")]
        ['34%', '74%']
        """
        value = getattr(self, rate)
        if value is None or not self.n:
            return None
        return stats.rate_interval(value, self.n, config)


FIELDS = tuple(f.name for f in fields(Row))
# The proportions of a row's n questions (citation scores are means of per-answer fractions, over the answers
# that cite: no Wilson interval for them).
RATES = ("accuracy", "accuracy_lenient", "mixed_rate", "hallucination_rate", "abstention_rate", "fabricated_id_rate",
         "format_compliance", "style_adherence", "stale_rate")


def with_intervals(row: Row) -> Row:
    """``row`` with ``intervals`` filled for every rate it carries: its ``n`` and 95% Wilson interval.

    >>> with_intervals(Row("rag", "top-3", n=20, accuracy=0.55)).intervals["accuracy"]
    {'n': 20, 'ci_low': 0.342, 'ci_high': 0.742}
    """
    found = {rate: row.interval(rate) for rate in RATES}
    row.intervals = {rate: {"n": row.n, "ci_low": round(low, 3), "ci_high": round(high, 3)}
                     for rate, (low, high) in ((r, i) for r, i in found.items() if i is not None)} or None
    return row


def compare(a: Row, b: Row, rng: random.Random, config: stats.IntervalConfig = stats.IntervalConfig()) -> stats.Difference:
    """The paired difference of two rows' accuracy (``a - b``) on the questions both answered, with its
    bootstrap interval (:func:`labkit.stats.paired_bootstrap`). Rows scored on different questions are
    refused: comparing them would mix what the rungs know with which questions they drew.

    >>> a = Row("both", "raft", question_ids=["q1", "q2", "q3"], correct=[1, 1, 0])
    >>> b = Row("rag", "bm25", question_ids=["q1", "q2", "q3"], correct=[0, 1, 0])
    >>> compare(a, b, random.Random(0)).difference
    0.3333333333333333
    """
    if not a.question_ids or not a.correct or not b.question_ids or not b.correct:
        raise LabkitError(f"{a.rung} / {a.variant!r} or {b.rung} / {b.variant!r} carries no per-question verdicts",
                          "compare rows scored by this version of labkit (scoreboard schema 3)")
    if a.question_ids != b.question_ids:
        shared = len(set(a.question_ids) & set(b.question_ids))
        raise LabkitError(f"{a.rung} / {a.variant!r} and {b.rung} / {b.variant!r} were scored on different questions "
                          f"({len(a.question_ids)} and {len(b.question_ids)}, {shared} shared)",
                          "compare two rungs only on the same question set, drawn with the same seed")
    return stats.paired_bootstrap(a.correct, b.correct, rng, config)


def write_scoreboard(rows: list[Row], path: Path) -> list[Row]:
    """Write all rows to ``path`` atomically (a crash never leaves half a file); return them in file order."""
    ordered = sorted(rows, key=lambda r: (RUNGS.index(r.rung) if r.rung in RUNGS else 99,
                                          r.corpus_version, r.variant, -1 if r.train_seed is None else r.train_seed))
    text = json.dumps({"schema": SCHEMA_VERSION, "fields": list(FIELDS),
                       "rows": [asdict(with_intervals(r)) for r in ordered]}, indent=1, ensure_ascii=False)
    atomic_write(path, text + "\n")
    return ordered


def load_scoreboard(path: Path) -> list[Row]:
    """Read the rows back; a file from another schema version is refused, not misread."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA_VERSION}")
        return [Row(**row) for row in data["rows"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise LabkitError(f"{path} is not a labkit scoreboard ({exc})",
                          "delete it, or write to another --out folder") from None


def merge_rows(old: list[Row], new: list[Row]) -> list[Row]:
    """``old`` with every row of ``new`` added, replacing rows with the same key."""
    replaced = {r.key for r in new}
    return [r for r in old if r.key not in replaced] + list(new)


def append_rows(path: Path, rows: list[Row]) -> list[Row]:
    """Add ``rows`` to the scoreboard at ``path`` (same key replaces) and return all rows."""
    return write_scoreboard(merge_rows(load_scoreboard(path), rows), path)


def guarded(variant: str, json_only: bool) -> str:
    """A row's name, marked when its replies were decoded under the JSON guard."""
    return variant + GUARDED if json_only else variant


def usage(answers) -> dict:
    """Mean tokens and latency of generated answers (anything with ``prompt_tokens``, ``completion_tokens``
    and ``latency_ms``: :class:`labkit.generate.Answer`, :class:`labkit.retrieval.answer.RagAnswer`), as
    :class:`Row` fields."""
    return {
        "prompt_tokens_mean": evals.mean_or_none(a.prompt_tokens for a in answers),
        "completion_tokens_mean": evals.mean_or_none(a.completion_tokens for a in answers),
        "latency_ms_mean": evals.mean_or_none(a.latency_ms for a in answers),
    }


def aligned(cells: list[list[str]]) -> str:
    """Rows of text cells as columns two spaces apart (the first row is the header).

    >>> print(aligned([["rung", "n"], ["rag", "60"]]))
    rung  n
    rag   60
    """
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def chosen_seed(rows: list[Row], train_seed: int | None = None) -> int | None:
    """The training seed whose rows speak: ``train_seed``, else the first of :func:`train_seeds` (None: nothing
    trained)."""
    seeds = train_seeds(rows)
    return train_seed if train_seed is not None else (seeds[0] if seeds else None)


def train_seeds(rows: list[Row]) -> list[int]:
    """The training seeds the rows' adapters were trained with, in order (empty: nothing was trained).

    >>> train_seeds([Row("ft", "format", train_seed=2), Row("rag", "bm25"), Row("ft", "format", train_seed=0)])
    [0, 2]
    """
    return sorted({r.train_seed for r in rows if r.train_seed is not None})


def headlines(rows: list[Row], train_seed: int | None = None) -> dict[str, dict]:
    """Each rung's headline figures, keyed like :data:`HEADLINE_RATES` and :data:`HEADLINE_COSTS`, from the
    rows each rung marked as its headline for a metric role: ``answers`` (accuracy, hallucination, citations,
    latency), ``format`` (compliance; a rung without a format row but whose answers are JSON replies speaks
    with its answers row) and ``update`` (right and stale after the corpus update, and the seconds it took to
    absorb it). Each rung's ``ci`` holds the 95% interval of every rate whose row carries an ``n``, and its
    ``rows`` the rows that speak for it (what :func:`compare` pairs). A rung with no headline row is left out.
    Rows of trained systems count for one training seed: ``train_seed``, or the first of :func:`train_seeds`
    (:func:`seed_spread` reads the others).

    >>> rows = [Row("rag", "bm25 top-5", metric_role="answers", headline=True, accuracy=0.4, latency_ms_mean=900.0),
    ...         Row("rag", "stale-index", corpus_version="v2", metric_role="update", accuracy=0.1),
    ...         Row("rag", "updated-index", corpus_version="v2", metric_role="update", headline=True, accuracy=0.3,
    ...             stale_rate=0.0, update_seconds=2.0)]
    >>> headlines(rows)["rag"]["fresh_accuracy"], headlines(rows)["rag"]["update_seconds"], list(headlines(rows))
    (0.3, 2.0, ['rag'])
    """
    chosen = chosen_seed(rows, train_seed)

    def speaks(rung: str, role: str) -> Row | None:
        return next((r for r in rows if r.rung == rung and r.headline and r.metric_role == role
                     and r.train_seed in (None, chosen)), None)

    def get(row: Row | None, name: str):
        return getattr(row, name) if row is not None else None

    summary = {}
    for rung in RUNGS:
        answers, fmt, update = (speaks(rung, role) for role in METRIC_ROLES)
        if fmt is None and get(answers, "format_compliance") is not None:
            fmt = answers  # its answers are JSON replies (RAFT's)
        if answers is None and fmt is None and update is None:
            continue
        sources = {"accuracy": (answers, "accuracy"), "hallucination_rate": (answers, "hallucination_rate"),
                   "citation_recall": (answers, "citation_recall"), "format_compliance": (fmt, "format_compliance"),
                   "fresh_accuracy": (update, "accuracy"), "stale_rate": (update, "stale_rate"),
                   "latency_ms": (answers, "latency_ms_mean"), "update_seconds": (update, "update_seconds")}
        summary[rung] = {key: get(row, name) for key, (row, name) in sources.items()}
        spans = {key: row.interval(name) for key, (row, name) in sources.items() if row is not None and name in RATES}
        summary[rung]["ci"] = {key: span for key, span in spans.items() if span is not None}
        summary[rung]["rows"] = {"answers": answers, "format": fmt, "update": update}
    return summary


def rate_cell(value: float | None, interval: tuple[float, float] | None = None) -> str:
    """A rate as a table shows it: a percentage, then its 95% interval where known ('-': not measured).

    >>> rate_cell(0.55, (0.342, 0.742)), rate_cell(None), rate_cell(1.0)
    ('55% [34-74]', '-', '100%')
    """
    if value is None:
        return "-"
    if interval is None:
        return f"{value:.0%}"
    return f"{value:.0%} [{100 * interval[0]:.0f}-{100 * interval[1]:.0f}]"


def seed_spread(rows: list[Row]) -> dict[str, dict[str, dict[int, float]]]:
    """For each rung whose headlines come from trained adapters, each headline rate per training seed:
    ``{rung: {key: {seed: value}}}`` (keys as :data:`HEADLINE_RATES`). Rungs that train nothing give the same
    figures on every seed and are left out.

    >>> rows = [Row("both", "raft", metric_role="answers", headline=True, train_seed=s, accuracy=a)
    ...         for s, a in ((0, 0.7), (1, 0.6))] + [Row("rag", "bm25", metric_role="answers", headline=True, accuracy=0.5)]
    >>> seed_spread(rows)["both"]["accuracy"], list(seed_spread(rows))
    ({0: 0.7, 1: 0.6}, ['both'])
    """
    spread: dict[str, dict[str, dict[int, float]]] = {}
    for seed in train_seeds(rows):
        for rung, figures in headlines(rows, seed).items():
            if not any(row is not None and row.train_seed == seed for row in figures["rows"].values()):
                continue
            for key, _, _ in HEADLINE_RATES:
                if figures.get(key) is not None:
                    spread.setdefault(rung, {}).setdefault(key, {})[seed] = figures[key]
    return spread


def format_spread(rows: list[Row]) -> str:
    """:func:`seed_spread` as a text table: each trained rung's headline rates on every training seed, then their
    mean and range ('' when the rows hold fewer than two seeds).

    >>> rows = [Row("both", "raft", metric_role="answers", headline=True, train_seed=s, accuracy=a)
    ...         for s, a in ((0, 0.7), (1, 0.6), (2, 0.65))]
    >>> print(format_spread(rows))  # doctest: +NORMALIZE_WHITESPACE
    rung  headline  seed 0  seed 1  seed 2  mean  range
    both  accuracy  70%     60%     65%     65%   60-70
    """
    seeds = train_seeds(rows)
    if len(seeds) < 2:
        return ""
    titles = {key: title for key, title, _ in HEADLINE_RATES}
    cells = [["rung", "headline", *(f"seed {s}" for s in seeds), "mean", "range"]]
    for rung, by_key in seed_spread(rows).items():
        for key, values in by_key.items():
            got = [values[s] for s in seeds if s in values]
            cells.append([rung, titles[key], *(rate_cell(values.get(s)) for s in seeds),
                          rate_cell(sum(got) / len(got)), f"{100 * min(got):.0f}-{100 * max(got):.0f}"])
    return aligned(cells)


COLUMNS = (  # (header, field, format)
    ("rung", "rung", "{}"), ("variant", "variant", "{}"), ("corpus", "corpus_version", "{}"), ("n", "n", "{}"),
    ("accuracy", "accuracy", "{:.0%}"), ("lenient", "accuracy_lenient", "{:.0%}"), ("mixed", "mixed_rate", "{:.0%}"),
    ("halluc.", "hallucination_rate", "{:.0%}"),
    ("abstain", "abstention_rate", "{:.0%}"), ("fab.ids", "fabricated_id_rate", "{:.0%}"),
    ("format", "format_compliance", "{:.0%}"), ("style", "style_adherence", "{:.0%}"),
    ("stale", "stale_rate", "{:.0%}"), ("leaks", "restricted_leaks", "{}"),
    ("prompt tok", "prompt_tokens_mean", "{:.0f}"), ("ms/query", "latency_ms_mean", "{:.0f}"),
    ("train s", "train_seconds", "{:.0f}"), ("update s", "update_seconds", "{:.1f}"),
)


TIMING_FIELDS = ("latency_ms_mean", "train_seconds", "update_seconds", "wall_seconds")  # vary run to run


def measurements(rows: list[Row]) -> list[dict]:
    """The rows as dicts without their timings (``TIMING_FIELDS``): what two runs with the same seed on the
    same machine must agree on, to the last digit.

    >>> measurements([Row("rag", "top-5", accuracy=0.4, latency_ms_mean=812.0)])[0]["accuracy"]
    0.4
    >>> "latency_ms_mean" in measurements([Row("rag", "top-5")])[0]
    False
    """
    return [{k: v for k, v in asdict(r).items() if k not in TIMING_FIELDS} for r in rows]


INTERVAL_COLUMNS = ("accuracy", "format_compliance", "stale_rate")  # the rates a table shows with their interval


ROW_NAMES = ("rung", "variant", "corpus_version", "n")  # the columns that say what a row is, always shown


def format_table(rows: list[Row], timings: bool = True, intervals: bool = True, every_column: bool = False) -> str:
    """The rows as an aligned text table ('-' where a metric does not apply to a row), accuracy, format
    compliance and staleness with their 95% interval (``intervals``; every rate's is in ``scoreboard.json``).
    A metric no row measured is left out (``every_column=True`` keeps all of :data:`COLUMNS`).
    ``timings=False`` leaves out the columns that vary from run to run (latency, training and update time),
    as notebooks do.

    >>> print(format_table([Row("rag", "top-3", n=4, accuracy=0.5), Row("ft", "format", n=2, style_adherence=1.0)],
    ...                    intervals=False))  # doctest: +NORMALIZE_WHITESPACE
    rung  variant  corpus  n  accuracy  style
    rag   top-3    v1      4  50%       -
    ft    format   v1      2  -         100%
    """
    columns = [c for c in COLUMNS if (timings or c[1] not in TIMING_FIELDS)
               and (every_column or c[1] in ROW_NAMES or any(getattr(r, c[1]) is not None for r in rows))]
    cells = [[h for h, _, _ in columns]]

    def cell(row: Row, name: str, fmt: str) -> str:
        value = getattr(row, name)
        if value is None:
            return "-"
        if intervals and name in INTERVAL_COLUMNS:
            return rate_cell(value, row.interval(name))
        return fmt.format(value)

    several = len(train_seeds(rows)) > 1
    for row in rows:
        line = [cell(row, name, fmt) for _, name, fmt in columns]
        if several and row.train_seed is not None:  # the same variant, trained once per seed
            line[[name for _, name, _ in columns].index("variant")] += f" [seed {row.train_seed}]"
        cells.append(line)
    return aligned(cells)


def new_figure(size: tuple[float, float], path: Path | None):
    """A figure to save to ``path`` (no pyplot, so no window and no change of the notebook's backend), or,
    with no path, a pyplot figure that a notebook shows."""
    if path is not None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=size)
        FigureCanvasAgg(figure)  # its own canvas: saving never goes through (or registers with) a notebook backend
        return figure
    import matplotlib.pyplot as plt

    return plt.figure(figsize=size)


PLOT_METRICS = (  # (field, title, higher is better)
    ("accuracy", "accuracy", True), ("hallucination_rate", "hallucination", False),
    ("fabricated_id_rate", "invented ids", False), ("format_compliance", "format compliance", True),
    ("citation_recall", "citation recall", True), ("stale_rate", "stale answers", False),
)


def _bars(ax, xs, rows: list[Row], field: str, width: float = 0.8, **style) -> None:
    """One bar per row for ``field`` at ``xs``, each with its 95% interval as an error bar (where the row has
    an ``n`` and ``field`` is one of :data:`RATES`) and its value written above it."""
    values = [getattr(r, field) for r in rows]
    ax.bar(xs, [v if v is not None else 0 for v in values], width, **style)
    spans = [r.interval(field) if field in RATES else None for r in rows]
    known = [(x, v, s) for x, v, s in zip(xs, values, spans) if v is not None and s is not None]
    if known:
        ax.errorbar([k[0] for k in known], [k[1] for k in known], fmt="none", ecolor="#333", elinewidth=1, capsize=2,
                    yerr=[[max(0.0, v - s[0]) for _, v, s in known], [max(0.0, s[1] - v) for _, v, s in known]])
    for x, v, span in zip(xs, values, spans):
        top = span[1] if span is not None else (v or 0)
        ax.text(x, top + 0.02, "n/a" if v is None else f"{v:.0%}", ha="center", fontsize=8)


def _percent_axis(ax, title: str, higher: bool) -> None:
    import matplotlib

    ax.set_title(f"{title} ({'higher' if higher else 'lower'} is better)", fontsize=11)
    ax.set_ylim(0, 1.15)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))


def plot_scoreboard(rows: list[Row], path: Path | None = None, metrics: tuple[str, ...] | None = None,
                    title: str = "The ladder: every rung on the same held-out questions"):
    """One panel per metric (default: those of :data:`PLOT_METRICS` that some row measured; ``metrics`` picks some
    by field name), one
    bar per row coloured by rung, each rate with its 95% interval as an error bar, so rows compare at a glance
    and a gap within the bars' reach reads as what it is. Returns the figure."""
    chosen = [m for m in PLOT_METRICS if metrics is None or m[0] in metrics]
    if metrics is not None and len(chosen) != len(metrics):
        unknown = sorted(set(metrics) - {m[0] for m in PLOT_METRICS})
        raise LabkitError(f"plot_scoreboard cannot draw {unknown}", f"choose from {[m[0] for m in PLOT_METRICS]}")
    if metrics is None:  # by default only the metrics some row measured: no empty panels
        chosen = [m for m in chosen if any(getattr(r, m[0]) is not None for r in rows)] or chosen[:1]
    labels = [f"{r.rung}\n{textwrap.fill(r.variant, 20)}" + (f"\n({r.corpus_version})" if r.corpus_version != "v1" else "")
              for r in rows]
    columns = 2 if len(chosen) == 4 else min(3, len(chosen))
    panels = -(-len(chosen) // columns)
    fig = new_figure((max(4.5 * columns, 1.1 * len(rows) + 2), 3.5 * panels + 0.5), path)
    axes = fig.subplots(panels, columns, sharey=True, squeeze=False)
    for ax, (field, name, higher) in zip(axes.flat, chosen):
        _bars(ax, range(len(rows)), rows, field, color=[RUNG_COLOURS.get(r.rung, "#777") for r in rows])
        _percent_axis(ax, name, higher)
        ax.set_xticks(list(range(len(rows))), labels, fontsize=8)
    for ax in list(axes.flat)[len(chosen):]:
        ax.set_visible(False)
    fig.suptitle(title + " (bars: 95% interval)", fontsize=13)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def plot_rates(series: dict[str, list[Row]], labels: list[str], metrics: tuple[str, ...] = ("accuracy",),
               path: Path | None = None, title: str = ""):
    """Grouped bars: one group per label, one bar per series (``{name: rows}``, each aligned with ``labels``),
    a panel per metric (fields of :data:`PLOT_METRICS`), each rate with its 95% interval. For before/after
    comparisons on the same question sets. Returns the figure."""
    named = {m[0]: m for m in PLOT_METRICS}
    wrong = [m for m in metrics if m not in named] + [s for s, rows in series.items() if len(rows) != len(labels)]
    if wrong:
        raise LabkitError(f"plot_rates: {wrong} do not fit (metrics must be PLOT_METRICS fields, each series one row "
                          f"per label)", "pass one row per label in every series, and metrics from PLOT_METRICS")
    fig = new_figure((5.2 * len(metrics), 3.9), path)
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    width = 0.8 / max(len(series), 1)
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9e9e9e")
    for ax, field in zip(axes, metrics):
        for i, (name, rows) in enumerate(series.items()):
            xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
            _bars(ax, xs, rows, field, width, color=palette[i % len(palette)], label=name)
        _percent_axis(ax, named[field][1], named[field][2])
        ax.set_xticks(list(range(len(labels))), labels, fontsize=9)
    axes[0].legend(loc="upper left", frameon=False, fontsize=9)
    if title:
        fig.suptitle(title + " (bars: 95% interval)", fontsize=11)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


HEADLINE_RATES = (  # (key, title, higher is better): the rates each rung is judged on, side by side
    ("accuracy", "accuracy", True), ("hallucination_rate", "hallucination", False),
    ("citation_recall", "citation recall", True), ("format_compliance", "format compliance", True),
    ("fresh_accuracy", "right after the v2 update", True), ("stale_rate", "stale after the v2 update", False),
)
HEADLINE_COSTS = (("latency_ms", "ms per query"), ("update_seconds", "seconds to absorb the v2 update"))


def format_headlines(summary: dict[str, dict], costs: bool = True) -> str:
    """Each rung's headline figures (from :func:`headlines`) as a text table, every rate with its 95% interval
    where its row carries an ``n``; ``costs=False`` leaves out the timings (they vary from run to run), as
    notebooks do. A row under the table gives each rung's ``n``.

    >>> print(format_headlines({"rag": {"accuracy": 0.5, "update_seconds": 2.0}}))  # doctest: +NORMALIZE_WHITESPACE
    rung  accuracy  hallucination  citation recall  format compliance  right after the v2 update  stale after the v2 update  ms per query  seconds to absorb the v2 update
    rag   50%       -              -                -                  -                          -                          -             2.0
    """
    cost_columns = HEADLINE_COSTS if costs else ()
    header = ["rung"] + [title for _, title, _ in HEADLINE_RATES] + [title for _, title in cost_columns]
    cells = [header]
    for rung, values in summary.items():
        ci = values.get("ci", {})
        rates = [rate_cell(values.get(k), ci.get(k)) for k, _, _ in HEADLINE_RATES]
        spent = ["-" if values.get(k) is None else f"{values[k]:.{0 if k == 'latency_ms' else 1}f}" for k, _ in cost_columns]
        cells.append([rung] + rates + spent)
    table = aligned(cells)
    sizes = [f"{rung} " + "/".join(str(row.n) if row is not None and row.n else "-" for row in v["rows"].values())
             for rung, v in summary.items() if "rows" in v]
    if not sizes:
        return table
    return table + "\n[brackets: 95% Wilson interval] questions per rung (answers/format/update): " + ", ".join(sizes)


def plot_headlines(summary: dict[str, dict], path: Path | None = None, title: str = "The ladder: one headline per rung"):
    """The rungs side by side: every rate in one panel (a group of bars per metric, one colour per rung, each
    with its 95% interval as an error bar where its row carries an ``n``), then the two costs (per query, and to
    absorb an update; "never" where a rung cannot). Returns the figure."""
    import matplotlib
    import numpy as np

    rungs = list(summary)
    fig = new_figure((12, 7.5), path)
    grid = fig.add_gridspec(2, 2, height_ratios=(1.35, 1))
    rates = fig.add_subplot(grid[0, :])
    width = 0.8 / max(len(rungs), 1)
    x = np.arange(len(HEADLINE_RATES))
    for i, rung in enumerate(rungs):
        values = [summary[rung].get(k) for k, _, _ in HEADLINE_RATES]
        spans = [summary[rung].get("ci", {}).get(k) for k, _, _ in HEADLINE_RATES]
        xs = x + (i - (len(rungs) - 1) / 2) * width
        rates.bar(xs, [v or 0 for v in values], width, color=RUNG_COLOURS.get(rung, "#777"), label=rung)
        known = [(xi, v, span) for xi, v, span in zip(xs, values, spans) if v is not None and span is not None]
        if known:  # the 95% interval of each rate, as an error bar
            rates.errorbar([k[0] for k in known], [k[1] for k in known], fmt="none", ecolor="#333", elinewidth=1,
                           capsize=2, yerr=[[max(0.0, v - span[0]) for _, v, span in known],
                                               [max(0.0, span[1] - v) for _, v, span in known]])
        for xi, v, span in zip(xs, values, spans):
            top = span[1] if span is not None else (v or 0)
            rates.text(xi, top + 0.02, "n/a" if v is None else f"{v:.0%}", ha="center", fontsize=8,
                       rotation=90 if len(rungs) > 3 else 0)
    rates.set_xticks(x, [f"{t}\n({'higher' if up else 'lower'} is better)" for _, t, up in HEADLINE_RATES], fontsize=9)
    rates.set_ylim(0, 1.35)
    rates.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    if rungs:  # a ladder whose rows name no headline has nothing to compare
        rates.legend(ncol=len(rungs), loc="upper center", frameon=False)
    for j, (key, label) in enumerate(HEADLINE_COSTS):
        ax = fig.add_subplot(grid[1, j])
        values = [summary[r].get(key) for r in rungs]
        ax.bar(rungs, [v or 0 for v in values], color=[RUNG_COLOURS.get(r, "#777") for r in rungs])
        ax.set_yscale("symlog", linthresh=1.0)
        top = max([v for v in values if v] or [1.0])
        for xi, v in enumerate(values):
            ax.text(xi, v or 0, "never" if v is None else f"{v:.0f}", ha="center", va="bottom", fontsize=9)
        ax.set_ylim(0, top * 4)
        ax.set_title(f"{label} (lower is better)", fontsize=10)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
