"""labkit.tuning.parallel: ``python -m labkit train`` under ``accelerate launch``, two processes on the CPU (gloo).

Data parallelism here is exact: each process takes its share of every step's sequences, the loss is divided by
the tokens scored in the whole step, and the gradients are summed. So two processes must train the same adapter
as one process on the whole batch, with the main process alone writing it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from labkit.errors import LabkitError
from labkit.storage import verify_folder
from labkit.tuning.fit import train_and_save
from labkit.tuning.parallel import Processes, launched, processes
from labkit.tuning.train import ADAPTER_FILES, TrainConfig, read_examples

# batches of 3 over 16 examples: shards of 2 and 1, and a last batch of 1 that leaves one process nothing to do
TRAIN_ARGS = ["--epochs", "2", "--batch-size", "3", "--learning-rate", "1e-2", "--lora-r", "4", "--dtype", "float32",
              "--max-seq-len", "128"]
CONFIG = TrainConfig(epochs=2, batch_size=3, learning_rate=1e-2, lora_r=4, lora_alpha=8, dtype="float32", max_seq_len=128)


def write_examples(path: Path, n: int = 16) -> Path:
    path.write_text("".join(json.dumps({"prompt": f"What is the code of item {i}?" + " Be brief." * (i % 4),
                                        "completion": f"Item {i} has code K-{(7 * i) % 13}{i}."}) + "\n"
                            for i in range(n)))
    return path


def test_shards_cover_every_item_once_whatever_the_count():
    items = list(range(7))
    for count in (1, 2, 3, 8):
        shards = [Processes(count, i).shard(items) for i in range(count)]
        assert sorted(x for s in shards for x in s) == items
        assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_outside_a_launcher_there_is_one_process_and_nothing_to_sum(monkeypatch):
    for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    alone = processes()
    assert not launched() and alone == Processes(1, 0) and alone.is_main
    p = torch.nn.Parameter(torch.ones(2))
    alone.sum_gradients([p])
    assert p.grad is None and alone.sum(2.5) == 2.5


def test_read_examples_names_the_bad_line(tmp_path):
    path = tmp_path / "ex.jsonl"
    path.write_text('{"prompt": "hi", "completion": "hello"}\n{"prompt": "no reply"}\n')
    with pytest.raises(LabkitError, match=r"ex.jsonl line 2: 'completion'"):
        read_examples(path)
    path.write_text('{"messages": [{"role": "user"}], "completion": "x"}\n')
    with pytest.raises(LabkitError, match="line 1: no conversation"):
        read_examples(path)


def test_two_processes_train_the_adapter_one_process_trains(tiny_source, tmp_path):
    examples = write_examples(tmp_path / "examples.jsonl")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533"]
    run = subprocess.run([*launch, "-m", "labkit", "train", str(examples), "--model", tiny_source,
                          "--out", str(tmp_path / "two"), *TRAIN_ARGS],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert run.stdout.count("adapter: ") == 1 and "2 processes" in run.stdout  # the main process alone reports
    verify_folder(tmp_path / "two", ADAPTER_FILES, "adapter")  # written once, whole, checksummed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["examples.jsonl", "two"]  # nothing left half-written

    train_and_save(tiny_source, read_examples(examples), CONFIG, tmp_path / "one")  # one process, the whole batch
    two, one = (json.loads((tmp_path / name / "labkit-train.json").read_text())["result"] for name in ("two", "one"))
    assert len(two["losses"]) == len(one["losses"]) == 12  # ceil(16 / 3) steps, twice
    assert two["losses"][-1] < two["losses"][0]  # it learns
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-4)  # the same gradient at every step
    assert two["tokens"] == one["tokens"]  # every sequence trained once per epoch, not once per process
    from safetensors.torch import load_file

    a, b = (load_file(tmp_path / name / "adapter_model.safetensors") for name in ("two", "one"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
