"""Conditional SAGAN at 32, 64 or 128 pixels: SNGAN/BigGAN ResNet blocks, spectral norm on
every layer, self-attention at `attention_res`, conditional BN in G and a projection
discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.config import CLASS_EMBEDDINGS, SAGANConfig
from ganlab.errors import GanlabError
from ganlab.nn.layers import BatchNorm2d, ConditionalBatchNorm2d, SelfAttention, sn_conv, sn_embedding, sn_linear

SHARED_EMBED_DIM = 128  # BigGAN's shared class embedding

# Block widths as divisors of the widest layer (g_ch, d_ch). 32 pixels is SNGAN's CIFAR layout,
# one width throughout and D downsampling twice; 64 and 128 are BigGAN's, where G halves its
# width at every doubling and D doubles it at every halving, down to 4×4.
G_LAYOUT = {32: (1, 1, 1), 64: (1, 2, 4, 8), 128: (1, 2, 4, 8, 16)}  # per block, output 8×8, 16×16, ...
D_LAYOUT = {  # per block: (width divisor, downsample)
    32: ((1, True), (1, True), (1, False), (1, False)),
    64: ((16, True), (8, True), (4, True), (2, True), (1, False)),
    128: ((16, True), (8, True), (4, True), (2, True), (1, True), (1, False)),
}


def _block_sizes(resolution: int) -> tuple[list[int], list[int]]:
    """Output size (pixels a side) of every G block and every D block."""
    g = [8 * 2**i for i in range(len(G_LAYOUT[resolution]))]
    d, size = [], resolution
    for _, down in D_LAYOUT[resolution]:
        size //= 2 if down else 1
        d.append(size)
    return g, d


def attention_index(attention_res: int, resolution: int, *, part: str) -> int | None:
    """The block of G or D (`part`) after which self-attention sits, None for attention_res 0."""
    if attention_res == 0:
        return None
    g, d = _block_sizes(resolution)
    sizes = g if part == "generator" else d
    if attention_res not in set(g) & set(d):
        valid = sorted(set(g) & set(d))
        raise GanlabError(
            f"sagan.attention_res={attention_res}: at data.resolution={resolution}, G and D both have blocks of "
            f"{valid} pixels; expected 0 or one of those"
        )
    return sizes.index(attention_res)


def _attention(channels: int, index: int | None, *, spectral_norm: bool = True) -> SelfAttention | None:
    if index is None:
        return None
    if channels < 8:
        raise GanlabError(f"sagan.attention_res: the attention block has {channels} channels; it needs at least 8")
    return SelfAttention(channels=channels, spectral_norm=spectral_norm)


class GBlock(nn.Module):
    """BN-ReLU-up-conv-BN-ReLU-conv, with a 1×1 conv on the upsampled shortcut."""

    def __init__(
        self, *, in_ch: int, out_ch: int, embed_dim: int, per_class: bool = False, spectral_norm: bool = True
    ) -> None:
        super().__init__()
        bn = {"embed_dim": embed_dim, "per_class": per_class, "spectral_norm": spectral_norm}
        self.bn1 = ConditionalBatchNorm2d(num_features=in_ch, **bn)
        self.conv1 = sn_conv(in_ch, out_ch, spectral_norm=spectral_norm)
        self.bn2 = ConditionalBatchNorm2d(num_features=out_ch, **bn)
        self.conv2 = sn_conv(out_ch, out_ch, spectral_norm=spectral_norm)
        self.shortcut = sn_conv(in_ch, out_ch, 1, spectral_norm=spectral_norm)

    def forward(self, x: Tensor, embedding: Tensor | None) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, embedding)), scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), embedding)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DBlock(nn.Module):
    """(ReLU-)conv-ReLU-conv(-avgpool) with a 1×1 conv shortcut. The first block skips the
    leading ReLU (its input is the image) and pools before its shortcut conv, as in SNGAN."""

    def __init__(self, *, in_ch: int, out_ch: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = sn_conv(in_ch, out_ch)
        self.conv2 = sn_conv(out_ch, out_ch)
        self.shortcut = sn_conv(in_ch, out_ch, 1) if (in_ch != out_ch or down) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        sc = x
        if self.first:
            sc = self.shortcut(F.avg_pool2d(x, 2))
        elif self.shortcut is not None:
            sc = self.shortcut(x)
            sc = F.avg_pool2d(sc, 2) if self.down else sc
        return h + sc


class SAGANGenerator(nn.Module):
    """`class_embedding` (see SAGANConfig): shared_sn, shared or per_class. `hierarchical_z`
    splits z into one chunk for the input linear and one per block, and each block's
    conditional BNs read [its chunk, the class embedding] (BigGAN). `spectral_norm` False
    leaves every layer but the class embedding plain (SNGAN's G; the embedding follows
    `class_embedding`)."""

    def __init__(
        self,
        *,
        z_dim: int,
        g_ch: int,
        num_classes: int,
        attention_res: int,
        resolution: int = 32,
        class_embedding: str = "shared_sn",
        hierarchical_z: bool = False,
        spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        self.z_dim, self.num_classes, self.g_ch, self.resolution = z_dim, num_classes, g_ch, resolution
        if class_embedding not in CLASS_EMBEDDINGS:
            raise GanlabError(f"sagan.class_embedding: expected one of {CLASS_EMBEDDINGS}, found {class_embedding!r}")
        self.per_class = class_embedding == "per_class"
        n_blocks = len(G_LAYOUT[resolution])
        if hierarchical_z and z_dim % (n_blocks + 1):
            raise GanlabError(
                f"sagan.z_dim={z_dim}: hierarchical_z splits z into {n_blocks + 1} equal chunks at "
                f"data.resolution={resolution}; expected a multiple of {n_blocks + 1}"
            )
        if hierarchical_z and self.per_class:
            raise GanlabError("sagan.hierarchical_z needs a shared class embedding; found class_embedding per_class")
        self.chunk = z_dim // (n_blocks + 1) if hierarchical_z else 0
        class_dim = (num_classes if self.per_class else SHARED_EMBED_DIM) if num_classes else 0
        if not num_classes or self.per_class:
            self.embed = None  # per_class: the one-hot label is the embedding
        else:
            self.embed = sn_embedding(num_classes, class_dim, spectral_norm=class_embedding == "shared_sn")
        embed_dim = class_dim + self.chunk
        self.linear = sn_linear(self.chunk or z_dim, 4 * 4 * g_ch, spectral_norm=spectral_norm)  # z (or chunk) -> g×4×4
        widths = [g_ch] + [g_ch // div for div in G_LAYOUT[resolution]]
        # Each block doubles the size: g×4×4 -> w1×8×8 -> ... -> wn×R×R (all g at 32 pixels).
        self.blocks = nn.ModuleList(
            GBlock(in_ch=a, out_ch=b, embed_dim=embed_dim, per_class=self.per_class, spectral_norm=spectral_norm)
            for a, b in zip(widths[:-1], widths[1:])
        )
        # Attention right after the block whose output has `attention_res` pixels a side.
        self.attention_after = attention_index(attention_res, resolution, part="generator")
        self.attention = _attention(
            widths[(self.attention_after or 0) + 1], self.attention_after, spectral_norm=spectral_norm
        )
        self.bn = BatchNorm2d(widths[-1])
        self.to_rgb = sn_conv(widths[-1], 3, spectral_norm=spectral_norm)  # -> 3×R×R

    @classmethod
    def from_config(cls, cfg: SAGANConfig, *, num_classes: int, resolution: int) -> SAGANGenerator:
        return cls(
            z_dim=cfg.z_dim,
            g_ch=cfg.g_ch,
            num_classes=num_classes if cfg.conditional else 0,
            attention_res=cfg.attention_res,
            resolution=resolution,
            class_embedding=cfg.class_embedding,
            hierarchical_z=cfg.hierarchical_z,
            spectral_norm=cfg.g_spectral_norm,
        )

    def class_embedding(self, labels: Tensor) -> Tensor:
        """N -> N×128 shared class embeddings (N×num_classes one-hot for per_class), what every
        conditional BN reads; a mix of two rows is a mix of two classes."""
        if not self.num_classes:
            raise ValueError("an unconditional generator has no class embedding")
        if self.per_class:
            return F.one_hot(labels, self.num_classes).float()
        return self.embed(labels)

    def forward(self, z: Tensor, labels: Tensor | None = None, *, embedding: Tensor | None = None) -> Tensor:
        """z (N×z_dim) and either class labels (N) or class embeddings (N×128) directly, e.g.
        a mix of two classes' embeddings."""
        if embedding is None and self.num_classes:
            embedding = self.class_embedding(labels)
        chunks = z.split(self.chunk, 1) if self.chunk else [z]
        h = self.linear(chunks[0]).view(-1, self.g_ch, 4, 4)
        for i, block in enumerate(self.blocks):
            condition = embedding
            if self.chunk:
                condition = chunks[i + 1] if embedding is None else torch.cat([chunks[i + 1], embedding], 1)
            h = block(h, condition)
            if i == self.attention_after:
                h = self.attention(h)
        return self.to_rgb(F.relu(self.bn(h))).tanh()


