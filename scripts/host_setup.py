"""Set the kit up on a notebook host (Colab, or any kernel with ``LABKIT_NOTEBOOK_HOST=1``).

The install cell that opens every lab and solution (written by ``labkit/labs.py``) clones the checkout, then runs
this file in the notebook's own kernel and calls :func:`setup`. The kit cannot be imported before its dependencies
are installed, so this file uses only the standard library and pip's own parsers. Every step runs every time,
so the cell can be re-run after a failed pip or a runtime restart:

1. update the checkout (``git pull --ff-only``; offline, or edited by hand: it stays as it is);
2. install only the kit's requirements the host does not meet, with pip constrained to the versions of numpy,
   torch and the kernel packages the host has (pip refuses rather than replace them) and, for the packages the
   host lacks, to the versions CI tests (``constraints.txt``) where pip can use them on this Python;
3. put the checkout on ``sys.path`` (and ``PYTHONPATH``, for child processes) and enter ``labs/`` or ``solutions/``;
4. print one line saying what it did.

>>> missing(["numpy>=1.26", "tqdm>=4.66", "gguf>=0.10", "tomli; python_version < '3'"], {"numpy": "2.0.2", "tqdm": "4.60.0"})
['tqdm>=4.66', 'gguf>=0.10']
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # a host without packaging still has pip's copy
    from pip._vendor.packaging.requirements import Requirement

KEEP = ("numpy", "torch", "ipykernel", "ipython")  # never replaced, nor any installed "jupyter*" package


def canonical(name: str) -> str:
    """A distribution name as pip compares them.

    >>> canonical("Jupyter_Client")
    'jupyter-client'
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """{canonical name: version} of every distribution this Python sees."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonical(name), dist.version)
    return found


def missing(requirements: list[str], have: dict[str, str]) -> list[str]:
    """The requirements (for this Python) that ``have`` does not meet: absent, or at a version outside the range."""
    unmet = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = have.get(canonical(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            unmet.append(text)
    return unmet


def kept(have: dict[str, str]) -> dict[str, str]:
    """The host's packages that stay at the version it has: numpy, torch, the kernel's.

    >>> kept({"numpy": "2.0.2", "jupyter-client": "8.6.0", "tqdm": "4.67.1"})
    {'numpy': '2.0.2', 'jupyter-client': '8.6.0'}
    """
    return {name: v for name, v in have.items() if name in KEEP or name.startswith("jupyter")}


def requirements(kit: Path) -> tuple[list[str], list[str]]:
    """(the kit's dependencies from its pyproject.toml, the wheels that embed its default models: installed
    without their dependencies)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import pip._vendor.tomli as tomllib
    project = tomllib.loads((kit / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    from labkit.runtime import MODELS  # standard library only: importable before anything is installed

    return list(project["dependencies"]), [m.package for m in MODELS.values() if m.package]


def ci_pins(kit: Path, have: dict[str, str]) -> list[str]:
    """The versions CI tests (``constraints.txt``) of the packages the host lacks."""
    lines = (kit / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pins = [line.strip() for line in lines if "==" in line and not line.startswith("#")]
    return [pin for pin in pins if canonical(pin.split("==")[0]) not in have]


def pip(args: list[str], pins: list[str], quiet_failure: bool = False) -> int:
    """``pip install`` ``args`` under the constraints ``pins``; its exit status."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
        file.write("\n".join(pins) + "\n")
    try:
        command = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", file.name, *args]
        return subprocess.run(command, capture_output=quiet_failure).returncode
    finally:
        os.unlink(file.name)


def update(kit: Path) -> str:
    """Pull the checkout forward if it can be; say where it stands."""

    def head() -> str:
        out = subprocess.run(["git", "-C", str(kit), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return out.stdout.strip() or "?"

    before = head()
    pulled = subprocess.run(["git", "-C", str(kit), "pull", "-q", "--ff-only"], capture_output=True).returncode == 0
    after = head()
    state = f"updated from {before}" if after != before else "up to date" if pulled else "not updated: git pull failed"
    return f"checkout {kit} at {after} ({state})"


def enter(kit: Path, folder: str) -> Path:
    """Make the checkout importable here and in child processes, and work in its ``folder``."""
    if str(kit) not in sys.path:
        sys.path.insert(0, str(kit))
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(kit) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(kit), *filter(None, paths)])
    os.chdir(kit / folder)
    return kit / folder


def setup(kit: str | Path, folder: str = "labs", have: dict[str, str] | None = None) -> str:
    """Update, install what is missing, enter ``folder``; print and return the one line that says so."""
    kit = Path(kit).resolve()
    said = [update(kit)]
    here = enter(kit, folder)  # before pip: a failed install still leaves the path and the folder right
    have = installed() if have is None else have
    needed, embedded = requirements(kit)
    host = kept(have)
    unmet = missing(needed, have)
    held = [r for r in unmet if canonical(Requirement(r).name) in host]  # a host version the kit would replace
    unmet = [r for r in unmet if r not in held]
    wheels = missing(embedded, have)
    pins = [f"{name}=={version}" for name, version in sorted(host.items())]
    status = 0
    if unmet:  # the tested versions first; where this Python or the host's versions rule them out, pip's choice
        status = pip(unmet, pins + ci_pins(kit, have), quiet_failure=True)
        if status:
            status = pip(unmet, pins)
    if wheels and not status:
        status = pip(["--no-deps", *wheels], pins)
    if status:
        said.append(f"pip failed (exit {status}, its messages are above): re-run this cell")
    else:
        said.append(f"installed {', '.join(unmet + wheels)}" if unmet or wheels else "nothing missing")
    if held:
        said.append(f"the kit asks {', '.join(held)}: kept the host's older version")
    said.append("kept the host's " + (", ".join(f"{name} {host[name]}" for name in KEEP if name in host) or "kernel"))
    said.append(f"working in {here}")
    line = "labkit: " + "; ".join(said)
    print(line)
    if status:
        raise RuntimeError(line)
    return line
