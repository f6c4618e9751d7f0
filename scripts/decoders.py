"""Benchmark-side adapters: maintained JSON-schema decoders behind one logits processor, to measure them
against labkit's own (:class:`labkit.constrain.JsonGuard`) in scripts/bench_format.py and scripts/conformance.py.

Each backend turns (tokenizer, JSON schema) into a compiled object once (cached, timed in ``SETUP``), and
makes one matcher per batch row. :class:`RowMatchers` is the ``transformers`` logits processor shared by all:
it feeds each row's newly generated tokens (after ``prompt_length``) to that row's matcher, stops feeding a
row once it emitted a special token, and masks the rows still writing. ``guard_factory(name)`` has the
signature of ``labkit.constrain.JsonGuard`` so the bench can swap it into ``labkit.generate``.

None of these libraries is a labkit dependency. Install the ones to measure without their dependencies, so
that torch, transformers and numpy stay as they are (versions measured in docs/BENCHMARKS.md):

    pip install --no-deps llguidance==1.9.1
    pip install --no-deps xgrammar==0.2.8 apache-tvm-ffi==0.1.15.post2    # a plain install pulls triton (286 MB)
    pip install --no-deps outlines-core==0.2.14
    pip install --no-deps lm-format-enforcer==0.11.3 interegular==0.3.3
"""

from __future__ import annotations

import json
import sys
import time

import torch
from transformers import LogitsProcessor

SETUP: dict[str, dict[str, float]] = {}  # backend -> {"tokenizer": s, "<schema title>": s}
_CACHE: dict = {}


def _timed(backend: str, what: str, key, build):
    if key not in _CACHE:
        began = time.perf_counter()
        _CACHE[key] = build()
        SETUP.setdefault(backend, {})[what] = time.perf_counter() - began
    return _CACHE[key]


def _title(schema: dict) -> str:
    return schema.get("title", "schema")


def _unpack(bitmask: torch.Tensor, vocab: int) -> torch.Tensor:
    """int32 bitmask rows (bit j of word w = token 32w+j, little-endian) -> bool [rows, vocab]."""
    import numpy as np
    bits = np.unpackbits(bitmask.numpy().view(np.uint8), axis=1, bitorder="little")[:, :vocab]
    return torch.from_numpy(bits.astype(bool))


class _Xgrammar:
    name = "xgrammar"

    def __init__(self, tokenizer, schema):
        import xgrammar as xgr
        self.xgr = xgr
        vocab = len(tokenizer)
        compiler = _timed(self.name, "tokenizer", (self.name, id(tokenizer)),
                          lambda: xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab)))
        self.compiled = _timed(self.name, _title(schema), (self.name, id(tokenizer), json.dumps(schema)),
                               lambda: compiler.compile_json_schema(json.dumps(schema), any_whitespace=False))
        self.batch = xgr.BatchGrammarMatcher()

    def matcher(self):
        return self.xgr.GrammarMatcher(self.compiled)

    def accept(self, m, token):
        return m.accept_token(token)

    def fill(self, matchers, rows, bitmask):
        self.batch.batch_fill_next_token_bitmask(matchers, bitmask, rows)

    def done(self, m):
        return m.is_terminated()


class _Llguidance:
    name = "llguidance"
    OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}  # json.dumps style

    def __init__(self, tokenizer, schema):
        import llguidance
        import llguidance.hf
        import llguidance.torch
        self.ll = llguidance
        self.lltok = _timed(self.name, "tokenizer", (self.name, id(tokenizer)), lambda: llguidance.hf.from_tokenizer(tokenizer))

        def build():
            grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, overrides=self.OPTIONS)
            is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, self.lltok)
            if is_error:
                raise ValueError(f"llguidance rejects the schema: {messages}")
            llguidance.LLMatcher(self.lltok, grammar)  # the first matcher builds the lexer: part of the setup
            return grammar
        self.grammar = _timed(self.name, _title(schema), (self.name, id(tokenizer), json.dumps(schema)), build)
        self.executor = _CACHE.setdefault("ll-executor", llguidance.LLExecutor())

    def matcher(self):
        return self.ll.LLMatcher(self.lltok, self.grammar)

    def accept(self, m, token):
        return m.consume_token(token)

    def fill(self, matchers, rows, bitmask):
        self.ll.torch.fill_next_token_bitmask_par(self.executor, list(zip(matchers, rows)), bitmask)

    def done(self, m):
        return m.is_stopped()


