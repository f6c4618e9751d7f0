"""The labs' exercises, each with two hints: the idea first, the steps on request.

An exercise in a learner's lab is a stub that raises :class:`NotDone` with the exercise's key. Its message
says which exercise it is, what to write and the first hint, which names the idea and never the code. The
second hint spells out the steps, and only when asked: ``labkit.hint("04.1", 2)``. The answers themselves
live only in ``solutions/``. In a notebook, a stub stops "Run All" with that one short message instead of a
traceback through labkit's code (:func:`show_briefly`).

>>> hint("00.1")
00.1 cosine: the cosine of the angle between two vectors is their dot product once each vector is scaled to length 1
>>> err = NotDone("00.1")
>>> isinstance(err, NotImplementedError), str(err).startswith("exercise 00.1 is yours: write cosine(a, b)")
(True, True)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from labkit.errors import LabkitError


@dataclass(frozen=True)
class Exercise:
    """One exercise: its key (lab.number), the function the learner writes, what it must do, two hints."""

    key: str
    signature: str  # the function the learner writes, as they call it
    task: str  # what it must do, in one sentence
    idea: str  # hint 1: the idea, no code
    steps: str  # hint 2: the steps, close to the code but not the code

    @property
    def name(self) -> str:
        """The function's name, as the learner defines it."""
        return self.signature.split("(")[0]


EXERCISES: dict[str, Exercise] = {e.key: e for e in [
    Exercise("00.1", "cosine(a, b)", "the cosine similarity of two vectors that need not have length 1",
             "the cosine of the angle between two vectors is their dot product once each vector is scaled to "
             "length 1",
             "turn both into float arrays; take the dot product (a @ b) and divide it by the product of the two "
             "lengths (np.linalg.norm); return a plain float"),
    Exercise("01.1", "normalize(text)", "one canonical spelling of an answer, so that equal answers compare equal",
             "decide what must not matter when comparing two answers (letter case, a thousands separator, "
             "punctuation, the articles, extra spaces) and remove each of those differences in turn",
             "lowercase; drop a comma only between a digit and three more digits (a regular expression with a "
             "look-behind and a look-ahead); turn every other non-word character, and '_', into a space; drop "
             "the whole words a/an/the (use \\b word boundaries); split on whitespace and join with one space"),
    Exercise("01.2", "invented_ids(answer, known_ids)", "the identifiers in an answer that exist nowhere in the corpus",
             "an invented identifier has the corpus's shape but not its content: first find everything that has "
             "the shape, then keep what the corpus never had",
             "for the ticket pattern, then the product-code pattern, collect every match in the answer "
             "(re.findall); keep the matches that are not in known_ids, in the order found"),
    Exercise("02.1", "window_chunks(tokens, max_tokens, overlap)", "overlapping windows over a list of tokens",
             "slide a window of max_tokens along the tokens; neighbours share overlap tokens, so each window "
             "starts max_tokens - overlap tokens after the one before, and the last one is the first that "
             "reaches the end",
             "keep a start position from 0; append tokens[start:start + max_tokens]; stop when that window "
             "reaches the last token, else move start on by max_tokens - overlap. By hand: 'abcdefg', 4, 2 "
             "gives abcd, cdef, efg"),
    Exercise("03.1", "rrf(rankings, rrf_k=60)", "one ranking fused from several, by rank and not by score",
             "every list votes for each chunk it ranks, with a vote that shrinks with the rank, 1 / (rrf_k + "
             "rank); a chunk's score is the sum of its votes, and the highest sum wins",
             "keep a dict from chunk id to score (dicts keep the order ids are first seen); count ranks from 1 in "
             "each list (enumerate(..., start=1)); sort the (id, score) items by score, highest first: Python's "
             "sort is stable, so ties keep their first-seen order"),
    Exercise("04.1", "build_rag_prompt(question, passages)", "the chat messages that hand the model its passages",
             "the model can only cite what it can name: give every passage a number and its document id, put "
             "the instructions first and the question after the passages",
             "return two messages, {'role': 'system', 'content': RAG_SYSTEM} and a user message: 'Passages:', then "
             "one line per passage '[n] (doc_id) text' numbered from 1, a blank line, 'Question: ' and the "
             "question. The check prints the first case that differs, character by character"),
    Exercise("05.1", "apply_update(index, document)", "put a document's new version into the index, and the old one out",
             "an update is a re-index of one document: cut the new version exactly as the index was built, and "
             "let the index replace every old chunk of that document",
             "chunk the document with chunk_documents([document], COURSE_CHUNKING, progress=False) and hand the "
             "chunks to index.upsert, which removes the document's old chunks first"),
    Exercise("06.1", "build_example(task)", "one training example for the format fine-tune",
             "train on exactly what the model will be asked later: a training prompt that differs from the "
             "prompt at test time teaches the format for a prompt nobody sends",
             "the prompt is the format rung's one-line request (prompts.format_request with the task's message, "
             "ticket id and product code) under the tuned system prompt (prompts.format_messages with "
             "system=prompts.TUNED_FORMAT_SYSTEM); the completion is the target as a JSON string"),
    Exercise("07.1", "predict()", "your prediction: the set that the facts fine-tune makes worse by the most",
             "ask what question-to-answer training can put into the weights, and what it can take out: the "
             "trained answers go in; what happens to facts it never saw, facts that moved, facts it knew?",
             "a set can only get worse if the base model had something to lose there: look at the base model's "
             "scores in the next section's table after you commit to a guess, not before; return one name of "
             "FACT_SET_NAMES, such as 'paraphrased' (there is no penalty for a wrong guess)"),
    Exercise("08.1", "sample_distractors(ranked, oracle, n, rng, pool=6)", "n hard distractor chunks for one RAFT example",
             "a distractor must look relevant (ranked high), must not hold the answer (no chunk of the oracle's "
             "document), must not repeat, and must be drawn so that the same seed gives the same picks",
             "walk ranked once, skipping chunks of oracle.doc_id and chunk ids already kept; cut the kept list to "
             "max(pool, n); raise a LabkitError(problem, fix) when fewer than n are left; draw n with "
             "rng.sample, never with the random module"),
    Exercise("09.1", "choose_rung(needs, summary)", "the cheapest rung of the ladder whose measured figures meet every need",
             "climb only as far as you must: the answer is the cheapest rung that meets every need, and none "
             "when no rung does",
             "walk ('prompt', 'rag', 'ft', 'both') in that order; skip a rung missing from summary; "
             "decide.unmet(needs, summary[rung]) is an empty list when the rung meets every need; return None "
             "after the last rung"),
    Exercise("10.1", "denied_roles(record, access, roles)", "the roles that may not read a question's answer",
             "a role may read an answer only if it may read every document the answer lives in",
             "for each role in the order of roles, look up access[doc_id] for every gold document and test it "
             "against the labels roles[role]; keep the role when any gold document fails"),
]}


