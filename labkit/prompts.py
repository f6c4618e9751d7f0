"""Every prompt template the kit uses, in one place.

A prompt here is a list of chat messages; :mod:`labkit.generate` applies the
model's chat template to it.

>>> chat_messages("What is the capital of France?")
[{'role': 'system', 'content': 'Answer the question in one short sentence.'}, {'role': 'user', 'content': 'What is the capital of France?'}]
>>> chat_messages("Who?", context=["Ada wrote it."])[1]["content"]
'Passages:\\n[1] Ada wrote it.\\n\\nQuestion: Who?'
"""

from __future__ import annotations

SYSTEM_BRIEF = "Answer the question in one short sentence."


def chat_messages(question: str, context: list[str] | None = None, system: str = SYSTEM_BRIEF) -> list[dict]:
    """A system message and one user turn; ``context`` passages are numbered from 1."""
    user = question
    if context:
        passages = "\n".join(f"[{i}] {text}" for i, text in enumerate(context, start=1))
        user = f"Passages:\n{passages}\n\nQuestion: {question}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
