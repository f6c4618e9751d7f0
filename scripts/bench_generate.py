"""Generation speed and answers in float32 against bfloat16, at two batch sizes, in one run.

The same frozen questions for every setting: closed-book questions (32 new tokens), RAG questions with the
BM25 top-3 passages (48 new tokens) and few-shot JSON replies under the schema guard (160 new tokens).
Prints seconds per question, accuracy or compliance, and how many answers are word for word the first
setting's answers (float32 at batch 8 by default: bfloat16 rounds differently, and padding differs between
batch sizes, so a near tie can tip). `labkit.generate` batches
conversations of similar length together in every setting.

    HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci python scripts/bench_generate.py
    HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci python scripts/bench_generate.py --questions 60 --tasks 20 \
        --settings bfloat16:16,bfloat16:32,bfloat16:64
"""

from __future__ import annotations

import argparse
import random
import time

from labkit import evals, prompts
from labkit.course.corpus import course_corpus
from labkit.course.sample import SAMPLE_SIZE, heldout_sample
from labkit.generate import GenerateConfig, generate
from labkit.ladder.prompt import few_shot_examples
from labkit.ladder.rag import build_retriever, pick_retriever
from labkit.models import load_generator
from labkit.runtime import get_profile, inference_dtype


def workloads(questions: int, tasks: int) -> dict:
    """name -> (conversations, max_new_tokens, json schema or None, scorer of the answer texts)."""
    profile = get_profile()
    corpus = course_corpus()
    heldout = heldout_sample(corpus, SAMPLE_SIZE, random.Random(0))
    facts, format_tasks = heldout.facts[:questions], heldout.format_tasks[:tasks]
    bm25 = pick_retriever(build_retriever(corpus, "v1"), "bm25")
    golds = [r.answers for r in facts]

    def accuracy(texts):
        return evals.rate(evals.answer_matches(t, g) for t, g in zip(texts, golds))

    schema = corpus.reply_schema
    rag = [prompts.rag_messages(r.question, [(h.chunk.doc_id, h.chunk.searchable_text)
                                             for h in bm25.search(r.question, k=3, role="agent")]) for r in facts]
    examples = few_shot_examples(corpus, 2, random.Random(0))
    replies = [prompts.format_messages(prompts.format_request(t.message, t.ticket_id, t.product_code), examples)
               for t in format_tasks]
    return {
        "closed-book": ([prompts.chat_messages(r.question) for r in facts], 32, None, accuracy),
        "RAG, BM25 top-3": (rag, 48, None, accuracy),
        "few-shot JSON, guard": (replies, profile.max_format_tokens, schema,
                                 lambda texts: evals.rate(evals.format_compliant(t, schema) for t in texts)),
    }


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--settings", default="float32:8,bfloat16:8,bfloat16:16",
                        help="dtype:batch pairs, compared with the first (default: %(default)s)")
    args = parser.parse_args()
    profile = get_profile()
    work = workloads(args.questions, args.tasks)
    settings = [(getattr(torch, dtype), int(batch)) for dtype, batch in
                (pair.split(":") for pair in args.settings.split(","))]
    print(f"profile {profile.name}; labkit's default dtype here: {inference_dtype('cpu')}")
    reference: dict[str, list[str]] = {}
    first = f"{str(settings[0][0]).removeprefix('torch.')}, batch {settings[0][1]}"
    print(f"| dtype | batch | workload | s per question | score | same words as {first} |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for dtype, batch in settings:
        model, tokenizer = load_generator(profile.generator, dtype=dtype)
        for name, (conversations, tokens, schema, score) in work.items():
            config = GenerateConfig(max_new_tokens=tokens, batch_size=batch, json_schema=schema, progress=False)
            started = time.perf_counter()
            texts = [a.text for a in generate(model, tokenizer, conversations, config)]
            seconds = (time.perf_counter() - started) / len(conversations)
            same = reference.setdefault(name, texts)
            agree = sum(a == b for a, b in zip(texts, same))
            print(f"| {str(dtype).removeprefix('torch.')} | {batch} | {name} | {seconds:.2f} | {score(texts):.0%} | "
                  f"{agree} of {len(texts)} |", flush=True)


if __name__ == "__main__":
    main()
