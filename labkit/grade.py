"""A teacher's view of a class: run every notebook handed in, on a copy, and collect each exercise's verdict.

    python -m labkit grade handed_in/ --out report    # report/report.csv, report/report.html, and a table

An exercise is the cell that calls its check (``check_cosine(cosine)``). While grading, the kernel runs with
``LABKIT_GRADE=1``, so each check prints a machine-readable line beside its own (:data:`labkit.checks.MARKER`),
which this module reads back from the cell's output. Each (notebook, exercise) gets one verdict:

- ``pass``: the check agreed with labkit;
- ``fail``: the first failing case, or ``stub`` when the answer still raises ``NotImplementedError``;
- ``not reached``: the cell never ran (the kernel died before it), or no cell calls the check (deleted);
- ``error``: the cell raised before its check said anything (a ``NameError``, a timeout).

A notebook is recognised by its title (``# Lab 00 · ...``), so a renamed file is still graded against its lab's
exercises; a file that is not a notebook gets one ``error`` row, and the run goes on. The learners' files are
only read: each is executed in memory, with an empty temporary folder as its working directory.

>>> verdict_of_cell({"cell_type": "code", "execution_count": 3, "outputs": [{"output_type": "stream",
...     "name": "stdout", "text": 'pass: cosine agrees\\nLABKIT-CHECK {"verdict": "pass", "detail": "cosine agrees"}\\n'}]})
('pass', 'cosine agrees')
>>> verdict_of_cell({"cell_type": "code", "execution_count": None, "outputs": []})
('not reached', 'the cell never ran')
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import tempfile
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from labkit.checks import GRADE_ENV, MARKER
from labkit.errors import LabkitError
from labkit.labs import LabsConfig, environment
from labkit.storage import atomic_write

CHECK_CALL = re.compile(r"\b(check_\w+)\(")
LAB_TITLE = re.compile(r"^#\s*Lab\s+(\d\d)\b", re.M)
NOTEBOOK_ROW = "(notebook)"  # the row that says how the notebook as a whole ran


@dataclass(frozen=True)
class GradeConfig:
    """How to run the notebooks handed in."""

    cell_timeout_s: int = 900  # a cell running longer is interrupted; its exercise is an error
    kernel_name: str = "python3"
    labs_dir: Path | None = None  # the reference labs (which exercises each has); None: the checkout's labs/


@dataclass(frozen=True)
class Verdict:
    """One row of the report."""

    notebook: str  # its path inside the folder handed in
    lab: str  # "00".."09", or "?" when the notebook names no lab
    exercise: str  # the check's name, or NOTEBOOK_ROW
    verdict: str  # pass | fail | not reached | error (NOTEBOOK_ROW: ran | error)
    detail: str


def exercises_of(nb) -> list[str]:
    """The checks a notebook calls, in order (each once).

    >>> import nbformat
    >>> exercises_of(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from labkit.checks import check_rrf\\ncheck_rrf(rrf)")]))
    ['check_rrf']
    """
    found = [name for c in nb.cells if c.cell_type == "code" for name in CHECK_CALL.findall(c.source)]
    return list(dict.fromkeys(found))


def lab_of(nb, filename: str) -> str:
    """The lab a notebook belongs to: its title's number, else its file name's ``NN_`` prefix, else "?"."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (match := LAB_TITLE.search(cell.source)):
            return match.group(1)
    match = re.match(r"(\d\d)_", filename)
    return match.group(1) if match else "?"


def reference_exercises(labs_dir: Path) -> dict[str, list[str]]:
    """Lab number -> the checks its reference notebook calls."""
    import nbformat

    return {lab_of(nb, path.name): exercises_of(nb)
            for path in sorted(Path(labs_dir).glob("[0-9][0-9]_*.ipynb"))
            for nb in [nbformat.read(path, as_version=4)]}


def verdict_of_cell(cell) -> tuple[str, str]:
    """(verdict, detail) of an executed exercise cell: its check's marker, else what stopped it."""
    if cell.get("execution_count") is None:
        return "not reached", "the cell never ran"
    marked, error = None, None
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            for line in "".join(output.get("text", "")).splitlines():
                if line.startswith(MARKER):
                    marked = json.loads(line[len(MARKER):])
        elif output.get("output_type") == "error":
            error = output
    if marked is not None:
        verdict = "fail" if marked["verdict"] in ("fail", "stub") else marked["verdict"]
        return verdict, ("stub: " if marked["verdict"] == "stub" else "") + marked["detail"]
    if error is not None:
        if error.get("ename") in ("NotImplementedError", "NotDone"):  # a stub (labkit.hints.NotDone) or the learner's own
            return "fail", "stub: " + error.get("evalue", "")
        if error.get("ename") == "KeyboardInterrupt":
            return "error", "interrupted: the cell ran past the time limit"
        return "error", f"{error.get('ename')}: {error.get('evalue')}"
    return "error", "the cell ran but its check printed no verdict"


def grade_notebook(path: Path, name: str, reference: dict[str, list[str]], config: GradeConfig) -> list[Verdict]:
    """Execute a copy of one notebook and return its rows (the notebook's own row first)."""
    import nbformat
    from nbclient import NotebookClient

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # not JSON, not a notebook, unreadable: say so and go on
        return [Verdict(name, "?", NOTEBOOK_ROW, "error", f"not a notebook: {type(exc).__name__}: {str(exc)[:200]}")]
    lab = lab_of(nb, path.name)
    wanted = reference.get(lab) or exercises_of(nb)
    stopped = None
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as workdir:  # the learner's file is never written
        client = NotebookClient(nb, timeout=config.cell_timeout_s, kernel_name=config.kernel_name, allow_errors=True,
                                interrupt_on_timeout=True, record_timing=False,
                                resources={"metadata": {"path": workdir}})
        with environment({GRADE_ENV: "1", "TQDM_DISABLE": "1"}):
            try:
                client.execute()
            except Exception as exc:  # a dead kernel, a kernel that would not start: grade what ran
                last_line = (str(exc).strip().splitlines() or [""])[-1]
                stopped = f"stopped: {type(exc).__name__}: {last_line[:200]}"
    raised = [f"{i} ({o['ename']})" for i, c in enumerate(nb.cells, 1) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    summary = stopped or ("cells that raised (counting every cell from 1): " + ", ".join(raised) if raised
                          else "every cell ran without an error")
    rows = [Verdict(name, lab, NOTEBOOK_ROW, "error" if stopped else "ran", summary)]
    for exercise in wanted:
        cell = next((c for c in nb.cells if c.cell_type == "code" and re.search(rf"\b{exercise}\(", c.source)), None)
        verdict = ("not reached", f"no cell calls {exercise} (deleted?)") if cell is None else verdict_of_cell(cell)
        rows.append(Verdict(name, lab, exercise, *verdict))
    return rows


def grade_folder(folder: Path | str, config: GradeConfig = GradeConfig(), progress=print,
                 after_each=None) -> list[Verdict]:
    """Grade every ``*.ipynb`` under ``folder`` (checkpoints skipped), in path order; ``after_each(verdicts so
    far)`` runs after every notebook (the CLI rewrites the report there, so a run cut short keeps what it graded)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LabkitError(f"{folder} is not a folder", "pass the folder that holds the notebooks handed in")
    paths = [p for p in sorted(folder.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    if not paths:
        raise LabkitError(f"no .ipynb files under {folder}", "collect the learners' notebooks into that folder first")
    labs_dir = config.labs_dir
    if labs_dir is None:
        try:
            labs_dir = LabsConfig().folders()[1]
        except LabkitError:
            labs_dir = None  # outside a checkout: each notebook's own checks are its exercises
    reference = reference_exercises(labs_dir) if labs_dir is not None and Path(labs_dir).is_dir() else {}
    verdicts: list[Verdict] = []
    for i, path in enumerate(paths, 1):
        name = path.relative_to(folder).as_posix()
        progress(f"[grade] {i}/{len(paths)} {name}")
        verdicts += grade_notebook(path, name, reference, config)
        if after_each is not None:
            after_each(verdicts)
    return verdicts


def columns(verdicts: list[Verdict]) -> list[tuple[str, str]]:
    """The report's exercise columns, (lab, exercise), in lab order then the order the exercises come."""
    return sorted(dict.fromkeys((v.lab, v.exercise) for v in verdicts if v.exercise != NOTEBOOK_ROW),
                  key=lambda c: c[0])


def pass_rates(verdicts: list[Verdict]) -> dict[tuple[str, str], tuple[int, int]]:
    """(lab, exercise) -> (notebooks that pass it, notebooks of that lab graded on it)."""
    rates: dict[tuple[str, str], tuple[int, int]] = {}
    for v in verdicts:
        if v.exercise != NOTEBOOK_ROW:
            passed, total = rates.get((v.lab, v.exercise), (0, 0))
            rates[(v.lab, v.exercise)] = (passed + (v.verdict == "pass"), total + 1)
    return rates


def report_csv(verdicts: list[Verdict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(Verdict)])
    writer.writerows(astuple(v) for v in verdicts)
    return out.getvalue()


def report_html(verdicts: list[Verdict], title: str = "labkit grade") -> str:
    """One page: a learner x exercise grid (each cell's detail on hover), the class's pass rate per exercise."""
    cols = columns(verdicts)
    by_notebook: dict[str, dict] = {}
    for v in verdicts:
        by_notebook.setdefault(v.notebook, {})[(v.lab, v.exercise)] = v
    esc = html.escape
    head = "".join(f"<th>lab {esc(lab)}<br>{esc(ex)}</th>" for lab, ex in cols)
    body = []
    for notebook, row in by_notebook.items():
        own = row[next(k for k in row if k[1] == NOTEBOOK_ROW)]
        cells = [f'<td class="{esc(own.verdict)}" title="{esc(own.detail)}">{esc(own.verdict)}</td>']
        for col in cols:
            v = row.get(col)
            note = "" if v is None or v.verdict == "pass" else f"<br><small>{esc(_cut(v.detail, 60))}</small>"
            cells.append("<td></td>" if v is None else
                         f'<td class="{esc(v.verdict.replace(" ", "-"))}" title="{esc(v.detail)}">{esc(v.verdict)}{note}</td>')
        body.append(f"<tr><th>{esc(notebook)}</th>{''.join(cells)}</tr>")
    rates = pass_rates(verdicts)
    footer = "".join(f"<td>{p}/{n} ({p / n:.0%})</td>" for p, n in (rates[c] for c in cols))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title><style>
body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #bbb; padding: 4px 8px; text-align: center; }} th {{ background: #f2f2f2; }}
.pass {{ background: #c8f0c8; }} .fail {{ background: #f8d0d0; }} .error {{ background: #f8e0a0; }}
.not-reached {{ background: #e0e0e0; }} .ran {{ background: #eef6ee; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>{len(by_notebook)} notebooks; under each verdict that is not a pass, the start of its detail (hover for all
of it; report.csv has every detail).</p>
<table id="grid"><thead><tr><th>notebook</th><th>ran</th>{head}</tr></thead>
<tbody>{''.join(body)}</tbody>
<tfoot><tr><th>pass rate</th><td></td>{footer}</tr></tfoot></table>
</body></html>
"""


def format_report(verdicts: list[Verdict], width: int = 70) -> str:
    """The verdicts as a text table (details cut to ``width``), then the pass rate per exercise."""
    rows = [("notebook", "lab", "exercise", "verdict", "detail")]
    rows += [(v.notebook, v.lab, v.exercise, v.verdict, _cut(v.detail, width)) for v in verdicts]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    lines.append("")
    lines += [f"pass rate, lab {lab} {ex}: {p}/{n}" for (lab, ex), (p, n) in pass_rates(verdicts).items()]
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def write_report(verdicts: list[Verdict], out: Path | str) -> tuple[Path, Path]:
    """``out/report.csv`` and ``out/report.html``, each written atomically."""
    out = Path(out)
    return (atomic_write(out / "report.csv", report_csv(verdicts)),
            atomic_write(out / "report.html", report_html(verdicts, f"labkit grade: {out.name}")))
