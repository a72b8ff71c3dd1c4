"""FID with pytorch-fid's Inception network, computed in memory and with a fast, stable
Fréchet distance.

pytorch-fid's `calculate_frechet_distance` takes scipy's sqrtm of the non-symmetric Σ1·Σ2,
which costs seconds at 2048-d and can return complex or NaN values. Tr√(Σr·Σg) equals the sum
of √eigenvalues of a symmetric PSD matrix with the same spectrum (FrechetReference), so every
checkpoint costs one symmetric eigvalsh: 2048-d at most, n×n for n ≤ 2048 images.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from ganlab.distributed import SINGLE, World, gather_batches
from ganlab.errors import GanlabError
from ganlab.io import atomic_path
from ganlab.metrics.inception_pass import CUDA_PASS, FeaturePass, cpu_pass

DIMS = 2048  # pool3 features


class FidError(GanlabError):
    """FID cannot be computed: missing weights or reference, or a non-finite result."""


def weights_path() -> Path:
    """Where pytorch-fid (through torch.hub) looks for its Inception weights."""
    from pytorch_fid.inception import FID_WEIGHTS_URL

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(FID_WEIGHTS_URL)


def load_inception(device: torch.device) -> torch.nn.Module:
    """pytorch-fid's FID InceptionV3 (pool3 output), with a clear error when offline."""
    from pytorch_fid.inception import FID_WEIGHTS_URL, InceptionV3

    try:
        model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[DIMS]])
    except Exception as e:
        path = weights_path()
        if path.exists():
            raise FidError(f"{path}: pytorch-fid's Inception weights could not be loaded ({e})") from e
        raise FidError(
            f"pytorch-fid's Inception weights are missing and could not be downloaded "
            f"({type(e).__name__}: {e}).\n"
            f"  pytorch-fid looks for {path} (set by TORCH_HOME, default ~/.cache/torch).\n"
            f"  Download {FID_WEIGHTS_URL} on a machine with internet and copy it there, "
            f"or point TORCH_HOME at a folder holding hub/checkpoints/{path.name}."
        ) from None
    return model.to(device).eval()


