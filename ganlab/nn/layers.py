"""Building blocks shared by the models: spectral norm, self-attention, conditional BN.

Two layers here are pinned to fp32 so that bf16 autocast (`<model>.precision: bf16`) speeds up
the convolutions without touching the numerically delicate parts: the spectral-norm power
iteration and BatchNorm's batch statistics.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize


def fp32(device_type: str):
    """A region where autocast is off, so ops run in the dtype of their (fp32) inputs."""
    return torch.autocast(device_type, enabled=False)


def at_least_fp32(x: Tensor) -> Tensor:
    """bf16 -> fp32; fp32 and fp64 (tests run whole trainings in fp64) as they are."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


class SpectralNorm(nn.Module):
    """W / σ(W) as a weight parametrization (Miyato et al. 2018), σ from power iteration.

    One power iteration per training forward, with u and v kept as buffers so they are
    checkpointed and a resumed run continues exactly. Buffer names match torch's
    `parametrizations.spectral_norm`, so checkpoints of either load into the other.

    Everything runs in fp32 with autocast off: under bf16 autocast, `mv` would otherwise run
    in bf16, and 8 mantissa bits make u and v drift and σ wrong by up to a few percent.
    """

    def __init__(self, weight: Tensor, *, eps: float = 1e-12, init_iterations: int = 15) -> None:
        super().__init__()
        self.eps = eps
        # Embedding and Linear weights are out×in already; convs are flattened to out×(in·k·k).
        matrix = weight.detach().flatten(1)
        self.register_buffer("_u", F.normalize(matrix.new_empty(matrix.shape[0]).normal_(), dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(matrix.new_empty(matrix.shape[1]).normal_(), dim=0, eps=eps))
        self._power_iteration(matrix, init_iterations)

    @torch.no_grad()
    def _power_iteration(self, matrix: Tensor, iterations: int) -> None:
        # In place (out=), as torch's own parametrization does: a captured CUDA graph replays
        # reads and writes of fixed addresses, so new tensors here would silently freeze u and v
        # in every replay. `forward` reads clones, so a backward that still needs this
        # forward's u and v (D runs on real and fake before one backward) sees them unchanged.
        for _ in range(iterations):
            F.normalize(torch.mv(matrix, self._v), dim=0, eps=self.eps, out=self._u)
            F.normalize(torch.mv(matrix.T, self._u), dim=0, eps=self.eps, out=self._v)

    def forward(self, weight: Tensor) -> Tensor:
        with fp32(weight.device.type):
            matrix = weight.flatten(1)
            if self.training:
                self._power_iteration(matrix, 1)
            u, v = self._u.clone(), self._v.clone()
            sigma = torch.dot(u, torch.mv(matrix, v))
            return weight / sigma

    def right_inverse(self, weight: Tensor) -> Tensor:
        return weight


@torch.no_grad()
def refresh_spectral_norms(net: nn.Module, iterations: int = 100) -> nn.Module:
    """Run `iterations` power iterations in every SpectralNorm of `net` on its own weights.

    An EMA copy averages G's weights but not its u and v: those it holds were copied from the
    live G, whose weights differ. Before a snapshot is used, its own vectors are converged from
    that warm start, so σ is that of the averaged weights."""
    for module in net.modules():
        if parametrize.is_parametrized(module, "weight"):
            for norm in module.parametrizations.weight:
                if isinstance(norm, SpectralNorm):
                    with fp32(module.parametrizations.weight.original.device.type):
                        norm._power_iteration(module.parametrizations.weight.original.flatten(1), iterations)
    return net


def sn(module: nn.Module, *, spectral_norm: bool = True) -> nn.Module:
    """Xavier init, then spectral norm on `module.weight`; with spectral_norm=False the same
    init and plain weights (a network without SN on some part, e.g. SNGAN's generator)."""
    nn.init.xavier_uniform_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    if spectral_norm:
        parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight))
    return module


def sn_conv(
    in_ch: int, out_ch: int, kernel_size: int = 3, *, bias: bool = True, spectral_norm: bool = True
) -> nn.Module:
    return sn(nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=bias), spectral_norm=spectral_norm)


def sn_linear(in_features: int, out_features: int, *, bias: bool = True, spectral_norm: bool = True) -> nn.Module:
    return sn(nn.Linear(in_features, out_features, bias=bias), spectral_norm=spectral_norm)


