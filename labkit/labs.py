"""One source, two notebooks: generate the learner's ``labs/`` from ``solutions/``.

In a solution notebook the answer to an exercise sits between two marker lines;
in the generated lab it becomes a stub. A block with an ``# EXERCISE: key`` line
becomes a stub that raises :class:`labkit.hints.NotDone` for that exercise (its
two hints live in :data:`labkit.hints.EXERCISES`, the answer only here); any other
block raises ``NotImplementedError`` with the hint of its ``# HINT:`` line. Outputs and execution
counts are cleared. Every lab and every solution opens with an "Open in Colab" badge
of its own path and an install cell that acts only on a notebook host (:func:`header_cells`),
both made from :class:`LabsConfig`, whose repository is pyproject's ``Repository`` URL.

>>> print(strip_solutions('''def double(x):
...     ### BEGIN SOLUTION
...     # HINT: add x to itself
...     return x + x
...     ### END SOLUTION'''))
def double(x):
    raise NotImplementedError("Exercise: add x to itself")
>>> print(strip_solutions('''def cosine(a, b):
...     ### BEGIN SOLUTION
...     # EXERCISE: 00.1
...     return a @ b
...     ### END SOLUTION'''))
def cosine(a, b):
    from labkit.hints import NotDone
    raise NotDone("00.1")  # exercise 00.1: replace these two lines with your code
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabkitError
from labkit.hints import EXERCISES
from labkit.runtime import MODELS, PROFILES
from labkit.storage import atomic_write

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
NOTEBOOK_ENV = {"LABKIT_PROFILE": "ci", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "PYTHONHASHSEED": "0"}  # outputs checked by nbval must not depend on the terminal


@dataclass(frozen=True)
class LabsConfig:
    """Where notebooks live and the one repository setting the badges and installs use."""

    repository: str | None = None  # owner/name on GitHub; None: the project's Repository URL (repository_url())
    branch: str = "main"
    solutions_dir: Path | None = None  # None: the checkout's solutions/ (see checkout())
    labs_dir: Path | None = None  # None: the checkout's labs/

    def folders(self) -> tuple[Path, Path]:
        """(solutions, labs): the configured folders, else those of :func:`checkout`."""
        if self.solutions_dir is not None and self.labs_dir is not None:
            return Path(self.solutions_dir), Path(self.labs_dir)
        root = checkout()
        return Path(self.solutions_dir or root / "solutions"), Path(self.labs_dir or root / "labs")

    def github(self) -> str:
        """``owner/name`` of the repository the badges open and the install cell clones.

        >>> LabsConfig(repository="someone/fork").github()
        'someone/fork'
        """
        return self.repository or github_name(repository_url())


def repository_url() -> str:
    """The project's ``[project.urls] Repository``: read from the checkout's ``pyproject.toml``, else (a wheel
    installed without the checkout) from the installed package's ``Project-URL`` metadata.

    >>> repository_url().startswith("https://github.com/")
    True
    """
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        project = _read_toml(pyproject).get("project", {})
        if project.get("name") == "labkit":
            return project["urls"]["Repository"]
    return installed_repository_url()


def installed_repository_url() -> str:
    """The ``Repository`` Project-URL of the installed ``labkit`` distribution (what a wheel carries)."""
    import importlib.metadata

    try:
        urls = importlib.metadata.metadata("labkit").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip() == "Repository":
            return url.strip()
    raise LabkitError("labkit's repository URL is unknown: no pyproject.toml beside the package and no Repository "
                      "Project-URL in its metadata", "reinstall labkit from its checkout or a wheel built from it")


def github_name(url: str) -> str:
    """``owner/name`` of a GitHub URL (Colab opens notebooks only from GitHub).

    >>> github_name("https://github.com/labkit-course/labkit.git")
    'labkit-course/labkit'
    """
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", url)
    if not match:
        raise LabkitError(f"the repository URL {url!r} is not a GitHub repository, so no Colab badge can open it",
                          "set [project.urls] Repository in pyproject.toml to https://github.com/OWNER/NAME")
    return match.group(1)


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10: pip vendors the same parser
        import pip._vendor.tomli as tomllib
    return tomllib.loads(path.read_text(encoding="utf-8"))


def checkout(start: Path | None = None) -> Path:
    """The repository whose ``solutions/`` become ``labs/``: the one this package was imported from (an
    editable install), else ``start`` (the current folder) or a folder above it. A wheel installed elsewhere
    has no solutions of its own, so outside a checkout this says what to do."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (Path(__file__).resolve().parent.parent, here, *here.parents):
        if (folder / "solutions").is_dir() and (folder / "pyproject.toml").is_file():
            return folder
    raise LabkitError(f"no labkit checkout at {here} or above it: the labs are generated from a checkout's solutions/",
                      f"run this inside a clone of the repository (git clone {repository_url()})")


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
        hint, key = "write your code here", None
        i += 1
        while i < len(lines) and lines[i].strip() != END:
            match = re.match(r"\s*# (HINT|EXERCISE):\s*(.*)", lines[i])
            if match and match.group(1) == "HINT":
                hint = match.group(2).strip()
            elif match:
                key = match.group(2).strip()
            i += 1
        if i == len(lines):
            raise LabkitError(f"a '{BEGIN}' block is never closed", f"add a '{END}' line after the solution")
        if key is None:
            out.append(f"{indent}raise NotImplementedError({json.dumps('Exercise: ' + hint, ensure_ascii=False)})")
        elif key in EXERCISES:
            out += [f"{indent}from labkit.hints import NotDone",
                    f"{indent}raise NotDone({json.dumps(key)})  # exercise {key}: replace these two lines with your code"]
        else:
            raise LabkitError(f"a solution block names exercise {key!r}, which labkit.hints.EXERCISES lacks",
                              "add the exercise (its task and two hints) to labkit/hints.py, or fix the key")
        i += 1
    return "\n".join(out)


