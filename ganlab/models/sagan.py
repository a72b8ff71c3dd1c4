"""Conditional SAGAN for 32×32: SNGAN/BigGAN ResNet blocks, spectral norm on every layer,
self-attention at `attention_res`, conditional BN in G and a projection discriminator."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.config import SAGANConfig
from ganlab.layers import BatchNorm2d, ConditionalBatchNorm2d, SelfAttention, sn_conv, sn_embedding, sn_linear


class GBlock(nn.Module):
    """BN-ReLU-up-conv-BN-ReLU-conv, with a 1×1 conv on the upsampled shortcut."""

    def __init__(self, *, in_ch: int, out_ch: int, embed_dim: int) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(num_features=in_ch, embed_dim=embed_dim)
        self.conv1 = sn_conv(in_ch, out_ch)
        self.bn2 = ConditionalBatchNorm2d(num_features=out_ch, embed_dim=embed_dim)
        self.conv2 = sn_conv(out_ch, out_ch)
        self.shortcut = sn_conv(in_ch, out_ch, 1)

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
    def __init__(self, *, z_dim: int, g_ch: int, num_classes: int, attention_res: int) -> None:
        super().__init__()
        self.z_dim, self.num_classes, self.g_ch = z_dim, num_classes, g_ch
        embed_dim = 128 if num_classes else 0
        self.embed = sn_embedding(num_classes, embed_dim) if num_classes else None
        self.linear = sn_linear(z_dim, 4 * 4 * g_ch)  # z -> g×4×4
        self.blocks = nn.ModuleList(
            GBlock(in_ch=g_ch, out_ch=g_ch, embed_dim=embed_dim) for _ in range(3)
        )  # -> g×8×8 -> g×16×16 -> g×32×32
        # Attention right after the block whose output has `attention_res` pixels a side.
        self.attention_after = {8: 0, 16: 1}.get(attention_res)
        self.attention = SelfAttention(channels=g_ch) if self.attention_after is not None else None
        self.bn = BatchNorm2d(g_ch)
        self.to_rgb = sn_conv(g_ch, 3)  # -> 3×32×32

    @classmethod
    def from_config(cls, cfg: SAGANConfig, *, num_classes: int) -> SAGANGenerator:
        return cls(
            z_dim=cfg.z_dim,
            g_ch=cfg.g_ch,
            num_classes=num_classes if cfg.conditional else 0,
            attention_res=cfg.attention_res,
        )

    def class_embedding(self, labels: Tensor) -> Tensor:
        """N -> N×128: the shared class embedding that every conditional BN reads."""
        if self.embed is None:
            raise ValueError("an unconditional generator has no class embedding")
        return self.embed(labels)

    def forward(self, z: Tensor, labels: Tensor | None = None, *, embedding: Tensor | None = None) -> Tensor:
        """z (N×z_dim) and either class labels (N) or class embeddings (N×128) directly, e.g.
        a mix of two classes' embeddings."""
        if embedding is None and self.embed is not None:
            embedding = self.class_embedding(labels)
        h = self.linear(z).view(-1, self.g_ch, 4, 4)
        for i, block in enumerate(self.blocks):
            h = block(h, embedding)
            if i == self.attention_after:
                h = self.attention(h)
        return self.to_rgb(F.relu(self.bn(h))).tanh()


class SAGANDiscriminator(nn.Module):
    def __init__(self, *, d_ch: int, num_classes: int, attention_res: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.blocks = nn.ModuleList(
            [
                DBlock(in_ch=3, out_ch=d_ch, down=True, first=True),  # 3×32×32 -> d×16×16
                DBlock(in_ch=d_ch, out_ch=d_ch, down=True),  # -> d×8×8
                DBlock(in_ch=d_ch, out_ch=d_ch, down=False),  # -> d×8×8
                DBlock(in_ch=d_ch, out_ch=d_ch, down=False),  # -> d×8×8
            ]
        )
        self.attention_after = {16: 0, 8: 1}.get(attention_res)
        self.attention = SelfAttention(channels=d_ch) if self.attention_after is not None else None
        self.linear = sn_linear(d_ch, 1)
        # Projection discriminator (Miyato & Koyama 2018): adds <embed(y), features>.
        self.embed = sn_embedding(num_classes, d_ch) if num_classes else None

    @classmethod
    def from_config(cls, cfg: SAGANConfig, *, num_classes: int) -> SAGANDiscriminator:
        return cls(
            d_ch=cfg.d_ch,
            num_classes=num_classes if cfg.conditional else 0,
            attention_res=cfg.attention_res,
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