def sn_embedding(num_embeddings: int, dim: int, *, spectral_norm: bool = True) -> nn.Module:
    return sn(nn.Embedding(num_embeddings, dim), spectral_norm=spectral_norm)


class BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that always normalises in fp32 and returns fp32, and can take its batch
    statistics over every process of a distributed run.

    Under bf16 autocast its input arrives in bf16; batch mean and variance over bf16 values
    lose precision, and the running statistics (kept for eval) would inherit the error. The
    next conv casts the fp32 output back to bf16, so the cost is one conversion.

    `synced` (set by `sync_batchnorm`): in training, the mean and variance are those of the
    global batch, through differentiable all-reduces, so W processes normalise exactly as one
    would (SyncBatchNorm's idea; torch's SyncBatchNorm runs on GPUs only, this on gloo too).
    """

    synced = False

    def forward(self, x: Tensor) -> Tensor:
        with fp32(x.device.type):
            if self.synced and self.training:
                return self._synced_forward(at_least_fp32(x))
            return super().forward(at_least_fp32(x))

    def _synced_forward(self, x: Tensor) -> Tensor:
        dims = (0, 2, 3)
        # Every rank holds an equal slice (World.rows), so the global count needs no all-reduce.
        count = x.numel() / x.shape[1] * torch.distributed.get_world_size()
        mean = all_reduce(x.sum(dims)) / count
        centred = x - mean[None, :, None, None]
        # Two passes, as one process computes it: E[x²] − E[x]² loses digits when |mean| ≫ std.
        var = all_reduce(centred.square().sum(dims)) / count
        out = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean, factor)
                self.running_var.lerp_(var * (count / (count - 1)), factor)  # unbiased, as torch keeps it
        return out


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks, differentiable: the gradient of a sum over ranks is the sum over ranks
    of the gradients (each rank's loss depends on every rank's input through it)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        x = x.clone()
        torch.distributed.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        torch.distributed.all_reduce(grad)
        return grad


def all_reduce(x: Tensor) -> Tensor:
    return _AllReduceSum.apply(x)


def sync_batchnorm(net: nn.Module, synced: bool) -> nn.Module:
    """Turn global-batch statistics on or off in every BatchNorm2d of `net`."""
    for module in net.modules():
        if isinstance(module, BatchNorm2d):
            module.synced = synced
    return net


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): x + γ·softmax(f(x)ᵀg(x))·h(x), γ starting at 0.

    γ = 0 makes the block an identity at init, so the network first learns local structure
    and lets attention in gradually.
    """

    def __init__(self, *, channels: int, spectral_norm: bool = True) -> None:
        super().__init__()
        self.f = sn(nn.Conv2d(channels, channels // 8, 1, bias=False), spectral_norm=spectral_norm)  # queries
        self.g = sn(nn.Conv2d(channels, channels // 8, 1, bias=False), spectral_norm=spectral_norm)  # keys
        self.h = sn(nn.Conv2d(channels, channels, 1, bias=False), spectral_norm=spectral_norm)  # values
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
    """BatchNorm whose gain and bias are linear in a class embedding.

    The gain is 1 + linear(e). By default the two linears are spectrally normalised and read a
    shared dense embedding (BigGAN). With `per_class` they are plain and start at zero, and the
    embedding is a one-hot label: each class owns a row of gains and biases that starts at
    γ = 1, β = 0 and is not norm-bounded (SNGAN). With `embed_dim` 0 it is ordinary affine
    BatchNorm, so one generator serves the unconditional case too.
    """

    def __init__(
        self, *, num_features: int, embed_dim: int, per_class: bool = False, spectral_norm: bool = True
    ) -> None:
        super().__init__()
        self.bn = BatchNorm2d(num_features, affine=embed_dim == 0)
        if embed_dim and per_class:
            self.gain = nn.Linear(embed_dim, num_features, bias=False)
            self.bias = nn.Linear(embed_dim, num_features, bias=False)
            nn.init.zeros_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)
        elif embed_dim:
            self.gain = sn_linear(embed_dim, num_features, bias=False, spectral_norm=spectral_norm)
            self.bias = sn_linear(embed_dim, num_features, bias=False, spectral_norm=spectral_norm)

    def forward(self, x: Tensor, embedding: Tensor | None) -> Tensor:
        out = self.bn(x)
        if embedding is None:
            return out
        gain = 1.0 + self.gain(embedding)[:, :, None, None]
        return out * gain + self.bias(embedding)[:, :, None, None]
