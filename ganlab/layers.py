"""Building blocks shared by the models: spectral norm, self-attention, conditional BN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def sn(module: nn.Module) -> nn.Module:
    """Xavier init then spectral norm (torch's parametrization: one power iteration per
    training forward, u and v kept as buffers so they are checkpointed and resume exactly)."""
    nn.init.xavier_uniform_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return spectral_norm(module)


def sn_conv(in_ch: int, out_ch: int, kernel_size: int = 3, *, bias: bool = True) -> nn.Module:
    return sn(nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=bias))


def sn_linear(in_features: int, out_features: int, *, bias: bool = True) -> nn.Module:
    return sn(nn.Linear(in_features, out_features, bias=bias))


def sn_embedding(num_embeddings: int, dim: int) -> nn.Module:
    return sn(nn.Embedding(num_embeddings, dim))


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): x + γ·softmax(f(x)ᵀg(x))·h(x), γ starting at 0.

    γ = 0 makes the block an identity at init, so the network first learns local structure
    and lets attention in gradually.
    """

    def __init__(self, *, channels: int, use_sn: bool = True) -> None:
        super().__init__()
        wrap = sn if use_sn else (lambda m: m)
        self.f = wrap(nn.Conv2d(channels, channels // 8, 1, bias=False))  # queries
        self.g = wrap(nn.Conv2d(channels, channels // 8, 1, bias=False))  # keys
        self.h = wrap(nn.Conv2d(channels, channels, 1, bias=False))  # values
        self.gamma = nn.Parameter(torch.zeros(()))

    def _qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        # N×C×H×W -> N×HW×C': one row per position.
        return tuple(conv(x).flatten(2).transpose(1, 2) for conv in (self.f, self.g, self.h))

    def attention_map(self, x: Tensor) -> Tensor:
        """N×HW×HW: row i is how much position i attends to every position (sums to 1)."""
        q, k, _ = self._qkv(x)
        return torch.softmax(q @ k.transpose(1, 2), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        n, c, height, width = x.shape
        q, k, v = self._qkv(x)
        # scale=1: SAGAN uses raw dot products, not the transformer's 1/sqrt(d).
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], scale=1.0)[:, 0]
        out = out.transpose(1, 2).reshape(n, c, height, width)
        return x + self.gamma * out


def attention_gammas(model: nn.Module) -> dict[str, Tensor]:
    """γ of every SelfAttention in `model`, keyed by module path (for the training log)."""
    return {name: m.gamma for name, m in model.named_modules() if isinstance(m, SelfAttention)}


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose gain and bias are linear in a class embedding (BigGAN style).

    The gain is 1 + linear(e), so a fresh layer starts as plain BN. With `embed_dim` 0 it is
    ordinary affine BatchNorm, so one generator serves the unconditional case too.
    """

    def __init__(self, *, num_features: int, embed_dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=embed_dim == 0)
        if embed_dim:
            self.gain = sn_linear(embed_dim, num_features, bias=False)
            self.bias = sn_linear(embed_dim, num_features, bias=False)

    def forward(self, x: Tensor, embedding: Tensor | None) -> Tensor:
        out = self.bn(x)
        if embedding is None:
            return out
        gain = 1.0 + self.gain(embedding)[:, :, None, None]
        return out * gain + self.bias(embedding)[:, :, None, None]
