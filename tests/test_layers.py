"""The house rules of labkit/__init__.py, kept: every import of every module, read with ``ast``.

A module imports only from its own layer or the layers below it, with no circle; imports sit at the top of
a module (the CLI's subcommands are the one allowlisted exception, for start-up cost); and a few rules
between the layers hold (the course loads no model, only the answer step of retrieval calls the generator,
tuning uses retrieval's chunks only, nothing imports the CLI or the ladder's runner).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import labkit

PACKAGE = Path(labkit.__file__).resolve().parent
FUNCTION_LEVEL_ALLOWED = {"labkit.cli"}  # its subcommands import what they need when they run
MODEL_CODE = ("labkit.models", "labkit.generate", "labkit.constrain", "labkit.doctor")
MODEL_LIBRARIES = ("torch", "transformers", "peft", "bitsandbytes", "sentence_transformers", "accelerate")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported labkit module, or the top-level name of another library
    line: int
    top_level: bool  # at module level (not inside a function or class body)
    type_only: bool  # under ``if TYPE_CHECKING:``: never runs


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str, root: Path) -> bool:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    return (root / relative).with_suffix(".py").is_file() or (root / relative / "__init__.py").is_file()


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import in one file, labkit names resolved to modules (``from labkit.course import data`` is
    ``labkit.course.data``; ``from labkit.course.data import load_qa`` is ``labkit.course.data``)."""
    source = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[Import] = []

    def visit(node, top_level: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for grandchild in child.body:
                    visit(ast.Module(body=[grandchild], type_ignores=[]), top_level, True)
                continue
            if isinstance(child, ast.Import):
                found.extend(Import(source, alias.name, child.lineno, top_level, type_only) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                targets = [f"{child.module}.{a.name}" if is_module(f"{child.module}.{a.name}", root) else child.module
                           for a in child.names]
                found.extend(Import(source, t, child.lineno, top_level, type_only) for t in dict.fromkeys(targets))
            inner = top_level and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            visit(child, inner, type_only)

    visit(tree, True, False)
    return found


def all_imports(root: Path) -> list[Import]:
    return [i for path in sorted(root.rglob("*.py")) for i in imports_of(path, root)]


def layer_of(module: str, layers=labkit.LAYERS) -> int:
    """The index of the layer a module belongs to (the longest name in LAYERS that it equals or sits under)."""
    best, index = "", None
    for i, (_, names) in enumerate(layers):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best, index = name, i
    if index is None:
        raise AssertionError(f"{module} is in no layer of labkit.LAYERS: add it to the layer it belongs to")
    return index


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle (a list of modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def labkit_edges(imports: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for i in imports:
        if i.target.startswith("labkit.") and not i.type_only and i.target != i.source:
            edges.setdefault(i.source, set()).add(i.target)
    return edges


def show(imports) -> str:
    return "\n".join(f"  {i.source} line {i.line}: imports {i.target}" for i in imports)


IMPORTS = all_imports(PACKAGE)
INTERNAL = [i for i in IMPORTS if i.target.startswith("labkit.")]


def test_every_module_has_a_layer_and_the_layers_are_the_documented_ones():
    modules = {module_name(p, PACKAGE) for p in PACKAGE.rglob("*.py")}
    for module in modules:
        layer_of(module)
    assert [name for name, _ in labkit.LAYERS] == ["base", "course", "retrieval", "tuning", "ladder", "top"]
    for name, _ in labkit.LAYERS[1:5]:
        assert f"``{name}/``" in labkit.__doc__, f"labkit/__init__.py must state the {name}/ layer"


def test_no_import_runs_up_a_layer():
    upward = [i for i in INTERNAL if layer_of(i.target) > layer_of(i.source)]
    assert not upward, "imports that run up a layer (move the code down, or pass it in):\n" + show(upward)


def test_there_is_no_import_circle():
    cycle = find_cycle(labkit_edges(IMPORTS))
    assert cycle is None, "an import circle: " + " -> ".join(cycle)


def test_imports_sit_at_the_top_of_a_module():
    hidden = [i for i in INTERNAL if not i.top_level and i.source not in FUNCTION_LEVEL_ALLOWED]
    assert not hidden, ("labkit imports inside a function hide a dependency (put them at the top; "
                        "only the CLI's subcommands may import late):\n" + show(hidden))


def test_the_course_loads_no_model():
    model_code = [i for i in IMPORTS if i.source.startswith("labkit.course")
                  and (i.target.startswith(MODEL_CODE) or i.target.split(".")[0] in MODEL_LIBRARIES)]
    assert not model_code, "labkit.course must not load or call a model:\n" + show(model_code)


def test_only_the_answer_step_of_retrieval_calls_the_generator():
    callers = [i for i in INTERNAL if i.source.startswith("labkit.retrieval.") and i.target == "labkit.generate"
               and i.source != "labkit.retrieval.answer"]
    assert not callers, show(callers)


def test_tuning_uses_only_the_chunks_of_retrieval():
    used = [i for i in INTERNAL if i.source.startswith("labkit.tuning.") and i.target.startswith("labkit.retrieval")
            and i.target != "labkit.retrieval.chunk"]
    assert not used, show(used)


def test_nothing_imports_the_cli_and_only_the_cli_imports_the_runner():
    cli = [i for i in INTERNAL if i.target == "labkit.cli" and i.source != "labkit.__main__"]
    runner = [i for i in INTERNAL if i.target == "labkit.ladder.run" and i.source != "labkit.cli"]
    assert not cli and not runner, show(cli + runner)


# The rules above must be able to fail: each finds the fault it exists for in a small package on disk.

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "labkit"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_reader_finds_circles_late_imports_and_upward_imports(tmp_path):
    root = _package(tmp_path, {
        "errors.py": "",
        "course/__init__.py": "",
        "course/data.py": "from labkit.errors import X\nfrom labkit.ladder import run\n",
        "ladder/__init__.py": "",
        "ladder/run.py": "from labkit.course import data\n\ndef f():\n    from labkit.errors import Y\n",
        "tuning/plan.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from labkit.tuning.train import T\n",
        "tuning/train.py": "from labkit.tuning.plan import P\n",
    })
    found = all_imports(root)
    edges = labkit_edges(found)
    assert find_cycle(edges) == ["labkit.course.data", "labkit.ladder.run", "labkit.course.data"]
    assert "labkit.tuning.train" not in edges.get("labkit.tuning.plan", set()), "a TYPE_CHECKING import never runs"
    late = [i for i in found if not i.top_level]
    assert [(i.source, i.target) for i in late] == [("labkit.ladder.run", "labkit.errors")]
    layers = (("base", ("labkit.errors",)), ("course", ("labkit.course",)), ("tuning", ("labkit.tuning",)),
              ("ladder", ("labkit.ladder",)), ("top", ("labkit",)))
    upward = [(i.source, i.target) for i in found if i.target.startswith("labkit.")
              and layer_of(i.target, layers) > layer_of(i.source, layers)]
    assert upward == [("labkit.course.data", "labkit.ladder.run")]
