"""labkit.train: masking, batching, the completion-only loss, the loop, the memory planner, saving adapters.

Everything runs on a tiny randomly initialised Llama (2 layers, hidden 64) with the embedded generator's
tokenizer, wrapped with adapters exactly as :func:`labkit.train.load_trainable` does (via ``add_adapters``).
"""

import importlib.util
import json
import math
import random
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace as NS

import pytest
import torch

from labkit.errors import LabkitError
from labkit.generate import render
from labkit.runtime import inference_dtype
from labkit.tuning.plan import estimate_memory, plan_fit
from labkit.tuning.train import (ADAPTER_FILES, Example, TrainConfig, adapter_bytes, add_adapters, collate,
                                 completion_loss, describe, encode_example, length_grouped_batches, load_adapter,
                                 load_base, load_trainable, merged_copy, save_adapter, summary_json, train)

ROOT = Path(__file__).resolve().parents[1]
QWEN_1_5B = NS(hidden_size=1536, num_hidden_layers=28, intermediate_size=8960, vocab_size=151936,
               num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True)
FAST = TrainConfig(epochs=2, batch_size=4, learning_rate=1e-2, warmup_steps=1, lora_r=4, lora_alpha=8,
                   dtype="float32", max_seq_len=128)


# ---------------------------------------------------------------------------
# fixtures: the real chat tokenizer and a tiny model saved as a labkit source (tests/conftest.py)


def tiny_model(source, r=4, seed=0):
    """The tiny base with fresh LoRA adapters, as load_trainable(quantize="none") returns it on a CPU."""
    import transformers

    base = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    torch.manual_seed(seed)
    return add_adapters(base, replace(FAST, lora_r=r, lora_alpha=2 * r), source, "none")


def perturb_adapters(model, seed=1):
    """LoRA B starts at zero (the adapter is a no-op); give it values so that merging has an effect."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.1)


@pytest.fixture
def model(tiny_source):
    return tiny_model(tiny_source)


def toy_examples(n=16):
    """Short question -> code pairs; prompts of varied length so that batches need padding."""
    return [Example([{"role": "user", "content": f"What is the code of item {i}?" + " Be brief." * (i % 4)}],
                    f"Item {i} has code K-{(7 * i) % 13}{i}.") for i in range(n)]


def logits(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def batch(tokenizer, examples, max_seq_len=128):
    return collate([encode_example(tokenizer, e, max_seq_len) for e in examples], tokenizer.pad_token_id)


# ---------------------------------------------------------------------------
# encode_example


def test_prompt_is_masked_and_completion_with_eos_is_scored(tokenizer):
    example = Example([{"role": "user", "content": "What is 2+2?"}], "It is 4.")
    ids, labels = encode_example(tokenizer, example, 256)
    prompt = tokenizer(render(tokenizer, example.messages), add_special_tokens=False)["input_ids"]
    completion = tokenizer("It is 4.", add_special_tokens=False)["input_ids"]
    assert len(ids) == len(labels) == len(prompt) + len(completion) + 1
    assert ids[:len(prompt)] == prompt  # exactly what the model sees at inference
    assert labels[:len(prompt)] == [-100] * len(prompt)
    assert labels[len(prompt):] == ids[len(prompt):] == completion + [tokenizer.eos_token_id]


@pytest.mark.parametrize("completion", ["4", " a leading space", "two\nlines", "ünïcode — 4.2.1 costs $149.00",
                                        "\nstarts with a newline", '{"sku": "KT-9", "price": 149}'])
def test_encoding_equals_the_full_chat_templated_conversation(tokenizer, completion):
    """prompt + completion ids are the tokenization of the whole conversation with the assistant turn,
    minus the template's trailing newline after <|im_end|> (the eos ends the turn; nothing after it is learnt)."""
    messages = [{"role": "user", "content": "Answer:"}]
    ids, _ = encode_example(tokenizer, Example(messages, completion), 512)
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": completion}], tokenize=False)
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    assert full_ids[:len(ids)] == ids
    assert tokenizer.decode(full_ids[len(ids):]) == "\n"


