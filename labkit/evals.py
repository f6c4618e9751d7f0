"""Every metric of the course, one definition each.

Answer metrics work on plain strings, so they can be tried on anything:

>>> answer_matches("It costs $149.00 today.", ["$149.00", "149"])
True
>>> answer_verdict("It was 12 months; it is 2 years now.", ["2 years"], competing=["12 months"])
'mixed'
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


# A value a gold states with a unit: "$149.00", "15%", "38 units", "7 business days" (the number, then its unit).
_UNIT_VALUE = re.compile(r"^(\$)?\s*(\d+(?:\.\d+)?)\s*(%|[a-z]+(?: [a-z]+)?)?$", re.IGNORECASE)
# A number in a reply and what stands around it: currency before, a marker bracket, the word after.
_NUMBER = re.compile(r"(?<![\w.\-:/])(\[)?(\$)?\s?(\d+(?:\.\d+)?)(?![\w.:/\-]*\d)(\])?(\s*%|\s+(?:business\s+)?[a-z]+)?",
                     re.IGNORECASE)
# Words that name a unit: a number followed by another one is another quantity ("15 units" is not "15%").
UNIT_WORDS = frozenset(
    "percent dollars dollar units unit days day months month years year weeks week hours hour minutes minute "
    "seconds second characters character modules module steps step customers customer miles mile business "
    "am pm items item devices device tickets ticket".split())
# Phrases that set a value aside rather than state it: "not 12 months but 2 years", "no longer 30 days".
_SET_ASIDE = re.compile(r"\b(?:not|no longer|instead of|rather than|formerly|previously|used to be|was once)\s+"
                        r"(?:\$\s?)?\d[\d.,:]*(?:\s*%|\s+[a-z]+)?", re.IGNORECASE)
_SHARED_UNIT = re.compile(r"(?<![\w.\-:/])(\d+(?:\.\d+)?)(\s*(?:to|-|–|or|and|,)\s*)"
                          r"(?=(?:\d+(?:\.\d+)?\s*(?:to|-|–|or|and|,)\s*)*\d+(?:\.\d+)?\s*(?:business\s+)?"
                          r"(%|(?:" + "|".join(sorted(UNIT_WORDS - {"business"}, key=len, reverse=True)) + r")\b))",
                          re.IGNORECASE)


def _unit(word: str | None, currency: str | None = None) -> str | None:
    """The unit a number carries, in one spelling: "%", "$", a unit word, or None (a bare number)."""
    if currency:
        return "$"
    word = (word or "").strip().lower()
    if word in ("%", "percent"):
        return "%"
    if word in ("dollars", "dollar"):
        return "$"
    word = re.sub(r"^business\s+", "", word).split(" ")[0]  # "7 business days" is counted in days
    if word not in UNIT_WORDS:
        return None
    return word[:-1] if word.endswith("s") and word != "business" else word


def _numbers(text: str) -> list[tuple[float, str | None]]:
    """Every number stated in ``text`` with its unit (see :func:`_unit`), passage markers like "[1]" left out."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    # a range or a list shares its last unit: "5 to 7 days", "12, 15 or 20 units" state days and units throughout
    text = _SHARED_UNIT.sub(lambda m: f"{m.group(1)} {m.group(3)}{m.group(2)}", text)
    found = []
    for bracket, currency, number, closing, after in _NUMBER.findall(text):
        if bracket and closing:
            continue  # "[1]": a passage marker, not a value
        found.append((float(number), _unit(after, currency)))
    return found


def _gold_number(gold: str) -> tuple[float, str | None] | None:
    """(number, unit) of a gold that is a number with an optional unit ("$149.00", "38 units", "30"), else None."""
    value = _UNIT_VALUE.match(gold.strip())
    if value is None or (value.group(3) and _unit(value.group(3)) is None):
        return None
    return float(value.group(2)), _unit(value.group(3), value.group(1))


def states(answer: str, gold: str, units: set | None = None) -> bool:
    """True when ``answer`` states the value ``gold``. A number with a unit must carry that unit or none; a
    bare number ("30", an alias of "30 days") may carry only one of ``units`` (any, when not given); a
    passage marker "[1]" states nothing. Anything else must occur on whole-token boundaries
    (as :func:`answer_matches`).

    >>> states("We have 15 units left.", "15%"), states("A 15% fee.", "15%"), states("See [1].", "1")
    (False, True, False)
    >>> states("It costs $149 today.", "$149.00"), states("Within 30 days.", "30"), states("30 units", "30", {"day"})
    (True, True, False)
    """
    value = _gold_number(gold)
    if value is None:
        return answer_matches(answer, [gold])
    number, unit = value
    allowed = {unit} if unit is not None else units
    return any(n == number and (u is None or allowed is None or u in allowed) for n, u in _numbers(answer))


def _without_question(answer: str, question: str) -> str:
    """The answer with a restated question, and every value the question itself holds, removed: echoing
    "the Kestrine 700 (QM-2807)" states no price."""
    text = answer
    if question:
        text = re.sub(re.escape(question.strip().rstrip("?")) + r"\??", " ", text, flags=re.IGNORECASE)
        for token in re.findall(r"[\w.\-]*\d[\w.\-]*", question):
            text = re.sub(r"(?<![\w.])" + re.escape(token) + r"(?![\w])", " ", text)
    return _SET_ASIDE.sub(" ", text)


