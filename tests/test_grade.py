"""labkit grade on what a class hands in: the learner's lab (stubs), the solution, and broken copies.

Lab 00 is graded as handed out and as solved (the whole notebook runs: models, doctor, exercise); the broken
copies are cut down to lab 00's title and exercise so that a cell time limit of a few seconds can catch the
one that loops. The learners' files must come out byte for byte as they went in.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import nbformat
import pytest
from browser import CHROMIUM_ARGS, chromium_or_skip

from labkit import checks
from labkit.cli import main
from labkit.grade import NOTEBOOK_ROW, GradeConfig, exercises_of, grade_folder, reference_exercises, report_html

ROOT = Path(__file__).resolve().parent.parent
LAB = "00_setup.ipynb"


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _cut_down(exercise_source: str, before: list[str] = ()):
    """Lab 00's title, then ``before`` code cells, then the exercise cell with ``exercise_source``."""
    solution = nbformat.read(ROOT / "solutions" / LAB, as_version=4)
    title = next(c for c in solution.cells if c.cell_type == "markdown" and c.source.startswith("# Lab 00"))
    cells = [title] + [nbformat.v4.new_code_cell(s) for s in before] + [nbformat.v4.new_code_cell(exercise_source)]
    return nbformat.v4.new_notebook(cells=cells, metadata=solution.metadata)


def _rows(verdicts) -> dict[tuple[str, str], tuple[str, str]]:
    return {(v.notebook, v.exercise): (v.verdict, v.detail) for v in verdicts}


def test_every_lab_names_its_exercises_and_each_check_exists():
    reference = reference_exercises(ROOT / "labs")
    assert sorted(reference) == [p.name[:2] for p in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))]
    assert len(reference) == 11 and reference["10"] == ["check_denied_roles"]
    assert reference["00"] == ["check_cosine"] and reference["01"] == ["check_normalize", "check_invented_ids"]
    for lab_path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        assert exercises_of(nbformat.read(lab_path, as_version=4)) == reference[lab_path.name[:2]]
    for names in reference.values():
        assert all(callable(getattr(checks, name, None)) for name in names)


def test_checks_print_a_marker_only_while_grading(capsys, monkeypatch):
    checks.check(lambda x: x, lambda x: x, [(1,)], name="same")
    assert checks.MARKER not in capsys.readouterr().out
    monkeypatch.setenv(checks.GRADE_ENV, "1")
    checks.check(lambda x: x, lambda x: x + 1, [(1,)], name="off_by_one")
    out = capsys.readouterr().out
    assert out.startswith("FAIL: off_by_one(1) returned 1, expected 2")
    assert checks.MARKER + '{"verdict": "fail", "detail": "off_by_one(1) returned 1, expected 2"}' in out


def test_grade_the_lab_as_handed_out_and_as_solved(tmp_path, capsys):
    handed_in = tmp_path / "class"
    (handed_in / "ana").mkdir(parents=True)
    (handed_in / "ben").mkdir()
    shutil.copy(ROOT / "labs" / LAB, handed_in / "ana" / LAB)  # not started: the stub
    shutil.copy(ROOT / "solutions" / LAB, handed_in / "ben" / LAB)  # done
    before = _digests(handed_in)
    assert main(["grade", str(handed_in), "--out", str(tmp_path / "report")]) == 0
    assert _digests(handed_in) == before, "grading changed a learner's file"
    printed = capsys.readouterr().out
    assert "pass rate, lab 00 check_cosine: 1/2" in printed
    with open(tmp_path / "report" / "report.csv", newline="") as f:
        rows = {(r["notebook"], r["exercise"]): r for r in csv.DictReader(f)}
    assert rows[("ana/00_setup.ipynb", "check_cosine")]["verdict"] == "fail"
    assert rows[("ana/00_setup.ipynb", "check_cosine")]["detail"].startswith("stub: cosine still raises")
    assert rows[("ben/00_setup.ipynb", "check_cosine")]["verdict"] == "pass"
    assert rows[("ben/00_setup.ipynb", NOTEBOOK_ROW)]["detail"] == "every cell ran without an error"
    assert "(NotDone)" in rows[("ana/00_setup.ipynb", NOTEBOOK_ROW)]["detail"]
    page = (tmp_path / "report" / "report.html").read_text()
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    assert body.count("<tr>") == 2 and "<th>ana/00_setup.ipynb</th>" in body and "<th>ben/00_setup.ipynb</th>" in body


