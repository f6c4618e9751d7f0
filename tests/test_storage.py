"""labkit.storage: a save never loses the previous copy, whatever fails and wherever it fails."""

import os

import pytest

from labkit import storage
from labkit.errors import LabkitError


def _save(folder, text: str):
    return storage.write_folder(folder, lambda tmp: (tmp / "a.txt").write_text(text), ("a.txt",))


def _leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_a_folder_is_replaced_whole_and_checked(tmp_path):
    _save(tmp_path / "box", "one")
    _save(tmp_path / "box", "two")
    storage.verify_folder(tmp_path / "box", ("a.txt",), "box")
    assert (tmp_path / "box" / "a.txt").read_text() == "two"
    assert _leftovers(tmp_path) == []


def test_a_failure_between_the_two_renames_puts_the_old_folder_back(tmp_path, monkeypatch):
    _save(tmp_path / "box", "old")
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the old folder is aside; the new one is about to move in
            raise OSError("disk pulled out")
        return real_rename(src, dst)

    monkeypatch.setattr(storage.os, "rename", rename)
    with pytest.raises(OSError, match="disk pulled out"):
        _save(tmp_path / "box", "new")
    monkeypatch.undo()
    assert (tmp_path / "box" / "a.txt").read_text() == "old"
    storage.verify_folder(tmp_path / "box", ("a.txt",), "box")
    assert _leftovers(tmp_path) == [], "no .old-* or .tmp-* copy may be stranded"


def _killed_between_the_renames(folder, tag: str) -> None:
    """What a process killed after write_folder's first rename leaves: the folder aside, nothing in its place."""
    aside = folder.parent / f".old-{folder.name}-{tag}"
    aside.mkdir()
    os.rename(folder, aside / "previous")


def test_a_process_killed_between_the_renames_loses_nothing(tmp_path):
    _save(tmp_path / "box", "old")
    _killed_between_the_renames(tmp_path / "box", "first")
    assert not (tmp_path / "box").exists()
    storage.verify_folder(tmp_path / "box", ("a.txt",), "box")  # the next reader puts it back
    assert (tmp_path / "box" / "a.txt").read_text() == "old" and _leftovers(tmp_path) == []

    _killed_between_the_renames(tmp_path / "box", "second")
    _save(tmp_path / "box", "new")  # ... and so does the next writer, before it replaces it
    assert (tmp_path / "box" / "a.txt").read_text() == "new" and _leftovers(tmp_path) == []


def test_a_write_that_raises_leaves_the_old_folder_and_nothing_else(tmp_path):
    _save(tmp_path / "box", "old")

    def broken(tmp):
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        storage.write_folder(tmp_path / "box", broken, ("a.txt",))
    assert (tmp_path / "box" / "a.txt").read_text() == "old" and _leftovers(tmp_path) == []


def test_an_abandoned_temporary_folder_is_cleared_once_it_is_old(tmp_path):
    stale = tmp_path / ".tmp-box-dead"
    stale.mkdir()
    fresh = tmp_path / ".tmp-box-running"
    fresh.mkdir()
    os.utime(stale, (0, 0))
    _save(tmp_path / "box", "one")
    assert _leftovers(tmp_path) == [".tmp-box-running"], "only a write older than an hour counts as abandoned"


def test_verify_names_the_missing_or_damaged_file(tmp_path):
    _save(tmp_path / "box", "one")
    (tmp_path / "box" / "a.txt").write_text("ONE")
    with pytest.raises(LabkitError, match="a.txt does not match its checksum"):
        storage.verify_folder(tmp_path / "box", ("a.txt",), "box")
    (tmp_path / "box" / storage.MANIFEST).unlink()
    with pytest.raises(LabkitError, match="SHA256SUMS is missing"):
        storage.verify_folder(tmp_path / "box", ("a.txt",), "box")
    with pytest.raises(LabkitError, match="no saved box"):
        storage.verify_folder(tmp_path / "nowhere", ("a.txt",), "box")


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    path = storage.atomic_write(tmp_path / "rows.json", "old")
    monkeypatch.setattr(storage.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("read-only")))
    with pytest.raises(OSError):
        storage.atomic_write(path, b"new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["rows.json"]


def test_sha256sums_are_read_in_both_of_sha256sums_formats(tmp_path):
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("aa  one.txt\nbb *sub/two.tsv\n\n")
    assert storage.read_sha256sums(sums) == {"one.txt": "aa", "sub/two.tsv": "bb"}
