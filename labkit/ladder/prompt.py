"""The first rung: the base model with nothing but a prompt.

Closed-book questions (the held-out sample, then the update questions after v2 has landed: the model
cannot know either), few-shot JSON replies for the house format, and :func:`measure_known`, which asks
the base model the general set to find what it already knows (the Gekhman split the facts fine-tune is
measured against). The later rungs reuse :func:`closed_book` and :func:`json_replies` for their own
models.

>>> from labkit.course.corpus import course_corpus
>>> [request[:36] for request, _ in few_shot_examples(course_corpus(), 2, random.Random(0))]
['Ticket TCK-2025-00726, product QM-38', 'Ticket TCK-2025-00345, product QM-44']
>>> rows = prompt_rung(model, tokenizer, course_corpus(), heldout, get_profile("ci"), random.Random(0))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict

from labkit import evals, prompts
from labkit.course import known, sample
from labkit.course.corpus import Corpus
from labkit.course.sample import HeldOut
from labkit.generate import GenerateConfig, generate
from labkit.runtime import Profile
from labkit.scoreboard import Row, guarded, usage

JSON_BATCH = 24  # replies per batch: a JSON reply runs ~150 decode steps, and on a CPU a step costs nearly as
                 # much for 4 rows as for 16, so 20 replies go faster in one batch than in 16 + 4


def closed_book(model, tokenizer, corpus: Corpus, questions: list, profile: Profile) -> tuple[list, dict]:
    """Ask each question with no context; return the answers and their scores (:func:`labkit.course.sample.score`)."""
    answers = generate(model, tokenizer, [prompts.chat_messages(r.question) for r in questions],
                       GenerateConfig(max_new_tokens=profile.max_new_tokens))
    return answers, sample.score(corpus, [a.text for a in answers], questions)


def few_shot_examples(corpus: Corpus, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``n`` worked (request, JSON reply) pairs drawn with ``rng`` from the training format tasks."""
    return [(prompts.format_request(t.message, t.ticket_id, t.product_code), json.dumps(t.target))
            for t in rng.sample(corpus.tasks("train"), n)]


def format_replies(model, tokenizer, corpus: Corpus, tasks: list, examples: list[tuple[str, str]], profile: Profile,
                   system: str = prompts.FORMAT_SYSTEM, json_only: bool = False) -> tuple[list, float]:
    """Ask for each task's JSON reply (after ``examples``); return the replies and the compliance rate.
    ``json_only`` decodes under :class:`labkit.constrain.JsonGuard` with the reply schema (form enforced,
    content not)."""
    requests = [prompts.format_request(t.message, t.ticket_id, t.product_code) for t in tasks]
    return json_replies(model, tokenizer, corpus, [prompts.format_messages(r, examples, system) for r in requests],
                        profile, json_only)


def style_adherence(replies: list[str], corpus: Corpus) -> float | None:
    """Share of replies that validate against the corpus's reply schema AND keep its house voice (the
    sign-off, no forbidden phrase)."""
    return evals.rate(evals.format_compliant(r, corpus.reply_schema)
                      and not evals.style_violations(evals.extract_json(r), corpus.forbidden_phrases, corpus.sign_off)
                      for r in replies)


def json_replies(model, tokenizer, corpus: Corpus, conversations: list, profile: Profile,
                 json_only: bool = False) -> tuple[list, float]:
    """Generate each conversation's JSON reply; return the replies and the share that validate against the
    corpus's reply schema."""
    schema = corpus.reply_schema
    replies = generate(model, tokenizer, conversations,
                       GenerateConfig(max_new_tokens=profile.max_format_tokens, batch_size=JSON_BATCH,
                                      json_schema=schema if json_only else None))
    return replies, evals.rate(evals.format_compliant(a.text, schema) for a in replies)


def prompt_rung(model, tokenizer, corpus: Corpus, heldout: HeldOut, profile: Profile, rng: random.Random,
                few_shot: int = 2, model_name: str = "", json_only: bool = False, limit: int | None = None) -> list[Row]:
    """The base model with nothing but a prompt: the held-out questions closed-book, few-shot JSON replies
    (``json_only``: decoded under the JSON guard), and the update questions (the first ``limit``) closed-book
    after v2 landed, scored against their new values."""
    base = {"rung": "prompt", "model": model_name, "profile": profile.name}
    started = time.perf_counter()
    answers, scores = closed_book(model, tokenizer, corpus, heldout.questions, profile)
    closed = Row(variant="closed-book", **base, question_set="heldout", metric_role="answers", headline=True,
                 **scores, **usage(answers), wall_seconds=time.perf_counter() - started)
    rows = [closed]
    if heldout.format_tasks:  # a corpus of your own may have no format tasks
        started = time.perf_counter()
        replies, compliance = format_replies(model, tokenizer, corpus, heldout.format_tasks,
                                             few_shot_examples(corpus, few_shot, rng), profile, json_only=json_only)
        rows.append(Row(variant=guarded("few-shot", json_only), **base, question_set="format", metric_role="format",
                        headline=True, n=len(replies), format_compliance=compliance, **usage(replies),
                        wall_seconds=time.perf_counter() - started))
    updates = corpus.questions("updates")[:limit]
    if updates:
        started = time.perf_counter()
        answers, scores = closed_book(model, tokenizer, corpus, updates, profile)
        rows.append(Row(variant="closed-book (e) updated facts (v2)", **base, corpus_version="v2",
                        question_set="updates", metric_role="update", headline=True, **scores, **usage(answers),
                        stale_rate=sample.stale_rate([a.text for a in answers], updates),
                        wall_seconds=time.perf_counter() - started))
    return rows


def measure_known(model, tokenizer, corpus: Corpus, n_samples: int = 4, seed: int = 0, max_new_tokens: int = 24,
                  temperature: float = 0.7) -> dict:
    """Answer every ``general`` question greedily and ``n_samples`` times sampled (in batches), then label each
    with :func:`labkit.course.known.split_known` (what ``python -m labkit data --measure-known`` stores)."""
    records = corpus.questions("general")
    conversations = [prompts.chat_messages(r.question) for r in records]
    greedy = generate(model, tokenizer, conversations, GenerateConfig(max_new_tokens=max_new_tokens, batch_size=16))
    answers = {r.question: {"greedy": g.text, "samples": []} for r, g in zip(records, greedy)}
    sampled = GenerateConfig(max_new_tokens=max_new_tokens, batch_size=16, do_sample=True, temperature=temperature)
    for s in range(n_samples):
        for r, a in zip(records, generate(model, tokenizer, conversations, sampled, seed=seed * 1000 + s)):
            answers[r.question]["samples"].append(a.text)
    served = defaultdict(int)

    def answer_fn(question: str, sampled_answer: bool, rng: random.Random) -> str:
        if not sampled_answer:
            return answers[question]["greedy"]
        served[question] += 1
        return answers[question]["samples"][served[question] - 1]

    return known.split_known(records, answer_fn, n_samples, random.Random(seed))
