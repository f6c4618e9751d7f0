"""The notebook machinery: labs are generated from solutions, in sync, and stop at their first exercise."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labkit import labs
from labkit.errors import LabkitError
from labkit.hints import NotDone

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
    assert '"https://github.com/someone/fork"' in lab.cells[1].source and '"--branch", "dev"' in lab.cells[1].source
    assert sum(labs.HEADER_IDS[0] == c.get("id") for c in lab.cells) == 1, "the solution's own badge is replaced"
    code = [c for c in lab.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert not any(labs.BEGIN in c.source for c in code)


def test_every_solution_has_an_exercise_and_ends_with_summary_exercises_and_where_its_numbers_come_from():
    for solution, lab in labs.lab_pairs():
        nb = nbformat.read(solution, as_version=4)
        assert any(labs.BEGIN in c.source for c in nb.cells), f"{solution.name} has no exercise"
        summary, note = [c for c in nb.cells if not labs.is_answer(c)][-2:]
        assert summary.cell_type == "markdown" and "## Summary" in summary.source and "## Exercises" in summary.source
        assert note.get("id") == labs.PROFILE_NOTE_ID and note.source == labs.reference_note()
        assert nbformat.read(lab, as_version=4).cells[-1].source == note.source  # the learner's copy says it too
    assert "`ci` profile" in labs.reference_note() and "`gpu` profile (Qwen2.5-0.5B-Instruct" in labs.reference_note()
    assert labs.NOTEBOOK_ENV["LABKIT_PROFILE"] == "ci", "the note names the profile the solutions are executed with"


def exercise_numbers(summary: str) -> list[int]:
    """The numbers of the open exercises listed under a lab's '## Exercises' heading."""
    return [int(n) for n in re.findall(r"^(\d+)\. ", summary.split("## Exercises", 1)[1], flags=re.M)]


# Labs whose open exercises have no worked answers yet (their exercises retrain a model, so their answers need a
# run outside the test budget). The list may only shrink: a lab that gains its answers must leave it.
ANSWERS_PENDING = {"08_raft", "09_capstone_decision",
                   "10_your_own_pile"}


def test_every_open_exercise_has_a_worked_answer_in_solutions_and_none_leaks_into_the_lab():
    for solution, lab in labs.lab_pairs():
        nb, learner = nbformat.read(solution, as_version=4), nbformat.read(lab, as_version=4)
        cells = [c for c in nb.cells if not labs.is_answer(c)]
        answers = [c for c in nb.cells if labs.is_answer(c)]
        if solution.stem in ANSWERS_PENDING:
            assert not answers, f"{solution.name} has its worked answers now: take it off ANSWERS_PENDING"
            continue
        wanted = exercise_numbers(cells[-2].source)
        headed = [int(n) for c in answers if c.cell_type == "markdown" for n in re.findall(r"^### Exercise (\d+)", c.source, re.M)]
        assert headed == wanted, f"{solution.name}: exercises {wanted}, worked answers {headed}"
        first = nb.cells.index(answers[0])
        assert all(labs.is_answer(c) for c in nb.cells[first:-1]), f"{solution.name}: the answers come last, together"
        assert any(c.cell_type == "code" for c in answers), f"{solution.name}: at least one answer is executed"
        sections = re.split(r"^### Exercise \d+", "\n".join(c.source for c in answers if c.cell_type == "markdown"), flags=re.M)
        for number, text in zip(wanted, sections[1:]):
            assert re.search(r"\*(Measured|Expected)\b", text), f"{solution.name}: exercise {number} says what came out"
        assert not any(labs.is_answer(c) for c in learner.cells)
        assert [c.source for c in learner.cells if c.get("id") == labs.ANSWERS_POINTER_ID] == [
            labs.answers_pointer(solution.name)], f"{lab.name} says where the worked answers are"


def test_labs_are_in_sync_with_solutions():
    stale = labs.sync_labs(check=True)
    assert stale == [], f"run `python -m labkit labs`: {stale}"


