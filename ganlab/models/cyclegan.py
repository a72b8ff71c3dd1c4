"""CycleGAN's networks (Zhu et al. 2017): a ResNet translator and a PatchGAN discriminator.

The translator is CycleGAN's `resnet_*blocks` generator (Johnson et al.'s layout, as in the
CSC413 assignment's CycleGenerator): a conv encoder down to R/4, `n_res_blocks` residual blocks
there, and a transposed-conv decoder back to R. Instance norm, not batch norm: the statistics
are per image, so a translation does not depend on the rest of its batch, and there are no
running statistics to keep in step (EMA, several processes).

The discriminator scores overlapping patches, one logit per cell of a small grid, so it judges
local texture and style and leaves the global layout to the cycle loss. The patch is 70 px at
64 and 128 pixels (CycleGAN's 70×70 PatchGAN, 3 stride-2 layers) and 34 px at 32 pixels
(2 stride-2 layers), so it never covers the whole image.
"""

from __future__ import annotations

from torch import Tensor, nn

from ganlab.config import CycleGANConfig
from ganlab.errors import GanlabError
from ganlab.nn.layers import at_least_fp32

# Layers of ResnetTranslator.net before its residual blocks: 7×7 conv, 2 downsamplings (3 each)
ENCODER_STEM = 9

# Stride-2 layers of the patch discriminator at each resolution (receptive field 34 or 70 px).
PATCH_LAYERS = {32: 2, 64: 3, 128: 3}


def _init_cyclegan(module: nn.Module) -> None:
    # CycleGAN's "normal" init: N(0, 0.02) conv weights, zero biases.
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _norm(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        # Reflection padding: zero padding makes the borders of a translated image darker.
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3, bias=True),
            _norm(ch),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3, bias=True),
            _norm(ch),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetTranslator(nn.Module):
    """3×R×R image in [-1, 1] -> 3×R×R image in [-1, 1]."""

    def __init__(self, *, ch: int, n_res_blocks: int, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, ch, 7),  # 3×R×R -> ch×R×R
            _norm(ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch, 2 * ch, 3, 2, 1),  # -> 2ch×R/2×R/2
            _norm(2 * ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * ch, 4 * ch, 3, 2, 1),  # -> 4ch×R/4×R/4
            _norm(4 * ch),
            nn.ReLU(inplace=True),
            *[ResidualBlock(4 * ch) for _ in range(n_res_blocks)],  # 4ch×R/4×R/4
            nn.ConvTranspose2d(4 * ch, 2 * ch, 3, 2, 1, output_padding=1),  # -> 2ch×R/2×R/2
            _norm(2 * ch),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * ch, ch, 3, 2, 1, output_padding=1),  # -> ch×R×R
            _norm(ch),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(ch, 3, 7),  # -> 3×R×R
            nn.Tanh(),
        )
        self.apply(_init_cyclegan)

    @classmethod
    def from_config(cls, cfg: CycleGANConfig) -> ResnetTranslator:
        return cls(ch=cfg.g_ch, n_res_blocks=cfg.n_res_blocks, resolution=cfg.resolution)

    @property
    def encoder_layers(self) -> int:
        """How many of `net`'s layers are the encoder (pad, stem, 2 downsamplings, residual blocks)."""
        return 1 + ENCODER_STEM + sum(isinstance(m, ResidualBlock) for m in self.net)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def features(self, x: Tensor, layers: list[int]) -> list[Tensor]:
        """The outputs of `net`'s layers `layers` (increasing) for input x, running the encoder
        only as far as the last of them (CUT's PatchNCE): 0 is the padded image, 4 and 7 the
        downsampling convs, 10 + i residual block i."""
        if layers[-1] >= self.encoder_layers:
            raise GanlabError(
                f"cyclegan.nce_layers: expected indices below {self.encoder_layers} (the encoder of a "
                f"translator with {self.encoder_layers - 1 - ENCODER_STEM} residual blocks), found {layers}"
            )
        features, wanted = [], set(layers)
        for i, layer in enumerate(self.net[: layers[-1] + 1]):
            x = layer(x)
            if i in wanted:
                # the next layer may be an in-place ReLU, which would overwrite the feature
                features.append(x.clone() if _in_place(self.net, i + 1) else x)
        return features


def _in_place(net: nn.Sequential, i: int) -> bool:
    return i < len(net) and getattr(net[i], "inplace", False)


class PatchDiscriminator(nn.Module):
    """3×R×R image -> 1×P×P logits, one per overlapping patch (P = 6 at 32 px, 6 at 64, 14 at 128)."""

    def __init__(self, *, ch: int, resolution: int) -> None:
        super().__init__()
        n_down = PATCH_LAYERS[resolution]
        layers = [nn.Conv2d(3, ch, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]  # 3×R×R -> ch×R/2 (no norm)
        width = ch
        for _ in range(n_down - 1):  # each: w×s×s -> 2w×s/2×s/2
            layers += [nn.Conv2d(width, 2 * width, 4, 2, 1), _norm(2 * width), nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        layers += [
            nn.Conv2d(width, 2 * width, 4, 1, 1),  # -> 2w×(s-1)×(s-1)
            _norm(2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 1, 4, 1, 1),  # -> 1×(s-2)×(s-2) patch logits
        ]
        self.net = nn.Sequential(*layers)
        self.apply(_init_cyclegan)

    @classmethod
    def from_config(cls, cfg: CycleGANConfig) -> PatchDiscriminator:
        return cls(ch=cfg.d_ch, resolution=cfg.resolution)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PatchProjector(nn.Module):
    """CUT's MLP head (Park et al. 2020, `PatchSampleF`): per feature layer, features at sampled
    locations -> a 2-layer MLP -> unit vectors, the embeddings PatchNCE compares.

    The reference creates the MLPs lazily, at the first batch, from the channels it sees; here
    they are made up front from `channels` (ganlab.training.cut measures them with a dry forward),
    so the optimizer, the checkpoint and a resumed run hold them from iteration 0."""

    def __init__(self, *, channels: list[int], dim: int = 256) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim)) for c in channels
        )
        for mlp in self.mlps:  # the reference's init_net: N(0, 0.02), zero biases
            for layer in mlp:
                if isinstance(layer, nn.Linear):
                    nn.init.normal_(layer.weight, 0.0, 0.02)
                    nn.init.zeros_(layer.bias)

    def forward(self, features: list[Tensor], locations: list[Tensor]) -> list[Tensor]:
        """features[l]: B×C×H×W; locations[l]: indices into H·W -> B·P×dim unit vectors per layer."""
        out = []
        for mlp, feature, where in zip(self.mlps, features, locations):
            b, c = feature.shape[:2]
            picked = feature.flatten(2).transpose(1, 2)[:, where].reshape(-1, c)  # B·P×C
            # unit length in fp32 (fp64 stays): under bf16 the dot products over τ = 0.07 would carry its rounding
            out.append(nn.functional.normalize(at_least_fp32(mlp(picked)), dim=1))
        return out
