"""One error type for every problem a learner can fix.

A :class:`LabkitError` always carries two parts: what went wrong and what to do.

>>> err = LabkitError("unknown profile 'gpx'", "set LABKIT_PROFILE to one of: ci, cpu, gpu")
>>> print(err)
unknown profile 'gpx'
  fix: set LABKIT_PROFILE to one of: ci, cpu, gpu
"""


class LabkitError(Exception):
    """A problem with a known fix; the CLI prints it without a traceback."""

    def __init__(self, problem: str, fix: str):
        super().__init__(problem, fix)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}"
