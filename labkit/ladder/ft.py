"""The fine-tuning rung: training sets built from the course data, the two experiments, their rows.

1. **Behaviour.** Teach the JSON reply format and the house voice from ``format_tasks`` (train split),
   asked with a one-line prompt; measure compliance and style on held-out tasks against the prompt
   rung's few-shot attempt, and the prompt tokens the weights now save.
2. **Facts, the anti-pattern.** Teach course facts closed-book (question -> answer), including the v1
   values that the v2 update later changes and a few questions the base model already knows; measure
   (a) the trained questions, (b) their paraphrases, (c) facts never trained, (d) unanswerable
   questions, (e) the updated facts after v2 landed, (f) held-out general questions it knew.

The base model's closed-book scores on the same six sets are this rung's baseline rows (not headlines);
its headlines are the format fine-tune's compliance, (c) for answers and (e) for the update.

>>> from labkit.course.corpus import course_corpus
>>> sets = fact_sets(course_corpus(), FactsConfig(), random.Random(0))
>>> len(sets.examples), len(sets.unseen), len(sets.updates)      # 36 facts x 2 phrasings + 38 updates + 12 known
(122, 20, 38)
>>> trained = {e.messages[-1]["content"] for e in sets.examples}
>>> any(r.question in trained for r in sets.paraphrased + sets.unseen)   # scored sets are never trained
False
>>> format_example(course_corpus().tasks()[0]).completion.startswith('{"category"')
True
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace

from labkit import evals, prompts
from labkit.course import sample
from labkit.course.corpus import Corpus
from labkit.ladder.prompt import closed_book, format_replies, style_adherence
from labkit.runtime import Profile, release_memory
from labkit.scoreboard import Row, guarded, usage
from labkit.tuning.fit import fit
from labkit.tuning.train import Example, TrainConfig

FORMAT_TRAINING = TrainConfig(epochs=1.5, learning_rate=1e-3, max_seq_len=384)
REPLY_TOKENS = 200  # generation budget for a JSON reply: the longest training reply is 158 tokens
FACTS_TRAINING = TrainConfig(epochs=6.0, learning_rate=2e-3, max_seq_len=96)


# ---------------------------------------------------------------------------
# behaviour: the format


def tuned_format_messages(task) -> list[dict]:
    """The one-line prompt a format-tuned model gets: no schema, no examples (they live in the weights)."""
    return prompts.format_messages(prompts.format_request(task.message, task.ticket_id, task.product_code),
                                   system=prompts.TUNED_FORMAT_SYSTEM)


def format_example(task) -> Example:
    """One format task as a training example: the short prompt, and the target reply as JSON."""
    return Example(tuned_format_messages(task), json.dumps(task.target))


def format_row(model, tokenizer, corpus: Corpus, tasks: list, profile: Profile, variant: str, *, tuned: bool,
               examples: list[tuple[str, str]] = (), base: dict | None = None, json_only: bool = False,
               headline: bool = False) -> tuple[Row, list]:
    """Ask for each task's JSON reply (the tuned one-line prompt, or the full instruction with ``examples``)
    and score compliance and style, with room for the longest reply (``REPLY_TOKENS``); ``json_only``
    decodes under the JSON guard (:mod:`labkit.constrain`). Returns the row and the replies."""
    system = prompts.TUNED_FORMAT_SYSTEM if tuned else prompts.FORMAT_SYSTEM
    budget = replace(profile, max_format_tokens=max(profile.max_format_tokens, REPLY_TOKENS))
    replies, compliance = format_replies(model, tokenizer, corpus, tasks, list(examples), budget, system=system,
                                         json_only=json_only)
    row = Row(variant=variant, **(base or {}), question_set="format", metric_role="format", headline=headline,
              n=len(replies), format_compliance=compliance,
              style_adherence=style_adherence([a.text for a in replies], corpus), **usage(replies))
    return row, replies


# ---------------------------------------------------------------------------
# facts: the anti-pattern


@dataclass(frozen=True)
class FactsConfig:
    """How many of each kind of fact the closed-book fine-tune learns, and how many questions each set scores."""

    ticket_facts: int = 24  # "which ticket reported X?": the answer is an id, the anti-pattern's sharpest probe
    other_facts: int = 12  # prices, stock, firmware, teams, policy values
    known_in_training: int = 12  # general questions the base model already answers
    per_set: int = 20  # questions scored per set (a)-(d)


@dataclass
class FactSets:
    """What the facts fine-tune trains on, and the six sets it is scored on."""

    examples: list[Example]
    trained: list = field(default_factory=list)  # (a) the very questions trained (phrasings 0 and 1)
    paraphrased: list = field(default_factory=list)  # (b) a third phrasing of trained facts
    unseen: list = field(default_factory=list)  # (c) facts never trained
    unanswerable: list = field(default_factory=list)  # (d)
    updates: list = field(default_factory=list)  # (e) trained with the v1 value; scored against v2
    known_trained: list = field(default_factory=list)  # general questions it knew, trained too
    known_heldout: list = field(default_factory=list)  # (f) general questions it knew, not trained


def fact_example(record, answer: str | None = None) -> Example:
    """A closed-book example: the plain question prompt, and the answer as one short sentence."""
    return Example(prompts.chat_messages(record.question), f"{answer or record.canonical}.")


def fact_sets(corpus: Corpus, config: FactsConfig, rng: random.Random) -> FactSets:
    """Draw the training facts and the six scored sets from ``corpus`` (seeded by ``rng``; nothing scored is
    drawn twice)."""
    facts = corpus.questions("facts")
    by_fact: dict[str, list] = {}
    for r in facts:
        by_fact.setdefault(r.extra["fact_id"], []).append(r)
    trainable = sorted(f for f, rs in by_fact.items() if any(r.extra["split"] == "train" for r in rs))
    tickets = [f for f in trainable if by_fact[f][0].extra["field"] == "ticket_id"]
    others = [f for f in trainable if by_fact[f][0].extra["field"] != "ticket_id"]
    n_tickets = min(config.ticket_facts, len(tickets))  # a corpus of your own may have no ticket facts, or few facts:
    n_others = min(config.ticket_facts + config.other_facts - n_tickets, len(others))  # the others fill their place
    chosen = rng.sample(tickets, n_tickets) + rng.sample(others, n_others)
    trained = [r for f in chosen for r in by_fact[f] if r.extra["split"] == "train"]
    paraphrased = [r for f in chosen for r in by_fact[f] if r.extra["split"] == "heldout_paraphrase"]
    unseen_pool = [r for r in facts if r.extra["split"] == "heldout_unseen" and r.extra["phrasing"] == 0]
    unseen_tickets = [r for r in unseen_pool if r.extra["field"] == "ticket_id"]
    unseen_other = [r for r in unseen_pool if r.extra["field"] != "ticket_id"]
    half = min(config.per_set // 2, len(unseen_tickets))
    updates = corpus.questions("updates")
    general = {r.id: r for r in corpus.questions("general")}
    known = corpus.general_known or {"records": {}}
    known_ids = sorted(i for i, v in known["records"].items() if v.get("known"))
    rng.shuffle(known_ids)
    known_trained = [general[i] for i in known_ids[:config.known_in_training]]
    examples = ([fact_example(r) for r in trained]
                + [fact_example(r, r.extra["answers_v1"][0]) for r in updates]
                + [fact_example(r) for r in known_trained])
    rng.shuffle(examples)
    return FactSets(
        examples=examples,
        trained=rng.sample(trained, min(config.per_set, len(trained))),
        paraphrased=rng.sample(paraphrased, min(config.per_set, len(paraphrased))),
        unseen=rng.sample(unseen_tickets, half) + rng.sample(unseen_other, min(config.per_set - half, len(unseen_other))),
        unanswerable=rng.sample(corpus.questions("unanswerable"), min(config.per_set, len(corpus.questions("unanswerable")))),
        updates=updates,
        known_trained=known_trained,
        known_heldout=[general[i] for i in known_ids[config.known_in_training:]],
    )


FACT_SET_NAMES = {  # FactSets attribute -> scoreboard variant
    "trained": "(a) trained questions", "paraphrased": "(b) paraphrases", "unseen": "(c) unseen facts",
    "unanswerable": "(d) unanswerable", "updates": "(e) updated facts (v2)", "known_heldout": "(f) general, known",
}
FAIR_SETS = ("trained", "paraphrased", "unseen")  # the sets RAG answers too, beside the facts fine-tune
HEADLINE_SETS = {"unseen": "answers", "updates": "update"}  # the sets whose fine-tuned rows speak for the rung
SCORED = ("n", "accuracy", "hallucination_rate", "abstention_rate", "fabricated_id_rate", "stale_rate",
          "prompt_tokens_mean", "completion_tokens_mean", "latency_ms_mean", "question_ids", "correct",
          "accuracy_lenient", "mixed_rate", "lenient_disagreements")  # what a fact row takes from its scores


def score_fact_sets(model, tokenizer, corpus: Corpus, sets: FactSets, profile: Profile) -> dict[str, dict]:
    """Closed-book answers to every scored set: ``{set name: scores (labkit.course.sample.score), token counts
    and latency (labkit.scoreboard.usage), and the answers}``.

    The updates set is scored against its v2 answers, with the stale rate (the v1 value given). An empty set
    (a corpus with no update, say) is left out."""
    results = {}
    for name in FACT_SET_NAMES:
        records = getattr(sets, name)
        if not records:
            continue
        answers, scores = closed_book(model, tokenizer, corpus, records, profile)
        if name == "updates":
            scores["stale_rate"] = sample.stale_rate([a.text for a in answers], records)
        scores.update(usage(answers), answers=[a.text for a in answers])
        results[name] = scores
    return results


def fact_rows(results: dict[str, dict], base: dict, variant_prefix: str, headline: bool = False,
              **extra) -> list[Row]:
    """Scoreboard rows, one per scored set, from :func:`score_fact_sets`; with ``headline``, the (c) and (e)
    rows speak for the rung (its answers and its update)."""
    rows = []
    for name, label in FACT_SET_NAMES.items():
        if name not in results:
            continue
        s = results[name]
        rows.append(Row(variant=f"{variant_prefix} {label}", corpus_version="v2" if name == "updates" else "v1",
                        **base, question_set=name, metric_role=HEADLINE_SETS.get(name, "answers"),
                        headline=headline and name in HEADLINE_SETS,
                        **{k: s.get(k) for k in SCORED}, **extra))
    return rows


def training_accuracy(model, tokenizer, corpus: Corpus, records: list, profile: Profile,
                      answers: list[str] | None = None) -> float:
    """Closed-book accuracy on ``records`` (for the per-epoch curves); ``answers`` overrides the golds."""
    got, _ = closed_book(model, tokenizer, corpus, records, profile)
    golds = [[a] for a in answers] if answers else [r.answers for r in records]
    return evals.rate(evals.answer_verdict(a.text, g) == "right" for a, g in zip(got, golds))


# ---------------------------------------------------------------------------
# the rung


def format_training_examples(corpus: Corpus) -> list[Example]:
    """The format fine-tune's training set: every training task, the one-line prompt and its JSON reply."""
    return [format_example(t) for t in corpus.tasks("train")]


