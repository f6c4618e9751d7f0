"""A content-keyed cache of trained adapters: the same base, examples and config train once.

:func:`fit` trains LoRA/QLoRA adapters (:mod:`labkit.tuning.train`) and merges them for inference, or
loads the adapter an identical earlier run saved; :func:`cache_key` is the digest that decides
"identical". With ``isolate=True`` the training runs in a child process, so the memory it took goes
back to the system when the child ends.

>>> e = [Example([{"role": "user", "content": "Hi"}], "Hello.")]
>>> cache_key("m", e, TrainConfig()) == cache_key("m", list(e), TrainConfig())
True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Sequence

from labkit.errors import LabkitError
from labkit.runtime import cache_dir, say_once
from labkit.tuning.parallel import processes
from labkit.tuning.plan import FitPlan
from labkit.tuning.train import (Example, TrainConfig, TrainResult, adapter_bytes, load_adapter, load_trainable,
                                 merged_copy, save_adapter, summary_json, train)

TRAINER_VERSION = 3  # bump when the same config and examples would now train a different adapter


def cache_key(model_key: str, examples: Sequence[Example], config: TrainConfig) -> str:
    """A digest of everything that decides the adapter: the base model key, the config, every example.

    >>> e = [Example([{"role": "user", "content": "Hi"}], "Hello.")]
    >>> cache_key("m", e, TrainConfig()) == cache_key("m", list(e), TrainConfig())
    True
    >>> cache_key("m", e, TrainConfig()) == cache_key("m", e, TrainConfig(seed=1))
    False
    """
    import hashlib

    payload = json.dumps([TRAINER_VERSION, model_key, asdict(config), [[e.messages, e.completion] for e in examples]],
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


@dataclass
class Fitted:
    """A trained adapter merged for inference, with the run that made it."""

    model: object  # merged, eval mode
    tokenizer: object
    result: TrainResult
    adapter_mb: float
    from_cache: bool  # True when an identical run was found in the cache (its timings are that run's)


def _result_from_json(saved: dict) -> TrainResult:
    saved = {k: v for k, v in saved.items() if k in {f.name for f in fields(TrainResult)}}
    saved["plan"] = FitPlan(**saved["plan"]) if saved.get("plan") else None
    return TrainResult(**saved)


def fit(model_key: str, examples: Sequence[Example], config: TrainConfig, on_epoch=None,
        cache: Path | str | None = None, isolate: bool = False, heldout: Sequence[Example] = ()) -> Fitted:
    """Train LoRA/QLoRA adapters on ``examples`` and merge them, or load the adapter an identical run
    saved under ``cache`` (default ``<labkit cache>/adapters``; ``cache=False``: never). A run with an
    ``on_epoch`` callback always trains (the callback has to see the epochs) and then fills the cache.

    ``isolate=True`` trains in a child process that saves the adapter to the cache and exits, so that the
    memory training took goes back to the system; this process then loads the adapter. The ladder does
    this, to stay within its memory budget. It needs the cache and no ``on_epoch``.

    ``heldout`` examples are never trained on: their loss is measured along the run (:func:`train`), so it
    does not enter the cache key; a cached run that lacks the held-out curve asked for trains again once.

    >>> fitted = fit("smollm2-135m", examples, TrainConfig(epochs=1))      # doctest: +SKIP
    >>> fitted.result.losses[-1] < fitted.result.losses[0], fitted.from_cache  # doctest: +SKIP
    (True, False)
    """
    if isolate and (cache is False or on_epoch is not None):
        raise LabkitError("fit(isolate=True) trains in a child process, which needs the adapter cache and no on_epoch",
                          "drop isolate=True, or leave the cache on and pass no on_epoch callback")
    folder = None if cache is False else _cache_root(cache) / cache_key(model_key, examples, config)
    if folder is not None and on_epoch is None:
        cached = _cached(folder)
        if cached is not None and (cached.result.heldout_losses or not heldout):
            return cached
        if cached is not None:
            say_once("labkit: training again: the cached run of this adapter did not measure a held-out loss")
    if isolate:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
            child.submit(train_and_save, model_key, list(examples), config, folder, None, list(heldout),
                         False).result()  # re-raises its error
        return _load_fitted(folder, from_cache=False)
    model, tokenizer, result, adapter_mb = train_and_save(model_key, examples, config, folder, on_epoch, heldout)
    return Fitted(merged_copy(model), tokenizer, result, adapter_mb, False)


def _cache_root(cache: Path | str | None) -> Path:
    return Path(cache or cache_dir() / "adapters")


def _cached(folder: Path) -> Fitted | None:
    """The run saved in ``folder``, or None when there is none or it is damaged (that is said once)."""
    if not (folder / "labkit-train.json").exists():
        return None
    try:
        return _load_fitted(folder, from_cache=True)
    except LabkitError as e:  # a damaged entry: train again and overwrite it
        say_once(f"labkit: retraining, the cached adapter is unusable ({e.problem})")
        return None


def _load_fitted(folder: Path, from_cache: bool) -> Fitted:
    model, tokenizer = load_adapter(folder)
    info = json.loads((folder / "labkit-train.json").read_text())
    return Fitted(model, tokenizer, _result_from_json(info["result"]), info["adapter_mb"], from_cache)


def train_and_save(model_key: str | None, examples: Sequence[Example], config: TrainConfig, folder: Path | str | None,
                   on_epoch=None, heldout: Sequence[Example] = (), keep: bool = True):
    """Train fresh adapters on ``model_key`` (a key of :mod:`labkit.models` or a model folder; None: the profile's
    generator), save them to ``folder`` (None: don't; under ``accelerate launch`` the main process saves, the
    others wait for it); returns (model, tokenizer, result, MB), or nothing with ``keep=False`` (the child process
    of ``fit(isolate=True)``, whose model goes with it). ``python -m labkit train`` runs this."""
    model, tokenizer = load_trainable(model_key, config)
    result = train(model, tokenizer, examples, config, on_epoch=on_epoch, heldout=heldout)
    adapter_mb = adapter_bytes(model) / 1e6
    together = processes()  # under accelerate launch, every process holds the same adapter: one saves it
    if folder is not None and together.is_main:
        save_adapter(model, folder, {"result": summary_json(result), "adapter_mb": adapter_mb})
    together.wait()
    return (model, tokenizer, result, adapter_mb) if keep else None
