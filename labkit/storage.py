"""Folders written atomically and checked on load: indexes and adapters both use this.

A folder is written aside (``.tmp-NAME-...`` next to it), closed with a ``SHA256SUMS``
manifest, and renamed into place, so a crash leaves either the old folder or the new
one, never half of one. :func:`verify_folder` names the file that is missing or damaged.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = write_folder(root / "box", lambda tmp: (tmp / "a.txt").write_text("hello"), ("a.txt",))
>>> verify_folder(root / "box", ("a.txt",), "box")
>>> _ = (root / "box" / "a.txt").write_text("HELLO")
>>> verify_folder(root / "box", ("a.txt",), "box")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
labkit.errors.LabkitError: the box in ... is damaged: a.txt does not match its checksum
  fix: delete the folder and save the box again
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from labkit.errors import LabkitError

MANIFEST = "SHA256SUMS"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file, read in 1 MiB pieces."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_folder(folder: Path, write: Callable[[Path], None], files: Sequence[str]) -> Path:
    """Call ``write(tmp)`` to fill a fresh folder aside, checksum ``files``, then rename it to ``folder``
    (replacing an older one). Nothing is left behind when ``write`` fails."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=folder.parent))
    try:
        write(tmp)
        (tmp / MANIFEST).write_text("".join(f"{sha256_of(tmp / n)}  {n}\n" for n in files))
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".old-{folder.name}-", dir=folder.parent))
            os.rename(folder, old / "previous")
            os.rename(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def verify_folder(folder: Path, files: Sequence[str], what: str) -> None:
    """Check a folder written by :func:`write_folder`: present, complete, every file matching its checksum."""
    folder = Path(folder)
    again = f"delete the folder and save the {what} again"
    if not folder.is_dir():
        raise LabkitError(f"no saved {what} at {folder}", f"check the path, or build and save the {what} first")
    manifest = folder / MANIFEST
    if not manifest.exists():
        raise LabkitError(f"the {what} in {folder} is incomplete: {MANIFEST} is missing "
                          f"(a save that was interrupted, or not a labkit {what})", again)
    expected = {}  # file name -> sha256
    for line in manifest.read_text().splitlines():
        digest, _, name = line.partition("  ")
        expected[name] = digest
    for name in files:
        path = folder / name
        if name not in expected or not path.exists():
            raise LabkitError(f"the {what} in {folder} is incomplete: {name} is missing", again)
        if sha256_of(path) != expected[name]:
            raise LabkitError(f"the {what} in {folder} is damaged: {name} does not match its checksum", again)