def test_check_notices_a_stale_lab(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "labs").mkdir()
    answer = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", execution_count=3,
                                       outputs=[nbformat.v4.new_output("stream", text="kept\n")])
    nbformat.write(nbformat.v4.new_notebook(cells=[answer]), tmp_path / "solutions" / "01_x.ipynb")
    config = labs.LabsConfig(solutions_dir=tmp_path / "solutions", labs_dir=tmp_path / "labs")
    assert labs.sync_labs(config, check=True) == ["solutions/01_x.ipynb", "01_x.ipynb"]
    assert labs.sync_labs(config) == ["solutions/01_x.ipynb", "01_x.ipynb"]
    assert labs.sync_labs(config, check=True) == []
    solution = nbformat.read(tmp_path / "solutions" / "01_x.ipynb", as_version=4)
    assert [c.get("id") for c in solution.cells[:2]] == list(labs.HEADER_IDS)
    assert solution.cells[2] == answer, "the solution's own cells, outputs and counts, stay as they were"
    solution.cells[1].execution_count = 1  # as after executing the solution: not a reason to rewrite it
    nbformat.write(solution, tmp_path / "solutions" / "01_x.ipynb")
    assert labs.sync_labs(config, check=True) == []
    (tmp_path / "labs" / "99_orphan.ipynb").write_text("{}")
    assert labs.sync_labs(config, check=True) == ["99_orphan.ipynb (no solution)"]


@pytest.mark.parametrize("lab", [lab for _, lab in labs.lab_pairs()], ids=lambda p: p.name)
def test_lab_runs_up_to_its_first_stub(lab):
    """Every cell before the first exercise runs; the exercise's stub stops the run with its one short message
    (labkit.hints.NotDone: which exercise, what to write, the first hint), not a traceback through labkit."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(lab, as_version=4)
    first_stub = next(i for i, c in enumerate(nb.cells) if "raise NotDone(" in c.source)
    key = re.search(r'raise NotDone\("([\d.]+)"\)', nb.cells[first_stub].source).group(1)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(lab.parent)}})
    with pytest.raises(CellExecutionError) as err:
        client.execute()
    assert "NotDone" in str(err.value)
    (error,) = [o for o in nb.cells[first_stub].outputs if o.output_type == "error"]
    assert error.ename == "NotDone" and error.evalue == str(NotDone(key))
    assert len(error.traceback) == 1 and "checks.py" not in error.traceback[0], error.traceback  # one message only
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


def _pyproject_repository():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import pip._vendor.tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def test_the_repository_url_is_pyprojects_and_an_installed_wheel_carries_the_same(tmp_path, monkeypatch):
    url = _pyproject_repository()
    assert labs.repository_url() == url
    assert labs.installed_repository_url() == url, "reinstall (pip install -e .): the metadata is out of date"
    assert labs.LabsConfig().github() == labs.github_name(url)
    monkeypatch.setattr(labs, "__file__", str(tmp_path / "site-packages" / "labkit" / "labs.py"))  # no pyproject
    assert labs.repository_url() == url
    with pytest.raises(LabkitError, match="not a GitHub repository"):
        labs.github_name("https://gitlab.com/someone/labkit")


BADGE = re.compile(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/([\w.-]+)/([\w./-]+\.ipynb)")


@pytest.mark.parametrize("notebook", sorted([*ROOT.glob("labs/*.ipynb"), *ROOT.glob("solutions/*.ipynb")]),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_notebook_has_one_badge_that_opens_itself_and_an_install_cell_for_its_folder(notebook):
    nb = nbformat.read(notebook, as_version=4)
    badges = [m for c in nb.cells for m in BADGE.finditer(c.source)]
    assert len(badges) == 1, f"{len(badges)} Colab badges"
    repository, branch, path = badges[0].groups()
    assert repository == labs.LabsConfig().github() and branch == labs.LabsConfig().branch
    assert (ROOT / path).is_file() and (ROOT / path).samefile(notebook), f"the badge opens {path}"
    (install,) = [c for c in nb.cells if c.get("id") == labs.HEADER_IDS[1]]
    assert f'"https://github.com/{repository}"' in install.source
    assert install.source.endswith(f'["setup"](_kit, "{notebook.parent.name}")')


def _run_cell(source: str) -> None:
    exec(compile(source, "<install cell>", "exec"), {})


def test_the_install_cell_does_nothing_off_a_notebook_host(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("LABKIT_NOTEBOOK_HOST", raising=False)
    monkeypatch.chdir(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    _run_cell(labs.header_cells(labs.LabsConfig(), "labs", "00_setup.ipynb")[1].source)
    assert Path.cwd() == tmp_path and capsys.readouterr() == ("", "")


def test_the_install_cell_on_a_host_clones_then_re_runs_without_installing(monkeypatch, tmp_path, capsys):
    """The cell verbatim, as on a host with everything installed already (this environment): the first run
    clones (from a local repository: no network), the second finds the checkout; both say what they did in one
    line and end in the notebook's folder."""
    origin = tmp_path / "origin"
    for name in ("pyproject.toml", "constraints.txt", "scripts/host_setup.py", "labs/00_setup.ipynb"):
        (origin / name).parent.mkdir(parents=True, exist_ok=True)
        (origin / name).write_text((ROOT / name).read_text())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(origin)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(origin)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "kit"], check=True)
    monkeypatch.setenv("LABKIT_NOTEBOOK_HOST", "1")
    monkeypatch.setenv("LABKIT_REPO_URL", str(origin))
    monkeypatch.setenv("LABKIT_CHECKOUT", str(tmp_path / "checkout"))
    monkeypatch.setenv("PYTHONPATH", "")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    cell = labs.header_cells(labs.LabsConfig(), "labs", "00_setup.ipynb")[1].source
    for _ in range(2):
        _run_cell(cell)
        out = capsys.readouterr().out.splitlines()
        assert len(out) == 1 and "(up to date)" in out[0] and "nothing missing" in out[0], out
        assert Path.cwd() == tmp_path / "checkout" / "labs" and sys.path[0] == str(tmp_path / "checkout")
        os.chdir(tmp_path)  # as after a runtime restart


