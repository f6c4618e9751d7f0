"""Every exercise has two hints, the first names the idea and not the code, and its stub says so in one message."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from labkit import hint, labs
from labkit.errors import LabkitError
from labkit.hints import EXERCISES, NotDone, show_briefly

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def _solution_blocks() -> dict[str, tuple[str, str, str]]:
    """exercise key -> (notebook name, the whole cell, the solution block) for every block in solutions/."""
    found = {}
    for solution, _ in labs.lab_pairs():
        for cell in nbformat.read(solution, as_version=4).cells:
            for block in BLOCK.findall(cell.source):
                match = re.search(r"# EXERCISE: (\S+)", block)
                assert match, f"{solution.name}: a solution block without an '# EXERCISE: key' line"
                assert match.group(1) not in found, f"exercise {match.group(1)} appears twice"
                found[match.group(1)] = (solution.name, cell.source, block)
    return found


def test_every_solution_block_is_a_registered_exercise_of_its_own_lab():
    blocks = _solution_blocks()
    assert sorted(blocks) == sorted(EXERCISES), "solutions/ and labkit.hints.EXERCISES list other exercises"
    for key, (name, cell, _) in blocks.items():
        assert name.startswith(key.split(".")[0] + "_"), f"exercise {key} sits in {name}"
        function = EXERCISES[key].name
        assert f"def {function}(" in cell, f"exercise {key}'s cell defines no {function}"
        assert re.search(r"\bcheck\w*\(", cell.split("### END SOLUTION")[-1]), f"exercise {key} is never checked"


def _code_names(block: str, signature: str) -> set[str]:
    """The functions, methods and modules the solution calls or reads (not the learner's own parameters)."""
    tree = ast.parse("\n".join(line[4:] if line.startswith("    ") else line for line in block.splitlines()))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            names.add(node.func.id)
    parameters = set(re.findall(r"\w+", signature.split("(", 1)[1]))
    return {n for n in names - parameters if len(n) > 2}


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_the_first_hint_names_the_idea_not_the_code(key):
    exercise = EXERCISES[key]
    block = _solution_blocks()[key][2]
    used = _code_names(block, exercise.signature)
    assert used or key == "07.1", f"found no code in exercise {key}'s solution"
    leaked = {n for n in used if re.search(rf"\b{re.escape(n)}\b", exercise.idea)}
    assert not leaked, f"exercise {key}'s first hint names the code: {sorted(leaked)}"
    assert not re.search(r"[=@\[\]{}]|\w\.\w|\w\(", exercise.idea), f"exercise {key}'s first hint reads like code"
    assert exercise.steps != exercise.idea
    for line in block.splitlines()[1:]:  # the second hint points the way, it does not paste the answer
        assert len(line.strip()) < 25 or line.strip() not in exercise.steps, f"{key}'s second hint holds a line of it"


def test_a_stub_raises_one_message_with_the_first_hint_and_where_the_second_is():
    message = str(NotDone("04.1"))
    assert isinstance(NotDone("04.1"), NotImplementedError)  # the checks and the grader treat it as a stub
    assert "build_rag_prompt(question, passages)" in message and EXERCISES["04.1"].idea in message
    assert EXERCISES["04.1"].steps not in message and "hint('04.1', 2)" in message
    assert str(hint("04.1", 2)).endswith(EXERCISES["04.1"].steps) and repr(hint("04.1")) == str(hint("04.1"))
    with pytest.raises(LabkitError, match="no exercise"):
        NotDone("99.9")
    with pytest.raises(LabkitError, match="level"):
        hint("04.1", 3)


def test_a_generated_stub_names_its_exercise_and_an_unknown_key_is_an_error():
    source = "def cosine(a, b):\n    ### BEGIN SOLUTION\n    # EXERCISE: 00.1\n    return a @ b\n    ### END SOLUTION"
    stripped = labs.strip_solutions(source)
    assert "a @ b" not in stripped and 'raise NotDone("00.1")' in stripped
    with pytest.raises(NotDone):
        exec(compile(stripped + "\ncosine(1, 2)", "<lab>", "exec"), {})
    with pytest.raises(LabkitError, match="EXERCISES lacks"):
        labs.strip_solutions(source.replace("00.1", "00.9"))


def test_in_an_ipython_shell_a_stub_shows_its_message_and_no_traceback(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert show_briefly()
        result = shell.run_cell("from labkit.hints import NotDone\ndef f():\n    raise NotDone('02.1')\nf()")
        shown = capsys.readouterr()
        assert isinstance(result.error_in_exec, NotDone)  # the cell fails, so "Run All" stops there
        assert str(NotDone("02.1")) in shown.out + shown.err and "Traceback" not in shown.out + shown.err
    finally:
        InteractiveShell.clear_instance()