class _OutlinesCore:
    name = "outlines-core"
    WHITESPACE = r"[ ]?"  # json.dumps puts one space after ',' and ':'

    def __init__(self, tokenizer, schema):
        from outlines_core import Guide, Index, Vocabulary
        from outlines_core.json_schema import build_regex_from_schema
        from outlines_core.kernels.torch import fill_next_token_bitmask
        self.Guide, self.fill_one = Guide, fill_next_token_bitmask

        def vocabulary():
            pieces: dict[str, list[int]] = {}
            special = set(tokenizer.all_special_ids)
            for token, i in tokenizer.get_vocab().items():
                if i not in special:
                    pieces.setdefault(tokenizer.convert_tokens_to_string([token]), []).append(i)
            return Vocabulary(tokenizer.eos_token_id, pieces)
        vocab = _timed(self.name, "tokenizer", (self.name, id(tokenizer)), vocabulary)
        self.index = _timed(self.name, _title(schema), (self.name, id(tokenizer), json.dumps(schema)),
                            lambda: Index(build_regex_from_schema(json.dumps(schema), self.WHITESPACE), vocab))

    def matcher(self):
        return self.Guide(self.index)

    def accept(self, m, token):
        if not m.accepts_tokens([token]):
            return False
        m.advance(token_id=token, return_tokens=False)
        return True

    def fill(self, matchers, rows, bitmask):
        for m, row in zip(matchers, rows):
            self.fill_one(m, bitmask[row:row + 1])

    def done(self, m):
        return m.is_finished()


def _lmfe_tokenizer_data(tokenizer):
    import transformers.tokenization_utils as old_home  # transformers 5 moved the class lm-format-enforcer imports
    if not hasattr(old_home, "PreTrainedTokenizerBase"):
        old_home.PreTrainedTokenizerBase = __import__("transformers").PreTrainedTokenizerBase
    from lmformatenforcer.integrations.transformers import build_token_enforcer_tokenizer_data
    return build_token_enforcer_tokenizer_data(tokenizer)


class _Lmfe:
    """lm-format-enforcer: allowed-token lists from the whole sequence (prompt included), no bitmask."""
    name = "lmfe"

    def __init__(self, tokenizer, schema):
        from lmformatenforcer import JsonSchemaParser, TokenEnforcer
        data = _timed(self.name, "tokenizer", (self.name, id(tokenizer)), lambda: _lmfe_tokenizer_data(tokenizer))
        _timed(self.name, _title(schema), (self.name, json.dumps(schema)), lambda: JsonSchemaParser(schema))
        self.enforcer = TokenEnforcer(data, JsonSchemaParser(schema))  # one per generate call: it keys on prefixes

    def allowed(self, sequence: list[int]) -> list[int]:
        return self.enforcer.get_allowed_tokens(sequence).allowed_tokens


BACKENDS = {b.name: b for b in (_Xgrammar, _Llguidance, _OutlinesCore, _Lmfe)}


class RowMatchers(LogitsProcessor):
    """One matcher per batch row; rows that have emitted a special token are left to ``generate`` (it pads them)."""

    def __init__(self, backend, tokenizer, prompt_length: int):
        self.backend, self.prompt_length = backend, prompt_length
        self.stop = set(tokenizer.all_special_ids)
        self.eos = tokenizer.eos_token_id
        self.matchers, self.seen, self.finished, self.broken = [], [], [], []
        self.rejected = 0  # tokens a matcher refused (should stay 0 under the mask)

    def __call__(self, input_ids, scores):
        rows, vocab = scores.shape
        if not self.seen:
            self.seen, self.finished, self.broken = [0] * rows, [False] * rows, [False] * rows
            if not isinstance(self.backend, _Lmfe):
                self.matchers = [self.backend.matcher() for _ in range(rows)]
                self.bitmask = torch.full(((rows), (vocab + 31) // 32), -1, dtype=torch.int32)
        generated = input_ids[:, self.prompt_length:].tolist()
        active = []
        for row, tokens in enumerate(generated):
            for token in tokens[self.seen[row]:]:
                if token in self.stop:
                    self.finished[row] = True
                elif not self.finished[row] and not self.broken[row] and self.matchers:
                    if not self.backend.accept(self.matchers[row], token):
                        self.broken[row], self.rejected = True, self.rejected + 1
            self.seen[row] = len(tokens)
            if not self.finished[row]:
                active.append(row)
        if not active:
            return scores
        allowed = torch.ones_like(scores, dtype=torch.bool)
        if isinstance(self.backend, _Lmfe):
            sequences = input_ids.tolist()
            for row in active:
                allowed[row] = False
                allowed[row, self.backend.allowed(sequences[row])] = True
        else:
            live = [r for r in active if not self.broken[r] and not self.backend.done(self.matchers[r])]
            if live:
                self.backend.fill([self.matchers[r] for r in live], live, self.bitmask)
                allowed[live] = _unpack(self.bitmask[live], vocab)
            for r in active:
                if r not in live:  # grammar complete (or broken): end the reply
                    allowed[r] = False
                    allowed[r, self.eos] = True
        return scores.masked_fill(~allowed, float("-inf"))


def make(name: str, tokenizer, schema: dict, prompt_length: int) -> RowMatchers:
    return RowMatchers(BACKENDS[name](tokenizer, schema), tokenizer, prompt_length)


def guard_factory(name: str):
    """Something to put in place of ``labkit.generate.JsonGuard`` (same call signature)."""
    made: list[RowMatchers] = []

    def factory(tokenizer, prompt_length, keep=1, schema=None):
        processor = make(name, tokenizer, schema or {"type": "object"}, prompt_length)
        made.append(processor)
        return processor
    factory.made = made
    return factory


if __name__ == "__main__":
    print(sorted(BACKENDS), file=sys.stderr)
