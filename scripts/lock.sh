#!/usr/bin/env bash
# Rewrite constraints.txt from the working .venv (Python 3.11, what CI uses).
# Run after changing dependencies and passing `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Exact versions CI tests on Python 3.11 (written by scripts/lock.sh from a passing .venv)."
  # --all keeps setuptools (tests/test_wheel.py builds the wheel with it); pip itself is not pinned
  .venv/bin/python -m pip freeze --all --exclude-editable | sed -E 's/^torch==([0-9.]+)\+cpu$/torch==\1/' \
    | grep -v -e '^-e ' -e '^pip=='
} > constraints.txt
echo "wrote constraints.txt ($(grep -c '==' constraints.txt) pins)"