def test_a_completion_that_starts_with_a_run_of_spaces_is_tokenized_as_at_inference(tokenizer):
    """The one known difference from tokenizing the whole conversation: byte-level BPE merges the template's
    "\\n" with a following run of spaces. Training keeps the prompt's own tokens, which is what generation
    continues from, so the prompt part still equals the inference prompt."""
    messages = [{"role": "user", "content": "Answer:"}]
    ids, labels = encode_example(tokenizer, Example(messages, "  indented"), 512)
    prompt = tokenizer(render(tokenizer, messages), add_special_tokens=False)["input_ids"]
    assert ids[:len(prompt)] == prompt and labels.count(-100) == len(prompt)


def test_a_completion_that_does_not_fit_raises(tokenizer):
    example = Example([{"role": "user", "content": "Write a lot."}], "word " * 100)
    with pytest.raises(LabkitError, match="max_seq_len=32"):
        encode_example(tokenizer, example, 32)


def test_a_long_prompt_is_cut_from_the_left(tokenizer):
    long_question = " ".join(f"fact{i}" for i in range(200)) + " What is the last fact?"
    example = Example([{"role": "user", "content": long_question}], "fact199")
    ids, labels = encode_example(tokenizer, example, 64)
    prompt = tokenizer(render(tokenizer, example.messages), add_special_tokens=False)["input_ids"]
    completion = tokenizer("fact199", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert len(ids) == len(labels) == 64
    assert ids[-len(completion):] == completion and labels[-len(completion):] == completion
    kept = 64 - len(completion)
    assert ids[:kept] == prompt[-kept:]  # the end of the prompt (question, assistant header) survives
    assert labels[:kept] == [-100] * kept


# ---------------------------------------------------------------------------
# batching


def padding_of(batches, lengths):
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


@pytest.mark.parametrize("n,batch_size,group", [(1, 4, 8), (10, 3, 2), (64, 8, 8), (77, 8, 4)])
def test_length_grouped_batches_hold_every_index_once(n, batch_size, group):
    lengths = [random.Random(n).randint(1, 100) for _ in range(n)]
    batches = length_grouped_batches(lengths, batch_size, random.Random(0), group=group)
    assert sorted(i for b in batches for i in b) == list(range(n))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert len(batches) == math.ceil(n / batch_size)  # what train() counts as one epoch


def test_length_grouped_batches_are_deterministic_for_a_seed():
    lengths = [random.Random(1).randint(1, 300) for _ in range(100)]
    first = length_grouped_batches(lengths, 8, random.Random(7))
    assert first == length_grouped_batches(lengths, 8, random.Random(7))
    assert first != length_grouped_batches(lengths, 8, random.Random(8))


def test_length_grouping_pads_far_less_than_random_batches():
    rng = random.Random(3)
    lengths = [rng.randint(200, 300) if rng.random() < 0.1 else rng.randint(5, 20) for _ in range(400)]
    grouped = padding_of(length_grouped_batches(lengths, 8, random.Random(0)), lengths)
    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    shuffled = padding_of([order[i:i + 8] for i in range(0, len(order), 8)], lengths)
    assert grouped < 0.3 * shuffled


def test_collate_pads_on_the_right_with_masked_labels():
    ids, mask, labels = collate([([5, 6, 7], [-100, 6, 7]), ([8], [8])], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert labels.tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert ids.dtype == mask.dtype == labels.dtype == torch.long


# ---------------------------------------------------------------------------
# the completion-only loss


def test_completion_loss_equals_the_models_own_loss(tokenizer, model):
    ids, mask, labels = batch(tokenizer, toy_examples(5))
    assert (mask == 0).any()  # padding is in play
    perturb_adapters(model)
    model.eval()
    total, n = completion_loss(model, ids, mask, labels)
    assert n == int((labels[:, 1:] != -100).sum())
    with torch.no_grad():
        reference = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert total.item() == pytest.approx(reference.item() * n, rel=1e-5)


def test_chunked_loss_equals_the_unchunked_loss_and_gradients(tokenizer, model):
    ids, mask, labels = batch(tokenizer, toy_examples(4))
    perturb_adapters(model)
    params = [p for p in model.parameters() if p.requires_grad]
    whole, n = completion_loss(model, ids, mask, labels)
    whole.backward()
    grads = [p.grad.clone() for p in params]
    model.zero_grad(set_to_none=True)
    chunked, n_chunked = completion_loss(model, ids, mask, labels, chunk_tokens=7)  # several chunks, one ragged
    chunked.backward()
    assert n_chunked == n and n > 7
    assert chunked.item() == pytest.approx(whole.item(), rel=1e-5)
    for g, p in zip(grads, params):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# the loop


def test_training_lowers_the_loss_and_changes_only_the_adapters(tokenizer, model):
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert not any("lora" in n for n, p in model.named_parameters() if not p.requires_grad)
    result = train(model, tokenizer, toy_examples(), replace(FAST, epochs=4))
    assert result.steps == len(result.losses) == 16
    assert sum(result.losses[-3:]) / 3 < sum(result.losses[:3]) / 3 - 0.2
    assert all(math.isfinite(x) for x in result.losses)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    assert any("lora_B" in n for n in changed) and any("lora_A" in n for n in changed)
    assert not result.quantized and result.plan.micro_batch == 4 and not result.plan.gradient_checkpointing


@pytest.mark.parametrize("epochs,max_steps,steps", [(1, None, 4), (2, None, 8), (1.5, None, 6), (3, 5, 5)])
def test_steps_follow_epochs_and_max_steps(tokenizer, model, epochs, max_steps, steps):
    seen = []
    result = train(model, tokenizer, toy_examples(), replace(FAST, epochs=epochs, max_steps=max_steps),
                   on_epoch=lambda epoch, m: seen.append(epoch))
    assert result.steps == steps
    assert seen == list(range(1, steps // 4 + 1))  # once per full epoch of 16 examples / batch 4


def test_on_epoch_runs_once_per_epoch_and_training_resumes_in_train_mode(tokenizer, model):
    calls = []

    def on_epoch(epoch, m):
        calls.append((epoch, m.training))
        m.eval()  # an evaluation inside the callback
        time.sleep(0.1)  # evaluation time is not training time

    started = time.perf_counter()
    result = train(model, tokenizer, toy_examples(8), replace(FAST, epochs=3), on_epoch=on_epoch)
    wall = time.perf_counter() - started
    assert calls == [(1, True), (2, True), (3, True)]
    assert model.training and result.steps == 6
    assert wall - result.seconds >= 0.3 * 0.95  # the callbacks' time is not counted as training time


def test_heldout_loss_is_measured_along_the_run_without_changing_the_training(tokenizer, tiny_source):
    examples, unseen = toy_examples(12), toy_examples(16)[12:]
    plain = train(tiny_model(tiny_source), tokenizer, examples, replace(FAST, epochs=4))
    watched = train(tiny_model(tiny_source), tokenizer, examples, replace(FAST, epochs=4), heldout=unseen, eval_every=4)
    assert watched.losses == pytest.approx(plain.losses, abs=1e-5), "measuring must not change what is trained"
    assert [step for step, _ in watched.heldout_losses] == [0, 4, 8, 12]  # before the first step, every 4, the last
    assert not plain.heldout_losses
    # the held-out loss is the loss of examples never trained on: measured on the training set itself it must fall
    # as the training loss does, and it is a loss per scored token, as the training loss is
    memorised = train(tiny_model(tiny_source), tokenizer, examples, replace(FAST, epochs=4), heldout=examples)
    (_, first), (_, last) = memorised.heldout_losses[0], memorised.heldout_losses[-1]
    assert last < first - 0.5 and abs(first - plain.losses[0]) < 0.5
    assert summary_json(watched)["heldout_losses"][0][0] == 0


def test_fit_trains_again_when_a_heldout_curve_is_asked_of_a_run_cached_without_one(tiny_source, tokenizer, tmp_path,
                                                                                    monkeypatch):
    import labkit.tuning.fit as fit_module

    loads = []
    monkeypatch.setattr(fit_module, "load_trainable", lambda key, config: loads.append(key) or (tiny_model(tiny_source),
                                                                                              tokenizer))
    examples, unseen = toy_examples(8), toy_examples(10)[8:]
    assert not fit_module.fit("tiny", examples, FAST, cache=tmp_path).result.heldout_losses
    watched = fit_module.fit("tiny", examples, FAST, cache=tmp_path, heldout=unseen)
    assert not watched.from_cache and watched.result.heldout_losses and len(loads) == 2
    again = fit_module.fit("tiny", examples, FAST, cache=tmp_path, heldout=unseen)  # the same key, now with the curve
    assert again.from_cache and [loss for _, loss in again.result.heldout_losses] == pytest.approx(
        [loss for _, loss in watched.result.heldout_losses], abs=1e-4)
    assert fit_module.fit("tiny", examples, FAST, cache=tmp_path).from_cache and len(loads) == 2


def test_tokens_are_counted_without_padding(tokenizer, model):
    examples = toy_examples()
    encoded = [encode_example(tokenizer, e, FAST.max_seq_len) for e in examples]
    result = train(model, tokenizer, examples, replace(FAST, epochs=1))
    assert result.tokens == sum(len(ids) for ids, _ in encoded)
    assert result.scored_tokens == sum(sum(t != -100 for t in labels) for _, labels in encoded)
    assert result.padding_tokens > 0  # the prompts differ in length
    assert result.tokens_per_second == pytest.approx(result.tokens / result.seconds)


def test_gradient_checkpointing_and_chunked_loss_train_the_same_as_without(tokenizer, tiny_source):
    config = replace(FAST, epochs=1)
    plain = train(tiny_model(tiny_source), tokenizer, toy_examples(), config)
    checkpointed = train(tiny_model(tiny_source), tokenizer, toy_examples(),
                         replace(config, gradient_checkpointing=True, loss_chunk_tokens=5))
    assert checkpointed.plan.gradient_checkpointing and not plain.plan.gradient_checkpointing
    assert checkpointed.losses == pytest.approx(plain.losses, rel=1e-4)


def test_micro_batches_accumulate_to_the_same_step(tokenizer, tiny_source):
    """A budget too small for the whole batch splits it; the loss per step is still the batch mean."""
    config = replace(FAST, epochs=1, gradient_checkpointing=False)
    whole = train(tiny_model(tiny_source), tokenizer, toy_examples(), config)
    plan = whole.plan
    encoded = [encode_example(tokenizer, e, config.max_seq_len) for e in toy_examples()]
    share = sum(sum(t != -100 for t in labels) for _, labels in encoded) / sum(len(ids) for ids, _ in encoded)
    one = estimate_memory(tiny_model(tiny_source).config, quantize="none", compute_bytes=4, micro_batch=1,
                          seq_len=config.max_seq_len, lora_r=config.lora_r, gradient_checkpointing=False,
                          scored_share=share)
    tight = sum(one.values()) / 0.9 * 1.5  # room for one or two sequences, not four
    split = train(tiny_model(tiny_source), tokenizer, toy_examples(), replace(config, memory_gb=tight))
    assert plan.micro_batch == 4 and split.plan.micro_batch < 4
    assert split.plan.micro_batch * split.plan.grad_accum == 4
    assert split.losses == pytest.approx(whole.losses, rel=1e-4)


def test_no_examples_is_an_error(tokenizer, model):
    with pytest.raises(LabkitError, match="no training examples"):
        train(model, tokenizer, [], FAST)


def test_result_summaries(tokenizer, model):
    result = train(model, tokenizer, toy_examples(8), replace(FAST, epochs=1))
    line = describe(result)
    assert line.startswith("LoRA: 2 steps") and "tokens/s" in line
    data = json.loads(json.dumps(summary_json(result)))
    assert data["steps"] == 2 and data["plan"]["micro_batch"] == 4 and data["tokens_per_second"] > 0


def test_an_evaluation_between_epochs_leaves_every_qlora_layer_trainable(tokenizer, tiny_source):
    pytest.importorskip("bitsandbytes")
    base = load_base(tiny_source, "nf4", torch.bfloat16, "cpu")
    model = add_adapters(base, FAST, tiny_source, "nf4")
    ids, mask, labels = batch(tokenizer, toy_examples(4))
    model.eval()
    with torch.inference_mode():  # what an on_epoch evaluation does
        model(input_ids=ids, attention_mask=mask)
    layers = [m for m in model.modules() if hasattr(m, "weight") and hasattr(m.weight, "quant_state")]
    assert layers and not any(getattr(m.weight.quant_state, "packing_format_for_cpu", False) for m in layers)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        completion_loss(model, ids, mask, labels)[0].backward()
    first = [p for n, p in model.named_parameters() if "lora_B" in n and ".layers.0." in n]  # (A starts with no gradient)
    assert first and all(p.grad is not None and p.grad.abs().sum() > 0 for p in first)  # gradients reach layer 0


def test_qlora_trains_on_cpu_and_merges_onto_the_full_precision_base(tokenizer, tiny_source, tmp_path):
    pytest.importorskip("bitsandbytes")
    import transformers

    from labkit.runtime import quiet_import

    peft = quiet_import("peft")
    bnb = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                          bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32)
    base = transformers.AutoModelForCausalLM.from_pretrained(tiny_source, quantization_config=bnb,
                                                             dtype=torch.float32, device_map={"": "cpu"})
    base = peft.prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
    torch.manual_seed(0)
    model = add_adapters(base, FAST, tiny_source, "nf4")
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    result = train(model, tokenizer, toy_examples(), replace(FAST, quantize="nf4", epochs=3))
    assert result.quantized and describe(result).startswith("QLoRA (NF4)")
    assert sum(result.losses[-2:]) < sum(result.losses[:2])
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if "lora_" not in n)
    ids, mask, _ = batch(tokenizer, toy_examples(3))
    model.eval()
    merged = merged_copy(model)
    reloaded, _ = load_adapter(save_adapter(model, tmp_path / "qlora"), device="cpu")
    assert json.loads((tmp_path / "qlora" / "labkit-train.json").read_text())["quantize"] == "nf4"
    torch.testing.assert_close(logits(reloaded, ids, mask), logits(merged, ids, mask), rtol=1e-4, atol=1e-4)
    # the merge is onto full-precision weights, so it differs from the 4-bit model by quantization error only
    difference = (logits(merged, ids, mask) - logits(model, ids, mask)).abs().mean()
    assert 0 < difference < 0.1 * logits(merged, ids, mask).abs().mean()


# ---------------------------------------------------------------------------
# the memory planner


def test_a_large_budget_needs_no_checkpointing():
    plan = plan_fit(QWEN_1_5B, TrainConfig(batch_size=8, max_seq_len=512), budget_gib=80, compute_bytes=2)
    assert (plan.micro_batch, plan.grad_accum, plan.gradient_checkpointing) == (8, 1, False)
    assert plan.total_gib <= 0.9 * 80 and plan.budget_gib == 80


def test_a_shrinking_budget_checkpoints_then_splits_the_batch():
    config = TrainConfig(batch_size=8, max_seq_len=512)
    plans = [plan_fit(QWEN_1_5B, config, budget_gib=b, compute_bytes=2) for b in (80, 20, 14, 8, 4, 3)]
    costs = [(-p.micro_batch, p.gradient_checkpointing) for p in plans]
    assert costs == sorted(costs)  # each smaller budget gives a plan that is no faster
    assert plans[0].gradient_checkpointing is False
    assert plans[2].gradient_checkpointing and plans[2].micro_batch == 8  # the T4 case: checkpointing suffices
    assert plans[-1].micro_batch < 8 and plans[-1].gradient_checkpointing
    for p, budget in zip(plans, (80, 20, 14, 8, 4, 3)):
        assert p.total_gib <= 0.9 * budget and p.micro_batch * p.grad_accum >= 8


def test_checkpointing_can_be_forced_either_way():
    config = TrainConfig(batch_size=8, max_seq_len=512)
    assert plan_fit(QWEN_1_5B, replace(config, gradient_checkpointing=True), 80, 2).gradient_checkpointing
    forced_off = plan_fit(QWEN_1_5B, replace(config, gradient_checkpointing=False), 14, 2)
    assert not forced_off.gradient_checkpointing and forced_off.micro_batch < 8


def test_nothing_fits_names_the_budget():
    with pytest.raises(LabkitError, match=r"does not fit.*the budget is 1\.5 GiB") as info:
        plan_fit(QWEN_1_5B, TrainConfig(batch_size=8, max_seq_len=512), budget_gib=1.5, compute_bytes=2)
    assert "max_seq_len" in info.value.fix


def test_estimate_grows_with_batch_and_length_and_shrinks_with_checkpointing_and_nf4():
    def total(**changes):
        args = dict(quantize="nf4", compute_bytes=2, micro_batch=4, seq_len=512, lora_r=16,
                    gradient_checkpointing=False)
        return sum(estimate_memory(QWEN_1_5B, **{**args, **changes}).values())

    base = total()
    assert total(micro_batch=8) > base > total(micro_batch=2)
    assert total(seq_len=1024) > base > total(seq_len=256)
    assert total(gradient_checkpointing=True) < base
    assert total(quantize="none") > base
    assert total(lora_r=64) > base
    parts = estimate_memory(QWEN_1_5B, quantize="nf4", compute_bytes=2, micro_batch=4, seq_len=512, lora_r=16,
                            gradient_checkpointing=False, scored_share=0.5)
    assert parts["logits"] == pytest.approx(estimate_memory(
        QWEN_1_5B, quantize="nf4", compute_bytes=2, micro_batch=4, seq_len=512, lora_r=16,
        gradient_checkpointing=False)["logits"] / 2)
    nf4_weights = estimate_memory(QWEN_1_5B, quantize="nf4", compute_bytes=2, micro_batch=1, seq_len=1, lora_r=16,
                                  gradient_checkpointing=True)["weights"]
    assert 1.2 < nf4_weights < 2.0  # 1.3B linear params at ~4.1 bits + fp32 tied embeddings (0.87 GiB)


def test_lora_parameters_match_peft(model):
    from labkit.tuning.plan import lora_parameters

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert lora_parameters(model.config, r=4) == trainable


# ---------------------------------------------------------------------------
# adapters: save, load, merge, size


def test_saved_adapter_reloads_to_the_same_model(tokenizer, model, tmp_path):
    perturb_adapters(model)
    model.eval()
    ids, mask, _ = batch(tokenizer, toy_examples(3))
    expected = logits(model, ids, mask)
    folder = save_adapter(model, tmp_path / "adapter", info={"steps": 3})
    assert (folder / "SHA256SUMS").exists() and all((folder / f).exists() for f in ADAPTER_FILES)
    info = json.loads((folder / "labkit-train.json").read_text())
    assert info == {"base_key": None, "base": model.labkit_source, "quantize": "none", "steps": 3}
    assert load_adapter(folder, device="cpu")[0].dtype == inference_dtype("cpu")  # what labkit generates in
    merged, loaded_tokenizer = load_adapter(folder, device="cpu", dtype=torch.float32)
    assert not hasattr(merged, "peft_config") and not merged.training
    assert loaded_tokenizer.pad_token_id is not None
    torch.testing.assert_close(logits(merged, ids, mask), expected, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(logits(merged, ids, mask), logits(tiny_model(model.labkit_source), ids, mask),
                              atol=1e-3)  # the adapter really does something


def test_a_damaged_adapter_is_named_on_load(model, tmp_path):
    folder = save_adapter(model, tmp_path / "adapter")
    weights = folder / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(LabkitError, match="adapter_model.safetensors does not match its checksum"):
        load_adapter(folder, device="cpu")
    folder = save_adapter(model, tmp_path / "adapter")  # saving again replaces the damaged folder
    (folder / "adapter_config.json").unlink()
    with pytest.raises(LabkitError, match="adapter_config.json is missing"):
        load_adapter(folder, device="cpu")


def test_a_failing_save_leaves_no_partial_folder_and_keeps_the_old_one(model, tmp_path, monkeypatch):
    old = save_adapter(model, tmp_path / "adapter", info={"version": 1})

    def broken_save(folder, *args, **kwargs):
        (Path(folder) / "adapter_model.safetensors").write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save_pretrained", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_adapter(model, tmp_path / "adapter", info={"version": 2})
    with pytest.raises(OSError, match="disk full"):
        save_adapter(model, tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]  # no .tmp-* left, no "fresh"
    assert json.loads((old / "labkit-train.json").read_text())["version"] == 1
    load_adapter(old, device="cpu")  # the previous save is intact


def test_merged_copy_matches_the_adapter_model_and_leaves_it_alone(tokenizer, model):
    perturb_adapters(model)
    model.eval()
    ids, mask, _ = batch(tokenizer, toy_examples(3))
    expected = logits(model, ids, mask)
    assert merged_copy(model).dtype == inference_dtype("cpu")  # what labkit generates in
    merged = merged_copy(model, dtype=torch.float32)
    torch.testing.assert_close(logits(merged, ids, mask), expected, rtol=1e-4, atol=1e-4)
    assert not hasattr(merged, "peft_config")
    assert hasattr(model, "peft_config") and any("lora_" in n for n, _ in model.named_parameters())
    torch.testing.assert_close(logits(model, ids, mask), expected)  # not merged in place


def test_adapter_bytes_matches_the_saved_file(tiny_source, tmp_path):
    model = tiny_model(tiny_source, r=8)
    folder = save_adapter(model, tmp_path / "adapter")
    on_disk = (folder / "adapter_model.safetensors").stat().st_size
    assert 0 <= on_disk - adapter_bytes(model) < 8 * 1024  # the safetensors header only
    assert adapter_bytes(model) == 4 * sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_unknown_quantize_is_refused_before_loading():
    with pytest.raises(LabkitError, match="unknown quantize='bogus'"):
        load_trainable("smollm2-135m", TrainConfig(quantize="bogus"), device="cpu")


# ---------------------------------------------------------------------------
# scripts/gpu_check.py in its CPU smoke-test mode


def test_gpu_check_runs_tiny_on_cpu(tmp_path, capsys, monkeypatch):
    """About 4 s on a 2-core CPU: the real shapes only run on a GPU, by hand."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the script sets these defaults on import; undo them afterwards
    monkeypatch.setenv("TQDM_DISABLE", "1")
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    out = tmp_path / "check.json"
    report = gpu_check.main(["--device", "cpu", "--tiny", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    runs = {(r["model"], r["run"]) for r in report["runs"]}
    assert runs == {("tiny", k) for k in ("labkit qlora", "labkit lora", "raw qlora", "raw lora", "fit 15 GB")}
    assert all(r.get("error") is None and r["tokens_per_s"] > 0 for r in report["runs"])
    assert "| model |" in capsys.readouterr().out


def test_on_a_cpu_smaller_micro_batches_come_before_checkpointing():
    config = TrainConfig(batch_size=8, max_seq_len=512)
    on_gpu = plan_fit(QWEN_1_5B, config, budget_gib=14, compute_bytes=2)
    on_cpu = plan_fit(QWEN_1_5B, config, budget_gib=14, compute_bytes=2, device="cpu")
    assert on_gpu.gradient_checkpointing and on_gpu.micro_batch == 8
    assert not on_cpu.gradient_checkpointing and on_cpu.micro_batch < 8 and on_cpu.total_gib <= 0.9 * 14


# ---------------------------------------------------------------------------
# fit: train once, then the identical run comes from the cache


def test_fit_trains_once_then_loads_the_identical_run_from_the_cache(tiny_source, tokenizer, tmp_path, monkeypatch):
    import labkit.tuning.fit as fit_module

    loads = []

    def fake_load_trainable(key, config):
        loads.append(key)
        return tiny_model(tiny_source), tokenizer

    monkeypatch.setattr(fit_module, "load_trainable", fake_load_trainable)
    examples = toy_examples(8)
    first = fit_module.fit("tiny", examples, FAST, cache=tmp_path)
    assert not first.from_cache and loads == ["tiny"] and first.result.losses[-1] < first.result.losses[0]
    again = fit_module.fit("tiny", examples, FAST, cache=tmp_path)
    assert again.from_cache and loads == ["tiny"], "an identical run must not train again"
    assert again.result.losses == pytest.approx(first.result.losses, abs=1e-4) and again.adapter_mb == first.adapter_mb
    ids = torch.tensor([[1, 2, 3, 4]])
    assert torch.allclose(logits(first.model, ids, torch.ones_like(ids)), logits(again.model, ids, torch.ones_like(ids)),
                          atol=1e-5), "the cached adapter must give the same model"
    other = fit_module.fit("tiny", examples[:-1], FAST, cache=tmp_path)  # another example set: another key
    assert not other.from_cache and len(loads) == 2
    damaged = tmp_path / fit_module.cache_key("tiny", examples, FAST) / "adapter_model.safetensors"
    damaged.write_bytes(b"not an adapter")
    retrained = fit_module.fit("tiny", examples, FAST, cache=tmp_path)
    assert not retrained.from_cache and len(loads) == 3, "a damaged cache entry is retrained, not trusted"
    assert fit_module.fit("tiny", examples, FAST, cache=tmp_path).from_cache, "and the entry is whole again"


def test_fit_isolated_trains_in_a_child_process_and_this_one_loads_the_adapter(tmp_path, monkeypatch):
    import labkit.tuning.fit as fit_module

    def no_training_here(*args, **kwargs):
        raise AssertionError("fit(isolate=True) must not train in the calling process")

    monkeypatch.setattr(fit_module, "load_trainable", no_training_here)  # the child imports its own, untouched
    examples = toy_examples(4)
    config = replace(FAST, max_steps=2, quantize="none", max_seq_len=48, batch_size=2)
    fitted = fit_module.fit("smollm2-135m", examples, config, cache=tmp_path, isolate=True)
    assert not fitted.from_cache and fitted.result.steps == 2 and fitted.adapter_mb > 0
    assert not fitted.model.training and not hasattr(fitted.model, "peft_config"), "merged, ready to generate"
    assert (tmp_path / fit_module.cache_key("smollm2-135m", examples, config) / "labkit-train.json").exists()
    assert fit_module.fit("smollm2-135m", examples, config, cache=tmp_path, isolate=True).from_cache
    with pytest.raises(LabkitError, match="unknown quantize"):  # an error in the child is raised here
        fit_module.fit("smollm2-135m", examples, replace(config, quantize="int3"), cache=tmp_path, isolate=True)
    with pytest.raises(LabkitError, match="child process"):
        fit_module.fit("smollm2-135m", examples, config, cache=False, isolate=True)
