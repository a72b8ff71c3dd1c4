"""What training writes: small per-snapshot generators and one full `last.pt` to resume from.

Every file is written atomically and read with torch.load(weights_only=True), so it holds only
tensors and plain Python values.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganlab.config import CycleGANConfig, GANConfig, SAGANConfig, TrainConfig, to_dict
from ganlab.errors import GanlabError
from ganlab.io import atomic_torch_save, load_checkpoint
from ganlab.models import MODELS, TRANSLATORS, build_generator

SNAPSHOT_GLOB = "iter_*.pt"

# Keys added to the model sections after runs had been saved without them, with the values that
# reproduce how those runs were trained, so that they still resume, load and score; per the
# config class that gained them (a model gets the keys of every class its config derives from).
ADDED_KEYS: dict[type[TrainConfig], dict] = {
    TrainConfig: {"lr_decay_start": 0, "lr_decay_d": True, "graph": False},
    GANConfig: {"mode_seeking": 0.0},
    CycleGANConfig: {
        "lambda_adversarial": 1.0, "pool_size": 0, "jitter": 1.0, "flip": False,
        "model": "cyclegan", "lambda_nce": 1.0, "nce_identity": True, "nce_layers": [0, 4, 7, 10, 12],
        "nce_patches": 256, "nce_temperature": 0.07, "flip_equivariance": False,
    },  # fmt: skip
    SAGANConfig: {"class_embedding": "shared_sn", "hierarchical_z": False, "g_spectral_norm": True},
}


def snapshot_path(checkpoints_dir: Path, iteration: int) -> Path:
    return Path(checkpoints_dir) / f"iter_{iteration:06d}.pt"


def snapshot_iteration(path: Path) -> int:
    """The iteration in a snapshot's file name: the inverse of `snapshot_path`."""
    stem = Path(path).stem
    prefix, _, digits = stem.partition("_")
    if prefix != "iter" or not digits.isdigit():
        raise GanlabError(f"{path}: not a snapshot name (expected iter_<iteration>.pt, e.g. iter_001000.pt)")
    return int(digits)


def list_snapshots(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob(SNAPSHOT_GLOB))


def run_config(name: str, cfg: TrainConfig, *, seed: int, data_digest: str, resolution: int) -> dict:
    """The resolved config saved in every checkpoint; it also decides whether to resume."""
    return {"model": name, "seed": seed, "data_digest": data_digest, "resolution": resolution, "params": to_dict(cfg)}


def upgrade_config(config: dict) -> dict:
    """A saved run config with the keys added since it was written (ADDED_KEYS) filled in."""
    entry = MODELS.get(config.get("model")) or TRANSLATORS.get(config.get("model"))
    config_class = entry.config if entry is not None else TrainConfig
    added = {}
    for cls, keys in ADDED_KEYS.items():
        if issubclass(config_class, cls):
            added.update(keys)
    return {**config, "params": {**added, **config.get("params", {})}}


# Keys that change how a run is executed or recorded, never the weights it reaches: a run
# resumes across a change of any of them (docs/experiments.md#what-a-resume-keeps). `compile` and
# `graph` replay the same arithmetic (tested to the bit on the CPU paths); `log_every` and
# `ckpt_every` choose what is written down.
RUN_SWITCHES = ("compile", "graph", "log_every", "ckpt_every")


def resume_mismatch(saved: dict, current: dict) -> list[str]:
    """Keys (as `section.key`) whose values differ in a way that changes what is trained.

    RUN_SWITCHES are ignored, and so is `iterations`, so raising it extends a finished run and
    lowering it keeps what was trained, except under `lr_decay: linear`: there the schedule is
    defined by `iterations` (lr reaches 0 at the end), and a run trained towards one end point
    cannot continue as if it had been aiming at another. Changing it then starts fresh, which
    keeps "resumed == uninterrupted" true.
    """

    def flat(cfg: dict) -> dict:
        params = cfg.get("params", {})
        ignored = set(RUN_SWITCHES) | ({"iterations"} if params.get("lr_decay") != "linear" else set())
        out = {k: v for k, v in cfg.items() if k != "params"}
        out.update({f"{cfg.get('model')}.{k}": v for k, v in params.items() if k not in ignored})
        return out

    a, b = flat(upgrade_config(saved)), flat(current)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def save_snapshot(
    path: Path, *, generator: nn.Module, config: dict, iteration: int, classes: list[str], resolution: int
) -> None:
    atomic_torch_save(
        {
            "generator": generator.state_dict(),
            "config": config,
            "iteration": iteration,
            "num_classes": generator.num_classes,
            "classes": list(classes),
            "image_shape": [3, resolution, resolution],
        },
        path,
    )


def snapshot_resolution(ckpt: dict) -> int:
    """The image size a snapshot generates (checkpoints from before 64/128 pixels hold 32)."""
    return int(ckpt.get("image_shape", [3, 32, 32])[-1])


def load_generator(path: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a snapshot's generator from the config stored in it (eval mode)."""
    ckpt = load_checkpoint(path)
    model = ckpt.get("config", {}).get("model") if isinstance(ckpt.get("config"), dict) else None
    if model in TRANSLATORS:
        raise GanlabError(f"{path}: a {model} checkpoint translates images; it does not generate from noise")
    for key in ("generator", "config", "iteration", "num_classes"):
        if key not in ckpt:
            raise GanlabError(f"{path}: not a ganlab generator checkpoint (missing {key!r})")
    if model not in MODELS:
        raise GanlabError(f"{path}: unknown model {model!r} (expected one of {sorted(MODELS)})")
    config = upgrade_config(ckpt["config"])
    cfg = MODELS[model].config(**config["params"])
    generator = build_generator(model, cfg, num_classes=ckpt["num_classes"], resolution=snapshot_resolution(ckpt))
    try:
        generator.load_state_dict(ckpt["generator"])
    except RuntimeError as e:
        raise GanlabError(f"{path}: weights do not fit a {model} generator built from its config ({e})") from e
    return generator.to(device).eval(), ckpt


def load_translators(path: Path, device: torch.device | str = "cpu") -> tuple[dict[str, nn.Module], dict]:
    """Rebuild a translation snapshot's two translators ("g_ab", "g_ba"; eval mode)."""
    ckpt = load_checkpoint(path)
    model = ckpt.get("config", {}).get("model") if isinstance(ckpt.get("config"), dict) else None
    if model not in TRANSLATORS:
        what = f"a {model} checkpoint, which generates from noise" if model in MODELS else "not a ganlab checkpoint"
        raise GanlabError(f"{path}: {what}; expected a translator ({', '.join(sorted(TRANSLATORS))})")
    family = TRANSLATORS[model]
    cfg = family.config(**upgrade_config(ckpt["config"])["params"])
    nets = {}
    for key in ("g_ab", "g_ba"):
        if key not in ckpt:
            raise GanlabError(f"{path}: not a {model} snapshot (missing {key!r})")
        nets[key] = family.translator.from_config(cfg)
        try:
            nets[key].load_state_dict(ckpt[key])
        except RuntimeError as e:
            raise GanlabError(f"{path}: weights do not fit a {model} translator built from its config ({e})") from e
        nets[key].to(device).eval()
    return nets, ckpt
