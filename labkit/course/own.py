"""Your own documents as a :class:`~labkit.course.corpus.Corpus`: what the ladder measures instead of the course.

Read from disk (any problem is a :class:`LabkitError` naming the file, the line where there is one, and the fix):

- **documents**: a folder of ``.md`` / ``.txt`` files, recursively (names starting with ``.`` skipped). The id is
  the path in the folder without the suffix (``guides/brakes``). An optional front matter between two ``---``
  lines holds ``key: value`` lines: ``title`` (default: the first heading, else the file's stem), ``access``
  (default ``public``), ``version`` (default 1), ``effective`` (YYYY-MM-DD), ``kind``; other keys go to ``meta``.
  Or a JSONL file, a document a line: ``id``, ``text``, optional ``title``, ``access``, ``version``, ``effective``.
- **roles** (optional JSON): ``{role: [the access labels it may read]}``; without it one role, ``everyone``
  (:data:`EVERYONE`), reads every label present. Each document's label must be readable by some role.
- **questions** (optional JSONL): ``question``, ``answers`` (acceptable values); optional ``id`` (default
  ``q001``... in file order), ``doc_id`` (where the answer is), ``role`` (who asks: ``extra["role"]``),
  ``answerable`` (default true; false: the right reply abstains), ``answers_after_update``, ``paraphrases``
  (other wordings) and ``field`` (the fact's slot: facts of one slot compete in strict scoring; default the id).
- **update** (optional): a folder or JSONL of changed and new documents: version ``"v2"`` is v1 with them
  replaced or added, and ``changed_doc_ids`` names them. A changed document keeps its v1 access and title
  unless it gives them, and its version goes up by one.

Question sets: ``unanswerable``; ``updates`` (a question with ``answers_after_update``, asked of v2, with
``answers_v1`` / ``answers_v2``; as in the course, not also a fact); ``facts`` (the others); ``restricted`` (the
facts whose document some role may not read, with ``allowed_roles`` / ``denied_roles``). ``random.Random(seed)``
draws a share (:attr:`OwnConfig.train_share`, rounded half up) of the facts for ``"train"``, the rest is
``"heldout_unseen"``, at least one on each side from two facts on. A question is phrasing 0 of its own fact
(``fact_id``: its id); its paraphrases are phrasings 1, 2..., held out as ``"heldout_paraphrase"`` where the
fact trains: the half of :func:`labkit.course.sample.heldout_sample` that tests whether training generalizes.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Mapping, Sequence

from labkit.course.corpus import Corpus, course_corpus, denied_roles
from labkit.course.data import Document, QARecord
from labkit.errors import LabkitError
from labkit.storage import atomic_write, read_jsonl, read_text

EVERYONE = "everyone"  # the one role there is when no roles file is given: it reads every access label
EXAMPLE = Path(__file__).parent / "example"  # a small pile of another domain: brightwater/ (a ferry operator's
# wiki, four roles), brightwater-update/, roles.json, questions.jsonl
EXAMPLE_ID_PATTERNS = (r"\bWO-\d{4}\b", r"\bIR-\d+\b")  # its work orders and forms
DOCUMENT_SUFFIXES = (".md", ".txt")
DOCUMENT_FIELDS = ("title", "access", "version", "effective", "kind")  # front matter keys with a meaning


@dataclass(frozen=True)
class OwnConfig:
    """How a folder of your documents becomes a corpus."""

    seed: int = 0  # draws the train / held-out split of the facts
    train_share: float = 0.5  # the share of facts in the train split (the rest is held out)
    id_patterns: tuple[str, ...] = ()  # regexes of your identifiers (e.g. r"\bWO-\d{4}\b"): invented ones are caught
    asker: str | None = None  # the role that asks the held-out questions (None: the one that reads the most)
    general: bool = True  # borrow the course's general-knowledge set, to measure what a fine-tune makes the model forget

    def __post_init__(self):
        if not 0 < self.train_share <= 1:
            raise LabkitError(f"train_share {self.train_share} is not a share", "give a number above 0, at most 1")
        for pattern in self.id_patterns:
            try:
                re.compile(pattern)
            except re.error as e:
                raise LabkitError(f"id pattern {pattern!r} is not a regular expression ({e})",
                                  r"write it as a Python regex, e.g. r'\bWO-\d{4}\b'") from None


def own_corpus(docs: str | Path, questions: str | Path | None = None, roles: str | Path | None = None,
               update: str | Path | None = None, config: OwnConfig = OwnConfig()) -> Corpus:
    """Your documents (and questions, roles, update) as one corpus, named after the folder (or JSONL file).

    >>> import tempfile, pathlib
    >>> shop = pathlib.Path(tempfile.mkdtemp()) / "bike-shop"
    >>> (shop / "staff").mkdir(parents=True)
    >>> _ = (shop / "prices.md").write_text("# Price list\\nA brake bleed costs 45 euros.")
    >>> _ = (shop / "staff" / "alarm.md").write_text("---\\naccess: staff\\n---\\nThe alarm code is 4471.")
    >>> _ = (shop.parent / "questions.jsonl").write_text(
    ...     '{"question": "What does a brake bleed cost?", "answers": ["45 euros"], "doc_id": "prices"}\\n'
    ...     '{"question": "Do you sell unicycles?", "answerable": false}\\n')
    >>> corpus = own_corpus(shop, shop.parent / "questions.jsonl")
    >>> corpus.name, [(d.doc_id, d.title, d.access) for d in corpus.documents("v1")]
    ('bike-shop', [('prices', 'Price list', 'public'), ('staff/alarm', 'alarm', 'staff')])
    >>> corpus.roles, corpus.questions("facts")[0].extra["split"], len(corpus.questions("unanswerable"))
    ({'everyone': ('public', 'staff')}, 'train', 1)
    """
    v1 = read_documents(docs)
    versions = {"v1": tuple(v1)}
    changed: tuple[str, ...] = ()
    if update is not None:
        changes = read_documents(update, previous={d.doc_id: d for d in v1})
        changed = tuple(sorted(d.doc_id for d in changes))
        versions["v2"] = tuple({**{d.doc_id: d for d in v1}, **{d.doc_id: d for d in changes}}.values())
    readers = read_roles(roles, [d for version in versions.values() for d in version])
    sets = {} if questions is None else read_questions(questions, versions, readers, random.Random(config.seed),
                                                       config.train_share)
    path = Path(docs).resolve()
    widest = max(readers, key=lambda role: len(readers[role]))  # first among equals, in the roles file's order
    if config.asker is not None and config.asker not in readers:
        raise LabkitError(f"the asking role {config.asker!r} is not a role of this corpus",
                          f"use one of: {', '.join(readers)}")
    general, known = {}, None
    if config.general and sets:  # general knowledge is the base model's, not the corpus's: the course's set measures it
        course = course_corpus()
        general, known = {"general": tuple(course.questions("general"))}, course.general_known
    return Corpus(name=path.stem if path.is_file() else path.name, versions=versions,
                  question_sets={**sets, **general}, roles=readers, changed_doc_ids=changed,
                  id_patterns=config.id_patterns, general_known=known, asker=config.asker or widest, updater=widest)


def example_corpus(folder: str | Path = EXAMPLE, config: OwnConfig = OwnConfig(id_patterns=EXAMPLE_ID_PATTERNS)) -> Corpus:
    """The packaged example pile (or a copy of it in ``folder``: :func:`copy_example`) as a corpus.

    >>> corpus = example_corpus()
    >>> corpus.name, list(corpus.roles), len(corpus.questions("facts")), corpus.changed_doc_ids[0]
    ('brightwater', ['passenger', 'crew', 'engineer', 'manager'], 52, 'engineering/engine-service')
    """
    folder = Path(folder)
    return own_corpus(folder / "brightwater", folder / "questions.jsonl", folder / "roles.json",
                      folder / "brightwater-update", config)


def copy_example(dest: str | Path) -> Path:
    """Copy the example pile to ``dest`` (which must not exist yet), to edit or to replace with your own
    documents; the copy appears whole or not at all."""
    dest = Path(dest)
    if dest.exists():
        raise LabkitError(f"{dest} already exists (it is never overwritten)", "give another folder, or remove it first")
    partial = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(EXAMPLE, partial, ignore=shutil.ignore_patterns("__pycache__"))
    partial.rename(dest)
    return dest


def read_documents(path: str | Path, previous: Mapping[str, Document] | None = None) -> list[Document]:
    """The documents in a folder of ``.md`` / ``.txt`` files or in a JSONL file (the module docstring has the
    format). ``previous`` (the v1 documents by id) makes them an update: what a changed document does not say
    (access, title) it keeps from its v1 version, and its version goes up by one."""
    path = Path(path)
    if path.is_dir():
        entries = [(file.relative_to(path).with_suffix("").as_posix(), str(file), read_text(file))
                   for file in _document_files(path)]
        parsed = [(doc_id, where, *_front_matter(text, where)) for doc_id, where, text in entries]
    elif path.is_file():
        parsed = [(_text_field(obj, "id", where), where, {k: v for k, v in obj.items() if k != "text"},
                   _text_field(obj, "text", where)) for where, obj in read_jsonl(path)]
    else:
        raise LabkitError(f"{path} does not exist", "give a folder of .md/.txt files or a JSONL file of documents")
    _check_unique([(doc_id, where) for doc_id, where, _, _ in parsed], "document id",
                  "give every document its own id (in a folder: its path without the suffix; rename one file)")
    previous = previous or {}
    return [_document(doc_id, fields, text, where, previous.get(doc_id)) for doc_id, where, fields, text in parsed]


def _document_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    documents = [p for p in files if p.suffix.lower() in DOCUMENT_SUFFIXES]
    if not files:
        raise LabkitError(f"{folder} is empty: there are no documents to read",
                          "put your documents in it as .md or .txt files (one document a file)")
    if not documents:
        found = ", ".join(sorted({p.suffix or p.name for p in files}))
        raise LabkitError(f"{folder} holds no .md or .txt files (found: {found})",
                          "convert your documents to Markdown or plain text (.md / .txt) first")
    return documents


def _front_matter(text: str, where: str) -> tuple[dict, str]:
    """``({key: value}, the text after it)``: the ``key: value`` lines between a first line ``---`` and the next."""
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return {}, text
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise LabkitError(f"{where}: the front matter opened by '---' on line 1 is never closed",
                          "end it with a line '---' before the text (or remove the first line)")
    fields = {}
    for n, line in enumerate(lines[1:end], 2):
        key, colon, value = line.partition(":")
        if line.strip() and not line.lstrip().startswith("#"):
            if not colon or not key.strip():
                raise LabkitError(f"{where} line {n}: front matter line {line.strip()!r} is not 'key: value'",
                                  "write one 'key: value' a line, e.g. 'access: staff'")
            fields[key.strip().lower()] = value.strip().strip("\"'")
    return fields, "\n".join(lines[end + 1:])


def _document(doc_id: str, fields: Mapping, text: str, where: str, previous: Document | None) -> Document:
    text = text.strip()
    if not text:
        raise LabkitError(f"{where}: document {doc_id!r} has no text", "write its text, or remove it")
    version = str(fields.get("version", previous.doc_version + 1 if previous else 1)).strip()
    if not version.isdigit():
        raise LabkitError(f"{where}: version {version!r} is not a whole number", "write e.g. 'version: 2'")
    effective = str(fields.get("effective", "")).strip()
    try:
        if effective:
            date.fromisoformat(effective)
    except ValueError:
        raise LabkitError(f"{where}: effective date {effective!r} is not YYYY-MM-DD",
                          "write e.g. 'effective: 2025-03-01'") from None
    heading = next((m.group(1).strip(" #") for m in re.finditer(r"(?m)^#{1,6}\s+(.+)$", text)), "")
    title = str(fields.get("title") or heading or (previous.title if previous else doc_id.rsplit("/", 1)[-1]))
    access = str(fields.get("access") or (previous.access if previous else "public")).strip()
    meta = {"source": where, **{k: v for k, v in fields.items() if k not in DOCUMENT_FIELDS + ("id",)}}
    return Document(doc_id, title, str(fields.get("kind") or "document"), access, int(version), effective,
                    text, meta)


def read_roles(path: str | Path | None, documents: Sequence[Document]) -> dict[str, tuple[str, ...]]:
    """``{role: the access labels it may read}`` from a JSON file, or ``{"everyone": every label present}``
    without one. Every document's label must be readable by some role."""
    if path is None:
        return {EVERYONE: tuple(sorted({d.access for d in documents}))}
    path = Path(path)
    example = 'write it as {"customer": ["public"], "staff": ["public", "staff"]}'
    try:
        raw = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise LabkitError(f"{path}: not valid JSON ({e.msg}, line {e.lineno} column {e.colno})", example) from None
    if not isinstance(raw, dict) or not raw or not all(
            isinstance(labels, list) and all(isinstance(x, str) and x for x in labels) for labels in raw.values()):
        raise LabkitError(f"{path}: must be a JSON object of lists, each role to the access labels it may read",
                          example)
    roles = {role: tuple(labels) for role, labels in raw.items()}
    readable = {label for labels in roles.values() for label in labels}
    for d in documents:
        if d.access not in readable:
            raise LabkitError(f"{d.meta['source']}: document {d.doc_id!r} has access {d.access!r}, which no role "
                              f"in {path} may read", f"add {d.access!r} to a role in {path}, or give the document "
                              f"a label some role reads ({', '.join(sorted(readable))})")
    return roles


