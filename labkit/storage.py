"""Files and folders written atomically and checked on load: every save in the kit goes through here.

- :func:`atomic_write` writes one file aside (``.NAME.tmp-*`` next to it), flushes it to disk and
  renames it into place: a reader sees the old file or the new one, never half of one.
- :func:`write_folder` fills a folder aside (``.tmp-NAME-*``), closes it with a ``SHA256SUMS``
  manifest and moves it into place. Replacing an older folder takes two renames (the old one aside,
  the new one in); if the second fails, the old folder is put back, and if the process dies between
  them, the next :func:`write_folder` or :func:`verify_folder` of that folder puts it back. Nothing
  is lost either way.
- :func:`verify_folder` names the file that is missing or damaged; :func:`read_sha256sums` is the
  one reader of a ``SHA256SUMS`` file (``sha256sum``'s format).

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
>>> atomic_write(root / "note.txt", "one line\\n").read_text()
'one line\\n'
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from labkit.errors import LabkitError

MANIFEST = "SHA256SUMS"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path | str, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``content`` to ``path`` through a temporary file in the same folder, flushed to disk, then
    renamed over ``path``; returns the path. On any failure the old file (if any) is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode(encoding) if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_sha256sums(path: Path | str) -> dict[str, str]:
    """``{file name: hex digest}`` from a ``SHA256SUMS`` file (``digest  name`` or ``digest *name`` lines).

    >>> import tempfile, pathlib
    >>> sums = pathlib.Path(tempfile.mkdtemp()) / "SHA256SUMS"
    >>> _ = sums.write_text("ab12  corpus.jsonl\\ncd34 *qrels/test.tsv\\n\\n")
    >>> read_sha256sums(sums)
    {'corpus.jsonl': 'ab12', 'qrels/test.tsv': 'cd34'}
    """
    sums = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, _, name = line.partition(" ")
            sums[name.lstrip(" *")] = digest
    return sums


def _stranded(folder: Path) -> list[Path]:
    """Copies of ``folder`` moved aside by a replacement that never finished, newest first."""
    copies = [p / "previous" for p in folder.parent.glob(f".old-{folder.name}-*") if (p / "previous").is_dir()]
    return sorted(copies, key=lambda p: p.stat().st_mtime, reverse=True)


def recover_folder(folder: Path | str, abandoned_after_s: float = 3600) -> bool:
    """Put back the copy of ``folder`` that an interrupted :func:`write_folder` moved aside, when ``folder``
    itself is gone; clear the other leftovers (older copies, and temporary folders of writes that died more
    than ``abandoned_after_s`` ago). Returns True when a copy came back."""
    folder = Path(folder)
    restored = False
    for copy in _stranded(folder):
        if not folder.exists():
            os.rename(copy, folder)
            restored = True
        shutil.rmtree(copy.parent, ignore_errors=True)
    for tmp in folder.parent.glob(f".tmp-{folder.name}-*"):
        if time.time() - tmp.stat().st_mtime > abandoned_after_s:
            shutil.rmtree(tmp, ignore_errors=True)
    return restored


def write_folder(folder: Path | str, write: Callable[[Path], None], files: Sequence[str]) -> Path:
    """Call ``write(tmp)`` to fill a fresh folder aside, checksum ``files`` into ``SHA256SUMS``, then move it
    to ``folder`` (replacing an older one, which is restored if the move fails). Nothing is left behind
    when ``write`` fails."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=folder.parent))
    try:
        write(tmp)
        (tmp / MANIFEST).write_text("".join(f"{sha256_of(tmp / n)}  {n}\n" for n in files))
        if folder.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".old-{folder.name}-", dir=folder.parent))
            os.rename(folder, aside / "previous")
            try:
                os.rename(tmp, folder)
            except BaseException:
                if not folder.exists():  # the old folder goes back where it was
                    os.rename(aside / "previous", folder)
                raise
            finally:
                shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def verify_folder(folder: Path | str, files: Sequence[str], what: str) -> None:
    """Check a folder written by :func:`write_folder`: present, complete, every file matching its checksum."""
    folder = Path(folder)
    again = f"delete the folder and save the {what} again"
    recover_folder(folder)
    if not folder.is_dir():
        raise LabkitError(f"no saved {what} at {folder}", f"check the path, or build and save the {what} first")
    manifest = folder / MANIFEST
    if not manifest.exists():
        raise LabkitError(f"the {what} in {folder} is incomplete: {MANIFEST} is missing "
                          f"(a save that was interrupted, or not a labkit {what})", again)
    expected = read_sha256sums(manifest)
    for name in files:
        path = folder / name
        if name not in expected or not path.exists():
            raise LabkitError(f"the {what} in {folder} is incomplete: {name} is missing", again)
        if sha256_of(path) != expected[name]:
            raise LabkitError(f"the {what} in {folder} is damaged: {name} does not match its checksum", again)


def read_text(path: Path) -> str:
    """A file's UTF-8 text (a byte-order mark dropped, line ends made ``\\n``), or an error naming the file
    and the fix (unreadable, empty, not UTF-8)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise LabkitError(f"{path} cannot be read ({e.strerror})", "check the path and its permissions") from None
    if not raw.strip():
        raise LabkitError(f"{path} is empty", "write its content, or remove the file")
    try:
        return raw.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as e:
        raise LabkitError(f"{path} is not UTF-8 text (byte {e.start} is {raw[e.start:e.start + 1]!r})",
                          "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8)") from None


def read_jsonl(path: Path) -> list[tuple[str, dict]]:
    """``(where, object)`` for each non-blank line of a JSONL file (``where``: the file and line number, for
    the caller's own errors); a line that is not one JSON object is an error naming file and line.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
    >>> _ = path.write_text('{"a": 1}\\n\\n{"a": 2')
    >>> read_jsonl(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    labkit.errors.LabkitError: ...rows.jsonl line 3: not valid JSON at column 8 (Expecting ',' delimiter): cut short or malformed
      fix: write one complete JSON object a line
    """
    rows = []
    for n, line in enumerate(read_text(path).split("\n"), 1):
        where = f"{path} line {n}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise LabkitError(f"{where}: not valid JSON at column {e.colno} ({e.msg}): cut short or malformed",
                              "write one complete JSON object a line") from None
        if not isinstance(obj, dict):
            raise LabkitError(f"{where}: a line must be a JSON object {{...}}, not {type(obj).__name__}",
                              "write one JSON object a line")
        rows.append((where, obj))
    return rows
