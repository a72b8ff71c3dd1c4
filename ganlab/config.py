"""params.yaml -> typed, validated dataclasses. Every stage loads its params through here.

The loader is strict on purpose: a typo such as `sagan.lr_D` would otherwise be ignored and
the run would silently use a default, which is the worst failure for an experiment pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# read_yaml, to_dict, YamlLoader and ParamsError are part of this module's interface too
from ganlab.strict import (  # noqa: F401
    ParamsError,
    YamlLoader,
    build,
    check,
    comma_list,
    read_yaml,
    to_dict,
)

# Names only: importing the registries (ganlab.data.DATASETS, ganlab.nn.losses.LOSSES) here would
# make every stage's DVC deps include every module. tests/test_config.py keeps them in sync.
DATASET_NAMES = ("cifar10", "fashion_mnist", "folder", "emoji")
LOSS_NAMES = ("bce", "hinge", "wasserstein", "lsgan")
RESOLUTIONS = (32, 64, 128)
EMOJI_VENDORS = ("google", "twitter", "apple", "facebook")
DIFFAUG_POLICIES = ("color", "translation", "cutout")
TRANSLATION_MODELS = ("cyclegan", "cut")  # cyclegan.model: the family that trains the section


def check_source(value: str) -> None:
    """`source` is `download` or a path that dvc.yaml names as prepare's dependency, so DVC must be
    able to read it as written: no `~` (DVC does not expand it), nothing empty."""
    if not value.strip():
        raise ParamsError("source: expected download or a path, found an empty string")
    if value.startswith("~"):
        raise ParamsError(
            f"source: DVC watches this path as a dependency and does not expand '~'; write it out "
            f"(e.g. {Path(value).expanduser()}), found {value!r}"
        )


@dataclass(frozen=True, kw_only=True)
class EmojiConfig:
    vendors: list[str] = check(items=EMOJI_VENDORS)  # whose artwork: one npm package each
    label: str = check(choices=("category", "vendor"))  # what cSAGAN is conditional on


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    dataset: str = check(choices=DATASET_NAMES)
    # "download", or a path: the official files (folder or archive), an image folder, or the
    # emoji package tarball(s)
    source: str
    verify: bool
    resolution: int = check(choices=RESOLUTIONS)
    test_fraction: float = check(gt=0.0, lt=1.0)  # held out when a source has no test split
    on_bad: str = check(choices=("error", "skip"))  # an unreadable image file
    emoji: EmojiConfig

    def __post_init__(self) -> None:
        check_source(self.source)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """What the training loop reads from any model's section (dcgan, sagan, cyclegan)."""

    iterations: int = check(ge=1)
    batch_size: int = check(ge=1)
    ckpt_every: int = check(ge=1)
    log_every: int = check(ge=1)
    g_ch: int = check(ge=1)
    d_ch: int = check(ge=1)
    loss: str = check(choices=LOSS_NAMES)
    lr_g: float = check(gt=0.0)
    lr_d: float = check(gt=0.0)
    beta1: float = check(ge=0.0, lt=1.0)
    beta2: float = check(ge=0.0, lt=1.0)
    ema: float = check(ge=0.0, lt=1.0)  # 0 turns the EMA generator(s) off
    ema_start: int = check(ge=0)
    # linear: constant to lr_decay_start, then down to 0 at `iterations` (SNGAN: from 0; CycleGAN:
    # from half-way). lr_decay_d false decays G's rate alone: a slower D costs cSAGAN its variety
    # within a class (docs/studies/csagan.md), a slower G late in a run does not.
    lr_decay: str = check(choices=("none", "linear"))
    lr_decay_start: int = check(ge=0)
    lr_decay_d: bool
    precision: str = check(choices=("fp32", "bf16"))  # bf16: autocast forwards, fp32 weights
    compile: bool  # torch.compile the generator(s) and discriminator(s)
    diffaug: str = check(items=DIFFAUG_POLICIES)  # DiffAugment policies before D, e.g. "color,translation"
    # replay the training updates as CUDA graphs (ganlab.training.graphs): each D and G update of a
    # GAN, CycleGAN's whole iteration; CUDA only
    graph: bool

    def __post_init__(self) -> None:
        if self.lr_decay == "linear" and self.lr_decay_start >= self.iterations:
            raise ParamsError(
                f"lr_decay_start: expected a value < iterations ({self.iterations}) under lr_decay: linear,"
                f" found {self.lr_decay_start}"
            )

    @property
    def diffaug_policies(self) -> list[str]:
        return comma_list(self.diffaug)


