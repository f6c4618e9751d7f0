import random

import pytest

from labkit import doctor, runtime
from labkit.errors import LabkitError


def test_profiles_name_models_that_exist_and_pick_the_machine_never_the_experiment():
    from labkit.models import MODELS

    for profile in runtime.PROFILES.values():
        assert profile.generator in MODELS and profile.embedder in MODELS
        assert MODELS[profile.generator].kind == "generator"
        assert MODELS[profile.embedder].kind == "embedder"
    ci, cpu, gpu = (runtime.PROFILES[n] for n in ("ci", "cpu", "gpu"))
    assert ci.memory_gb <= 4
    # a laptop does CI's work: same models, same generation budgets, same memory plan (so the same adapters)
    assert (cpu.generator, cpu.embedder, cpu.memory_gb) == (ci.generator, ci.embedder, ci.memory_gb)
    for profile in (cpu, gpu):
        assert (profile.max_new_tokens, profile.max_format_tokens) == (ci.max_new_tokens, ci.max_format_tokens)
    assert not hasattr(ci, "eval_examples"), "how many questions are scored is the course's (SAMPLE_SIZE)"


def test_the_gpu_profile_fits_a_t4_which_has_no_bf16(monkeypatch):
    import torch

    from labkit.models import MODELS

    gpu = runtime.PROFILES["gpu"]
    assert "T4" in gpu.description and "fp16" in gpu.description
    assert not MODELS[gpu.generator].embedded, "the gpu profile reads a larger generator from the hub"
    monkeypatch.setattr(runtime, "bf16_supported", lambda device: False)  # a T4
    assert runtime.inference_dtype("cuda") == torch.float16, "a T4 has no bf16"
    assert runtime.inference_dtype("cpu") == torch.float32


def test_embedded_profiles_use_only_embedded_models():
    from labkit.models import MODELS

    for name in ("ci", "cpu"):
        p = runtime.PROFILES[name]
        assert MODELS[p.generator].embedded and MODELS[p.embedder].embedded


def test_profile_override_and_unknown_name(monkeypatch):
    monkeypatch.setenv("LABKIT_PROFILE", "cpu")
    monkeypatch.setenv("CI", "true")
    assert runtime.get_profile().name == "cpu", "the variable wins over the automatic choice"
    monkeypatch.setenv("LABKIT_PROFILE", "gpx")
    with pytest.raises(LabkitError) as err:
        runtime.get_profile()
    assert "gpx" in err.value.problem and "ci, cpu, gpu" in err.value.fix


def test_automatic_profile_on_this_cpu(monkeypatch):
    monkeypatch.delenv("LABKIT_PROFILE", raising=False)
    monkeypatch.setenv("CI", "true")
    assert runtime.get_profile().name == "ci"
    monkeypatch.delenv("CI")
    assert runtime.get_profile().name == "cpu"


def test_seed_everything_returns_a_seeded_generator_and_seeds_torch():
    import torch

    a = runtime.seed_everything(7)
    x = torch.rand(3)
    b = runtime.seed_everything(7)
    assert torch.equal(x, torch.rand(3))
    assert isinstance(a, random.Random) and a.random() == b.random()


def test_the_device_is_said_by_the_doctor_not_by_every_model_load(capsys):
    runtime._SAID.clear()
    device = runtime.pick_device()
    assert capsys.readouterr().err == ""  # no line in every lab
    report = doctor.doctor(load_models=False)
    assert any(check.name == "device" and device in check.detail for check in report.checks)


def test_doctor_reports_each_problem_with_a_fix(monkeypatch):
    monkeypatch.setattr(doctor, "PACKAGES", doctor.PACKAGES + ["surely-not-installed-pkg"])
    report = doctor.doctor(load_models=False)
    assert not report.all_clear
    (problem,) = report.problems
    assert problem.name == "surely-not-installed-pkg" and problem.fix
    assert "fix:" in str(report) and "1 problem" in str(report)


def test_doctor_all_clear_on_this_machine():
    report = doctor.doctor(load_models=False)
    names = {c.name for c in report.checks}
    assert {"python", "torch", "device", "bf16", "memory", "colab", "bitsandbytes 4-bit"} <= names
    assert report.all_clear, str(report)
    assert str(report).endswith("all clear: every check passed.")


