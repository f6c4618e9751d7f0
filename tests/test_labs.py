"""The notebook machinery: labs are generated from solutions, in sync, and stop at their first exercise."""

from pathlib import Path

import nbformat
import pytest

from labkit import labs
from labkit.errors import LabkitError

ROOT = Path(__file__).resolve().parents[1]


def test_strip_solutions_keeps_indent_and_hint_and_drops_the_answer():
    source = "x = 1\ndef f(a):\n    ### BEGIN SOLUTION\n    # HINT: it's \"a + 1\"\n    return a + 1\n    ### END SOLUTION\nf(2)"
    stripped = labs.strip_solutions(source)
    assert "return a + 1" not in stripped
    assert '    raise NotImplementedError("Exercise: it\'s \\"a + 1\\"")' in stripped
    assert stripped.startswith("x = 1\ndef f(a):\n") and stripped.endswith("\nf(2)")
    compile(stripped, "<lab>", "exec")


def test_unclosed_solution_block_is_an_error():
    with pytest.raises(LabkitError, match="never closed"):
        labs.strip_solutions("### BEGIN SOLUTION\nx = 1")


def test_make_lab_clears_outputs_and_adds_badge_from_one_setting():
    sol = nbformat.read(ROOT / "solutions" / "00_setup.ipynb", as_version=4)
    assert any(c.get("outputs") for c in sol.cells if c.cell_type == "code"), "solutions keep their outputs"
    config = labs.LabsConfig(repository="someone/fork", branch="dev")
    lab = labs.make_lab(sol, "00_setup.ipynb", config)
    assert "colab.research.google.com/github/someone/fork/blob/dev/labs/00_setup.ipynb" in lab.cells[0].source
    assert "https://github.com/someone/fork" in lab.cells[1].source
    code = [c for c in lab.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert not any(labs.BEGIN in c.source for c in code)


def test_every_solution_has_an_exercise_and_ends_with_summary_and_exercises():
    for solution, _ in labs.lab_pairs():
        nb = nbformat.read(solution, as_version=4)
        assert any(labs.BEGIN in c.source for c in nb.cells), f"{solution.name} has no exercise"
        last = nb.cells[-1]
        assert last.cell_type == "markdown" and "## Summary" in last.source and "## Exercises" in last.source


def test_labs_are_in_sync_with_solutions():
    stale = labs.sync_labs(check=True)
    assert stale == [], f"run `python -m labkit labs`: {stale}"


def test_check_notices_a_stale_lab(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "labs").mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    nbformat.write(nb, tmp_path / "solutions" / "01_x.ipynb")
    config = labs.LabsConfig(solutions_dir=tmp_path / "solutions", labs_dir=tmp_path / "labs")
    assert labs.sync_labs(config, check=True) == ["01_x.ipynb"]
    assert labs.sync_labs(config) == ["01_x.ipynb"]
    assert labs.sync_labs(config, check=True) == []
    (tmp_path / "labs" / "99_orphan.ipynb").write_text("{}")
    assert labs.sync_labs(config, check=True) == ["99_orphan.ipynb (no solution)"]


@pytest.mark.parametrize("lab", [lab for _, lab in labs.lab_pairs()], ids=lambda p: p.name)
def test_lab_runs_up_to_its_first_stub(lab):
    """Every cell before the first exercise runs; the exercise's stub raises NotImplementedError."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(lab, as_version=4)
    first_stub = next(i for i, c in enumerate(nb.cells) if "raise NotImplementedError" in c.source)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(lab.parent)}})
    with pytest.raises(CellExecutionError) as err:
        client.execute()
    assert "NotImplementedError" in str(err.value)
    ran = [c for c in nb.cells[:first_stub] if c.cell_type == "code"]
    assert all(c.execution_count for c in ran), "a cell before the exercise did not run"
    assert all(c.execution_count is None for c in nb.cells[first_stub + 1:] if c.cell_type == "code")


def test_the_default_folders_are_the_checkouts_own():
    assert labs.checkout() == ROOT  # the package is imported from this checkout
    assert labs.LabsConfig().folders() == (ROOT / "solutions", ROOT / "labs")
    mine = labs.LabsConfig(solutions_dir=Path("mine"))
    assert mine.folders() == (Path("mine"), ROOT / "labs")  # one folder given, the other from the checkout


def test_outside_a_checkout_the_labs_say_where_to_run(tmp_path, monkeypatch):
    installed = tmp_path / "site-packages" / "labkit"  # a wheel: no solutions/ beside the package
    installed.mkdir(parents=True)
    monkeypatch.setattr(labs, "__file__", str(installed / "labs.py"))
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    with pytest.raises(LabkitError) as err:
        labs.checkout(start=elsewhere)
    assert str(elsewhere.resolve()) in err.value.problem and "git clone" in err.value.fix
    monkeypatch.chdir(elsewhere)
    with pytest.raises(LabkitError, match="no labkit checkout"):
        labs.LabsConfig().folders()  # the default folders come from checkout() too
    (tmp_path / "solutions").mkdir()  # a checkout above the current folder is found
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'labkit'\n")
    assert labs.checkout() == tmp_path.resolve()
