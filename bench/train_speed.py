"""Training speed of each model at its params.yaml widths, fp32 against bf16 (and torch.compile).

    python bench/train_speed.py [--device auto] [--iters 10] [--batch-size 64] [--resolution 32] [--compile]
                                [--graph] [--nchw]
                                [--nproc N] [--precisions fp32 bf16]

Runs the exact step `dvc repro` trains with (each model's Trainer.step) on random data and
prints, per model and variant: it/s, GFLOP per iteration, GFLOP/s, and the fraction of this
device's GEMM peak, measured in the same run with a square matmul of each dtype. The bf16/fp32
ratio is printed per model. `--nchw` trains in NCHW instead of channels_last, to re-check that
choice (ganlab.training.state.MEMORY_FORMAT).

`--nproc N` times each model twice: as one process with all of the CPU's threads (or one GPU),
then as N torchrun workers (each with 1/N of the threads, or its own GPU) training the same
global batch, and prints the scaling: N-process it/s over 1-process it/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from ganlab.config import MODEL_SECTIONS, load_params
from ganlab.data.prepared import Split
from ganlab.distributed import SINGLE, World, join, relaunch
from ganlab.sampling import resolve_device
from ganlab.training import state as training_state
from ganlab.training.families import family_of
from ganlab.training.loop import build_trainer

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_peak(device: torch.device, dtype: torch.dtype, *, size: int, seconds: float = 2.0) -> float:
    """GFLOP/s of a size×size matmul, the best of repeated runs for about `seconds`."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    torch.mm(a, b)
    sync(device)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def random_split(resolution: int, *, n: int = 1024, num_classes: int = 10) -> Split:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, resolution, resolution), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    return Split(images=images, labels=labels, classes=[str(c) for c in range(num_classes)], digest="random")