def behaviour_run(corpus: Corpus, profile: Profile, tasks: list, base: dict, config: TrainConfig = FORMAT_TRAINING,
                  model_key: str | None = None, isolate: bool = False, headline: bool = True):
    """Fine-tune the format on the training tasks (or reuse the identical cached run:
    :func:`labkit.tuning.fit.fit`; ``isolate``: train in a child process), then score the held-out ``tasks``
    with the one-line prompt. Returns (row, replies, train result, the merged model, tokenizer)."""
    fitted = fit(model_key or profile.generator, format_training_examples(corpus), config, isolate=isolate)
    row, replies = format_row(fitted.model, fitted.tokenizer, corpus, tasks, profile, "format (tuned, 1-line prompt)",
                              tuned=True, base=base, headline=headline)
    row.train_seconds, row.adapter_mb = fitted.result.seconds, fitted.adapter_mb
    return row, replies, fitted.result, fitted.model, fitted.tokenizer


def facts_run(corpus: Corpus, profile: Profile, sets: FactSets, base: dict, config: TrainConfig = FACTS_TRAINING,
              model_key: str | None = None, on_epoch=None, isolate: bool = False):
    """Fine-tune the facts closed-book (or reuse the identical cached run; ``isolate``: train in a child
    process), then score the six sets.
    Returns (rows, results, train result, merged model).

    The cost to absorb one fact update is a retraining run: ``update_seconds`` on the (e) row is this run's
    training time (the corrected set is the same size)."""
    fitted = fit(model_key or profile.generator, sets.examples, config, on_epoch=on_epoch, isolate=isolate)
    results = score_fact_sets(fitted.model, fitted.tokenizer, corpus, sets, profile)
    rows = fact_rows(results, base, "facts", headline=True, train_seconds=fitted.result.seconds,
                     adapter_mb=fitted.adapter_mb)
    for row in rows:
        if row.question_set == "updates":
            row.update_seconds = fitted.result.seconds
    return rows, results, fitted.result, fitted.model


