"""The course company's records and their loaders: what every rung and lab reads.

The corpus describes **Quillmoor Instruments**, an invented maker of invented measuring devices,
so every fact in it is new to any model. It ships inside the package (``labkit/course/quillmoor/``,
found with :mod:`importlib.resources`, so a wheel install has it too), generated deterministically
by :mod:`labkit.course.build`, with a ``MANIFEST.json`` of checksums. The loaders verify those
checksums and validate every record before handing it out.

>>> docs = load_corpus("v1")
>>> docs[0].doc_id, docs[0].access
('wiki-returns', 'public')
>>> len(load_qa("facts")), load_qa("unanswerable")[0].answerable
(1077, False)
>>> load_changelog()[0].change_id
'CHG-001'
"""
from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from labkit.errors import LabkitError

# --------------------------------------------------------------------------------------------
# Constants other modules rely on
# --------------------------------------------------------------------------------------------
COMPANY = "Quillmoor Instruments"
TICKET_ID_PATTERN = r"\bTCK-\d{4}-\d{5}\b"
PRODUCT_CODE_PATTERN = r"\bQM-\d{4}\b"
ACCESS_LABELS = ("public", "staff", "finance", "security")
ROLE_LABELS = {
    "customer": ("public",),
    "agent": ("public", "staff"),
    "finance": ("public", "staff", "finance"),
    "security": ("public", "staff", "security"),
    "admin": ("public", "staff", "finance", "security"),
}
RESTRICTED_LABELS = ("finance", "security")
DOC_KINDS = ("wiki", "product", "ticket", "style")
ANSWER_TYPES = ("value", "text", "abstain", "json")
SIGN_OFF = "Warm regards, the Quillmoor Care Team"
FORBIDDEN_PHRASES = (
    "unfortunately", "as per my last email", "calm down", "no problem", "not our fault",
    "we apologise for any inconvenience", "obviously", "asap",
)
REPLY_CATEGORIES = ("hardware", "firmware", "calibration", "shipping", "billing", "account")
QA_FILES = {
    "facts": "qa_facts.jsonl", "updates": "qa_updates.jsonl",
    "unanswerable": "qa_unanswerable.jsonl", "restricted": "qa_restricted.jsonl",
    "format_tasks": "format_tasks.jsonl", "general": "general.jsonl",
}
DEFAULT_DATA_DIR = Path(str(importlib.resources.files("labkit.course") / "quillmoor"))  # shipped with the package
FIX = ("reinstall labkit (pip install --force-reinstall labkit), or in a checkout regenerate the data with "
       "`python -m labkit data --write` or restore it with `git checkout labkit/course/quillmoor/`")


class DataError(LabkitError, ValueError):
    """A data file is missing, corrupt or malformed: ``problem`` says what, ``fix`` what to do."""

    def __init__(self, problem: str, fix: str = FIX):
        super().__init__(problem, fix)


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    kind: str
    access: str
    doc_version: int
    effective_date: str
    text: str
    meta: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class QARecord:
    """One question. Set-specific fields (``split``, ``answers_v1``, ``probe_terms``...) are in ``extra``."""
    id: str
    question: str
    answers: tuple[str, ...]
    answer_type: str
    gold_doc_ids: tuple[str, ...]
    corpus_version: str
    set_name: str
    extra: dict = field(default_factory=dict, hash=False)

    @property
    def canonical(self) -> str:
        return self.answers[0]

    @property
    def answerable(self) -> bool:
        """False where the right reply is to abstain (the corpus does not hold the answer)."""
        return self.answer_type != "abstain"


@dataclass(frozen=True)
class Change:
    change_id: str
    date: str
    doc_id: str
    change_type: str
    field: str
    description: str
    old_value: str
    new_value: str


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    role: str
    labels: tuple[str, ...]

    def can_read(self, access: str) -> bool:
        return access in self.labels


@dataclass(frozen=True)
class FormatTask:
    id: str
    message: str
    ticket_id: str
    product_code: str
    category: str
    split: str
    target: dict = field(default_factory=dict, hash=False)


# --------------------------------------------------------------------------------------------
# Loading: manifest verification and record validation
# --------------------------------------------------------------------------------------------
_VERIFIED: dict[tuple, str] = {}   # (path, size, mtime_ns, sha256) -> verified text


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """An explicit folder, else ``$LABKIT_DATA_DIR``, else the copy shipped with the package (DEFAULT_DATA_DIR)."""
    return Path(data_dir or os.environ.get("LABKIT_DATA_DIR") or DEFAULT_DATA_DIR)