HEADER_IDS = ("labkit-badge", "labkit-colab-install")  # the cells header_cells() writes, found again by id
PROFILE_NOTE_ID = "labkit-reference-profile"  # the closing cell reference_note() writes
ANSWER_TAG = "exercise-answer"  # a solution's cells after its exercises that work them out; never in the lab
ANSWERS_POINTER_ID = "labkit-answers-pointer"  # the lab's cell that says where those answers are
# The labs that train an adapter, or score the adapters the others trained (from the fit cache, else trained
# again): about an hour on a 2-core CPU without bf16, so the test suite runs them only where training is fast.
LABS_THAT_TRAIN = ("06_finetune_behaviour", "07_finetune_facts_antipattern", "08_raft", "09_capstone_decision",
                   "10_your_own_pile")
SLOW_ANSWER_TAG = "slow-answer"  # a worked answer of minutes: `make test` skips it, `make answers` runs it


def is_answer(cell) -> bool:
    """Whether ``cell`` is one of a solution's worked answers to its end-of-lab exercises (tagged
    :data:`ANSWER_TAG`), which the learner's copy leaves out."""
    return ANSWER_TAG in cell.get("metadata", {}).get("tags", [])


def is_slow_answer(cell) -> bool:
    """Whether ``cell`` is a worked answer that takes minutes (tagged :data:`SLOW_ANSWER_TAG` too): the test
    suite skips it to stay inside CI's budget, and ``make answers`` executes it with the rest of its notebook.

    >>> is_slow_answer({"metadata": {"tags": ["exercise-answer", "slow-answer"]}}), is_slow_answer({"metadata": {}})
    (True, False)
    """
    return is_answer(cell) and SLOW_ANSWER_TAG in cell.get("metadata", {}).get("tags", [])


def answers_pointer(name: str) -> str:
    """The lab's line that stands in for the solution's worked answers.

    >>> print(answers_pointer("04_rag.ipynb"))
    **Worked answers.** Each exercise above is worked out, with what it measured, at the end of
    [`solutions/04_rag.ipynb`](../solutions/04_rag.ipynb). Try it first: the numbers mean more once you have predicted them.
    """
    return (f"**Worked answers.** Each exercise above is worked out, with what it measured, at the end of\n"
            f"[`solutions/{name}`](../solutions/{name}). Try it first: the numbers mean more once you have predicted them.")


def reference_note(profile: str = NOTEBOOK_ENV["LABKIT_PROFILE"]) -> str:
    """The closing note of every lab and solution: which profile its stored outputs (and the prose quoting them)
    come from, and what the other profiles change. ``python -m labkit labs --execute`` runs under ``profile``.

    >>> print(reference_note().splitlines()[0])
    **Where this notebook's numbers come from.** Every output stored in `solutions/` (and every figure the text
    """
    ran, laptop, gpu, fallback = PROFILES[profile], PROFILES["cpu"], PROFILES["gpu"], PROFILES[PROFILES["gpu"].fallback]
    hub = lambda key: MODELS[key].hub_id.split("/")[-1]  # noqa: E731
    return (f"**Where this notebook's numbers come from.** Every output stored in `solutions/` (and every figure the text\n"
            f"quotes) was produced with the `{ran.name}` profile: {hub(ran.generator)} and {hub(ran.embedder)}, embedded, on a\n"
            f"2-core CPU without a GPU. A laptop runs the `{laptop.name}` profile: the same models and the same questions, so\n"
            "your figures should fall inside the printed intervals (a CPU with bf16 moves a few answers). A Colab class on\n"
            f"a GPU runs the `{gpu.name}` profile ({hub(gpu.generator)}, {hub(gpu.embedder)}; where the hub cannot be reached,\n"
            f"`{fallback.name}`: the embedded models on CUDA): other models, so other numbers, and no GPU reference run is\n"
            "stored yet (docs/BENCHMARKS.md will hold it). Which profile you are on: lab 00 prints it under the doctor, as does\n"
            "`python -m labkit doctor`.")


