"""What the rungs measure, as one value: a :class:`Corpus`.

A corpus is the documents before an update (``"v1"``) and after it (``"v2"``), the question sets asked
about them, who may read what, and the house rules a reply follows. The ladder's rungs take a corpus and
reach for nothing else, so the course company (:func:`course_corpus`) is one corpus and a learner's own
folder of documents can be another.

>>> corpus = course_corpus()
>>> corpus.name, len(corpus.documents("v1")), len(corpus.questions("updates"))
('Quillmoor Instruments', 244, 38)
>>> corpus.roles["agent"], corpus.changed_doc_ids[:2]
(('public', 'staff'), ('prod-QM-1782', 'prod-QM-2539'))
>>> sorted(corpus.known_ids)[0], "TCK-2099-99999" in corpus.known_ids   # an id outside known_ids is invented
('QM-1782', False)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Mapping, Sequence

from labkit.course import data
from labkit.course.data import Document, FormatTask, QARecord
from labkit.errors import LabkitError
from labkit.evals import corpus_ids


@dataclass(frozen=True, eq=False)
class Corpus:
    """Documents, questions, roles and house rules: everything a rung measures.

    ``question_sets`` holds at least ``"facts"`` (answerable questions with gold answers and documents,
    a ``split`` of ``"train"`` or held-out in ``extra``); ``"unanswerable"`` (the right reply is to abstain),
    ``"updates"`` (``answers_v1`` / ``answers_v2`` in ``extra``), ``"restricted"`` and ``"general"`` where
    the corpus has them.
    """

    name: str
    versions: Mapping[str, tuple[Document, ...]]  # "v1": before the update; "v2": after it (absent: no update)
    question_sets: Mapping[str, tuple[QARecord, ...]]
    roles: Mapping[str, tuple[str, ...]]  # role -> the access labels it may read
    changed_doc_ids: tuple[str, ...] = ()  # the documents the update changes (their v2 text is in versions["v2"])
    format_tasks: tuple[FormatTask, ...] = ()
    reply_schema: dict | None = None  # the JSON schema a reply (a format task's target) follows
    sign_off: str = ""  # the house voice: every reply ends with it ...
    forbidden_phrases: tuple[str, ...] = ()  # ... and never uses these
    id_patterns: tuple[str, ...] = ()  # regexes of the corpus's identifiers (an invented one imitates them)
    general_known: dict | None = None  # which "general" questions the base model knows (labkit.course.known)
    asker: str = "agent"  # the role that asks the held-out questions (the rungs answer as it)
    updater: str = "admin"  # the role that asks the update questions (it reads every changed document)
    sample_size: int | None = None  # held-out fact questions every rung scores (None: every held-out one)

    def __post_init__(self):
        for what, role in (("asker", self.asker), ("updater", self.updater)):
            if role not in self.roles:
                raise LabkitError(f"corpus {self.name!r}: its {what} {role!r} is not one of its roles",
                                  f"use one of: {', '.join(self.roles)}")

    @property
    def has_update(self) -> bool:
        """Whether the corpus has an update to absorb: changed documents and questions about them."""
        return bool(self.changed_doc_ids and self.question_sets.get("updates"))

    def documents(self, version: str = "v1") -> list[Document]:
        """The documents of one version (``"v1"`` or ``"v2"``)."""
        if version not in self.versions:
            raise LabkitError(f"corpus {self.name!r} has no version {version!r}",
                              f"use one of: {', '.join(self.versions)}")
        return list(self.versions[version])

    def questions(self, name: str) -> list[QARecord]:
        """One question set by name (``"facts"``, ``"updates"``...); empty where the corpus has none of them."""
        if name not in self.question_sets and name not in QUESTION_SETS:
            raise LabkitError(f"unknown question set {name!r}", f"use one of: {', '.join(QUESTION_SETS)}")
        return list(self.question_sets.get(name, ()))

    def tasks(self, split: str | None = None) -> list[FormatTask]:
        """The format tasks (of one ``split``, ``"train"`` or ``"heldout"``, or all)."""
        return [t for t in self.format_tasks if split is None or t.split == split]

    def changed_documents(self) -> list[Document]:
        """The documents the update changes, in their updated (v2) text: what an upsert applies."""
        updated = {d.doc_id: d for d in self.versions.get("v2", ())}
        return [updated[doc_id] for doc_id in self.changed_doc_ids]

    def train_facts(self, role: str | None = None) -> list[QARecord]:
        """The train-split fact questions (every phrasing) whose gold documents ``role`` (default: the
        :attr:`asker`) may read in v1: what RAFT trains on and what the abstention gate is calibrated on.

        >>> facts = course_corpus().train_facts("agent")
        >>> {r.extra["split"] for r in facts}, len(facts) > len(course_corpus().train_facts("customer"))
        ({'train'}, True)
        """
        readable = self.roles[role or self.asker]
        return [r for r in self.questions("facts")
                if r.extra["split"] == "train" and all(self._access.get(d) in readable for d in r.gold_doc_ids)]

    def denied_asker(self, record: QARecord) -> str | None:
        """The most privileged role (the one reading the most labels) that may not read every gold document of
        ``record`` in v1: asked by it, the right reply is to abstain. None when every role may read them.

        >>> corpus = course_corpus()
        >>> record = corpus.questions("restricted")[0]
        >>> corpus.denied_asker(record) in record.extra["denied_roles"]
        True
        """
        return self.most_privileged(denied_roles(record, self._access, self.roles))

    def most_privileged(self, roles: Sequence[str]) -> str | None:
        """The role of ``roles`` that reads the most labels (the first on a tie), or None for none."""
        return max(roles, key=lambda role: len(self.roles[role])) if roles else None

    def competing(self, record: QARecord) -> tuple[str, ...]:
        """The values that compete with ``record``'s answer (:func:`labkit.evals.answer_verdict`): its other
        version's values (an update question), and every answer the corpus holds for the same slot (the
        ``field`` of its fact: another product's stock, another ticket's id). Stating one of them beside the
        gold makes a reply mixed, not right.

        >>> corpus = course_corpus()
        >>> update = corpus.questions("updates")[2]
        >>> update.answers, [v for v in corpus.competing(update) if "days" in v]
        (('45 days', '45'), ['30 days'])
        """
        slot = str(record.extra.get("field", "")).split(".")[0]
        versions = [*record.extra.get("answers_v1", ()), *record.extra.get("answers_v2", ())]
        return tuple(v for v in dict.fromkeys(versions + list(self._slot_values.get(slot, ())))
                     if v not in record.answers)

    @cached_property
    def _access(self) -> dict[str, str]:
        """Each v1 document's access label, by document id (read once)."""
        return {d.doc_id: d.access for d in self.documents("v1")}

    @cached_property
    def _slot_values(self) -> dict[str, tuple[str, ...]]:
        """Each fact slot (``field``) with the canonical answers the corpus holds for it."""
        slots: dict[str, dict[str, None]] = {}
        for name in ("facts", "updates"):
            for r in self.question_sets.get(name, ()):
                slot = str(r.extra.get("field", "")).split(".")[0]
                if slot:
                    slots.setdefault(slot, {})[r.answers[0]] = None
        return {slot: tuple(values) for slot, values in slots.items()}

    @cached_property
    def known_ids(self) -> frozenset[str]:
        """Every identifier (``id_patterns``) that occurs in any version: an id outside it is invented."""
        texts = (doc.text for version in self.versions.values() for doc in version)
        return frozenset(corpus_ids(texts, self.id_patterns))