def read_questions(path: str | Path, versions: Mapping[str, Sequence[Document]],
                   roles: Mapping[str, Sequence[str]], rng: random.Random,
                   train_share: float = 0.5) -> dict[str, tuple[QARecord, ...]]:
    """The question sets ``facts`` (split by ``rng``), ``unanswerable``, ``updates`` and ``restricted`` from a
    questions JSONL file (the module docstring has the format and the split)."""
    rows = [(where, obj, _text_field(obj, "id", where) if "id" in obj else f"q{i:03d}")
            for i, (where, obj) in enumerate(read_jsonl(Path(path)), 1)]
    _check_unique([(qid, where) for where, _, qid in rows], "question id", "give every question its own id")
    sets: dict[str, list] = {"facts": [], "unanswerable": [], "updates": []}
    for where, obj, qid in rows:
        set_name, record = _question(where, obj, qid, versions, roles)
        sets[set_name].append(record)
    facts = _split(sets["facts"], rng, train_share)
    return {"facts": tuple(facts), "unanswerable": tuple(sets["unanswerable"]), "updates": tuple(sets["updates"]),
            "restricted": tuple(_restricted(facts, versions["v1"], roles))}


def _question(where: str, obj: dict, qid: str, versions: Mapping[str, Sequence[Document]],
              roles: Mapping[str, Sequence[str]]) -> tuple[str, QARecord]:
    """(its set, the record) for one line of the questions file; a fact's paraphrases wait in its extra."""
    question = _text_field(obj, "question", where)
    answerable = obj.get("answerable", True)
    if not isinstance(answerable, bool):
        raise LabkitError(f"{where}: 'answerable' must be true or false (got {answerable!r})",
                          'write "answerable": false for a question your documents do not answer')
    role = obj.get("role")
    if role is not None and (not isinstance(role, str) or role not in roles):
        raise LabkitError(f"{where}: role {role!r} is not a role of this corpus",
                          f"use one of: {', '.join(roles)} (or name it in the roles file)")
    extra = {"role": role} if role else {}
    if not answerable:
        return "unanswerable", QARecord(qid, question, ("abstain",), "abstain", (), max(versions), "unanswerable",
                                        extra)
    answers, later = _strings(obj, "answers", where), _strings(obj, "answers_after_update", where)
    if not answers:
        raise LabkitError(f"{where}: an answerable question needs at least one value in 'answers'",
                          'fill "answers": ["..."] with what a right reply states, or write "answerable": false')
    version = "v2" if later else "v1"
    if version not in versions:
        raise LabkitError(f"{where}: 'answers_after_update' is given, but there is no update",
                          "pass the folder of changed documents as the update, or drop 'answers_after_update'")
    doc_id = obj.get("doc_id")
    if doc_id is not None and doc_id not in {d.doc_id for d in versions[version]}:
        known = ", ".join(sorted(d.doc_id for d in versions[version])[:8])
        raise LabkitError(f"{where}: doc_id {doc_id!r} names no document ({version})",
                          f"use a document's id (its path without the suffix), e.g. {known}")
    gold, slot = (doc_id,) if doc_id else (), str(obj.get("field") or qid)
    if later:
        return "updates", QARecord(qid, question, later, "value", gold, "v2", "updates",
                                   {"field": slot, "answers_v1": list(answers), "answers_v2": list(later), **extra})
    return "facts", QARecord(qid, question, answers, "value", gold, "v1", "facts",
                             {"field": slot, "paraphrases": _strings(obj, "paraphrases", where), **extra})