def load_manifest(folder: Path) -> dict:
    """The data folder's ``MANIFEST.json`` (file -> sha256, records, bytes), or a DataError that says why not."""
    path = folder / "MANIFEST.json"
    if not path.is_file():
        raise DataError(f"{path} is missing, so the data folder {folder} cannot be verified "
                        "(partial or not generated)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(manifest.get("files"), dict)
    except (ValueError, AssertionError):
        raise DataError(f"{path} is corrupt (not a JSON object with a 'files' table)") from None
    return manifest


def _read_verified(rel: str, data_dir: str | Path | None) -> str:
    folder = resolve_data_dir(data_dir)
    entry = load_manifest(folder)["files"].get(rel)
    path = folder / rel
    if entry is None:
        raise DataError(f"{path} is not listed in {folder / 'MANIFEST.json'}")
    if not path.is_file():
        raise DataError(f"{path} is missing (MANIFEST.json lists it): the data folder is incomplete")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, entry["sha256"])
    if key not in _VERIFIED:
        content = path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        if digest != entry["sha256"]:
            raise DataError(f"{path} does not match MANIFEST.json (sha256 {digest[:12]}..., expected "
                            f"{entry['sha256'][:12]}...): the file is partial, corrupt or edited by hand")
        _VERIFIED[key] = content.decode("utf-8")
    return _VERIFIED[key]


def verify(data_dir: str | Path | None = None) -> dict:
    """Check every file listed in the manifest; return the manifest or raise DataError."""
    folder = resolve_data_dir(data_dir)
    manifest = load_manifest(folder)
    for rel in manifest["files"]:
        _read_verified(rel, folder)
    return manifest


def _is_date(v: Any) -> bool:
    try:
        return isinstance(v, str) and date.fromisoformat(v).isoformat() == v
    except ValueError:
        return False


CHECKS = {
    "str": (lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string"),
    "strs": (lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v), "must be a list of strings"),
    "strs+": (lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(x, str) and x.strip() for x in v),
              "must be a non-empty list of strings"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "must be a non-negative integer"),
    "dict": (lambda v: isinstance(v, dict), "must be a JSON object"),
    "date": (_is_date, "must be an ISO date (YYYY-MM-DD)"),
}
QA_FIELDS = {"id": "str", "question": "str", "answers": "strs+", "answer_type": ANSWER_TYPES,
             "gold_doc_ids": "strs", "corpus_version": ("v1", "v2")}
EXTRA_FIELDS = {
    "qa_facts.jsonl": {"fact_id": "str", "phrasing": (0, 1, 2), "field": "str",
                       "split": ("train", "heldout_paraphrase", "heldout_unseen")},
    "qa_updates.jsonl": {"change_id": "str", "answers_v1": "strs+", "answers_v2": "strs+"},
    "qa_unanswerable.jsonl": {"probe_terms": "strs+"},
    "qa_restricted.jsonl": {"denied_roles": "strs+", "allowed_roles": "strs+"},
    "format_tasks.jsonl": {"input": {"message": "str", "ticket_id": "str", "product_code": "str"},
                           "target": "dict", "split": ("train", "heldout")},
    "general.jsonl": {},
}
DOC_FIELDS = {"doc_id": "str", "title": "str", "kind": DOC_KINDS, "access": ACCESS_LABELS,
              "doc_version": "int", "effective_date": "date", "text": "str"}
CHANGE_FIELDS = {"change_id": "str", "date": "date", "doc_id": "str", "change_type": "str", "field": "str",
                 "description": "str", "old_value": "str", "new_value": "str"}


def _check_fields(obj: dict, spec: dict, where: str, prefix: str = "") -> None:
    for name, kind in spec.items():
        if name not in obj:
            raise DataError(f"{where}: field '{prefix}{name}' is missing", _fix_record(prefix + name))
        value = obj[name]
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise DataError(f"{where}: field '{prefix}{name}' must be a JSON object", _fix_record(prefix + name))
            _check_fields(value, kind, where, f"{prefix}{name}.")
            continue
        if isinstance(kind, tuple):
            ok, desc = value in kind and not isinstance(value, bool), f"must be one of {', '.join(map(repr, kind))}"
        else:
            test, desc = CHECKS[kind]
            ok = test(value)
        if not ok:
            shown = json.dumps(value, ensure_ascii=False)
            raise DataError(f"{where}: field '{prefix}{name}' {desc} (got {shown[:60]})", _fix_record(prefix + name))


def _fix_record(name: str) -> str:
    return f"{FIX}; if you edited the file on purpose, correct field '{name}' on that line"