@dataclass(frozen=True, kw_only=True)
class GANConfig(TrainConfig):
    """A GAN from noise (and a class) to images."""

    z_dim: int = check(ge=1)
    gp_weight: float = check(ge=0.0)
    n_dis: int = check(ge=1)  # D steps per G step
    # MSGAN's weight on the mode-seeking term in G's loss (0 = off): the G step then draws its
    # batch as pairs of latents that share a class (ganlab.nn.losses.mode_seeking_penalty)
    mode_seeking: float = check(ge=0.0)


@dataclass(frozen=True, kw_only=True)
class DCGANConfig(GANConfig):
    upsample: str = check(choices=("deconv", "upconv"))  # upconv: nearest ×2 + 3×3 conv
    spectral_norm: bool  # on D's layers


# How cSAGAN's G conditions its BNs on the class (SAGANConfig.class_embedding)
CLASS_EMBEDDINGS = ("shared_sn", "shared", "per_class")


@dataclass(frozen=True, kw_only=True)
class SAGANConfig(GANConfig):
    # Self-attention needs C/8 query channels, hence at least 8 channels.
    g_ch: int = check(ge=8)
    d_ch: int = check(ge=8)
    # 0 = no attention (plain SNGAN); otherwise a block size that G and D both have at the
    # data's resolution (checked when the networks are built)
    attention_res: int = check(choices=(0, 8, 16, 32, 64))
    conditional: bool
    # How G's conditional BNs see the class: one shared embedding with spectral norm on it
    # (shared_sn), BigGAN's shared embedding without it (shared), or SNGAN's per-class γ/β (per_class)
    class_embedding: str = check(choices=CLASS_EMBEDDINGS)
    hierarchical_z: bool  # BigGAN: z split in chunks, one to the input linear and one per G block
    # spectral norm on G's layers (SAGAN, BigGAN) or not (SNGAN, Mimicry's cGAN-PD); D always has it
    g_spectral_norm: bool


# `emoji:<vendor>`, `folder:<path>`, or `<dataset>:<class name>` of a labelled dataset
DOMAIN_PATTERN = r"emoji:(" + "|".join(EMOJI_VENDORS) + r")|folder:.+|(cifar10|fashion_mnist):.+"


@dataclass(frozen=True, kw_only=True)
class CycleGANConfig(TrainConfig):
    """Unpaired translation between two image sets (Zhu et al. 2017)."""

    domain_a: str = check(pattern=DOMAIN_PATTERN)
    domain_b: str = check(pattern=DOMAIN_PATTERN)
    # where the domains are read from: "download", or a path (as data.source) that holds the emoji
    # tarballs, the dataset's files or the `folder:` domains' folders; DVC watches it
    source: str
    resolution: int = check(choices=RESOLUTIONS)
    lambda_cycle: float = check(ge=0.0)  # weight of the L1 cycle-consistency terms
    lambda_identity: float = check(ge=0.0)  # weight of the L1 identity terms (G_AB(b) ~ b)
    # weight of the G adversarial terms; 2 with lsgan is the reference's MSE (ganlab's has Mao's ½)
    lambda_adversarial: float = check(gt=0.0)
    pool_size: int = check(ge=0)  # past translations D also sees (the reference: 50); 0: off
    jitter: float = check(ge=1.0, le=2.0)  # resize inputs to jitter × size, random-crop back; 1: off
    flip: bool  # mirror inputs left-right with probability ½
    n_res_blocks: int = check(ge=0)  # residual blocks at the generators' bottleneck
    # cyclegan: two translators tied by the cycle; cut: one translator per direction trained with
    # PatchNCE (Park et al. 2020) instead, which ignores lambda_cycle, lambda_identity and pool_size
    model: str = check(choices=TRANSLATION_MODELS)
    lambda_nce: float = check(ge=0.0)  # cut: weight of PatchNCE (FastCUT: 10)
    nce_identity: bool  # cut: PatchNCE also on G(b) against b (CUT); false with lambda_nce 10: FastCUT
    # cut: the translator's layers whose features PatchNCE compares, as indices of its encoder
    # (ganlab.models.cyclegan.ResnetTranslator.features): 0 the image, 4 and 7 the downsampling
    # convs, 10 + i the i-th residual block
    nce_layers: list[int]
    nce_patches: int = check(ge=1)  # cut: locations sampled per layer and image
    nce_temperature: float = check(gt=0.0)  # cut: τ of the contrastive softmax
    flip_equivariance: bool  # cut: FastCUT's random horizontal flip of G's input, undone on its features

    def __post_init__(self) -> None:
        super().__post_init__()
        check_source(self.source)
        layers = self.nce_layers
        if not layers or any(b <= a for a, b in zip(layers, layers[1:])) or layers[0] < 0:
            raise ParamsError(f"nce_layers: expected increasing layer indices >= 0, found {layers}")
        if self.model == "cut" and self.graph:
            # CUT's step decides on the host (the flip, the patch locations' count): not capturable
            raise ParamsError("graph: true is for model: cyclegan; CUT's step cannot be captured, set graph: false")


