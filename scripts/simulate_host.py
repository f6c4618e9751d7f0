"""A simulated notebook host: the install cell, verbatim, on a fresh Python with host-like packages preinstalled.

    python scripts/simulate_host.py                        # the first of python3.12, python3.13, python3.11 on PATH
    python scripts/simulate_host.py --python python3.11 --work /tmp/labkit-host

What it does, each step in ``--work`` (made afresh):

1. ``origin``: this working tree as git would commit it (tracked files and untracked ones not ignored), made a
   repository of its own; the cell clones it through ``LABKIT_REPO_URL``, so no network to GitHub is needed;
2. ``host``: a fresh venv on ``--python`` with :data:`HOST_PACKAGES` preinstalled (versions a host could have:
   inside the kit's ranges, yet not the ones ``constraints.txt`` pins, so a cell that installed the tested pins
   over them would be caught), and every distribution's version recorded;
3. the host faked the way the cell tests for Colab: a ``google/colab/__init__.py`` on the kernel's path;
4. the install cell of ``labs/00_setup.ipynb``, verbatim, run twice in two fresh interpreters (the second as
   after a runtime restart), each followed by a probe of the working folder and ``import labkit``;
5. every preinstalled distribution checked to be at its version still;
6. lab 00 executed in a kernel of that venv: ``solutions/00_setup.ipynb`` whole (its install cell a third
   time), and ``labs/00_setup.ipynb`` up to its first exercise (whose stub raises, as it should);
7. ``result.json`` and ``result.md`` in ``--work``; the exit status is 1 when a check failed.

torch for any Python but 3.11 comes from PyPI as a multi-GB CUDA build (minutes to download and install); a
CPU build of ``torch==2.13.0`` for 3.11 may lie on disk (pip's find-links). The kernel runs with ``HF_HUB_OFFLINE=1`` (no hub here) and its own
``LABKIT_CACHE``, so the generator is converted afresh as on a new host.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("python3.12", "python3.13", "python3.11")
HOST_PACKAGES = ("torch==2.13.0", "numpy==2.3.5", "transformers==5.20.2", "sentence-transformers==6.0.1",
                 "accelerate==1.12.0", "matplotlib==3.10.9", "ipykernel==6.29.5", "nbclient==0.10.2",
                 "nbformat==5.10.4")
FAKE_COLAB = "# the simulated host: the install cell tests `import google.colab`\n"
PROBE = "\nimport os, labkit\nprint('PROBE', os.getcwd(), labkit.__file__)\n"
VERSIONS = ("import importlib.metadata as m, json; "
            "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions() if d.metadata['Name']}))")


def sh(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``command``, its output captured as text; raise with that output when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stdout[-3000:]}"
                           f"\n{done.stderr[-3000:]}")
    return done


def snapshot(origin: Path) -> str:
    """The working tree as git would commit it, as a fresh repository at ``origin``; its commit."""
    files = sh(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]).stdout
    for name in filter(None, files.split("\0")):
        source = ROOT / name
        if source.is_file():  # a deleted but still tracked file is skipped
            (origin / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, origin / name)
    git = ["git", "-C", str(origin), "-c", "user.name=host", "-c", "user.email=host@example.invalid"]
    sh(["git", "init", "-q", "-b", "main", str(origin)])
    sh([*git, "add", "-A"])
    sh([*git, "commit", "-q", "-m", "snapshot of the working tree"])
    return sh([*git, "rev-parse", "--short", "HEAD"]).stdout.strip()


def pick_python(wanted: str | None) -> str:
    """``wanted``, else the first of :data:`PYTHONS` that runs: on PATH, or installed by pyenv."""
    for name in [wanted] if wanted else PYTHONS:
        pyenv = sorted(Path.home().glob(f".pyenv/versions/{name.removeprefix('python')}*/bin/{name}"))
        for candidate in [shutil.which(name), *map(str, pyenv)]:
            if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
                return candidate
    raise SystemExit(f"no Python that runs: {wanted or ', '.join(PYTHONS)}")


def versions(python: Path, env: dict) -> dict[str, str]:
    return json.loads(sh([str(python), "-c", VERSIONS], env=env).stdout)


def install_cell(origin: Path) -> str:
    """The install cell of lab 00, as the notebook holds it."""
    notebook = json.loads((origin / "labs" / "00_setup.ipynb").read_text())
    (cell,) = [c for c in notebook["cells"] if c.get("id") == "labkit-colab-install"]
    return "".join(cell["source"])


def run_cell(python: Path, cell: str, env: dict, cwd: Path) -> dict:
    """The cell in a fresh interpreter (a fresh kernel, as after a restart), then the probe."""
    started = time.perf_counter()
    done = subprocess.run([str(python), "-c", cell + PROBE], capture_output=True, text=True, env=env, cwd=cwd)
    said = [line for line in done.stdout.splitlines() if line.startswith("labkit:")]
    probe = next((line.split()[1:] for line in done.stdout.splitlines() if line.startswith("PROBE")), None)
    return {"status": done.returncode, "seconds": round(time.perf_counter() - started, 1), "said": said,
            "cwd": probe[0] if probe else None, "labkit": probe[1] if probe else None,
            "tail": (done.stdout + done.stderr)[-2000:] if done.returncode else ""}


EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
path, until_stub = sys.argv[1], sys.argv[2] == "1"
nb = nbformat.read(path, as_version=4)
try:
    NotebookClient(nb, timeout=1200, kernel_name="python3").execute(cwd=path.rsplit("/", 1)[0])
    print("RAN all" if not until_stub else "RAN past the exercise stub: it should have raised")
    sys.exit(1 if until_stub else 0)
except CellExecutionError as err:
    ok = until_stub and "NotImplementedError" in str(err)
    print("RAN up to the exercise stub" if ok else f"FAILED {str(err)[-1500:]}")
    sys.exit(0 if ok else 1)
"""