def answer_verdict(answer: str, golds: Sequence[str], competing: Sequence[str] = (), question: str = "") -> str:
    """The strict verdict on one answer: ``right`` when it states a gold value (:func:`states`) and no
    competing one, ``mixed`` when it states a gold value and a competing one (the other version's value,
    another value the corpus holds for the same slot, or another number in the gold's unit: a list of
    candidates), ``wrong`` otherwise. Values inside a restated question, or set aside ("not 12 months"),
    are not stated.

    >>> answer_verdict("2 years.", ["2 years"], competing=["12 months"])
    'right'
    >>> answer_verdict("2 years, 12 months, and 12 months", ["2 years"], competing=["12 months"])
    'mixed'
    >>> answer_verdict("Not 12 months but 2 years.", ["2 years"], competing=["12 months"])
    'right'
    >>> answer_verdict("It holds 10, 15 or 20 units.", ["15 units", "15"]), answer_verdict("15 units, 15 units.", ["15 units"])
    ('mixed', 'right')
    """
    text = _without_question(answer, question)
    gold_numbers = {v for g in golds if (v := _gold_number(g)) is not None}
    units = {u for _, u in gold_numbers if u is not None} or None
    if not any(states(text, g, units) for g in golds):
        return "wrong"
    numbers = {n for n, _ in gold_numbers}

    def competes(value: str) -> bool:  # another value of the slot, stated too (the gold's own aliases are not)
        number = _gold_number(value)
        if value in golds or (number is not None and number[0] in numbers):
            return False
        return states(text, value, units)

    others = [c for c in competing if competes(c)]
    extra = [n for n, u in _numbers(text) if units and u in units and n not in numbers]  # a list of candidates
    return "mixed" if others or extra else "right"


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


def is_stale(answer: str, old: Sequence[str], new: Sequence[str], question: str = "") -> bool:
    """True when the answer gives the old value and not the new one (strictly: :func:`answer_verdict`); one
    that gives both is mixed, not stale.

    >>> is_stale("Returns within 30 days.", old=["30 days"], new=["45 days"])
    True
    >>> is_stale("30 days, now 45 days.", old=["30 days"], new=["45 days"])
    False
    """
    return answer_verdict(answer, old, competing=new, question=question) == "right"


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
                  known_ids: set[str], id_patterns: Sequence[str] = (), questions: Sequence[str] | None = None,
                  competing: Sequence[Sequence[str]] | None = None) -> dict:
    """Accuracy, hallucination, abstention and fabricated-id rates for one set of answers; ``correct``, each
    answer's verdict (1 right, 0 not), which pairs two rungs question by question (:mod:`labkit.stats`).

    ``answerable[i]`` is False where the right answer is to abstain. Accuracy is strict
    (:func:`answer_verdict`, with ``competing[i]`` the values that compete with question i's gold) and
    counts an abstention as correct for an unanswerable question; ``mixed_rate`` is the share that state a
    gold value and a competing one; ``accuracy_lenient`` is the old "any gold occurs" figure
    (:func:`answer_matches`) and ``lenient_disagreements`` how many answers the two judge differently.
    Hallucination is a wrong answer that does not abstain; an invented id is one matching ``id_patterns``
    that is neither in ``known_ids`` nor in the question itself (echoing an id the user gave invents nothing).

    >>> s = score_answers(["30 days", "It is 99 days", "I don't know", "30 days or 45 days"],
    ...                   [["30 days"], ["45 days"], ["abstain"], ["30 days"]], [True, True, False, True], set(),
    ...                   competing=[["45 days"], ["30 days"], [], ["45 days"]])
    >>> s["accuracy"], s["accuracy_lenient"], s["mixed_rate"], s["lenient_disagreements"]
    (0.5, 0.75, 0.25, 1)
    """
    correct, lenient, mixed, hallucinated, abstained, fabricated = [], [], [], [], [], []
    questions = questions if questions is not None else [""] * len(answers)
    competing = competing if competing is not None else [()] * len(answers)
    for answer, gold, can, question, others in zip(answers, golds, answerable, questions, competing):
        abstains = is_abstention(answer)
        verdict = answer_verdict(answer, gold, others, question) if can else None
        right = verdict == "right" if can else abstains
        correct.append(right)
        lenient.append(answer_matches(answer, gold) if can else abstains)
        mixed.append(verdict == "mixed")
        abstained.append(abstains)
        hallucinated.append(not right and not abstains)
        given = corpus_ids([question], id_patterns)
        fabricated.append(bool(fabricated_ids(answer, set(known_ids) | given, id_patterns)))
    return {"n": len(correct), "accuracy": rate(correct), "hallucination_rate": rate(hallucinated),
            "abstention_rate": rate(abstained), "fabricated_id_rate": rate(fabricated),
            "mixed_rate": rate(mixed), "accuracy_lenient": rate(lenient),
            "lenient_disagreements": sum(a != b for a, b in zip(correct, lenient)),
            "correct": [int(c) for c in correct]}
