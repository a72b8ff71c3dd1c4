"""What every model's training shares: the resumable state, Adam, the EMA and the lr schedule."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor, nn

from ganlab.config import TrainConfig
from ganlab.data.prepared import Split
from ganlab.distributed import World, average_gradients
from ganlab.training.batches import RealBatches

# NHWC on every device: what cuDNN's tensor-core kernels want, and faster on the CPUs measured
# too (`bench/train_speed.py --nchw`; the figures are in docs/performance.md).
MEMORY_FORMAT = torch.channels_last


class Stateful(Protocol):
    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass(kw_only=True)
class TrainState:
    """Everything `last.pt` holds; rebuilding it from there continues bit-for-bit on CPU.

    `nets` are the trained networks and `optimizers` their Adams, each saved under its key
    ("generator", "opt_g", ...); `averaged` holds EMA copies of some nets, saved as "<key>_ema";
    `extras` holds any other state a model's step carries between iterations (CycleGAN's image
    pools), anything with `state_dict`/`load_state_dict`, saved under its key.
    """

    nets: dict[str, nn.Module]
    averaged: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    rng: torch.Generator
    extras: dict[str, Stateful] = field(default_factory=dict)
    # 1 - the EMA decay of this step, a device tensor that `set_schedules` fills in place, so a
    # captured step reads the current value (derived from the iteration: not saved)
    ema_weight: Tensor = field(default_factory=lambda: torch.ones(()))
    iteration: int = 0
    elapsed: float = 0.0

    def state_dict(self, config: dict) -> dict:
        return {
            "config": config,
            "iteration": self.iteration,
            "elapsed": self.elapsed,
            **{key: net.state_dict() for key, net in self.nets.items()},
            **{f"{key}_ema": net.state_dict() for key, net in self.averaged.items()},
            **{key: opt.state_dict() for key, opt in self.optimizers.items()},
            **{key: extra.state_dict() for key, extra in self.extras.items()},
            "rng": {"device": self.rng.device.type, "state": self.rng.get_state()},
        }

    def load_state_dict(self, state: dict) -> None:
        for key, net in self.nets.items():
            net.load_state_dict(state[key])
        for key, net in self.averaged.items():
            net.load_state_dict(state[f"{key}_ema"])
        for key, opt in self.optimizers.items():
            built = [(group["lr"], group["fused"], group["capturable"]) for group in opt.param_groups]
            opt.load_state_dict(state[key])
            # The saved lr may be a float or on another device, and the saved flags those of an
            # older Adam: the step keeps its own kernel and its own lr tensor, whose one writer
            # is set_schedules, before every step (the schedule is a function of the iteration).
            for group, (lr, fused, capturable) in zip(opt.param_groups, built):
                group["lr"], group["fused"], group["capturable"] = lr, fused, capturable
        for key, extra in self.extras.items():
            extra.load_state_dict(state[key])
        if state["rng"]["device"] == self.rng.device.type:
            self.rng.set_state(state["rng"]["state"])
        else:  # CPU and CUDA generators differ; the run continues, but not bit-for-bit.
            print(f"note: resuming on {self.rng.device.type} a run saved on {state['rng']['device']}; reseeding")
            self.rng.manual_seed(int(state["iteration"]))
        self.iteration, self.elapsed = int(state["iteration"]), float(state["elapsed"])

    def sampling(self, key: str) -> nn.Module:
        """The copy of net `key` that snapshots and scores use: its EMA when there is one."""
        return self.averaged.get(key, self.nets[key])


def place(net: nn.Module, device: torch.device) -> nn.Module:
    return net.to(device, memory_format=MEMORY_FORMAT)


def real_batches(split: Split, rng: torch.Generator, world: World) -> RealBatches:
    """Random training batches in MEMORY_FORMAT, drawn with the training RNG (this rank's slice)."""
    return RealBatches(split, rng=rng, memory_format=MEMORY_FORMAT, world=world)


def adam(net: nn.Module | list[nn.Module], *, cfg: TrainConfig, device: torch.device):
    """Adam with its learning rate as a device tensor that `set_schedules` fills in place before
    every step (so no host value is baked into a captured step, and nothing else writes it). The
    fused kernel, on CPU and CUDA alike: one kernel per step instead of several per tensor
    (bench/step_savings.py), and it takes a tensor lr."""
    nets = net if isinstance(net, list) else [net]
    params = [p for n in nets for p in n.parameters()]
    # capturable: the step counts stay on the device, which a CUDA graph's replays need
    capturable = getattr(cfg, "graph", False)
    return torch.optim.Adam(
        params, lr=torch.zeros((), device=device), betas=(cfg.beta1, cfg.beta2), fused=True, capturable=capturable
    )


def autocast_for(device: torch.device, precision: str):
    """`precision` resolved once: a factory of the context every forward of the trained nets runs
    in, bf16 autocast or autocast switched off (fp32). Weights, Adam moments and the EMA stay
    fp32 either way; the fp32 islands inside bf16 are in ganlab.nn.layers."""
    return functools.partial(torch.autocast, device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def averaged_copies(nets: dict[str, nn.Module], keys: tuple[str, ...], cfg: TrainConfig) -> dict[str, nn.Module]:
    """Frozen copies of the nets named in `keys` for the EMA, or none when `ema` is 0."""
    return {key: copy.deepcopy(nets[key]).requires_grad_(False) for key in keys} if cfg.ema > 0 else {}


def compile_nets(nets: dict[str, nn.Module], cfg: TrainConfig) -> None:
    if cfg.compile:
        # In place (nn.Module.compile), so state_dict keys and checkpoints are unchanged.
        for net in nets.values():
            net.compile()


def optimizer_step(optimizer: torch.optim.Optimizer, world: World) -> None:
    """Average the gradients over the ranks (a no-op in one process), then step."""
    average_gradients([p for group in optimizer.param_groups for p in group["params"]], world)
    optimizer.step()


def apply_update(state: TrainState, key: str, loss: Tensor, world: World) -> None:
    """One optimizer update, written once for every family: zero the gradients of optimizer
    `key`, backward `loss`, average over the ranks, step. After the generators' update ("opt_g")
    their EMA copies follow, so a captured G update holds its EMA too."""
    optimizer = state.optimizers[key]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer_step(optimizer, world)
    if key == "opt_g":
        update_averages(state)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, weight: Tensor) -> None:
    """ema += weight · (model − ema) over all parameters at once (foreach: a few kernels, not
    one per tensor), `weight` a device tensor; buffers (BN running stats, spectral-norm
    vectors) are copied, not averaged (snapshots refresh both: `with_standing_stats`,
    `refresh_spectral_norms`)."""
    ema_params, params = list(ema.parameters()), list(model.parameters())
    # one weight tensor per parameter (0-d, broadcast): lerp's tensor-weight overload, as fast
    # on CPU as lerp with a float (bench/step_savings.py), and nothing baked into a graph
    torch._foreach_lerp_(ema_params, params, [weight] * len(ema_params))
    buffers = list(ema.buffers())
    if buffers:  # CycleGAN's translators have none
        torch._foreach_copy_(buffers, list(model.buffers()))


def update_averages(state: TrainState) -> None:
    for key, ema in state.averaged.items():
        update_ema(ema, state.nets[key], state.ema_weight)


def lr_scale(cfg: TrainConfig, iteration: int) -> float:
    """The learning-rate factor for the step that follows `iteration` completed steps.

    `linear` holds 1 until `lr_decay_start`, then falls to 1/(iterations - start) at the last
    step: a pure function of the step, so resuming needs no scheduler state.
    """
    if cfg.lr_decay != "linear":
        return 1.0
    start = cfg.lr_decay_start
    return 1.0 - max(0, iteration - start) / (cfg.iterations - start)


def set_schedules(state: TrainState, cfg: TrainConfig) -> None:
    """Before each step, fill the device tensors it reads: lr_g for "opt_g", lr_d for "opt_d",
    times the schedule's factor (D's only under `lr_decay_d`), and the EMA weight. Before
    `ema_start` the average just follows the net (early weights are not worth keeping)."""
    scale = lr_scale(cfg, state.iteration)
    for key, lr, decays in (("opt_g", cfg.lr_g, True), ("opt_d", cfg.lr_d, cfg.lr_decay_d)):
        for group in state.optimizers[key].param_groups:
            group["lr"].fill_(lr * scale if decays else lr)
    state.ema_weight.fill_(1.0 - cfg.ema if state.iteration >= cfg.ema_start else 1.0)
