"""Measure the embedded models: one-time conversion (time, size), cold and warm load times.

    .venv/bin/python scripts/bench_models.py

Cold = a fresh Python process (imports included); warm = a second load in the same process.
The conversion runs into a temporary LABKIT_CACHE so your own cache is untouched.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from labkit import models
kind, key = sys.argv[1], sys.argv[2]
load = models.load_generator if kind == "generator" else models.load_embedder
t1 = time.perf_counter(); load(key); t2 = time.perf_counter(); load(key); t3 = time.perf_counter()
print(json.dumps({"cold_s": t2 - t0, "cold_load_only_s": t2 - t1, "warm_s": t3 - t2}))
"""


def probe(kind: str, key: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, kind, key], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # no options: --help only
    env = dict(os.environ, HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    with tempfile.TemporaryDirectory() as tmp:
        env["LABKIT_CACHE"] = tmp
        first = probe("generator", "smollm2-135m", env)  # converts
        marker = next(Path(tmp).glob("models/*/labkit-converted.json"))
        conversion_s = json.loads(marker.read_text())["seconds"]
        size = folder_mb(marker.parent)
        gen = probe("generator", "smollm2-135m", env)
        emb = probe("embedder", "minilm-l6", env)
    print("| model | what | seconds |")
    print("| --- | --- | --- |")
    print(f"| smollm2-135m | first load ever (imports + GGUF read, dequantize, save) | {first['cold_s']:.1f} |")
    print(f"| smollm2-135m | of which the conversion itself | {conversion_s:.1f} |")
    print(f"| smollm2-135m | cold load (new process, imports included) | {gen['cold_s']:.1f} |")
    print(f"| smollm2-135m | cold load, the load call only (library import included) | {gen['cold_load_only_s']:.2f} |")
    print(f"| smollm2-135m | warm load (same process) | {gen['warm_s']:.2f} |")
    print(f"| minilm-l6 | cold load (new process, imports included) | {emb['cold_s']:.1f} |")
    print(f"| minilm-l6 | cold load, the load call only (library import included) | {emb['cold_load_only_s']:.2f} |")
    print(f"| minilm-l6 | warm load (same process) | {emb['warm_s']:.2f} |")
    print(f"\nconverted folder: {size:.0f} MB (float32 safetensors + tokenizer)")


if __name__ == "__main__":
    main()