def denied_roles(record: QARecord, access: Mapping[str, str], roles: Mapping[str, Sequence[str]]) -> list[str]:
    """The roles that may not read every gold document of ``record`` (``access``: document id -> its label;
    ``roles``: role -> the labels it may read), in the order of ``roles``: who should get an abstention.

    >>> from labkit.course.data import QARecord
    >>> fuel = QARecord("fuel", "What is the fuel price?", ("712 euros",), "value", ("fuel-contract",), "v1", "facts")
    >>> denied_roles(fuel, {"fuel-contract": "management"}, {"crew": ["public"], "manager": ["public", "management"]})
    ['crew']
    """
    return [role for role, labels in roles.items() if not all(access[d] in labels for d in record.gold_doc_ids)]


QUESTION_SETS = ("facts", "updates", "unanswerable", "restricted", "general")
COURSE_SAMPLE = 40  # held-out fact questions every rung scores on the course, on every machine


@functools.lru_cache(maxsize=4)
def _course_corpus(folder: str) -> Corpus:
    return Corpus(
        name=data.COMPANY,
        versions={v: tuple(data.load_corpus(v, folder)) for v in ("v1", "v2")},
        question_sets={name: tuple(data.load_qa(name, folder)) for name in QUESTION_SETS},
        roles=dict(data.ROLE_LABELS),
        changed_doc_ids=tuple(sorted({c.doc_id for c in data.load_changelog(folder)})),
        format_tasks=tuple(data.load_format_tasks(folder)),
        reply_schema=data.load_reply_schema(folder),
        sign_off=data.SIGN_OFF,
        forbidden_phrases=data.FORBIDDEN_PHRASES,
        id_patterns=(data.TICKET_ID_PATTERN, data.PRODUCT_CODE_PATTERN),
        general_known=data.load_general_known(folder),
        asker="agent", updater="admin", sample_size=COURSE_SAMPLE,
    )


def course_corpus(data_dir: str | Path | None = None) -> Corpus:
    """The course company, Quillmoor Instruments, as one :class:`Corpus` (read once per data folder; the
    loaders verify every file's checksum)."""
    return _course_corpus(str(data.resolve_data_dir(data_dir).resolve()))