def test_every_exercise_run_a_worked_answer_quotes_is_one_the_script_runs():
    spec = importlib.util.spec_from_file_location("exercise_runs", ROOT / "scripts" / "exercise_runs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    quoted = set()
    for solution, _ in labs.lab_pairs():
        text = "\n".join(c.source for c in nbformat.read(solution, as_version=4).cells if labs.is_answer(c))
        for command in re.findall(r"exercise_runs\.py((?: \d\d\.\d)+)", text):
            quoted |= set(command.split())
    assert quoted, "no worked answer quotes scripts/exercise_runs.py"
    missing = quoted - set(script.EXERCISES)
    assert not missing, f"quoted by a worked answer but not in scripts/exercise_runs.py: {sorted(missing)}"


def test_what_make_test_skips_is_only_worked_answers_at_the_end_and_whole_training_labs():
    """`make test` skips slow worked answers and, on a CPU without bf16, the labs that train (conftest.py):
    a skipped answer must come after every cell the lab's own story runs, so skipping it changes nothing the
    lab measures, and the training labs must be real notebooks."""
    names = {p.stem for p in (ROOT / "solutions").glob("*.ipynb")}
    assert set(labs.LABS_THAT_TRAIN) <= names
    slow = 0
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        for i, cell in enumerate(cells):
            if labs.SLOW_ANSWER_TAG in cell.metadata.get("tags", []):
                slow += 1
                assert labs.is_slow_answer(cell), f"{path.name} cell {i} is tagged slow but is no worked answer"
                later = [j for j, c in enumerate(cells[i + 1:], i + 1) if c.cell_type == "code" and not labs.is_answer(c)]
                assert not later, f"{path.name}: code cells {later} of the lab itself follow the slow answer {i}"
    assert slow >= 5
