"""Fixtures shared by the training tests: the embedded generator's chat tokenizer, and a tiny randomly initialised
Llama saved beside it as a model folder (what a converted model looks like), so that training runs in seconds."""

import pytest
import torch


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from labkit.models import model_source

    tok = AutoTokenizer.from_pretrained(model_source("smollm2-135m"))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


@pytest.fixture(scope="session")
def tiny_source(tokenizer, tmp_path_factory):
    """A folder holding a randomly initialised 2-layer Llama and the chat tokenizer, like a converted model."""
    import transformers

    folder = tmp_path_factory.mktemp("tiny-llama")
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer),
                                      tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                                      eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
