"""Training-image augmentation of the sample-wise study (paper §5.6, §7 defaults): random-resized
crop and mixup, each a pure function of its random generator, so a step's batch is a function of
(seed, step) alone."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def random_resized_crop(
    x: torch.Tensor, rng: np.random.Generator, scale: tuple[float, float], ratio: tuple[float, float] = (3 / 4, 4 / 3)
) -> torch.Tensor:
    """Crop a random box of area fraction ~ U(scale) and aspect ratio log-uniform in ``ratio`` from
    every image of (N, C, H, W) ``x`` and resize it back to H×W (bilinear), in one batched op."""
    n, _, h, w = x.shape
    area = rng.uniform(scale[0], scale[1], n)
    aspect = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), n))
    # box side lengths as fractions of the image side (clipped to the image)
    bw = np.minimum(np.sqrt(area * aspect), 1.0)
    bh = np.minimum(np.sqrt(area / aspect), 1.0)
    cx = rng.uniform(bw / 2, 1 - bw / 2)
    cy = rng.uniform(bh / 2, 1 - bh / 2)
    theta = np.zeros((n, 2, 3))
    theta[:, 0, 0], theta[:, 0, 2] = bw, 2 * cx - 1
    theta[:, 1, 1], theta[:, 1, 2] = bh, 2 * cy - 1
    grid = F.affine_grid(torch.as_tensor(theta, dtype=x.dtype, device=x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def mixup(x: torch.Tensor, targets: torch.Tensor, rng: np.random.Generator, alpha: float):
    """Convex combination of the batch with a random pairing of itself, λ ~ Beta(α, α)."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.as_tensor(rng.permutation(x.shape[0]), device=x.device)
    return lam * x + (1 - lam) * x[perm], lam * targets + (1 - lam) * targets[perm]
