"""A wheel installed outside the repository is a working kit: the demo runs and a notebook loads the course.

The wheel is built from this checkout without network (``--no-build-isolation``) and installed, without
its dependencies, into a fresh virtual environment in a temporary folder, which borrows the test
environment's packages (torch, transformers...) through a ``.pth`` line. Nothing of the checkout is on
that environment's path: the kit must find its course data inside the installed package.
"""

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd, env=None, timeout=600):
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv holding only the labkit wheel, a folder outside the checkout to run in)."""
    scratch = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation", "-q", "-w", scratch / "dist",
        cwd=scratch)
    (wheel,) = (scratch / "dist").glob("labkit-*.whl")
    run(sys.executable, "-m", "venv", "--without-pip", scratch / "venv", cwd=scratch)
    python = scratch / "venv" / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=scratch).strip())
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co., not the checkout
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel, cwd=scratch)
    return python, scratch


def clean_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LABKIT_DATA_DIR")}
    return {**env, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}


def test_the_wheel_carries_the_course_data_and_nothing_of_the_checkout(installed):
    python, scratch = installed
    where = json.loads(run(python, "-c", "import json, labkit.course.data as d; "
                                         "print(json.dumps([d.__file__, str(d.DEFAULT_DATA_DIR), len(d.verify()['files'])]))",
                           cwd=scratch, env=clean_env()))
    module, data_dir, files = where
    assert str(scratch / "venv") in module and not module.startswith(str(ROOT)), module
    assert Path(data_dir).is_relative_to(scratch / "venv")
    shipped = json.loads((ROOT / "labkit" / "course" / "quillmoor" / "MANIFEST.json").read_text())["files"]
    assert files == len(shipped), "every file the manifest lists is in the wheel, with its checksum"


def test_the_installed_kit_runs_the_demo(installed):
    python, scratch = installed
    out = run(python, "-m", "labkit", "demo", cwd=scratch, env=clean_env())
    assert "the generator answered correctly." in out and "all clear" in out


def test_a_notebook_cell_loads_the_course_from_the_installed_package(installed):
    python, scratch = installed
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "id": "load", "metadata": {}, "outputs": [],
                           "source": "from labkit.course.corpus import course_corpus\n"
                                     "corpus = course_corpus()\nprint(corpus.name, len(corpus.documents('v1')))"}],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    (scratch / "cell.ipynb").write_text(json.dumps(notebook))
    script = textwrap.dedent("""
        import nbformat
        from nbclient import NotebookClient
        nb = nbformat.read("cell.ipynb", as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3").execute()
        print(nb.cells[0].outputs[0]["text"])
    """)
    assert run(python, "-c", script, cwd=scratch, env=clean_env()).strip() == "Quillmoor Instruments 244"
