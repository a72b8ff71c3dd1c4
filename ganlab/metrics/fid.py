"""FID with pytorch-fid's Inception network, computed in memory and with a fast, stable
Fréchet distance.

pytorch-fid's `calculate_frechet_distance` takes scipy's sqrtm of the non-symmetric Σ1·Σ2,
which costs seconds at 2048-d and can return complex or NaN values. Tr√(Σr·Σg) equals the sum
of √eigenvalues of the symmetric PSD matrix √Σr·Σg·√Σr, so with √Σr computed once per
reference, every checkpoint costs one symmetric eigvalsh.
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

    Always fp32. Measured on CPU (2-core Xeon with AMX, bench/fid_speed.py and one-off trials):
    - NCHW 10.7 img/s -> NHWC 17.0 -> NHWC with BatchNorm folded into the convs 23.9 (batch 50);
    - then chunks of CPU_CHUNK images: 8 -> 27.0 img/s, against 23.1 at 50 and 17.4 at 200
      (a small batch keeps the 299×299 activations in cache).
    Tried and not kept: torch.jit.freeze + optimize_for_inference (17.0); inductor with
    freezing (26.5, but 18 s to compile, and again for every new batch shape); moving the 299
    resize (1.6% of the time). CUDA keeps whole batches, which is what keeps a GPU busy.
    """

    CPU_CHUNK = 8

    def __init__(self, *, device: torch.device) -> None:
        self.device = device
        self.model = fold_batchnorm(load_inception(device)).to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> np.ndarray:
        chunk = self.CPU_CHUNK if self.device.type == "cpu" else max(len(images), 1)
        out = []
        with exact_fp32(self.device):
            for start in range(0, len(images), chunk):
                x = images[start : start + chunk].to(self.device, non_blocking=True).float().div_(255.0)
                out.append(self.model(x.contiguous(memory_format=torch.channels_last))[0].flatten(1).cpu())
        return torch.cat(out).numpy()

    def of_batches(self, batches: Iterable[Tensor], *, world: World = SINGLE) -> np.ndarray | None:
        """Features of every batch; under torchrun, of this rank's batches (`World.deals`), all
        gathered in order on rank 0 (None on the others)."""
        return gather_batches([self(b) for b in batches], world)

    def of_images(self, images: Tensor, *, batch_size: int, progress: bool = False) -> np.ndarray:
        starts = range(0, len(images), batch_size)
        bar = tqdm(starts, desc="Inception", unit="batch", mininterval=2.0, disable=not progress)
        return self.of_batches(images[i : i + batch_size] for i in bar)


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance as pytorch-fid computes them (float64, ddof=1)."""
    return np.mean(features, axis=0, dtype=np.float64), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    eigvals, eigvecs = np.linalg.eigh(matrix)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def linalg_device(device: torch.device) -> torch.device | None:
    """Where FrechetReference should do its float64 linear algebra when features come from
    `device`: that GPU, or None (numpy) on a CPU."""
    return device if device.type == "cuda" else None


class FrechetReference:
    """The reference side of FID, with √Σr computed once and reused for every checkpoint.

    `device`: None does the float64 linear algebra in numpy (LAPACK); a torch device does the
    same eigendecompositions with torch there. On a GPU that takes a fraction of the time, which
    matters for the per-class FID of many checkpoints (eleven 2048-d eigendecompositions each)."""

    def __init__(self, mu: np.ndarray, sigma: np.ndarray, *, device: torch.device | str | None = None) -> None:
        self.mu = np.asarray(mu, dtype=np.float64)
        self.sigma = np.asarray(sigma, dtype=np.float64)
        if self.mu.shape != (self.sigma.shape[0],) or self.sigma.shape[0] != self.sigma.shape[1]:
            raise FidError(f"reference statistics have inconsistent shapes {self.mu.shape} and {self.sigma.shape}")
        self.device = torch.device(device) if device is not None else None
        if self.device is None:
            self.sqrt_sigma = _sqrt_psd((self.sigma + self.sigma.T) / 2)
        else:
            sigma_t = torch.as_tensor(self.sigma, device=self.device)
            eigvals, eigvecs = torch.linalg.eigh((sigma_t + sigma_t.T) / 2)
            self.sqrt_sigma = (eigvecs * eigvals.clamp(min=0.0).sqrt()) @ eigvecs.T
        self.trace = float(np.trace(self.sigma))

    def distance(self, mu: np.ndarray, sigma: np.ndarray) -> float:
        mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
        if mu.shape != self.mu.shape or sigma.shape != self.sigma.shape:
            raise FidError(f"statistics of shape {mu.shape}/{sigma.shape} do not match the reference {self.mu.shape}")
        if self.device is None:
            product = self.sqrt_sigma @ sigma @ self.sqrt_sigma
            eigvals = np.linalg.eigvalsh((product + product.T) / 2)
            trace_sqrt = np.sqrt(np.clip(eigvals, 0.0, None)).sum()
        else:
            product = self.sqrt_sigma @ torch.as_tensor(sigma, device=self.device) @ self.sqrt_sigma
            trace_sqrt = torch.linalg.eigvalsh((product + product.T) / 2).clamp(min=0.0).sqrt().sum().item()
        diff = mu - self.mu
        return float(diff @ diff + np.trace(sigma) + self.trace - 2.0 * trace_sqrt)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """d²((mu1, sigma1), (mu2, sigma2)), the same quantity as pytorch-fid's function."""
    return FrechetReference(mu2, sigma2).distance(mu1, sigma1)


def save_statistics(path: str | Path, mu: np.ndarray, sigma: np.ndarray, **extra) -> None:
    """The `python -m pytorch_fid --save-stats` format (`mu`, `sigma`), plus `extra` arrays."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object, or numpy would append ".npz" to the name
            np.savez(f, mu=mu, sigma=sigma, **extra)


def reference_info(stats: dict[str, np.ndarray], path: str | Path) -> tuple[str, int]:
    """Which split the reference statistics were computed from, and how many images (for the
    protocol)."""
    if "size" not in stats or "split" not in stats:
        raise FidError(f"{path}: no 'size' or 'split' (written by an older ganlab); re-run `dvc repro fid_reference`")
    return str(stats["split"]), int(stats["size"])


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
