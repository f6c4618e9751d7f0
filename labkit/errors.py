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


def require_text(value, name: str) -> str:
    """Return ``value`` if it is a ``str``; otherwise raise a :class:`LabkitError` that says how to decode.

    >>> require_text("ok", "text 0")
    'ok'
    >>> require_text(b"raw", "text 0")
    Traceback (most recent call last):
    ...
    labkit.errors.LabkitError: text 0 is bytes, not str
      fix: decode it first: raw.decode('utf-8'), or raw.decode('utf-8', errors='replace') to keep going and see damaged characters as \ufffd
    """
    if isinstance(value, (bytes, bytearray)):
        raise LabkitError(f"{name} is bytes, not str",
                          "decode it first: raw.decode('utf-8'), or raw.decode('utf-8', errors='replace') "
                          "to keep going and see damaged characters as \ufffd")
    if not isinstance(value, str):
        raise LabkitError(f"{name} is a {type(value).__name__}, not str", "give it a str")
    return value