def _exercise(key: str) -> Exercise:
    if key not in EXERCISES:
        raise LabkitError(f"no exercise {key!r}", f"use one of: {', '.join(EXERCISES)} (lab.number, as in '04.1')")
    return EXERCISES[key]


class Hint(str):
    """A hint: a string that shows as its plain text, so a notebook cell ending in ``labkit.hint(...)`` reads well."""

    def __repr__(self) -> str:
        return str(self)


def hint(key: str, level: int = 1) -> Hint:
    """The exercise's first hint (the idea) or, with ``level=2``, its second (the steps), after the function's
    name. In a notebook: ``labkit.hint("04.1", 2)``."""
    exercise = _exercise(key)
    if level not in (1, 2):
        raise LabkitError(f"no hint of level {level}", "ask for level 1 (the idea) or 2 (the steps)")
    return Hint(f"{key} {exercise.name}: {exercise.idea if level == 1 else exercise.steps}")


def on_fail(key: str) -> str:
    """What a check prints under a failing case: the first hint and where the second is."""
    return f"{_exercise(key).idea} (a second hint: from labkit import hint; hint({key!r}, 2))"


class NotDone(NotImplementedError):
    """Raised by an exercise's stub in a learner's lab: which exercise, what to write, the first hint."""

    def __init__(self, key: str):
        exercise = _exercise(key)
        self.key = key
        super().__init__(f"exercise {key} is yours: write {exercise.signature}, {exercise.task}, in place of the two "
                         f"stub lines. Hint: {exercise.idea}. For a second hint, run: from labkit import hint; hint({key!r}, 2)")


def _brief(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython's handler for a :class:`NotDone`: show the one message where a traceback would go (a kernel sends
    it as the cell's error output) and nothing else."""
    stb = [f"\x1b[1;31mNot done yet.\x1b[0m {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def show_briefly() -> bool:
    """In an IPython kernel, show a :class:`NotDone` as its one message, with no traceback (the cell still
    fails, so "Run All" stops there). Outside IPython: nothing. Returns whether it is in place."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return False
    if not shell.custom_exceptions:  # one handler serves them all: never replace someone else's
        shell.set_custom_exc((NotDone,), _brief)
    return NotDone in shell.custom_exceptions


show_briefly()