def fold_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Fold every BatchNorm of pytorch-fid's Inception into the conv before it, in place.

    Each BasicConv2d is conv -> BN(eval) -> ReLU; BN in eval mode is a per-channel affine map,
    so it folds exactly (up to float rounding) into the conv's weights and a bias. Derived from
    the loaded weights at load time; no new weights file exists.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    from torchvision.models.inception import BasicConv2d

    for module in model.modules():
        if isinstance(module, BasicConv2d) and isinstance(module.bn, torch.nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = torch.nn.Identity()
    return model


@contextlib.contextmanager
def exact_fp32(device: torch.device) -> Iterator[None]:
    """fp32 as pytorch-fid computes it: no autocast, and on CUDA no TF32 (10-bit mantissa
    matmuls) and no cuDNN autotuning (which may pick a different algorithm, and so different
    rounding, from run to run). Flags are restored afterwards, so training keeps its own."""
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    try:
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = False
        with torch.autocast(device.type, enabled=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = flags


class InceptionFeatures:
    """uint8 images -> pool3 features, exactly as pytorch-fid's CLI sees PNG files:
    x/255 in [0, 1], then its own resize to 299 and scaling to [-1, 1].

    Always fp32, with BatchNorm folded into the convs. On a CPU, in small chunks of images (the
    299×299 activations stay in cache) and in the memory layout measured fastest on this
    machine (ganlab.metrics.inception_pass; the figures in docs/performance.md). CUDA keeps
    whole NHWC batches, which is what keeps a GPU busy. `feature_pass` chooses explicitly.
    """

    def __init__(self, *, device: torch.device, feature_pass: FeaturePass | None = None) -> None:
        self.device = device
        self.model = fold_batchnorm(load_inception(device))
        if feature_pass is None:
            feature_pass = CUDA_PASS if device.type == "cuda" else cpu_pass(self.model)
        self.feature_pass = feature_pass
        self.model.to(memory_format=feature_pass.memory_format)

    @torch.inference_mode()
    def features(self, images: Tensor) -> Tensor:
        """N×2048 features, left on the device (an asynchronous result on CUDA)."""
        chunk = self.feature_pass.chunk or max(len(images), 1)
        layout = self.feature_pass.memory_format
        out = []
        with exact_fp32(self.device):
            for start in range(0, len(images), chunk):
                x = images[start : start + chunk].to(self.device, non_blocking=True).float().div_(255.0)
                out.append(self.model(x.contiguous(memory_format=layout))[0].flatten(1))
        return torch.cat(out)

    def __call__(self, images: Tensor) -> np.ndarray:
        return self.features(images).cpu().numpy()

    def of_batches(self, batches: Iterable[Tensor], *, world: World = SINGLE) -> np.ndarray | None:
        """Features of every batch; under torchrun, of this rank's batches (`World.deals`), all
        gathered in order on rank 0 (None on the others).

        Every batch is queued before any result is copied to the host: on CUDA the host never
        waits for the GPU, so generating batch i+1 overlaps Inception's pass over batch i."""
        on_device = [self.features(b) for b in batches]
        return gather_batches([f.cpu().numpy() for f in on_device], world)

    def of_images(self, images: Tensor, *, batch_size: int, progress: bool = False) -> np.ndarray:
        starts = range(0, len(images), batch_size)
        bar = tqdm(starts, desc="Inception", unit="batch", mininterval=2.0, disable=not progress)
        return self.of_batches(images[i : i + batch_size] for i in bar)


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance as pytorch-fid computes them (float64, ddof=1)."""
    return np.mean(features, axis=0, dtype=np.float64), np.cov(features, rowvar=False)


def linalg_device(device: torch.device) -> torch.device | None:
    """Where FrechetReference should do its float64 linear algebra when features come from
    `device`: that GPU, or None (numpy) on a CPU."""
    return device if device.type == "cuda" else None


def _trace_sqrt_psd(matrix: np.ndarray | Tensor) -> float:
    """Σ√λ over the eigenvalues of a symmetric PSD matrix (negative rounding clipped to 0)."""
    if isinstance(matrix, Tensor):
        return torch.linalg.eigvalsh((matrix + matrix.T) / 2).clamp(min=0.0).sqrt().sum().item()
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((matrix + matrix.T) / 2), 0.0, None)).sum())


def _centered(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean, and X such that XᵀX is the features' ddof=1 covariance (as `statistics`)."""
    f = np.asarray(features, dtype=np.float64)
    mu = f.mean(axis=0)
    return mu, (f - mu) / np.sqrt(len(f) - 1)


class FrechetReference:
    """The reference side of FID, built once and reused for every checkpoint.

    Tr√(Σr·Σg) is Σ√λ over the spectrum of Σr·Σg, which is also the nonzero spectrum of other,
    symmetric PSD matrices; each distance picks the smallest one:
    - √Σr·Σg·√Σr (2048×2048), with √Σr decomposed once, when both sides are full rank;
    - Y·Σr·Yᵀ (n×n) when the generated covariance is YᵀY from n ≤ 2048 images;
    - (Y·Xᵀ)(Y·Xᵀ)ᵀ when the reference also came from few images (`of_features`, as per class).
    Few images are common (per-class FID, small test splits), and there no 2048-d
    eigendecomposition is needed at all.

    `device`: None does the float64 linear algebra in numpy (LAPACK); a torch device does the
    same products and decompositions with torch there, a fraction of the time on a GPU."""

    def __init__(self, mu: np.ndarray, sigma: np.ndarray, *, device: torch.device | str | None = None) -> None:
        self.mu = np.asarray(mu, dtype=np.float64)
        self.sigma = np.asarray(sigma, dtype=np.float64)
        if self.mu.shape != (self.sigma.shape[0],) or self.sigma.shape[0] != self.sigma.shape[1]:
            raise FidError(f"reference statistics have inconsistent shapes {self.mu.shape} and {self.sigma.shape}")
        self.device = torch.device(device) if device is not None else None
        self.trace = float(np.trace(self.sigma))
        self._x: np.ndarray | Tensor | None = None  # the reference's centred features, when few
        self._sqrt_sigma: np.ndarray | Tensor | None = None

    @classmethod
    def of_features(cls, features: np.ndarray, *, device: torch.device | str | None = None) -> FrechetReference:
        """The reference of these features; with no more images than dimensions it keeps them,
        so that distances never decompose a 2048-d matrix."""
        reference = cls(*statistics(features), device=device)
        if len(features) <= features.shape[1]:
            reference._x = reference._on_device(_centered(features)[1])
        return reference

    def _on_device(self, array: np.ndarray) -> np.ndarray | Tensor:
        return array if self.device is None else torch.as_tensor(array, device=self.device)

    def _sqrt(self) -> np.ndarray | Tensor:
        if self._sqrt_sigma is None:
            sigma = self._on_device(self.sigma)
            if self.device is None:
                eigvals, eigvecs = np.linalg.eigh((sigma + sigma.T) / 2)
                self._sqrt_sigma = (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T
            else:
                eigvals, eigvecs = torch.linalg.eigh((sigma + sigma.T) / 2)
                self._sqrt_sigma = (eigvecs * eigvals.clamp(min=0.0).sqrt()) @ eigvecs.T
        return self._sqrt_sigma

    def _check(self, mu_shape: tuple, sigma_shape: tuple) -> None:
        if mu_shape != self.mu.shape or sigma_shape != self.sigma.shape:
            raise FidError(f"statistics of shape {mu_shape}/{sigma_shape} do not match the reference {self.mu.shape}")

    def _combine(self, mu: np.ndarray, trace: float, trace_sqrt: float) -> float:
        diff = mu - self.mu
        return float(diff @ diff + trace + self.trace - 2.0 * trace_sqrt)

    def distance(self, mu: np.ndarray, sigma: np.ndarray) -> float:
        """d² to the Gaussian (mu, sigma)."""
        mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
        self._check(mu.shape, sigma.shape)
        if self._x is not None:
            trace_sqrt = _trace_sqrt_psd(self._x @ self._on_device(sigma) @ self._x.T)
        else:
            root = self._sqrt()
            trace_sqrt = _trace_sqrt_psd(root @ self._on_device(sigma) @ root)
        return self._combine(mu, float(np.trace(sigma)), trace_sqrt)

    def distance_to(self, features: np.ndarray) -> float:
        """d² to the Gaussian of these features: the same value as `distance(*statistics(features))`."""
        n, dims = features.shape
        self._check((dims,), (dims, dims))
        if n > dims:
            return self.distance(*statistics(features))
        mu, y = _centered(features)
        y_dev = self._on_device(y)
        if self._x is not None:
            cross = y_dev @ self._x.T
            gram = cross @ cross.T if cross.shape[0] <= cross.shape[1] else cross.T @ cross
        else:
            gram = y_dev @ self._on_device(self.sigma) @ y_dev.T
        return self._combine(mu, float(np.einsum("ij,ij->", y, y)), _trace_sqrt_psd(gram))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """d²((mu1, sigma1), (mu2, sigma2)), the same quantity as pytorch-fid's function."""
    return FrechetReference(mu2, sigma2).distance(mu1, sigma1)


def save_statistics(path: str | Path, mu: np.ndarray, sigma: np.ndarray, **extra) -> None:
    """The `python -m pytorch_fid --save-stats` format (`mu`, `sigma`), plus `extra` arrays."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object, or numpy would append ".npz" to the name
            np.savez(f, mu=mu, sigma=sigma, **extra)


def reference_info(stats: dict[str, np.ndarray], path: str | Path) -> tuple[str, int, int]:
    """Which split the reference statistics were computed from, how many images, and how many the
    split holds (more where `fid.reference_size` took a seeded subset), for the protocol."""
    if "size" not in stats or "split" not in stats:
        raise FidError(f"{path}: no 'size' or 'split' (written by an older ganlab); re-run `dvc repro fid_reference`")
    size = int(stats["size"])
    return str(stats["split"]), size, int(stats.get("pool", size))


def load_statistics(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise FidError(f"{path}: FID reference statistics not found; run `dvc repro fid_reference` first")
    try:
        with np.load(path) as f:
            stats = {k: f[k] for k in f.files}
    except Exception as e:
        raise FidError(f"{path}: unreadable FID statistics ({type(e).__name__}: {e})") from e
    if "mu" not in stats or "sigma" not in stats:
        raise FidError(f"{path}: expected arrays 'mu' and 'sigma', found {sorted(stats)}")
    return stats
