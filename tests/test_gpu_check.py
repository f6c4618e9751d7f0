"""scripts/gpu_check.py, the one prepared GPU script: what each flag runs and what its report says. (Its dry
run, every stage on the CPU, takes minutes: run it by hand, `python scripts/gpu_check.py --dry-run`; the shapes
stage alone runs in tests/test_train.py.)"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def gpu_check(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the script sets these defaults on import; undo them afterwards
    monkeypatch.setenv("TQDM_DISABLE", "1")
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_dry_run_takes_every_stage_to_the_cpu_at_tiny_sizes(gpu_check):
    args = gpu_check.parse(["--dry-run"])
    assert (args.device, args.tiny, args.stages) == ("cpu", True, "shapes,adapters,ladder,parallel")
    assert (args.adapter_steps, args.adapter_examples, args.sample, args.rungs) == (1, 4, 1, "prompt")
    assert gpu_check.parse(["--cpu"]).dry_run
    assert gpu_check.parse(["--device", "cpu", "--tiny"]).stages == "shapes", "the smoke test of the shapes alone"
    real = gpu_check.parse(["--device", "cuda"])
    assert (real.adapter_steps, real.adapter_examples, real.sample, real.rungs) == (20, None, 8, None)
    with pytest.raises(SystemExit):
        gpu_check.parse(["--stages", "shapes,bogus"])


def test_fp16_always_and_bf16_only_where_the_card_has_it(gpu_check, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)  # a T4
    assert gpu_check.adapter_dtypes("cuda") == ["float16"]
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert gpu_check.adapter_dtypes("cuda") == ["float16", "bfloat16"]
    assert gpu_check.adapter_dtypes("cpu") == ["float32"]


def test_the_report_sets_the_planners_estimate_beside_the_measured_peak(gpu_check):
    args = vars(gpu_check.parse(["--device", "cuda"]))
    adapter = gpu_check.row("smollm2-135m", "raft qlora", quantize="none", dtype="float16", plan="8x1",
                            estimate_gib=2.0, peak_gib=3.0, tokens_per_s=1000.0, loss_first=2.0, loss_last=1.5,
                            scaler=True, under_cap=True)
    ladder = {"profile": "gpu-embedded", "generator": "smollm2-135m", "embedder": "minilm-l6", "sample": 8,
              "seconds": 60.0, "peak_gib": 4.2, "rows": [
                  {"rung": "rag", "variant": "bm25 top-3", "corpus_version": "v1", "n": 8, "accuracy": 0.5,
                   "format_compliance": None, "stale_rate": None, "latency_ms_mean": 80.0}]}
    text = gpu_check.markdown({"device": "NVIDIA H200", "started": "now", "versions": {}, "args": args,
                               "seconds": 61.0, "runs": [], "adapters": [adapter], "ladder": ladder})
    line = next(line for line in text.splitlines() if "raft qlora" in line)
    assert "estimate 2.00 GiB; peak/estimate 1.50; under the cap: yes; grad scaler" in line
    assert "NF4 unavailable: ran plain LoRA" in line, "a QLoRA run that fell back says so"
    assert "profile gpu-embedded (smollm2-135m, minilm-l6)" in text and "| rag | bm25 top-3 | v1 | 8 | 50% |" in text
