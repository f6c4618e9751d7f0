"""Write the course data folder: every generated file, its README of counts, and its checksummed manifest.

:func:`generate` writes the folder atomically (each file aside, then moved in, the manifest last);
:func:`check` regenerates into a temporary folder and lists what differs, so a hand edit or a
generator change is never silent. ``python -m labkit data --write`` and ``--check`` run them.

>>> sorted(build_files())[:3]
['changelog.jsonl', 'corpus_v1.jsonl', 'corpus_v2.jsonl']
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from labkit.course.data import ACCESS_LABELS, COMPANY, ROLE_LABELS, load_manifest, resolve_data_dir, verify
from labkit.course.pages import WAREHOUSES, reply_schema
from labkit.course.questions import (build_format_tasks, build_general, build_qa_facts, build_qa_restricted,
                                     build_qa_unanswerable, build_qa_updates, select_facts)
from labkit.course.world import DataConfig, all_facts, build_worlds
from labkit.storage import atomic_write


# --------------------------------------------------------------------------------------------
# Writing: files, README, manifest
# --------------------------------------------------------------------------------------------
def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records).encode()


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _users() -> dict:
    users = [("u-rowan", "Rowan Pell", "customer"), ("u-talia", "Talia Brookhurst", "customer"),
             ("u-jonah", "Jonah Wickersley", "agent"), ("u-amara", "Amara Stellwood", "agent"),
             ("u-hollis", "Hollis Grae", "finance"), ("u-sabine", "Sabine Okonmere", "security"),
             ("u-odalys", "Odalys Fenwright", "admin")]
    return {"labels": list(ACCESS_LABELS), "roles": {r: list(v) for r, v in ROLE_LABELS.items()},
            "users": [{"user_id": u, "name": n, "role": r} for u, n, r in users]}


PURPOSES = {
    "corpus_v1.jsonl": "the corpus before the change log: wiki pages, style guide, products, tickets",
    "corpus_v2.jsonl": "the corpus after every change-log entry (unchanged documents identical)",
    "changelog.jsonl": "dated fact updates turning v1 into v2",
    "users.json": "users, roles and the access labels each role may read",
    "reply_schema.json": "JSON schema of a house-style support reply",
    "qa_facts.jsonl": "fact questions, 3 phrasings each, split train / heldout_paraphrase / heldout_unseen",
    "qa_updates.jsonl": "one question per change: answers_v1 and answers_v2",
    "qa_unanswerable.jsonl": "questions the corpus cannot answer (gold: abstain) with probe terms",
    "qa_restricted.jsonl": "questions answered only by finance or security documents",
    "format_tasks.jsonl": "customer messages with a house-style JSON reply as target",
    "general.jsonl": "general-knowledge questions, to measure forgetting",
    "general_known.json": "which general questions the base model knows (measured by `python -m labkit data --measure-known`)",
}


def build_files(config: DataConfig = DataConfig()) -> dict[str, bytes]:
    """Every generated file (path relative to the data folder -> bytes), except README.md and MANIFEST.json."""
    v1, v2, changes, values = build_worlds(config)
    docs1, docs2 = v1.render(), v2.render()
    facts = all_facts(v1)
    by_key = {f.key: f for f in facts}
    changed = {f"{c.doc_id}:{c.field}" for c in changes}
    corpus_text = "\n".join(d.title + "\n" + d.text for d in docs1 + docs2)
    files = {
        "corpus_v1.jsonl": _jsonl([asdict(d) for d in docs1]),
        "corpus_v2.jsonl": _jsonl([asdict(d) for d in docs2]),
        "changelog.jsonl": _jsonl([asdict(c) for c in changes]),
        "users.json": _json(_users()),
        "reply_schema.json": _json(reply_schema()),
        "qa_facts.jsonl": _jsonl(build_qa_facts(config, select_facts(config, facts, changed))),
        "qa_updates.jsonl": _jsonl(build_qa_updates(changes, values, by_key)),
        "qa_unanswerable.jsonl": _jsonl(build_qa_unanswerable(config, corpus_text)),
        "qa_restricted.jsonl": _jsonl(build_qa_restricted(facts, docs1 + docs2)),
        "format_tasks.jsonl": _jsonl(build_format_tasks(config, v1.products)),
        "general.jsonl": _jsonl(build_general(config)),
    }
    texts2 = {d.doc_id: d.text for d in docs2}
    for d in docs1:
        if d.kind in ("wiki", "style"):
            files[f"pages/v1/{d.doc_id}.md"] = d.text.encode()
            if texts2[d.doc_id] != d.text:
                files[f"pages/v2/{d.doc_id}.md"] = texts2[d.doc_id].encode()
    return files


def _count(rel: str, content: bytes) -> int:
    if rel.endswith(".jsonl"):
        return content.count(b"\n")
    if rel == "users.json":
        return len(json.loads(content)["users"])
    if rel == "general_known.json":
        return len(json.loads(content).get("records", {}))
    return 1


def _manifest(files: dict[str, bytes]) -> dict:
    return {"generator": "labkit.course.build", "company": COMPANY,
            "files": {rel: {"sha256": hashlib.sha256(b).hexdigest(), "records": _count(rel, b), "bytes": len(b)}
                      for rel, b in sorted(files.items())}}


def _readme(entries: dict) -> bytes:
    rows = "\n".join(f"| `{rel}` | {e['records']} | `{e['sha256']}` | "
                     f"{PURPOSES.get(rel) or 'page ' + rel.split('/')[-2] + ' for reading (same text as the corpus)'} |"
                     for rel, e in sorted(entries.items()))
    text = f"""# Course data: {COMPANY}