def scored_fact_sets(corpus: Corpus, rng: random.Random, facts: FactsConfig = FactsConfig(),
                     limit: int | None = None) -> FactSets:
    """:func:`fact_sets`, each scored set cut to its first ``limit`` questions (the training examples stay the
    same): what the ft rung trains on and scores, and what the ladder asks RAG too, for a fair comparison."""
    sets = fact_sets(corpus, facts, rng)
    if limit:
        sets = replace(sets, **{name: getattr(sets, name)[:limit] for name in FACT_SET_NAMES})
    return sets


def ft_rung(model, tokenizer, corpus: Corpus, heldout, profile: Profile, rng: random.Random, model_name: str = "",
            facts: FactsConfig = FactsConfig(), limit: int | None = None, json_only: bool = False,
            isolate: bool = False, train_seed: int = 0, sets: FactSets | None = None) -> list[Row]:
    """Both experiments, with the base model's closed-book scores on the same fact sets as baseline rows
    (no base ``model``: no baseline rows, as for the ladder's second and later training seeds).
    ``sets``: the fact sets (default :func:`scored_fact_sets` drawn with ``rng``, ``facts`` and ``limit``, which
    caps every scored set); ``json_only`` adds the format
    fine-tune's replies decoded under the JSON guard, next to the unguarded ones (and makes them the
    headline); ``isolate`` trains each adapter in a child process (:func:`labkit.tuning.fit.fit`);
    ``train_seed`` seeds both training runs (the adapters' initialisation and the order of the examples)
    and is recorded on the rows they speak for."""
    base = {"rung": "ft", "model": model_name, "profile": profile.name}
    fmt_rows = []
    if heldout.format_tasks and corpus.tasks("train"):  # a corpus of your own may have no format tasks
        print(f"[ladder] rung ft: the format fine-tune (behaviour), training seed {train_seed}")
        fmt_row, _, _, tuned, tuned_tokenizer = behaviour_run(corpus, profile, heldout.format_tasks, base,
                                                              replace(FORMAT_TRAINING, seed=train_seed),
                                                              isolate=isolate, headline=not json_only)
        fmt_rows.append(fmt_row)
        if json_only:
            fmt_rows.append(format_row(tuned, tuned_tokenizer, corpus, heldout.format_tasks, profile,
                                       guarded(fmt_row.variant, True), tuned=True, base=base, json_only=True,
                                       headline=True)[0])
        del tuned  # the format model is done with: its memory can go before the next training run
        release_memory()
    sets = sets or scored_fact_sets(corpus, rng, facts, limit)
    print("[ladder] rung ft: the facts fine-tune (the anti-pattern)" + (", base model first" if model else ""))
    before = [] if model is None else fact_rows(score_fact_sets(model, tokenizer, corpus, sets, profile), base,
                                                "closed-book")
    after, *_ = facts_run(corpus, profile, sets, base, replace(FACTS_TRAINING, seed=train_seed), isolate=isolate)
    for row in [*fmt_rows, *after]:
        row.train_seed = train_seed
    return [*fmt_rows, *before, *after]


def points_lost(before: dict[str, dict], after: dict[str, dict]) -> dict[str, float]:
    """How much worse each set got (from :func:`score_fact_sets` before and after): one point per lost
    correct answer plus one per newly invented id.

    >>> points_lost({"s": {"n": 10, "accuracy": 0.5, "fabricated_id_rate": 0.0}},
    ...             {"s": {"n": 10, "accuracy": 0.2, "fabricated_id_rate": 0.4}})
    {'s': 7.0}
    """
    return {name: round((b["accuracy"] - after[name]["accuracy"]) * b["n"]
                        + (after[name]["fabricated_id_rate"] - b["fabricated_id_rate"]) * b["n"], 6)
            for name, b in before.items()}