class SAGANDiscriminator(nn.Module):
    def __init__(self, *, d_ch: int, num_classes: int, attention_res: int, resolution: int = 32) -> None:
        super().__init__()
        self.num_classes = num_classes
        widths = [3] + [d_ch // div for div, _ in D_LAYOUT[resolution]]
        downs = [down for _, down in D_LAYOUT[resolution]]
        # 32 pixels: 3×32×32 -> d×16×16 -> d×8×8 -> d×8×8 -> d×8×8. 64: 3×64×64 -> d/16×32×32
        # -> d/8×16×16 -> d/4×8×8 -> d/2×4×4 -> d×4×4; 128 the same with one more halving.
        self.blocks = nn.ModuleList(
            DBlock(in_ch=a, out_ch=b, down=down, first=i == 0)
            for i, (a, b, down) in enumerate(zip(widths[:-1], widths[1:], downs))
        )
        self.attention_after = attention_index(attention_res, resolution, part="discriminator")
        self.attention = _attention(widths[(self.attention_after or 0) + 1], self.attention_after)
        self.linear = sn_linear(d_ch, 1)
        # Projection discriminator (Miyato & Koyama 2018): adds <embed(y), features>.
        self.embed = sn_embedding(num_classes, d_ch) if num_classes else None

    @classmethod
    def from_config(cls, cfg: SAGANConfig, *, num_classes: int, resolution: int) -> SAGANDiscriminator:
        return cls(
            d_ch=cfg.d_ch,
            num_classes=num_classes if cfg.conditional else 0,
            attention_res=cfg.attention_res,
            resolution=resolution,
        )

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i == self.attention_after:
                h = self.attention(h)
        h = F.relu(h).sum(dim=(2, 3))  # global sum pooling -> N×d
        out = self.linear(h).flatten()
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(dim=1)
        return out
