"""Test-wide settings: no hub, no progress bars, the ci profile (kernels started by nbval inherit them), and
what `make test` leaves to `make test-all` (``LABKIT_TEST_ALL=1``) to stay inside CI's budget:

- the worked answers that take minutes (solution cells tagged ``slow-answer`` as well as ``exercise-answer``);
- on a CPU without bf16 (and no GPU), the labs that train (:data:`labkit.labs.LABS_THAT_TRAIN`): their three
  trainings and their scoring take about an hour there, against about 15 minutes on a CPU with bf16;
- the full BEIR SciFact dense run (tests marked ``benchmark``: ``-m 'not benchmark'`` in pyproject.toml).
"""

import os
from pathlib import Path

import pytest

from labkit.labs import LABS_THAT_TRAIN, NOTEBOOK_ENV, is_slow_answer

os.environ.update(NOTEBOOK_ENV)


def training_is_slow_here() -> bool:
    """No bf16 in this CPU and no GPU: the adapters train in float32, three to four times slower."""
    import torch

    from labkit.runtime import cpu_has_bf16

    return not cpu_has_bf16() and not torch.cuda.is_available()


def pytest_report_header(config):
    if os.environ.get("LABKIT_TEST_ALL") == "1":
        return "labkit: LABKIT_TEST_ALL=1, every notebook and worked answer runs"
    if training_is_slow_here():
        return ("labkit: a CPU without bf16: the labs that train (" + ", ".join(n[:2] for n in LABS_THAT_TRAIN) +
                ") and the slow worked answers are skipped; `make test-all` runs them")
    return "labkit: the slow worked answers are skipped; `make test-all` runs them"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("LABKIT_TEST_ALL") == "1":
        return
    answer = pytest.mark.skip(reason="a worked answer of minutes: `make test-all` runs it")
    lab = pytest.mark.skip(reason="this lab trains (an hour of float32 training and scoring on a CPU without "
                                  "bf16): `make test-all` runs it")
    skip_training_labs = None
    for item in items:
        cell = getattr(item, "cell", None)  # nbval's notebook cells carry their cell
        if cell is None:
            continue
        if Path(str(item.fspath)).stem in LABS_THAT_TRAIN:
            if skip_training_labs is None:
                skip_training_labs = training_is_slow_here()
            if skip_training_labs:
                item.add_marker(lab)
                continue
        if is_slow_answer(cell):
            item.add_marker(answer)
