"""Test-wide settings: no hub, no progress bars, the ci profile (kernels started by nbval inherit them)."""

import os

from labkit.labs import NOTEBOOK_ENV

os.environ.update(NOTEBOOK_ENV)
