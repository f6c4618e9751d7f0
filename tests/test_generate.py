import pytest

from labkit.generate import GenerateConfig, generate, render
from labkit.models import load_generator
from labkit.prompts import chat_messages


@pytest.fixture(scope="module")
def generator():
    return load_generator("smollm2-135m")


def test_batched_answers_match_one_by_one_and_count_tokens():
    import torch

    # in float32 left padding changes nothing; in bfloat16 (the default on this CPU) it can tip a near tie
    model, tokenizer = load_generator("smollm2-135m", dtype=torch.float32)
    questions = ["What is the capital of France?", "What colour is the sky on a clear day?", "Name a fruit."]
    convs = [chat_messages(q) for q in questions]
    config = GenerateConfig(max_new_tokens=12, batch_size=2, progress=False)
    batched = generate(model, tokenizer, convs, config)  # batched by length, answers back in the order asked
    single = [generate(model, tokenizer, [c], config)[0] for c in convs]
    assert len(batched) == 3
    for b, s, conv in zip(batched, single, convs):
        assert b.prompt_tokens == len(tokenizer(render(tokenizer, conv), add_special_tokens=False).input_ids)
        assert 0 < b.completion_tokens <= 12 and b.latency_ms > 0
        assert b.text.split()[:2] == s.text.split()[:2]  # left padding does not change the answer


def test_the_generator_loads_in_the_kits_inference_dtype(generator):
    from labkit.runtime import inference_dtype

    model, _ = generator
    assert model.dtype == inference_dtype(model.device.type) and not model.training


def test_context_passages_reach_the_model_input(generator):
    _, tokenizer = generator
    text = render(tokenizer, chat_messages("Who?", context=["Zorblat the heron wrote it."]))
    assert "[1] Zorblat the heron wrote it." in text and "Question: Who?" in text
