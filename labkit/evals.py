"""Every metric of the course, one definition each.

Answer metrics work on plain strings, so they can be tried on anything:

>>> answer_matches("It costs $149.00 today.", ["$149.00", "149"])
True
>>> is_abstention("I don't know; the passages do not say.")
True
>>> fabricated_ids("See TCK-2024-99999 and TCK-2024-00417.", {"TCK-2024-00417"}, [r"TCK-\\d{4}-\\d{5}"])
['TCK-2024-99999']
>>> citation_scores(cited=["wiki-returns", "prod-QM-1001"], gold=["wiki-returns"])
(0.5, 1.0)
"""

from __future__ import annotations

import json
import re
from statistics import fmean
from typing import Iterable, Sequence

# What counts as declining to answer. Kept short and explicit so learners can read it.
ABSTAIN_PATTERNS = (
    r"\bi (?:do not|don't|dont) know\b", r"\bnot sure\b", r"\bcannot (?:answer|find|say|determine)\b",
    r"\bcan't (?:answer|find|say|determine)\b", r"\bunable to (?:answer|find|determine)\b",
    r"\bno (?:information|answer|record|mention)\b", r"\bnot (?:mentioned|stated|provided|available|specified)\b",
    r"\b(?:passages|documents|context) do(?:es)? not (?:say|mention|contain|state)\b", r"\babstain\b",
    r"\bnot in the (?:passages|documents|context)\b",
)
_ABSTAIN = re.compile("|".join(ABSTAIN_PATTERNS), re.IGNORECASE)


# ---------------------------------------------------------------------------
# matching answers


def normalize_answer(text: str) -> str:
    """Lowercase, drop thousands separators, punctuation, articles and extra whitespace.

    >>> normalize_answer("The price is $1,249.00!")
    'price is 1249 00'
    """
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.lower())
    text = re.sub(r"[^\w\s]|_", " ", text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_matches(answer: str, golds: Sequence[str]) -> bool:
    """True if any normalized gold occurs in the normalized answer on whole-token boundaries,
    so a value must match exactly ("30" is not found in "130 days").

    >>> answer_matches("About 30 days.", ["30 days", "30"]), answer_matches("130 days", ["30"])
    (True, False)
    """
    padded = f" {normalize_answer(answer)} "
    return any(g and f" {g} " in padded for g in map(normalize_answer, golds))


def is_abstention(answer: str) -> bool:
    """True when the answer declines ("I don't know", "the passages do not say", ...).

    >>> is_abstention("The return window is 30 days.")
    False
    """
    return bool(_ABSTAIN.search(answer))


def fabricated_ids(answer: str, known: set[str], patterns: Iterable[str]) -> list[str]:
    """Identifiers in the corpus's own ``patterns`` (regexes) that exist nowhere in the corpus (``known``)."""
    found = [m for p in patterns for m in re.findall(p, answer)]
    return [i for i in found if i not in known]


def corpus_ids(texts: Iterable[str], patterns: Iterable[str]) -> set[str]:
    """Every identifier of the given ``patterns`` that occurs in ``texts``.

    >>> sorted(corpus_ids(["Ticket TCK-2024-00417 on QM-1001."], [r"TCK-\\d{4}-\\d{5}", r"QM-\\d{4}"]))
    ['QM-1001', 'TCK-2024-00417']
    """
    patterns = list(patterns)
    return {m for text in texts for p in patterns for m in re.findall(p, text)}


# ---------------------------------------------------------------------------
# citations, format, staleness


def citation_scores(cited: Sequence[str], gold: Sequence[str]) -> tuple[float | None, float | None]:
    """(precision, recall) of the cited document ids against the gold ids; None where undefined
    (precision with nothing cited, recall with no gold)."""
    cited_set, gold_set = set(cited), set(gold)
    hits = len(cited_set & gold_set)
    precision = hits / len(cited_set) if cited_set else None
    recall = hits / len(gold_set) if gold_set else None
    return precision, recall


def extract_json(answer: str):
    """The JSON object in an answer (the whole answer, or its first ``{...}`` block), or None.

    >>> extract_json('Sure! {"a": 1}')
    {'a': 1}
    """
    text = answer.strip()
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def format_compliant(answer: str, schema: dict) -> bool:
    """True when the answer holds a JSON object that validates against ``schema``.

    >>> format_compliant('{"a": 1}', {"type": "object", "required": ["a"]})
    True
    >>> format_compliant('a: 1', {"type": "object"})
    False
    """
    import jsonschema

    value = extract_json(answer)
    if value is None:
        return False
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def style_violations(reply: dict | str, forbidden: Sequence[str], sign_off: str) -> list[str]:
    """House-voice problems of a reply: forbidden phrases used, sign-off missing.

    >>> style_violations({"summary": "Sorry for the inconvenience."}, ["sorry for the inconvenience"], "Cheers")
    ["forbidden phrase: 'sorry for the inconvenience'", 'missing sign-off']
    """
    text = json.dumps(reply, ensure_ascii=False) if isinstance(reply, dict) else reply
    low = text.lower()
    problems = [f"forbidden phrase: {p!r}" for p in forbidden if p.lower() in low]
    if sign_off not in text:
        problems.append("missing sign-off")
    return problems


def is_stale(answer: str, old: Sequence[str], new: Sequence[str]) -> bool:
    """True when the answer gives the old value and not the new one.

    >>> is_stale("Returns within 30 days.", old=["30 days"], new=["45 days"])
    True
    """
    return answer_matches(answer, old) and not answer_matches(answer, new)


# ---------------------------------------------------------------------------
# aggregates


def rate(flags: Iterable[bool]) -> float | None:
    """Fraction of true flags, or None for no flags.

    >>> rate([True, False, False, True])
    0.5
    """
    flags = list(flags)
    return sum(map(bool, flags)) / len(flags) if flags else None


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None (None if there are none)."""
    kept = [v for v in values if v is not None]
    return fmean(kept) if kept else None


def score_answers(answers: Sequence[str], golds: Sequence[Sequence[str]], answerable: Sequence[bool],
                  known_ids: set[str], id_patterns: Sequence[str] = (), questions: Sequence[str] | None = None) -> dict:
    """Accuracy, hallucination, abstention and fabricated-id rates for one set of answers.

    ``answerable[i]`` is False where the right answer is to abstain. Accuracy counts an
    abstention as correct for an unanswerable question; hallucination is a wrong answer
    that does not abstain; an invented id is one matching ``id_patterns`` that is neither in
    ``known_ids`` nor in the question itself (echoing an id the user gave invents nothing).

    >>> score_answers(["30 days", "It is 99 days", "I don't know"], [["30 days"], ["45 days"], ["abstain"]],
    ...               [True, True, False], known_ids=set())["accuracy"]
    0.6666666666666666
    """
    correct, hallucinated, abstained, fabricated = [], [], [], []
    questions = questions if questions is not None else [""] * len(answers)
    for answer, gold, can, question in zip(answers, golds, answerable, questions):
        abstains = is_abstention(answer)
        right = answer_matches(answer, gold) if can else abstains
        correct.append(right)
        abstained.append(abstains)
        hallucinated.append(not right and not abstains)
        given = corpus_ids([question], id_patterns)
        fabricated.append(bool(fabricated_ids(answer, set(known_ids) | given, id_patterns)))
    return {"n": len(correct), "accuracy": rate(correct), "hallucination_rate": rate(hallucinated),
            "abstention_rate": rate(abstained), "fabricated_id_rate": rate(fabricated)}