def test_grade_copes_with_what_learners_hand_in(tmp_path):
    solution = nbformat.read(ROOT / "solutions" / LAB, as_version=4)
    answer = next(c.source for c in solution.cells if "check_cosine(cosine)" in c.source)
    looping = "from labkit.checks import check_cosine\n\ndef cosine(a, b):\n    while True:\n        pass\n\ncheck_cosine(cosine)"
    handed_in = tmp_path / "broken"
    handed_in.mkdir()
    nbformat.write(_cut_down(answer, before=["raise RuntimeError('my own bug')"]), handed_in / "raises.ipynb")
    nbformat.write(_cut_down(looping), handed_in / "loops.ipynb")
    nbformat.write(_cut_down(answer), handed_in / "my homework (final).ipynb")  # renamed: known by its title
    deleted = nbformat.read(ROOT / "solutions" / LAB, as_version=4)
    deleted.cells = [c for c in deleted.cells if "check_cosine" not in c.source and c.cell_type == "markdown"]
    nbformat.write(deleted, handed_in / "deleted.ipynb")
    (handed_in / "not_json.ipynb").write_text('{"cells": [ this is not JSON')
    before = _digests(handed_in)

    seen = []
    verdicts = grade_folder(handed_in, GradeConfig(cell_timeout_s=20), progress=lambda line: None,
                            after_each=lambda so_far: seen.append(len(so_far)))
    rows = _rows(verdicts)
    assert len(seen) == 5 and seen[-1] == len(verdicts) and seen == sorted(seen), "after_each runs after each notebook"
    assert _digests(handed_in) == before

    assert rows[("raises.ipynb", "check_cosine")][0] == "pass"
    assert "2 (RuntimeError)" in rows[("raises.ipynb", NOTEBOOK_ROW)][1]
    assert rows[("loops.ipynb", "check_cosine")] == ("error", "interrupted: the cell ran past the time limit")
    assert rows[("my homework (final).ipynb", "check_cosine")][0] == "pass"
    assert {v.lab for v in verdicts if v.notebook == "my homework (final).ipynb"} == {"00"}
    assert rows[("deleted.ipynb", "check_cosine")] == ("not reached", "no cell calls check_cosine (deleted?)")
    assert rows[("not_json.ipynb", NOTEBOOK_ROW)][0] == "error"
    assert rows[("not_json.ipynb", NOTEBOOK_ROW)][1].startswith("not a notebook")
    assert [v.notebook for v in verdicts if v.exercise == NOTEBOOK_ROW] == sorted(p.name for p in handed_in.iterdir())


def test_the_report_page_shows_the_grid_in_a_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    from labkit.grade import Verdict

    chromium = chromium_or_skip()
    verdicts = [Verdict("ana/00.ipynb", "00", NOTEBOOK_ROW, "ran", "every cell ran without an error"),
                Verdict("ana/00.ipynb", "00", "check_cosine", "pass", "cosine agrees with labkit on 5 cases"),
                Verdict("<b>ben</b>.ipynb", "00", NOTEBOOK_ROW, "ran", "cells that raised: 3 (NameError)"),
                Verdict("<b>ben</b>.ipynb", "00", "check_cosine", "error", "NameError: name 'np' is not defined")]
    page_path = tmp_path / "report.html"
    page_path.write_text(report_html(verdicts))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_path.as_uri())
            grid = page.evaluate("() => [...document.querySelectorAll('#grid tr')].map(r => "
                                 "[...r.children].map(c => c.textContent.trim()))")
            page.screenshot(path=str(tmp_path / "report.png"))
        finally:
            browser.close()
    assert grid[0] == ["notebook", "ran", "lab 00check_cosine"]
    assert grid[1] == ["ana/00.ipynb", "ran", "pass"]
    assert grid[2] == ["<b>ben</b>.ipynb", "ran", "errorNameError: name 'np' is not defined"], \
        "a learner's file name and error must show as text, never as HTML"
    assert grid[3] == ["pass rate", "", "1/2 (50%)"]


def test_grade_refuses_a_folder_without_notebooks(tmp_path):
    from labkit.errors import LabkitError

    with pytest.raises(LabkitError, match="no .ipynb files"):
        grade_folder(tmp_path)
