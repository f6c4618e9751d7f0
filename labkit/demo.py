"""The smallest end-to-end run: embed a few passages, retrieve one, answer from it.

>>> result = run_demo()          # doctest: +SKIP
>>> result["answer"]             # doctest: +SKIP
'The capital of France is Paris.'
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.generate import ask
from labkit.models import load_embedder, load_generator

PASSAGES = (
    "Paris is the capital and the largest city of France.",
    "Berlin is the capital of Germany and its largest city.",
    "The Loire is the longest river that flows entirely within France.",
    "Mount Everest is the highest mountain above sea level.",
    "At sea level, water boils at 100 degrees Celsius.",
)


@dataclass(frozen=True)
class DemoConfig:
    question: str = "What is the capital of France?"
    expected: str = "paris"
    passages: tuple[str, ...] = PASSAGES


def run_demo(config: DemoConfig = DemoConfig()) -> dict:
    """Embed, retrieve the best passage by cosine similarity, and let the generator answer with it."""
    import numpy as np

    embedder = load_embedder()
    vectors = embedder.encode(list(config.passages), normalize_embeddings=True)
    query = embedder.encode([config.question], normalize_embeddings=True)[0]
    scores = vectors @ query
    best = int(np.argmax(scores))
    model, tokenizer = load_generator()
    answer = ask(model, tokenizer, config.question, context=[config.passages[best]])
    return {"question": config.question, "passage": config.passages[best], "score": float(scores[best]),
            "answer": answer, "correct": config.expected in answer.lower()}
