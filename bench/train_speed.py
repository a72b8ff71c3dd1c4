"""Training speed of each model at its params.yaml widths: it/s, FLOPs per iteration, GFLOP/s.

    python bench/train_speed.py [--device auto] [--iters 20] [--batch-size 64]

Runs the exact step `dvc repro` trains with (ganlab.training.loop.make_step) on random data.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ganlab.config import MODEL_SECTIONS, load_params
from ganlab.sampling import resolve_device
from ganlab.training.loop import build_state, make_step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--device", default=None, help="overrides params.yaml `device`")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    params = load_params(args.params)
    device = resolve_device(args.device or params.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    name_dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device} ({name_dev}), torch {torch.__version__}, batch {args.batch_size}")
    print(f"{'model':<7} {'g_ch':>5} {'d_ch':>5} {'it/s':>8} {'GFLOP/it':>9} {'GFLOP/s':>9}")
    for name in MODEL_SECTIONS:
        cfg = dataclasses.replace(params.model(name), batch_size=args.batch_size)
        state = build_state(name, cfg, num_classes=10, seed=0, device=device)
        images = torch.randint(0, 256, (1024, 3, 32, 32), dtype=torch.uint8, device=device)
        labels = torch.randint(0, 10, (1024,), device=device)
        step = make_step(state, cfg, images=images, labels=labels)
        with FlopCounterMode(display=False) as counter:
            step()
        flops = counter.get_total_flops()
        for _ in range(args.warmup):
            step()
        sync(device)
        start = time.perf_counter()
        for _ in range(args.iters):
            step()
        sync(device)
        its = args.iters / (time.perf_counter() - start)
        print(f"{name:<7} {cfg.g_ch:>5} {cfg.d_ch:>5} {its:>8.2f} {flops / 1e9:>9.2f} {its * flops / 1e9:>9.1f}")


if __name__ == "__main__":
    main()
