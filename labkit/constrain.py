"""Constrained decoding: let the model write only text that can still become one valid JSON object.

A fine-tuned 135M model writes the right JSON shape most of the time, but a single stray character
(a bare ``"`` around a label inside a string, a ``]`` where ``}`` belongs, chatter after the object)
makes the whole reply unparseable, and a step repeated until the token budget runs out leaves it
unfinished. :class:`JsonGuard` is a ``transformers`` logits processor: at every step it walks the model's
candidate tokens from the most likely down and keeps the best one that leaves the reply a valid *prefix*
(:class:`JsonPrefix`); once the object is closed it allows only the end-of-text token.

Given a JSON schema, the prefix also obeys the simple parts of it: an object's keys are its
``properties`` (each once, when ``additionalProperties`` is false) and it closes only once the
``required`` ones are written; ``enum`` / ``const`` strings, a string's ``maxLength``, an array's
``minItems`` / ``maxItems``, and each value's ``type``. Patterns and numeric bounds are left to the model.
The guard fixes form, never content, so compliance is reported with and without it.

>>> state = JsonPrefix()
>>> state.feed('{"label": "No touch')
True
>>> state.copy().feed('", "ok": true}'), state.copy().feed('" and more')
(True, False)
>>> done = JsonPrefix(); done.feed('{"a": [1, -2.5e3, null]}'), done.done
(True, True)
>>> schema = {"type": "object", "required": ["kind"], "additionalProperties": False,
...           "properties": {"kind": {"enum": ["bug", "idea"]}, "tags": {"type": "array", "maxItems": 1}}}
>>> [JsonPrefix(schema).feed(t) for t in ('{"kind": "bug"}', '{"kind": "bag', '{"tags": []}', '{"tags": ["a", ')]
[True, False, False, False]
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")
_LITERALS = {"t": "true", "f": "false", "n": "null"}
_ESCAPES = set('"\\/bfnrtu')
_HEX = set("0123456789abcdefABCDEF")
_WHITESPACE = set(" \t\n\r")
_START_TYPES = {'"': "string", "{": "object", "[": "array", "t": "boolean", "f": "boolean", "n": "null"}


def _types(schema: dict) -> set[str] | None:
    """The JSON types a schema allows (None: any)."""
    if "type" in schema:
        declared = schema["type"]
        return {declared} if isinstance(declared, str) else set(declared)
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if values is not None:
        return {"string" if isinstance(v, str) else "number" for v in values}
    return None


class _Frame:
    """An open object or array, with its schema and what has been written in it so far."""

    __slots__ = ("kind", "schema", "keys", "key", "items")

    def __init__(self, kind: str, schema: dict, keys=(), key=None, items=0):
        self.kind, self.schema, self.keys, self.key, self.items = kind, schema, set(keys), key, items

    def copy(self) -> "_Frame":
        return _Frame(self.kind, self.schema, self.keys, self.key, self.items)

    def names_left(self) -> list[str] | None:
        """Keys that may still be written (None: any key)."""
        if self.schema.get("additionalProperties", True) is not False:
            return None
        return [name for name in self.schema.get("properties", {}) if name not in self.keys]

    def value_schema(self) -> dict:
        if self.kind == "{":
            return self.schema.get("properties", {}).get(self.key, {})
        items = self.schema.get("items", {})
        return items if isinstance(items, dict) else {}


class JsonPrefix:
    """Where a JSON object being written stands, one character at a time (optionally under a ``schema``).

    :meth:`feed` returns False as soon as the text can no longer become valid JSON (the state is then
    unusable: feed a :meth:`copy` to try a candidate). ``done`` turns true when the top-level object closes.
    """

    __slots__ = ("schema", "stack", "expect", "key", "escape", "hex_left", "literal", "number", "integer",
                 "text", "text_schema", "done")

    def __init__(self, schema: dict | None = None):
        self.schema = schema or {}
        self.stack: list[_Frame] = []  # open containers
        self.expect = "start"  # start | key_or_close | key | colon | value | value_or_close | after_value | string
        self.key = False  # the open string is an object key
        self.escape = False
        self.hex_left = 0  # hex digits still due after a \u escape
        self.literal = ""  # the rest of true / false / null
        self.number = ""  # the number being written
        self.integer = False  # ... and it must be an integer
        self.text = ""  # the open string so far (kept only when a rule needs it)
        self.text_schema: dict = {}  # the rules for the open string: names, enum, maxLength
        self.done = False

    def copy(self) -> "JsonPrefix":
        other = JsonPrefix.__new__(JsonPrefix)
        for name in self.__slots__:
            setattr(other, name, getattr(self, name))
        other.stack = [frame.copy() for frame in self.stack]
        return other

    def feed(self, text: str) -> bool:
        """Advance over ``text``; False when it breaks the JSON (or the schema)."""
        return all(self._char(ch) for ch in text)

    def _value_done(self) -> None:
        if self.stack:
            self.expect = "after_value"
            if self.stack[-1].kind == "[":
                self.stack[-1].items += 1
        else:
            self.done, self.expect = True, "end"

    def _char(self, ch: str) -> bool:
        if self.expect == "string":
            return self._string_char(ch)
        if self.literal:
            if ch != self.literal[0]:
                return False
            self.literal = self.literal[1:]
            if not self.literal:
                self._value_done()
            return True
        if self.number:
            pattern = _INTEGER if self.integer else _NUMBER
            if ch in "0123456789+-.eE":
                self.number += ch
                return bool(pattern.fullmatch(self.number) or pattern.fullmatch(self.number + "0"))
            if not pattern.fullmatch(self.number):
                return False
            self.number = ""
            self._value_done()
        if ch in _WHITESPACE:
            return True
        return self._structural(ch)

    def _string_char(self, ch: str) -> bool:
        rules = self.text_schema
        if ch == '"' and not self.escape and not self.hex_left:
            return self._close_string()
        if self.hex_left:
            self.hex_left -= 1
            if ch not in _HEX:
                return False
        elif self.escape:
            self.escape = False
            self.hex_left = 4 if ch == "u" else 0
            if ch not in _ESCAPES:
                return False
        elif ch == "\\":
            self.escape = True
        elif ch < " ":  # raw control characters are not allowed inside a JSON string
            return False
        if not rules:
            return True
        self.text += ch
        if "choices" in rules:
            return any(choice.startswith(self.text) for choice in rules["choices"])
        return "maxLength" not in rules or len(self.text) <= rules["maxLength"]

    def _close_string(self) -> bool:
        rules, text = self.text_schema, self.text
        if "choices" in rules and text not in rules["choices"]:
            return False
        if len(text) < rules.get("minLength", 0):
            return False
        self.text, self.text_schema = "", {}
        if self.key:
            self.key, self.expect = False, "colon"
            if rules:
                self.stack[-1].key = text
                self.stack[-1].keys.add(text)
        else:
            self._value_done()
        return True

    def _open_string(self, key: bool, rules: dict) -> None:
        self.expect, self.key, self.text, self.text_schema = "string", key, "", rules

    def _structural(self, ch: str) -> bool:
        expect = self.expect
        if expect == "start":
            if ch != "{":  # the reply must be one object
                return False
            return self._open("{", self.schema)
        if expect in ("key_or_close", "key"):
            frame = self.stack[-1]
            if ch == "}" and expect == "key_or_close":
                return self._close(frame)
            if ch == '"':
                names = frame.names_left()
                self._open_string(True, {"choices": names} if names is not None else {"track": True})
                return names is None or bool(names)
            return False
        if expect == "colon":
            if ch == ":":
                self.expect = "value"
                return True
            return False
        if expect in ("value", "value_or_close"):
            frame = self.stack[-1]
            if ch == "]" and expect == "value_or_close":
                return self._close(frame)
            return self._start_value(ch, frame.value_schema())
        if expect == "after_value":
            frame = self.stack[-1]
            if ch == ",":
                if frame.kind == "{":
                    names = frame.names_left()
                    self.expect = "key"
                    return names is None or bool(names)
                self.expect = "value"
                return frame.items < frame.schema.get("maxItems", float("inf"))
            if (ch, frame.kind) in (("}", "{"), ("]", "[")):
                return self._close(frame)
            return False
        return False  # "end": nothing may follow the object

    def _open(self, kind: str, schema: dict) -> bool:
        self.stack.append(_Frame(kind, schema))
        self.expect = "key_or_close" if kind == "{" else "value_or_close"
        return True

    def _close(self, frame: _Frame) -> bool:
        if frame.kind == "{" and not set(frame.schema.get("required", ())) <= frame.keys:
            return False
        if frame.kind == "[" and frame.items < frame.schema.get("minItems", 0):
            return False
        self.stack.pop()
        self._value_done()
        return True

    def _start_value(self, ch: str, schema: dict) -> bool:
        allowed = _types(schema)
        kind = _START_TYPES.get(ch, "number" if ch == "-" or ch.isdigit() else None)
        if kind is None:
            return False
        if allowed is not None and kind not in allowed and not (kind == "number" and "integer" in allowed):
            return False
        if ch == '"':
            rules = {}
            if "enum" in schema or "const" in schema:
                rules["choices"] = [v for v in schema.get("enum", [schema.get("const")]) if isinstance(v, str)]
            for bound in ("maxLength", "minLength"):
                if bound in schema:
                    rules[bound] = schema[bound]
            self._open_string(False, rules)
        elif ch in "{[":
            return self._open(ch, schema)
        elif kind == "number":
            self.number, self.integer = ch, allowed is not None and "number" not in allowed
        else:
            self.literal = _LITERALS[ch][1:]
        return True


def token_pieces(tokenizer) -> list[str]:
    """The text of every token id on its own (cached on the tokenizer: decoding 49k ids takes a second)."""
    pieces = getattr(tokenizer, "_labkit_token_pieces", None)
    if pieces is None:
        pieces = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        tokenizer._labkit_token_pieces = pieces
    return pieces


def _ranked(scores, first: int):
    """Token ids by falling score: the top ``first``, then (only if asked for) all the rest."""
    yield scores.topk(first).indices.tolist()
    yield scores.argsort(descending=True)[first:].tolist()


class JsonGuard:
    """A logits processor for ``model.generate`` that keeps each reply a valid prefix of one JSON object
    (that follows ``schema``'s simple rules, when one is given: see :class:`JsonPrefix`).

    ``prompt_length`` is where generated tokens start in ``input_ids`` (left-padded batches share it).
    Candidates are tried from the highest score down; the first ``keep`` that fit stay (1 for greedy
    decoding). Once a reply's object is closed, only end-of-text is allowed. Special
    tokens other than end-of-text never appear inside the object.

    >>> from transformers import LogitsProcessorList
    >>> from labkit.models import load_generator
    >>> model, tokenizer = load_generator("smollm2-135m")
    >>> enc = tokenizer(["Describe a cat as JSON:"], return_tensors="pt")
    >>> guard = JsonGuard(tokenizer, prompt_length=enc["input_ids"].shape[1])
    >>> out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id,
    ...                      logits_processor=LogitsProcessorList([guard]))
    >>> reply = tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    >>> reply.lstrip().startswith("{"), JsonPrefix().feed(reply)   # whatever it says, it is on its way to valid JSON
    (True, True)
    """

    def __init__(self, tokenizer, prompt_length: int, keep: int = 1, schema: dict | None = None):
        self.pieces = token_pieces(tokenizer)
        self.eos = tokenizer.eos_token_id
        self.special = set(tokenizer.all_special_ids)
        self.prompt_length = prompt_length
        self.keep, self.schema = keep, schema
        self.states: list[JsonPrefix] = []
        self.seen: list[int] = []  # generated tokens already fed to each row's state
        self.finished: list[bool] = []

    def __call__(self, input_ids, scores):
        import torch

        if not self.states:
            rows = input_ids.shape[0]
            self.states = [JsonPrefix(self.schema) for _ in range(rows)]
            self.seen, self.finished = [0] * rows, [False] * rows
        generated = input_ids[:, self.prompt_length:].tolist()
        guarded = torch.full_like(scores, float("-inf"))
        for row, tokens in enumerate(generated):
            for token in tokens[self.seen[row]:]:
                if token in self.special:
                    self.finished[row] = True
                elif not self.finished[row]:
                    self.states[row].feed(self.pieces[token])
            self.seen[row] = len(tokens)
            if self.finished[row]:
                guarded[row] = scores[row]  # generate pads finished rows itself
                continue
            allowed = self._allowed(self.states[row], scores[row])
            guarded[row, allowed] = scores[row, allowed]
        return guarded

    def _allowed(self, state: JsonPrefix, scores) -> list[int]:
        if state.done:
            return [self.eos]
        allowed: list[int] = []
        first = min(64, scores.shape[-1])
        for order in _ranked(scores, first):  # the full sort only when none of the top candidates fits
            for token in order:  # usually one of the first few candidates fits
                if token in self.special or not self.pieces[token]:
                    continue
                if state.copy().feed(self.pieces[token]):
                    allowed.append(token)
                    if len(allowed) >= self.keep:
                        return allowed
        return allowed or [self.eos]