def _split(facts: Sequence[QARecord], rng: random.Random, train_share: float) -> list[QARecord]:
    """Each fact's phrasings with its split: a ``train_share`` of the facts drawn by ``rng`` trains (phrasing 0;
    its paraphrases are held out), the other facts are held out unseen in every phrasing."""
    n_train = int(len(facts) * train_share + 0.5)  # rounded half up
    if len(facts) >= 2:
        n_train = min(max(n_train, 1), len(facts) - 1)
    trained = set(rng.sample([r.id for r in facts], n_train))
    records = []
    for r in facts:
        extra = {k: v for k, v in r.extra.items() if k != "paraphrases"}
        for phrasing, text in enumerate((r.question, *r.extra["paraphrases"])):
            split = ("train" if phrasing == 0 else "heldout_paraphrase") if r.id in trained else "heldout_unseen"
            records.append(replace(r, id=r.id if phrasing == 0 else f"{r.id}-p{phrasing}", question=text,
                                   extra={**extra, "fact_id": r.id, "phrasing": phrasing, "split": split}))
    return records


def _restricted(facts: Sequence[QARecord], documents: Sequence[Document],
                roles: Mapping[str, Sequence[str]]) -> list[QARecord]:
    """The facts (phrasing 0) whose documents some role may not read, with who may and who may not."""
    access = {d.doc_id: d.access for d in documents}
    out = []
    for r in facts:
        denied = denied_roles(r, access, roles)
        if r.extra["phrasing"] == 0 and r.gold_doc_ids and denied:
            out.append(replace(r, id=f"{r.id}-restricted", set_name="restricted", extra={
                "field": r.extra["field"], "access": access[r.gold_doc_ids[0]],
                "allowed_roles": [role for role in roles if role not in denied], "denied_roles": denied}))
    return out


