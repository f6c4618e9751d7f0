import subprocess
import sys


def run(*args, env_extra=None):
    import os

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "labkit", *args], capture_output=True, text=True, env=env)


def test_unknown_profile_is_one_clear_line_not_a_traceback():
    result = run("doctor", env_extra={"LABKIT_PROFILE": "gpx"})
    assert result.returncode == 2
    assert "unknown profile 'gpx'" in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.stderr


def test_labs_check_passes():
    result = run("labs", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in sync" in result.stdout