def _records(rel: str, spec: dict, data_dir: str | Path | None) -> list[dict]:
    """Verified, parsed and field-checked records of one JSONL file."""
    out, seen = [], {}
    id_field = next(iter(spec))
    for n, line in enumerate(_read_verified(rel, data_dir).split("\n"), 1):
        if not line.strip():
            continue
        where = f"{rel} line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg}, column {e.colno})", _fix_record("(whole line)"))
        if not isinstance(obj, dict):
            raise DataError(f"{where}: a record must be a JSON object", _fix_record("(whole line)"))
        _check_fields(obj, spec, where)
        if obj[id_field] in seen:
            raise DataError(f"{where}: field '{id_field}' repeats line {seen[obj[id_field]]}", _fix_record(id_field))
        seen[obj[id_field]] = n
        out.append(obj)
    return out


def load_corpus(version: str = "v1", data_dir: str | Path | None = None) -> list[Document]:
    """The corpus documents of one version ("v1" or "v2").

    >>> [d.doc_id for d in load_corpus("v2") if d.kind == "style"]
    ['style-guide']
    """
    if version not in ("v1", "v2"):
        raise DataError(f"unknown corpus version {version!r}", "use 'v1' or 'v2'")
    return [Document(**{k: r[k] for k in DOC_FIELDS}, meta=r.get("meta", {}))
            for r in _records(f"corpus_{version}.jsonl", DOC_FIELDS, data_dir)]


def load_qa(name: str, data_dir: str | Path | None = None) -> list[QARecord]:
    """One QA set by name: facts, updates, unanswerable, restricted, format_tasks or general.

    >>> rec = load_qa("facts")[0]
    >>> rec.extra["split"] in ("train", "heldout_paraphrase", "heldout_unseen")
    True
    """
    key = name.removesuffix(".jsonl").removeprefix("qa_")
    if key not in QA_FILES:
        raise DataError(f"unknown QA set {name!r}", f"use one of {', '.join(QA_FILES)}")
    rel = QA_FILES[key]
    spec = {**QA_FIELDS, **EXTRA_FIELDS[rel]}
    return [QARecord(r["id"], r["question"], tuple(r["answers"]), r["answer_type"], tuple(r["gold_doc_ids"]),
                     r["corpus_version"], key, {k: v for k, v in r.items() if k not in QA_FIELDS})
            for r in _records(rel, spec, data_dir)]


def load_changelog(data_dir: str | Path | None = None) -> list[Change]:
    """The change log in date order.

    >>> load_changelog()[0].change_id
    'CHG-001'
    """
    return [Change(**{k: r[k] for k in CHANGE_FIELDS}) for r in _records("changelog.jsonl", CHANGE_FIELDS, data_dir)]


def load_format_tasks(data_dir: str | Path | None = None) -> list[FormatTask]:
    """Format tasks: customer message, ticket id and product code in; the JSON reply as target."""
    tasks = []
    for rec in load_qa("format_tasks", data_dir):
        inp = rec.extra["input"]
        tasks.append(FormatTask(rec.id, inp["message"], inp["ticket_id"], inp["product_code"],
                                rec.extra.get("category", ""), rec.extra["split"], rec.extra["target"]))
    return tasks


def load_users(data_dir: str | Path | None = None) -> list[User]:
    """Users with the access labels their role may read.

    >>> [u.role for u in load_users()][:2]
    ['customer', 'customer']
    """
    text = _read_verified("users.json", data_dir)
    try:
        raw = json.loads(text)
        roles, users = raw["roles"], raw["users"]
    except (ValueError, KeyError, TypeError):
        raise DataError("users.json: must be a JSON object with 'roles' and 'users'") from None
    out = []
    for i, u in enumerate(users):
        where = f"users.json users[{i}]"
        _check_fields(u, {"user_id": "str", "name": "str", "role": tuple(roles)}, where)
        labels = tuple(roles[u["role"]])
        if not set(labels) <= set(ACCESS_LABELS):
            raise DataError(f"users.json roles.{u['role']}: labels must be among {ACCESS_LABELS}", FIX)
        out.append(User(u["user_id"], u["name"], u["role"], labels))
    return out


def load_reply_schema(data_dir: str | Path | None = None) -> dict:
    """The support-reply JSON schema (``reply_schema.json`` in the data folder)."""
    text = _read_verified("reply_schema.json", data_dir)
    try:
        return json.loads(text)
    except ValueError:
        raise DataError("reply_schema.json: not valid JSON") from None


def load_general_known(data_dir: str | Path | None = None) -> dict | None:
    """The stored `split_known` result, or None when it has not been measured yet."""
    folder = resolve_data_dir(data_dir)
    if "general_known.json" not in load_manifest(folder)["files"] and not (folder / "general_known.json").exists():
        return None
    return json.loads(_read_verified("general_known.json", folder))

