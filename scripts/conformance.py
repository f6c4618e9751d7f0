"""Which schema rules each constrained decoder enforces: hand-made replies fed token by token, no model.

A case passes when the decoder lets every token through and then allows end-of-text exactly when
jsonschema (Draft 2020-12) says the reply is valid; ``labkit`` is :class:`labkit.constrain.JsonGuard`'s
automaton, the others are the libraries of scripts/decoders.py (install the ones you name, see there).

    HF_HUB_OFFLINE=1 python scripts/conformance.py llguidance,xgrammar,outlines-core,lmfe
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import jsonschema  # noqa: E402
import torch  # noqa: E402

import decoders  # noqa: E402
from labkit.constrain import JsonPrefix  # noqa: E402
from labkit.course.corpus import course_corpus  # noqa: E402
from labkit.tuning import raft  # noqa: E402


def reply_cases():
    task = course_corpus().tasks("heldout")[0]
    good = task.target

    def edit(**changes):
        value = copy.deepcopy(good)
        for k, v in changes.items():
            if v is None:
                value.pop(k)
            else:
                value[k] = v
        return value
    reordered = {k: good[k] for k in ("ticket_id", "category", "summary", "steps", "sign_off")}
    extra = dict(good, priority="high")
    return {
        "valid reply": good,
        "valid, keys reordered": reordered,
        "ticket_id breaks pattern": edit(ticket_id="TCK-25-113"),
        "ticket_id with suffix": edit(ticket_id=good["ticket_id"] + "X"),
        "category not in enum": edit(category="other"),
        "sign_off not the const": edit(sign_off="Cheers"),
        "steps empty": edit(steps=[]),
        "6 steps": edit(steps=["a"] * 6),
        "empty step": edit(steps=[""]),
        "summary empty": edit(summary=""),
        "summary 201 chars": edit(summary="x" * 201),
        "sign_off missing": edit(sign_off=None),
        "extra property": extra,
    }


def raft_cases():
    return {
        "valid answer": {"quote": "Fee: 15%.", "passage": 1, "answer": "15%"},
        "passage null": {"quote": "", "passage": None, "answer": "I don't know"},
        "passage 0 (< minimum)": {"quote": "q", "passage": 0, "answer": "a"},
        "passage -2": {"quote": "q", "passage": -2, "answer": "a"},
        "passage 1.5": {"quote": "q", "passage": 1.5, "answer": "a"},
        "answer empty": {"quote": "q", "passage": 2, "answer": ""},
        "extra property": {"quote": "q", "passage": 2, "answer": "a", "why": "b"},
    }


def accepts(name, tokenizer, schema, text) -> bool:
    """True when every token is allowed and end-of-text is allowed after the last one."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    prompt = [1, 9]
    processor = decoders.make(name, tokenizer, schema, len(prompt))
    vocab = len(tokenizer)
    for n in range(len(ids) + 1):
        seq = torch.tensor([prompt + ids[:n]])
        scores = processor(seq, torch.zeros(1, vocab))
        want = ids[n] if n < len(ids) else tokenizer.eos_token_id
        if scores[0, want] == float("-inf"):
            return False
    return True


def labkit_accepts(schema, text) -> bool:
    state = JsonPrefix(schema)
    return state.feed(text) and state.done


def main():
    from labkit.models import model_source
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_source("smollm2-135m"))
    names = sys.argv[1].split(",") if len(sys.argv) > 1 else list(decoders.BACKENDS)
    out = {}
    for title, schema, cases in (("reply", course_corpus().reply_schema, reply_cases()),
                                 ("raft", raft.ANSWER_SCHEMA, raft_cases())):
        validator = jsonschema.Draft202012Validator(schema)
        table = {}
        for case, value in cases.items():
            text = json.dumps(value)
            row = {"jsonschema": validator.is_valid(value), "labkit": labkit_accepts(schema, text)}
            for name in names:
                try:
                    row[name] = accepts(name, tokenizer, schema, text)
                except Exception as error:  # noqa: BLE001 - report, go on
                    row[name] = f"error: {type(error).__name__}: {str(error)[:200]}"
            table[case] = row
        out[title] = table
    out["setup_seconds"] = decoders.SETUP
    print(json.dumps(out, indent=1))
    cols = ["jsonschema", "labkit", *names]
    for title in ("reply", "raft"):
        print(f"\n{title} schema: does the decoder let this reply through? (expected = jsonschema)")
        print("| case | " + " | ".join(cols) + " |")
        print("|" + "---|" * (len(cols) + 1))
        for case, row in out[title].items():
            cells = []
            for c in cols:
                v = row[c]
                mark = "yes" if v is True else "no" if v is False else "ERR"
                if c != "jsonschema" and isinstance(v, bool) and v != row["jsonschema"]:
                    mark += " (wrong)"
                cells.append(mark)
            print(f"| {case} | " + " | ".join(cells) + " |")
    print("\nsetup seconds:", json.dumps(decoders.SETUP))


if __name__ == "__main__":
    main()