def question_template(docs: str | Path, limit: int = 20) -> str:
    """A starter questions JSONL: one question for each of the first ``limit`` documents (its title in the
    question, ``answers`` empty for you to fill), and one unanswerable example. Until the answers are
    filled, :func:`own_corpus` refuses it and says which line to fill."""
    documents = read_documents(docs)[:limit]
    entries = [{"id": f"q{i:03d}", "question": f'What does "{d.title}" say about ...? (write a question it answers)',
                "answers": [], "doc_id": d.doc_id} for i, d in enumerate(documents, 1)]
    entries.append({"id": f"q{len(entries) + 1:03d}", "answerable": False,
                    "question": "What ...? (a question none of your documents answers: the right reply abstains)"})
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)


def write_question_template(docs: str | Path, out: str | Path) -> Path:
    """Write :func:`question_template` to ``out`` atomically; an existing file is never overwritten."""
    out = Path(out)
    if out.exists():
        raise LabkitError(f"{out} already exists (your questions are never overwritten)",
                          "give another --out, or move the file away first")
    return atomic_write(out, question_template(docs))


def _text_field(obj: dict, name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise LabkitError(f"{where}: '{name}' must be non-empty text (got {json.dumps(value)[:60]})",
                          f'write it as "{name}": "..."')
    return value


def _strings(obj: dict, name: str, where: str) -> tuple[str, ...]:
    value = obj.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise LabkitError(f"{where}: '{name}' must be a list of texts (got {json.dumps(value)[:60]})",
                          f'write it as "{name}": ["...", "..."]')
    return tuple(value)


def _check_unique(keys: Sequence[tuple[str, str]], what: str, fix: str) -> None:
    """Raise where a key of ``(key, where)`` repeats, naming both places."""
    seen: dict[str, str] = {}
    for key, where in keys:
        if key in seen:
            raise LabkitError(f"{where}: {what} {key!r} repeats {seen[key]}", fix)
        seen[key] = where
