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


def chat_messages(question: str, context: list[str] | None = None, system: str | None = None) -> list[dict]:
    """A system message (``system``; default :data:`SYSTEM_BRIEF` as it is when called, so a lab can change
    ``labkit.prompts.SYSTEM_BRIEF`` and every rung asks with the new one) and one user turn; ``context``
    passages are numbered from 1.

    >>> import labkit.prompts as prompts
    >>> saved, prompts.SYSTEM_BRIEF = prompts.SYSTEM_BRIEF, "Say I don't know when unsure."
    >>> prompts.chat_messages("Who?")[0]["content"]
    "Say I don't know when unsure."
    >>> prompts.SYSTEM_BRIEF = saved
    """
    system = SYSTEM_BRIEF if system is None else system
    user = question
    if context:
        passages = "\n".join(f"[{i}] {text}" for i, text in enumerate(context, start=1))
        user = f"Passages:\n{passages}\n\nQuestion: {question}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


FORMAT_SYSTEM = ("You are a support agent at Quillmoor Instruments. Reply to the customer with one JSON object "
                 "with the keys ticket_id, category, summary, steps (a list of 1 to 5 short steps) and sign_off.")


TUNED_FORMAT_SYSTEM = "You are a support agent at Quillmoor Instruments."  # the format lives in the weights


def format_request(message: str, ticket_id: str, product_code: str) -> str:
    """The user turn of a format task: the ticket and the customer's message.

    >>> print(format_request("It beeps.", "TCK-2024-00001", "QM-1001"))
    Ticket TCK-2024-00001, product QM-1001.
    Customer message:
    It beeps.
    """
    return f"Ticket {ticket_id}, product {product_code}.\nCustomer message:\n{message}"


def with_passages(request: str, passages: list[tuple[str, str]]) -> str:
    """A user turn with numbered retrieved passages (each with its document id) before the request.

    >>> print(with_passages("Reply to the customer.", [("style-guide", "Sign off warmly.")]))
    Passages:
    [1] (style-guide) Sign off warmly.
    <BLANKLINE>
    Reply to the customer.
    """
    numbered = "\n".join(f"[{i}] ({doc_id}) {text}" for i, (doc_id, text) in enumerate(passages, start=1))
    return f"Passages:\n{numbered}\n\n{request}"


FORMAT_QUERY = "house reply format, sign-off and style for: "  # what the rag rung retrieves the format with


def format_messages(request: str, examples: list[tuple[str, str]] = (), system: str = FORMAT_SYSTEM) -> list[dict]:
    """A format-task conversation: the instruction, optional worked examples (request, reply), the request."""
    messages = [{"role": "system", "content": system}]
    for user, assistant in examples:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return messages + [{"role": "user", "content": request}]


RAG_SYSTEM = ("Answer the question in one short sentence using only the numbered passages. "
              "Cite the passage you used like [1]. If the passages do not contain the answer, say \"I don't know\".")
ABSTAIN_ANSWER = "I don't know: nothing I may read answers this."


def rag_messages(question: str, passages: list[tuple[str, str]], system: str = RAG_SYSTEM) -> list[dict]:
    """The RAG prompt: numbered passages, each with its document id, then the question.

    >>> print(rag_messages("How long?", [("wiki-returns", "Returns within 30 days.")])[1]["content"])
    Passages:
    [1] (wiki-returns) Returns within 30 days.
    <BLANKLINE>
    Question: How long?
    """
    return [{"role": "system", "content": system}, {"role": "user", "content": with_passages(f"Question: {question}", passages)}]
