"""What each change to the GAN step saves, side by side in one run: the step as it is against
the same step with one change undone.

    python bench/step_savings.py [--device auto] [--iters 20] [--batch-size 64] [--models dcgan sagan]

Per model (params.yaml widths, 32 px, random data), ms per call of:
- the G update with D's weights frozen (now) and with D's weight gradients computed (before);
- the D update with real and fake in one forward (now, D without BatchNorm) and in two (before);
  DCGAN's D has BatchNorm and keeps its two forwards, so it has no such row;
- Adam over G's and D's parameters: fused (now), foreach, and one tensor at a time;
- the EMA of G: foreach lerp with a tensor weight and one foreach buffer copy (now), and
  foreach lerp with a float and a copy per buffer (before);
- the whole iteration (now).
The "before" variants are the same code with one switch flipped, so nothing else differs; each
pair is measured in alternating rounds (the median round is shown).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

import torch
from train_speed import its_per_second, random_split  # bench/ is this script's own folder on sys.path

from ganlab.config import load_params
from ganlab.sampling import resolve_device
from ganlab.training.loop import build_trainer
from ganlab.training.state import update_ema


def ms_per_call(fn, *, iters: int, warmup: int, device: torch.device) -> float:
    return 1e3 / its_per_second(fn, iters=iters, warmup=warmup, device=device)


def side_by_side(now, before, *, rounds: int = 3, **timed) -> tuple[float, float]:
    """ms per call of `now` and of `before` (each a (setup, fn) pair), measured in alternating
    rounds and reported as the median round, so drift and warm-up favour neither."""
    times = {0: [], 1: []}
    for _ in range(rounds):
        for key, (setup, fn) in enumerate((now, before)):
            setup()
            times[key].append(ms_per_call(fn, **timed))
    return statistics.median(times[0]), statistics.median(times[1])


def legacy_ema(ema, model, decay: float) -> None:
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
        for b_ema, b in zip(ema.buffers(), model.buffers()):
            b_ema.copy_(b)


def adam_variant(params, kind: str, device: torch.device):
    lr = torch.tensor(2e-4, device=device) if kind == "fused" else 2e-4
    flags = {"fused": {"fused": True}, "foreach": {"foreach": True}, "per tensor": {"foreach": False}}[kind]
    opt = torch.optim.Adam(params, lr=lr, betas=(0.0, 0.9), **flags)
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    return opt.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--device", default=None)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=["dcgan", "sagan"])
    args = parser.parse_args()
    params = load_params(args.params)
    device = resolve_device(args.device or params.device)
    threads = f"CPU, {torch.get_num_threads()} threads"
    name_dev = torch.cuda.get_device_name(device) if device.type == "cuda" else threads
    print(f"device: {device} ({name_dev}), torch {torch.__version__}, batch {args.batch_size}, 32 px, "
          f"{args.iters} timed calls after {args.warmup}")  # fmt: skip
    print(f"{'model':<6} {'piece':<11} {'now':<30} {'ms':>8}   {'before':<38} {'ms':>8}  saved")
    for name in args.models:
        cfg = dataclasses.replace(params.model(name), batch_size=args.batch_size)
        trainer = build_trainer(name, cfg, seed=0, device=device, splits=[random_split(32)])
        step, state = trainer.step, trainer.state
        G, D = state.nets["generator"], state.nets["discriminator"]
        timed = dict(iters=args.iters, warmup=args.warmup, device=device)

        def row(piece, now_label, now_ms, before_label, before_ms):
            saved = f"{1 - now_ms / before_ms:+.0%}" if before_ms else ""
            print(f"{name:<6} {piece:<11} {now_label:<30} {now_ms:>8.2f}   {before_label:<38} {before_ms:>8.2f}  "
                  f"{saved}")  # fmt: skip

        original_freeze = D.requires_grad_

        def as_before():  # the G step can no longer freeze D: its weight gradients are computed
            D.requires_grad_ = lambda flag=True: D

        def as_now():
            D.requires_grad_ = original_freeze

        frozen, unfrozen = side_by_side((as_now, step.g_step), (as_before, step.g_step), **timed)
        as_now()
        row("G update", "D frozen", frozen, "D's weight gradients computed", unfrozen)

        joint = step.joint_d
        if joint:
            one, two = side_by_side((lambda: setattr(step, "joint_d", True), step.d_step),
                                    (lambda: setattr(step, "joint_d", False), step.d_step), **timed)  # fmt: skip
            step.joint_d = joint
            row("D update", "real + fake in one forward", one, "two forwards", two)

        params_all = [p for net in (G, D) for p in net.parameters()]
        steps = {kind: adam_variant([p.detach().clone() for p in params_all], kind, device)
                 for kind in ("fused", "foreach", "per tensor")}  # fmt: skip
        fused, foreach = side_by_side((lambda: None, steps["fused"]), (lambda: None, steps["foreach"]), **timed)
        row("Adam", "fused", fused, "foreach", foreach)
        fused, loop = side_by_side((lambda: None, steps["fused"]), (lambda: None, steps["per tensor"]), **timed)
        row("Adam", "fused", fused, "one tensor at a time", loop)

        if state.averaged:
            ema = state.averaged["generator"]
            weight = torch.full((), 1e-3, device=device)
            now, before = side_by_side((lambda: None, lambda: update_ema(ema, G, weight)),
                                       (lambda: None, lambda: legacy_ema(ema, G, 0.999)), **timed)  # fmt: skip
            row("EMA", "foreach lerp, tensor weight", now, "foreach lerp, float, copy per buffer", before)
        whole = ms_per_call(step, **timed)
        print(f"{name:<6} {'iteration':<11} {'n_dis D + G + EMA (now)':<30} {whole:>8.2f}   = {1e3 / whole:.2f} it/s")


if __name__ == "__main__":
    main()
