"""How the Inception feature pass runs on a CPU: memory layout and chunk size, measured once per
machine.

Which is fastest depends on the CPU. NHWC with chunks of 8 won on the AMX Xeon and the AVX-512
EPYC (docs/performance.md), but on an AVX2-only EPYC the same pass ran at 1.42× pytorch-fid's
alone and below it beside another job. So the first CPU scoring on a machine times each
candidate on a few chunks (about 10 s), keeps the fastest in a small cache file keyed by the CPU
model, its vector extensions, the torch version and the thread count, and every later run reads
it. Delete the file to measure again, or set GANLAB_INCEPTION_PASS=nhwc:8 (layout:chunk) to choose.
Every candidate computes the same features up to float rounding (tested).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ganlab.errors import GanlabError
from ganlab.io import atomic_write_text

ENV = "GANLAB_INCEPTION_PASS"
MEMORY_FORMATS = {"nhwc": torch.channels_last, "nchw": torch.contiguous_format}
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile")


@dataclass(frozen=True)
class FeaturePass:
    layout: str  # nhwc | nchw
    chunk: int  # images per forward; 0: the whole batch (CUDA)

    @property
    def memory_format(self) -> torch.memory_format:
        return MEMORY_FORMATS[self.layout]

    def __str__(self) -> str:
        return f"{self.layout}:{self.chunk}"

    @classmethod
    def parse(cls, text: str, *, what: str) -> FeaturePass:
        layout, _, chunk = text.partition(":")
        if layout not in MEMORY_FORMATS or not chunk.isdigit() or int(chunk) < 1:
            raise GanlabError(f"{what}: expected LAYOUT:CHUNK with LAYOUT nhwc or nchw and CHUNK >= 1, found {text!r}")
        return cls(layout, int(chunk))


CUDA_PASS = FeaturePass("nhwc", 0)  # whole batches keep a GPU busy; cuDNN's tensor cores want NHWC
CPU_CANDIDATES = (FeaturePass("nhwc", 8), FeaturePass("nchw", 8), FeaturePass("nhwc", 32), FeaturePass("nchw", 32))


def machine_key(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """What the fastest pass depends on: CPU model, vector extensions, torch and its threads."""
    model, flags = "unknown CPU", set()
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    extensions = "+".join(f for f in CPU_FLAGS if f in flags) or "none"
    return f"{model} | {extensions} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def cache_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ganlab" / "inception_pass.json"


@torch.inference_mode()
def measure(model: torch.nn.Module, candidates=CPU_CANDIDATES, *, rounds: int = 2) -> dict[FeaturePass, float]:
    """Images per second of each candidate on random 32-px images: one warm-up chunk each, then
    `rounds` rounds that time one chunk of every candidate in turn, so that a load that comes and
    goes slows all of them alike; each keeps its best round. The model is left in the last
    candidate's layout."""
    inputs = {c: torch.rand(c.chunk, 3, 32, 32).contiguous(memory_format=c.memory_format) for c in candidates}
    for candidate in candidates:
        model.to(memory_format=candidate.memory_format)(inputs[candidate])
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(rounds):
        for candidate in candidates:
            model.to(memory_format=candidate.memory_format)
            start = time.perf_counter()
            model(inputs[candidate])
            best[candidate] = min(best[candidate], time.perf_counter() - start)
    return {candidate: candidate.chunk / seconds for candidate, seconds in best.items()}


def cpu_pass(
    model: torch.nn.Module,
    *,
    cache: Path | None = None,
    timer: Callable[[torch.nn.Module], dict[FeaturePass, float]] = measure,
) -> FeaturePass:
    """The pass for this CPU: GANLAB_INCEPTION_PASS when set, else the cached choice for this
    machine, else the fastest of `timer`'s measurement, cached."""
    if os.environ.get(ENV):
        return FeaturePass.parse(os.environ[ENV], what=ENV)
    cache = cache or cache_path()
    key = machine_key()
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}  # missing or unreadable: measure
    if not isinstance(known, dict):
        known = {}
    try:
        return FeaturePass.parse(known[key]["pass"], what=str(cache))
    except (KeyError, TypeError, GanlabError):
        pass  # not measured on this machine yet (the other machines' entries are kept)
    speeds = timer(model)
    best = max(speeds, key=speeds.get)
    known[key] = {"pass": str(best), "img_per_s": {str(c): round(s, 2) for c, s in speeds.items()}}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(known, indent=1) + "\n", cache)
    except OSError as e:  # a read-only home: measure again next time
        print(f"note: could not cache the Inception pass in {cache} ({e})")
    measured = ", ".join(f"{c} {s:.1f}" for c, s in speeds.items())
    print(f"Inception pass on this CPU: {best} (img/s: {measured}); kept in {cache}")
    return best