def execute(python: Path, notebook: Path, env: dict, until_stub: bool) -> dict:
    started = time.perf_counter()
    done = subprocess.run([str(python), "-c", EXECUTE, str(notebook), "1" if until_stub else "0"],
                          capture_output=True, text=True, env=env)
    return {"notebook": f"{notebook.parent.name}/{notebook.name}", "status": done.returncode,
            "seconds": round(time.perf_counter() - started, 1),
            "said": (done.stdout.strip().splitlines() or [""])[-1][:1600],
            "tail": done.stderr[-1500:] if done.returncode else ""}


def simulate(python_name: str, work: Path) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    origin, host, checkout, fake = work / "origin", work / "host", work / "checkout", work / "fakehost"
    origin.mkdir(parents=True)
    result = {"python": python_name, "commit": snapshot(origin), "host_packages": list(HOST_PACKAGES)}
    sh([python_name, "-m", "venv", str(host)])
    python = host / "bin" / "python"
    started = time.perf_counter()
    sh([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    sh([str(python), "-m", "pip", "install", "-q", *HOST_PACKAGES])
    result["preinstall_seconds"] = round(time.perf_counter() - started, 1)
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "colab" / "__init__.py").write_text(FAKE_COLAB)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABKIT_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PYTHONPATH=str(fake), LABKIT_REPO_URL=str(origin), LABKIT_CHECKOUT=str(checkout),
               LABKIT_CACHE=str(work / "cache"), HF_HUB_OFFLINE="1", TQDM_DISABLE="1", PATH=f"{host / 'bin'}:{os.environ['PATH']}")
    before = versions(python, env)
    result["python_version"] = sh([str(python), "-c", "import platform; print(platform.python_version())"]).stdout.strip()
    cell = install_cell(origin)
    result["cell_runs"] = [run_cell(python, cell, env, work) for _ in range(2)]
    result["notebooks"] = [execute(python, checkout / "solutions" / "00_setup.ipynb", env, until_stub=False),
                           execute(python, checkout / "labs" / "00_setup.ipynb", env, until_stub=True)]
    after = versions(python, env)
    result["changed"] = {name: [v, after.get(name)] for name, v in before.items() if after.get(name) != v}
    result["added"] = sorted(set(after) - set(before))
    first, second = result["cell_runs"]
    result["checks"] = {
        "the first run installed what was missing": first["status"] == 0 and any("installed" in s for s in first["said"]),
        "the second run installed nothing": second["status"] == 0 and any("nothing missing" in s for s in second["said"]),
        "each run said one line": all(len(r["said"]) == 1 for r in result["cell_runs"]),
        "each run ended in labs/ with the checkout importable": all(
            r["cwd"] == str(checkout / "labs") and (r["labkit"] or "").startswith(str(checkout))
            for r in result["cell_runs"]),
        "no preinstalled package changed": not result["changed"],
        "lab 00 executed (solution whole, lab up to its exercise)": all(n["status"] == 0 for n in result["notebooks"]),
    }
    return result


def markdown(result: dict) -> str:
    lines = [f"Python {result['python_version']} ({result['python']}), snapshot {result['commit']}; preinstalled "
             f"{', '.join(result['host_packages'])} ({result['preinstall_seconds']:.0f} s).", ""]
    for i, run in enumerate(result["cell_runs"], 1):
        lines.append(f"- cell run {i} ({run['seconds']:.0f} s, exit {run['status']}): `{' / '.join(run['said'])}`")
    for nb in result["notebooks"]:
        lines.append(f"- {nb['notebook']} ({nb['seconds']:.0f} s, exit {nb['status']}): {nb['said']}")
    lines.append(f"- preinstalled packages changed: {result['changed'] or 'none'}; added: {', '.join(result['added'])}")
    lines += ["", "| check | passed |", "| --- | --- |"]
    lines += [f"| {name} | {'yes' if ok else 'NO'} |" for name, ok in result["checks"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", help=f"the host's Python (default: the first of {', '.join(PYTHONS)} on PATH)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/labkit-host"), help="made afresh (default %(default)s)")
    args = parser.parse_args(argv)
    python_name = pick_python(args.python)
    if not args.python and not python_name.endswith(PYTHONS[0]):
        print(f"simulate_host: no {PYTHONS[0]} that runs here; using {python_name}", file=sys.stderr)
    result = simulate(python_name, args.work.resolve())
    (args.work / "result.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (args.work / "result.md").write_text(text)
    print(text)
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