def test_4bit_failure_is_reported_with_the_fallback(monkeypatch):
    def broken(module):
        raise ImportError("no bitsandbytes here")

    monkeypatch.setattr(doctor, "quiet_import", broken)
    check = doctor._check_4bit("cpu", bf16=False)
    assert not check.ok and "plain LoRA" in check.fix


@pytest.fixture
def fake_cuda(monkeypatch):
    """CUDA that torch reports present (nothing runs on it), the hub unreachable, the choice made afresh."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(runtime, "hub_cached", lambda spec: False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LABKIT_PROFILE", "gpu")
    runtime._with_reachable_models.cache_clear()
    runtime._SAID.clear()
    yield
    runtime._with_reachable_models.cache_clear()


def test_the_gpu_profile_without_cuda_is_an_error_that_says_what_to_do(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LABKIT_PROFILE", "gpu")
    with pytest.raises(LabkitError) as err:
        runtime.get_profile()
    assert "CUDA" in err.value.problem and "LABKIT_PROFILE=cpu" in err.value.fix
    assert runtime.get_profile("gpu").name == "gpu", "named as an argument it can still be read"


def test_the_gpu_profile_falls_back_to_the_embedded_models_offline_and_says_so_once(fake_cuda, capsys):
    first, second = runtime.get_profile(), runtime.get_profile()
    assert first is second is runtime.PROFILES["gpu-embedded"]
    assert (first.generator, first.embedder) == ("smollm2-135m", "minilm-l6") and first.needs_cuda
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and "qwen2.5-0.5b, bge-small" in said[0] and "HF_HUB_OFFLINE" in said[0]


def test_a_connection_error_falls_back_too_and_a_cached_model_does_not(fake_cuda, monkeypatch, capsys):
    import huggingface_hub

    def no_connection(self, repo_id, timeout=None):
        assert timeout and timeout <= 10, "the probe must not hang a notebook"
        raise ConnectionError(f"cannot reach the hub for {repo_id}")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_connection)
    assert runtime.get_profile().name == "gpu-embedded"
    assert "the hub did not answer" in capsys.readouterr().err
    runtime._with_reachable_models.cache_clear()
    monkeypatch.setattr(runtime, "hub_cached", lambda spec: True)
    assert runtime.get_profile().name == "gpu", "models in the cache need no hub"
    assert capsys.readouterr().err == ""


def test_the_fallback_runs_the_embedded_generator_and_the_rows_name_it(fake_cuda, monkeypatch, tmp_path):
    """The ladder's prompt rung on the fallback profile, on the CPU (the CUDA check faked): its rows say which
    model ran and under which profile."""
    from labkit import models
    from labkit.ladder import run

    monkeypatch.setattr(run, "load_generator", lambda key: models.load_generator(key, device="cpu"))
    config = run.LadderConfig(rungs=("prompt",), sample=1, out=tmp_path, report=False)
    rows = [r for r in run.run_ladder(config) if r.rung == "prompt"]
    assert rows and {(r.model, r.profile) for r in rows} == {("smollm2-135m", "gpu-embedded")}


def test_the_doctor_reports_the_gpu_profile_without_cuda_as_a_problem(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LABKIT_PROFILE", "gpu")
    report = doctor.doctor(load_models=False)
    (problem,) = report.problems
    assert problem.name == "profile" and "CUDA" in problem.detail and "LABKIT_PROFILE=cpu" in problem.fix


def test_a_snapshot_in_the_hugging_face_cache_counts_as_cached(tmp_path):
    spec = runtime.MODELS["qwen2.5-0.5b"]
    assert not runtime.hub_cached(spec, cache_dir=tmp_path)
    repo = tmp_path / ("models--" + spec.hub_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    assert runtime.hub_cached(spec, cache_dir=tmp_path)


def test_bf16_can_be_switched_off_to_reproduce_the_float32_reference_outputs(monkeypatch):
    import torch

    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.delenv("LABKIT_BF16", raising=False)
    assert runtime.bf16_supported("cpu") and runtime.inference_dtype("cpu") == torch.bfloat16
    monkeypatch.setenv("LABKIT_BF16", "0")
    assert not runtime.bf16_supported("cpu") and runtime.inference_dtype("cpu") == torch.float32
    line = next(c for c in doctor.doctor(load_models=False).checks if c.name == "bf16")
    assert "LABKIT_BF16=0" in line.detail