def its_per_second(step, *, iters: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    sync(device)
    return iters / (time.perf_counter() - start)


# --models names beyond the params sections: the translation section under other settings
TRANSLATION_VARIANTS = {
    "cut": ("cyclegan", {"model": "cut"}),
    "fastcut": ("cyclegan", {"model": "cut", "nce_identity": False, "lambda_nce": 10.0, "flip_equivariance": True}),
}


def time_models(args: argparse.Namespace, device: torch.device, world: World = SINGLE) -> dict[str, float]:
    """Time every model and variant; print the table on rank 0; return {"model variant": it/s}."""
    params = load_params(args.params)
    show = print if world.is_main else (lambda *a, **k: None)
    if device.type == "cuda":  # as ganlab.training.loop.train sets it
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    if args.nchw:
        training_state.MEMORY_FORMAT = torch.contiguous_format
    name_dev = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    )
    peaks = {p: gemm_peak(device, DTYPES[p], size=8192 if device.type == "cuda" else 2048) for p in args.precisions}
    show(f"device: {device} ({name_dev}) × {world.size} process(es), torch {torch.__version__}, "
         f"global batch {args.batch_size}, {args.resolution} px, "
         f"memory format {'NCHW' if args.nchw else 'channels_last'}")  # fmt: skip
    show("GEMM peak per process: " + ", ".join(f"{p} {g:.0f} GFLOP/s" for p, g in peaks.items()))
    header = ("model", "g_ch", "d_ch", "variant", "it/s", "GFLOP/it", "GFLOP/s", "of peak")
    show("{:<8} {:>4} {:>4} {:<13} {:>7} {:>9} {:>8} {:>8}".format(*header))

    modes = ["eager"] + ["compile"] * args.compile + ["graph"] * args.graph
    variants = [(p, mode) for mode in modes for p in args.precisions]
    speeds = {}
    for name in args.models:
        section, overrides = TRANSLATION_VARIANTS.get(name, (name, {}))
        for precision, mode in variants:
            cfg = dataclasses.replace(params.model(section), **overrides)
            if mode == "graph" and getattr(cfg, "model", None) == "cut":
                continue  # CUT's step is not captured
            extra = {"resolution": args.resolution} if hasattr(cfg, "resolution") else {}  # cyclegan's own key
            if mode == "graph":
                extra["graph"] = True
            compiled = mode == "compile"
            cfg = dataclasses.replace(cfg, batch_size=args.batch_size, precision=precision, compile=compiled, **extra)
            splits = [random_split(args.resolution)] * len(family_of(getattr(cfg, "model", name)).data_roles)
            step = build_trainer(section, cfg, seed=0, device=device, splits=splits, world=world).step
            compile_s = None
            if mode != "eager":
                start = time.perf_counter()
                # compile: the first call compiles; graph: 3 eager warm-up calls (CycleGAN: and until
                # its image pools are full), then the capture
                filling = -(-cfg.pool_size // cfg.batch_size) if hasattr(cfg, "pool_size") else 0
                for _ in range(4 + filling if mode == "graph" else 1):
                    step()
                sync(device)
                compile_s = time.perf_counter() - start
            else:
                with FlopCounterMode(display=False) as counter:
                    step()
                flops = counter.get_total_flops() * world.size  # this rank's share of the global batch
            its = its_per_second(step, iters=args.iters, warmup=args.warmup, device=device)
            variant = precision + ("" if mode == "eager" else f" {mode}")
            speeds[f"{name} {variant}"] = its
            gflops = its * flops / 1e9
            note = f"   ({mode} set up in {compile_s:.0f} s)" if compile_s is not None else ""
            show(
                f"{name:<8} {cfg.g_ch:>4} {cfg.d_ch:>4} {variant:<13} {its:>7.2f} {flops / 1e9:>9.2f} "
                f"{gflops:>8.1f} {gflops / (peaks[precision] * world.size):>8.0%}{note}"
            )
        if "fp32" in args.precisions and "bf16" in args.precisions:
            ratios = [f"bf16/fp32 {speeds[f'{name} bf16'] / speeds[f'{name} fp32']:.2f}x"]
            for mode in modes[1:]:
                if f"{name} fp32 {mode}" in speeds:
                    ratios += [f"{mode}/eager fp32 {speeds[f'{name} fp32 {mode}'] / speeds[f'{name} fp32']:.2f}x",
                               f"bf16 {speeds[f'{name} bf16 {mode}'] / speeds[f'{name} bf16']:.2f}x"]  # fmt: skip
            show(f"{name:<8} " + ", ".join(ratios))
    return speeds


# Where the torchrun workers' rank 0 leaves its speeds for the process that launched them.
SPEEDS_FILE = "GANLAB_BENCH_SPEEDS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--device", default=None, help="overrides params.yaml `device`")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--resolution", type=int, default=32, choices=(32, 64, 128))
    parser.add_argument("--models", nargs="+", default=list(MODEL_SECTIONS),
                        help=f"among {', '.join(MODEL_SECTIONS)} and {', '.join(TRANSLATION_VARIANTS)}")
    parser.add_argument("--precisions", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes to compile on CPU)")
    parser.add_argument("--graph", action="store_true", help="also time `graph: true` (CUDA graphs; CUDA only)")
    parser.add_argument("--nchw", action="store_true", help="train in NCHW instead of channels_last")
    parser.add_argument("--nproc", type=int, default=1, help="also time N torchrun workers and print the scaling")
    args = parser.parse_args()
    device = resolve_device(args.device or load_params(args.params).device)

    if "LOCAL_RANK" in os.environ:  # a torchrun worker of the --nproc run
        world, device = join(device)
        speeds = time_models(args, device, world)
        if world.is_main:
            Path(os.environ[SPEEDS_FILE]).write_text(json.dumps(speeds))
        return
    single = time_models(args, device)
    if args.nproc == 1:
        return
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[SPEEDS_FILE] = str(Path(tmp) / "speeds.json")
        print(f"\n{args.nproc} torchrun workers:")
        relaunch(args.nproc, 0)
        several = json.loads(Path(os.environ[SPEEDS_FILE]).read_text())
    print(f"\nscaling, {args.nproc} processes vs 1 (same global batch):")
    for key, its in single.items():
        print(f"  {key:<20} {its:7.3f} -> {several[key]:7.3f} it/s  ({several[key] / its:.2f}x)")


if __name__ == "__main__":
    main()
