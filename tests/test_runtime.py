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
    monkeypatch.setenv("LABKIT_PROFILE", "gpu")
    assert runtime.get_profile().name == "gpu"
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


def test_device_is_said_once(capsys):
    runtime._SAID.clear()
    runtime.pick_device()
    runtime.pick_device()
    assert capsys.readouterr().err.count("labkit:") == 1


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