@dataclass(frozen=True, kw_only=True)
class FIDConfig:
    n_samples: int = check(ge=2)
    batch_size: int = check(ge=1)
    reference: str = check(choices=("test", "train"))  # the split FID, KID and per-class FID compare with
    # > 0: a seeded subset of that many reference images (a quick run's cheaper reference), 0: all
    reference_size: int = check(ge=0)


@dataclass(frozen=True, kw_only=True)
class ReportConfig:
    n_samples: int = check(ge=2)
    # the report's latents are drawn with (the run's seed + this); >= 1 keeps them apart from the
    # curve's, which chose the checkpoint (RunSeeds)
    seed: int = check(ge=1)


@dataclass(frozen=True, kw_only=True)
class RenderConfig:
    # two class ids for plots/sagan_interpolation.png; [] for the first and the last class
    interpolate: list[int] = check(pair=True)


@dataclass(frozen=True, kw_only=True)
class DistributedConfig:
    # processes per machine for the train, fid and report stages; > 1 re-runs the stage under
    # torch.distributed.run (one GPU each, or an even share of the CPU threads)
    nproc_per_node: int = check(ge=1)
    max_restarts: int = check(ge=0)  # torchrun restarts all workers when one dies, this many times


@dataclass(frozen=True, kw_only=True)
class RunSeeds:
    """Every seed one run of `seeds` uses, derived from its entry: the one place that says how."""

    training: int  # weight init, data order, noise and augmentation draws (the training RNG)
    curve: int  # latents of every checkpoint's FID (the curve that picks the best checkpoint)
    report: int  # fresh latents of the best checkpoint's re-score
    entry: int  # the `seeds` entry itself

    @classmethod
    def of(cls, entry: int, report: ReportConfig) -> RunSeeds:
        return cls(training=entry, curve=entry, report=entry + report.seed, entry=entry)


@dataclass(frozen=True, kw_only=True)
class Params:
    # one training run per entry: each trains, is scored and reported on its own (RunSeeds), and
    # `summarize` gives every metric's mean and 95% CI over them
    seeds: list[int]
    device: str = check(pattern=r"auto|cpu|cuda(:\d+)?")
    data: DataConfig
    dcgan: DCGANConfig
    sagan: SAGANConfig
    cyclegan: CycleGANConfig
    fid: FIDConfig
    report: ReportConfig
    render: RenderConfig
    distributed: DistributedConfig

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ParamsError(f"seeds: expected a non-empty list of distinct integers >= 0, found {self.seeds!r}")

    def run_seeds(self, entry: int | None) -> RunSeeds:
        """The seeds of the run for `entry`, which must be one of `seeds` (a stage's --seed); None
        names the only one when `seeds` holds one."""
        if entry is None:
            if len(self.seeds) != 1:
                raise ParamsError(f"seeds: {self.seeds} lists several runs; name one (a stage's --seed)")
            entry = self.seeds[0]
        if entry not in self.seeds:
            raise ParamsError(f"seed {entry}: not in seeds {self.seeds}; a run's seed must be one of them")
        return RunSeeds.of(entry, self.report)

    def model(self, name: str) -> TrainConfig:
        if name not in MODEL_SECTIONS:
            raise ParamsError(f"unknown model {name!r}; expected one of {sorted(MODEL_SECTIONS)}")
        return getattr(self, name)


MODEL_SECTIONS = ("dcgan", "sagan", "cyclegan")


def parse_params(raw: Any) -> Params:
    """Validate an already-parsed params mapping (as yaml.safe_load would return it)."""
    return build(Params, raw, "")


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    raw = read_yaml(path, missing="params file not found (run from the repository root)")
    try:
        return parse_params(raw)
    except ParamsError as e:
        raise ParamsError(f"{path}: {e}") from None
