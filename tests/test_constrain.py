"""labkit.constrain: the JSON prefix tracker against Python's json module, and the logits processor on a toy vocabulary."""

import json
import random

import pytest
import torch

from labkit.constrain import JsonGuard, JsonPrefix


def random_value(rng: random.Random, depth: int = 0):
    kinds = ["str", "int", "float", "bool", "null"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return "".join(rng.choice('ab "\\/\n\té—€') for _ in range(rng.randint(0, 6)))
    if kind == "int":
        return rng.randint(-10**6, 10**6)
    if kind == "float":
        return rng.uniform(-1e6, 1e6) * rng.choice([1, 1e-9, 1e12])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}": random_value(rng, depth + 1) for i in range(rng.randint(0, 3))}


def random_document(rng: random.Random) -> str:
    obj = {f"key{i}": random_value(rng) for i in range(rng.randint(0, 4))}
    return json.dumps(obj, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 2]))


def test_every_prefix_of_valid_json_is_accepted_and_done_only_at_the_end():
    rng = random.Random(0)
    for _ in range(300):
        doc = random_document(rng)
        state = JsonPrefix()
        for i, ch in enumerate(doc):
            assert state.feed(ch), (doc, i)
            assert state.done == (i == len(doc) - 1), (doc, i)


def test_whatever_it_accepts_as_done_parses():
    rng = random.Random(1)
    alphabet = '{}[]":, 0123456789-.eEtrufalsn\\ab'
    finished = 0
    for _ in range(20000):
        text, state = "", JsonPrefix()
        for _ in range(30):
            ch = rng.choice(alphabet)
            trial = state.copy()
            if trial.feed(ch):
                state, text = trial, text + ch
            if state.done:
                break
        if state.done:
            finished += 1
            assert isinstance(json.loads(text), dict), text
    assert finished > 20  # the walk does reach complete objects


@pytest.mark.parametrize("text", [
    '{"steps": ["reply with the label "No',  # a bare quote closes the string; a letter cannot follow
    '{"a": 1]',  # the wrong bracket
    '{"a": 1} and some chatter',  # nothing may follow the object
    '["a list"]',  # the reply must be an object
    '{"a": "two\nlines"}',  # a raw newline inside a string
    '{"a": "\\x"}',  # an unknown escape
    '{"a": 01}',  # a leading zero
    '{"a": 1.}',  # a number cut short
    '{"a": trux}',
    '{"a" 1}',  # the colon is missing
    '{"a": 1,}',  # a trailing comma
])
def test_broken_json_is_refused(text):
    assert not JsonPrefix().feed(text)


def test_the_state_is_copied_not_shared():
    state = JsonPrefix()
    state.feed('{"a": [')
    trial = state.copy()
    assert trial.feed("1]}") and trial.done
    assert not state.done and state.feed('"x"]}') and state.done


class ToyTokenizer:
    """A vocabulary of whole pieces; id 0 is end-of-text, id 1 another special token."""

    pieces = ["<eos>", "<pad>", "{", '"', "a", '":', " 1", "}", " and", ']', '"a": "x"}', "\n"]
    eos_token_id, all_special_ids = 0, [0, 1]

    def __len__(self):
        return len(self.pieces)

    def decode(self, ids):
        return "".join(self.pieces[i] for i in ids)


def best(scores_row) -> int:
    return int(scores_row.argmax())


def test_the_guard_keeps_the_best_token_that_fits():
    tokenizer = ToyTokenizer()
    guard = JsonGuard(tokenizer, prompt_length=1)
    vocab = len(tokenizer)
    prompt = torch.tensor([[5], [5]])
    preference = torch.arange(vocab, dtype=torch.float).flip(0).repeat(2, 1)  # lower ids preferred
    # step 1: the special tokens are never allowed mid-object, so "{" wins
    out = guard(prompt, preference.clone())
    assert best(out[0]) == 2 and torch.isinf(out[0][0]) and torch.isinf(out[0][1])
    # the model would rather close with "]" than "}", and rather ramble than stop: the guard says no
    ids = torch.tensor([[5, 2, 3, 4, 5, 6], [5, 2, 3, 4, 5, 6]])  # {"a": 1
    scores = torch.zeros(2, vocab)
    scores[:, 9], scores[:, 8], scores[:, 7] = 3.0, 2.0, 1.0  # "]" > " and" > "}"
    out = guard(ids, scores)
    assert best(out[0]) == 7 and best(out[1]) == 7
    # the object is closed: only end-of-text may follow
    done = torch.tensor([[5, 2, 3, 4, 5, 6, 7], [5, 2, 3, 4, 5, 6, 7]])
    out = guard(done, torch.ones(2, vocab))
    assert best(out[0]) == 0 and torch.isinf(out[0][1:]).all()


def test_a_finished_row_is_left_alone():
    tokenizer = ToyTokenizer()
    guard = JsonGuard(tokenizer, prompt_length=1)
    scores = torch.randn(1, len(tokenizer))
    guard(torch.tensor([[5]]), scores.clone())
    out = guard(torch.tensor([[5, 0]]), scores.clone())  # end-of-text already emitted
    assert torch.equal(out, scores)


REPLY_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["ticket_id", "category", "steps"],
    "properties": {"ticket_id": {"type": "string", "pattern": "^TCK-"}, "category": {"enum": ["hardware", "billing"]},
                   "sign_off": {"const": "Warm regards"}, "summary": {"type": "string", "maxLength": 10},
                   "steps": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string", "minLength": 1}},
                   "passage": {"type": ["integer", "null"]}},
}


def test_documents_that_follow_the_schema_are_accepted_at_every_prefix():
    import jsonschema

    docs = [{"ticket_id": "TCK-1", "category": "billing", "steps": ["a"]},
            {"steps": ["a", "b"], "category": "hardware", "ticket_id": "TCK-2", "sign_off": "Warm regards",
             "summary": "x" * 10, "passage": 3},
            {"ticket_id": "TCK-3", "category": "hardware", "steps": ["say \"hi\""], "passage": None}]
    for doc in docs:
        jsonschema.validate(doc, REPLY_SCHEMA)
        for text in (json.dumps(doc), json.dumps(doc, indent=2)):
            state = JsonPrefix(REPLY_SCHEMA)
            assert all(state.feed(ch) for ch in text) and state.done, text


@pytest.mark.parametrize("text, why", [
    ('{"ticket": ', "a key the schema does not have"),
    ('{"category": "hardware", "category"', "a key written twice"),
    ('{"category": "hard', None),  # a prefix of an enum value is fine ...
    ('{"category": "hardwire', "... a string no enum value starts with is not"),
    ('{"category": "hardware"}', "required keys missing"),
    ('{"sign_off": "Warm regards!', "const"),
    ('{"summary": "12345678901', "longer than maxLength"),
    ('{"steps": []', "fewer than minItems"),
    ('{"steps": ["a", "b", ', "more than maxItems"),
    ('{"steps": [""', "a string shorter than minLength"),
    ('{"steps": [1', "a number where the items are strings"),
    ('{"passage": 1.5', "a float where an integer is asked"),
    ('{"passage": "1"', "a string where an integer or null is asked"),
])
def test_the_schema_rules_are_enforced(text, why):
    assert JsonPrefix(REPLY_SCHEMA).feed(text) == (why is None), why


def test_once_every_allowed_key_is_written_the_object_must_close():
    state = JsonPrefix({"type": "object", "additionalProperties": False, "properties": {"a": {}}})
    assert state.feed('{"a": 1')
    assert not state.copy().feed(",") and state.copy().feed("}")