{COMPANY} is an invented company that makes invented measuring instruments (hygrometers,
data loggers, calibrators...). It runs four warehouses ({', '.join(w[0] for w in WAREHOUSES)}),
a support desk with a ticket history, and a wiki of policies. No model has seen it, so every fact
here is new knowledge. Documents carry an access label (public, staff, finance, security);
`users.json` says which roles may read which labels.

Everything in this folder is generated deterministically by `labkit.course.build` and committed; it
ships inside the package, so an installed labkit reads the same files. Do not edit it by hand:
regenerate with `python -m labkit data --write` and check it is in sync with
`python -m labkit data --check`. `MANIFEST.json` holds each file's sha256; the loaders
(`labkit.course.data`) refuse a file whose checksum does not match. `general_known.json` depends on the model: it is written by
`python -m labkit data --measure-known` (greedy answer plus sampled answers, after Gekhman et al.
2024) and is kept, never regenerated, by `--write`.

Identifiers: products `QM-1234`, tickets `TCK-2024-00417`. `pages/v1/` holds every wiki page and
the style guide as Markdown; `pages/v2/` holds the pages the change log altered.

| file | records | sha256 | purpose |
| --- | --- | --- | --- |
{rows}
"""
    return text.encode()


def _finish(files: dict[str, bytes]) -> dict[str, bytes]:
    """Add README.md and MANIFEST.json (the manifest covers the README too)."""
    files = dict(files)
    files["README.md"] = _readme(_manifest(files)["files"])
    files["MANIFEST.json"] = _json(_manifest(files))
    return files


def _install(files: dict[str, bytes], out: Path, keep: tuple[str, ...] = ()) -> None:
    """Write each file atomically (:func:`labkit.storage.atomic_write`), the manifest last: a crash leaves
    whole files, and any the old manifest does not vouch for are refused by the loaders, never misread.

    Files named in ``keep`` are listed in ``files`` but already in place: they are not rewritten.
    """
    old = _read_json_quiet(out / "MANIFEST.json").get("files", {})
    for rel in sorted(set(files) - set(keep), key=lambda r: (r == "MANIFEST.json", r)):
        if rel == "MANIFEST.json":
            for stale in sorted(set(old) - set(files)):   # generated before, not any more
                (out / stale).unlink(missing_ok=True)
        atomic_write(out / rel, files[rel])
    for folder in sorted((p for p in (out / "pages").rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def _read_json_quiet(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def generate(out_dir: str | Path, config: DataConfig = DataConfig()) -> dict:
    """Generate the whole data folder into ``out_dir`` atomically; return the manifest.

    An existing ``general_known.json`` is kept and listed in the manifest, never regenerated.

    >>> manifest = generate(Path(tempfile.mkdtemp()) / "data")
    >>> manifest["files"]["qa_facts.jsonl"]["records"], "general_known.json" in manifest["files"]
    (1077, False)
    """
    out = Path(out_dir)
    files = build_files(config)
    if (out / "general_known.json").is_file():
        files["general_known.json"] = (out / "general_known.json").read_bytes()
    files = _finish(files)
    _install(files, out, keep=("general_known.json",))
    return json.loads(files["MANIFEST.json"])


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def check(data_dir: str | Path | None = None, config: DataConfig = DataConfig()) -> list[str]:
    """Regenerate into a temporary folder and list how ``data_dir`` differs ([] means in sync).

    >>> check()
    []
    """
    folder = resolve_data_dir(data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "data"
        fresh.mkdir()
        if (folder / "general_known.json").is_file():
            shutil.copyfile(folder / "general_known.json", fresh / "general_known.json")
        generate(fresh, config)
        want, have = _tree(fresh), _tree(folder) if folder.is_dir() else {}
    diffs = [f"missing: {rel}" for rel in sorted(set(want) - set(have))]
    diffs += [f"unexpected: {rel}" for rel in sorted(set(have) - set(want))]
    diffs += [f"differs: {rel}" for rel in sorted(set(want) & set(have)) if want[rel] != have[rel]]
    return diffs


def write_general_known(known: dict, data_dir: str | Path | None = None) -> Path:
    """Store the result of `split_known` as general_known.json and refresh README and MANIFEST."""
    folder = resolve_data_dir(data_dir)
    verify(folder)
    files = {rel: (folder / rel).read_bytes() for rel in load_manifest(folder)["files"]
             if rel not in ("README.md", "MANIFEST.json")}
    files["general_known.json"] = _json(known)
    _install(_finish(files), folder)
    return folder / "general_known.json"