def with_reference_note(notebook):
    """``notebook`` (a copy) ending with the :func:`reference_note` cell, an older one dropped (kept as it is when
    its text is already right)."""
    import copy

    import nbformat

    nb = copy.deepcopy(notebook)
    old = [c for c in nb.cells if c.get("id") == PROFILE_NOTE_ID]
    note = old[0] if old and old[0].source == reference_note() else nbformat.v4.new_markdown_cell(
        reference_note(), id=PROFILE_NOTE_ID)
    nb.cells = [c for c in nb.cells if c.get("id") != PROFILE_NOTE_ID] + [note]
    return nb


def header_cells(config: LabsConfig, folder: str, name: str) -> list:
    """The "Open in Colab" badge of ``folder/name`` and the install cell that open every lab and solution.

    >>> badge, install = header_cells(LabsConfig(repository="someone/fork"), "solutions", "00_setup.ipynb")
    >>> badge.source.endswith("(https://colab.research.google.com/github/someone/fork/blob/main/solutions/00_setup.ipynb)")
    True
    >>> '"https://github.com/someone/fork"' in install.source and '"solutions")' in install.source
    True
    """
    import nbformat

    github = config.github()
    url = f"https://colab.research.google.com/github/{github}/blob/{config.branch}/{folder}/{name}"
    badge = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})", id=HEADER_IDS[0])
    install = nbformat.v4.new_code_cell(INSTALL_CELL.format(url=f"https://github.com/{github}", branch=config.branch,
                                                            folder=folder), id=HEADER_IDS[1])
    return [badge, install]


# What the install cell does lives in scripts/host_setup.py of the checkout it clones (the kit cannot be imported
# before it is installed); the cell only decides whether this is a notebook host and fetches the checkout.
INSTALL_CELL = """\
# On a notebook host (Colab, or LABKIT_NOTEBOOK_HOST=1): fetch or update the kit, install only what is missing
# (the host's numpy, torch and kernel stay as they are), work in this notebook's folder. Elsewhere: nothing.
import os, runpy, subprocess
try:
    import google.colab  # noqa: F401
    _host = True
except ImportError:
    _host = bool(os.environ.get("LABKIT_NOTEBOOK_HOST"))
if _host:
    _home = "/content" if os.path.isdir("/content") else os.path.expanduser("~")
    _kit = os.environ.get("LABKIT_CHECKOUT") or _home + "/labkit"
    if not os.path.isdir(_kit + "/.git"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "{branch}",
                        os.environ.get("LABKIT_REPO_URL", "{url}"), _kit], check=True)
    runpy.run_path(_kit + "/scripts/host_setup.py")["setup"](_kit, "{folder}")"""


def with_header(notebook, config: LabsConfig, folder: str, name: str):
    """``notebook`` (a copy) opening with :func:`header_cells` for ``folder/name``, any older header dropped. A
    header cell whose source is already right is kept as it is (its execution count too), so an executed
    solution is not rewritten for it."""
    import copy

    nb = copy.deepcopy(notebook)
    old = {c.get("id"): c for c in nb.cells if c.get("id") in HEADER_IDS}
    fresh = [old[c.id] if c.id in old and old[c.id].source == c.source else c
             for c in header_cells(config, folder, name)]
    nb.cells = fresh + [c for c in nb.cells if c.get("id") not in HEADER_IDS]
    return with_reference_note(nb)


def make_lab(solution, name: str, config: LabsConfig = LabsConfig()):
    """The learner's copy of one solution notebook (a new notebook; the input is untouched)."""
    import nbformat

    lab = with_header(solution, config, "labs", name)
    if any(is_answer(c) for c in lab.cells):  # the worked answers stay in solutions/; the lab says where they are
        kept = [c for c in lab.cells if not is_answer(c)]
        pointer = nbformat.v4.new_markdown_cell(answers_pointer(name), id=ANSWERS_POINTER_ID)
        lab.cells = kept[:-1] + [pointer] + kept[-1:]  # before the closing note on where the numbers come from
    for cell in lab.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
    return lab


def lab_pairs(config: LabsConfig = LabsConfig()) -> list[tuple[Path, Path]]:
    """(solution, lab) paths for every ``solutions/NN_*.ipynb``."""
    solutions_dir, labs_dir = config.folders()
    return [(s, labs_dir / s.name) for s in sorted(solutions_dir.glob("[0-9][0-9]_*.ipynb"))]


def sync_labs(config: LabsConfig = LabsConfig(), check: bool = False) -> list[str]:
    """Give every solution its header (badge and install cell, nothing else touched: outputs stay) and write
    every lab; with ``check``, only list what is out of date (``solutions/NAME`` for a solution's header, the lab's
    name for a lab) or orphaned."""
    import nbformat

    stale = []
    pairs = lab_pairs(config)
    for solution_path, lab_path in pairs:
        solution = nbformat.read(solution_path, as_version=4)
        headed = with_header(solution, config, "solutions", solution_path.name)
        if headed.cells != solution.cells:
            stale.append(f"solutions/{solution_path.name}")
            if not check:
                atomic_write(solution_path, nbformat.writes(headed) + "\n")
        text = nbformat.writes(make_lab(headed, lab_path.name, config)) + "\n"
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
