"""The image task of the training engine: a bias-free two-layer ReLU MLP on flattened images (§5.6).

A *task* gives :class:`hptransfer.train.Run` everything that depends on the data and the model:

* ``build_model()`` — the model, initialised deterministically from the run's seed;
* ``training_batch(step)`` — the batch of an optimizer step, a function of (seed, step) alone, so a
  resumed run sees the same data; already on the device;
* ``val`` — the fixed validation batch, identical for every run, step, width and seed;
* ``loss(model, batch)`` — the mean loss of a batch; ``per_sample_loss(model, batch)`` per example;
* ``units``, ``items_per_step``, ``attrs()`` — labels of the run dataset and the log.

The language-model task (:class:`hptransfer.train.LMTask`) keeps the original LM code path.

Training images (paper §5.6, §7 defaults): one pass over a fresh permutation per epoch (the
permutation of epoch e is a function of (seed, e)); random-resized crop (scale ``crop_scale``,
aspect ratio 3/4–4/3, bilinear resampling back to full size) then mixup with λ ~ Beta(α, α) shared by
the batch and a random pairing, trained with soft-target cross-entropy. Augmentation randomness is a
function of (seed, step). Validation images are clean and use hard labels.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .data.images import ImageArrays, load_images
from .models import build_two_layer

_AUGMENT_TAG = 0xA06


def random_resized_crop(x: torch.Tensor, rng: np.random.Generator, scale: tuple[float, float],
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
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
    grid = F.affine_grid(torch.as_tensor(theta, dtype=x.dtype, device=x.device), list(x.shape),
                         align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def mixup(x: torch.Tensor, targets: torch.Tensor, rng: np.random.Generator, alpha: float):
    """Convex combination of the batch with a random pairing of itself, λ ~ Beta(α, α)."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.as_tensor(rng.permutation(x.shape[0]), device=x.device)
    return lam * x + (1 - lam) * x[perm], lam * targets + (1 - lam) * targets[perm]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy with probability targets (mixup), shape (N,)."""
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1)


class ImageTask:
    """Flattened images → TwoLayerNet (bias-free, 10 outputs) with cross-entropy."""

    units = "nats/example"
    item_name = "images"

    def __init__(self, cfg: dict, data_dir=None, device: torch.device | str = "cpu",
                 arrays: ImageArrays | None = None):
        self.cfg = cfg
        self.device = torch.device(device)
        self.data = arrays if arrays is not None else load_images(cfg["dataset"])
        tcfg = cfg["training"]
        self.batch_size = int(tcfg["batch_size"])
        n_train = len(self.data.train_y)
        if self.batch_size > n_train:
            raise ValueError(f"training.batch_size {self.batch_size} exceeds the {n_train} training images")
        self.steps_per_epoch = n_train // self.batch_size
        self.items_per_step = self.batch_size
        self.train_x = torch.from_numpy(self.data.train_x.reshape(n_train, -1)).to(self.device)
        self.train_y = torch.from_numpy(self.data.train_y).to(self.device)
        self.image_shape = tuple(self.data.train_x.shape[1:])
        self.val = (torch.from_numpy(self.data.val_x.reshape(len(self.data.val_y), -1)).to(self.device),
                    torch.from_numpy(self.data.val_y).to(self.device))
        augment = cfg["dataset"].get("augment") or {}
        self.mixup_alpha = float(augment.get("mixup_alpha") or 0.0)
        crop = augment.get("crop_scale")
        self.crop_scale = tuple(float(c) for c in crop) if crop else None
        self._epoch, self._perm = -1, None

    @property
    def n_val(self) -> int:
        return int(self.val[1].shape[0])

    def build_model(self) -> torch.nn.Module:
        m = self.cfg["model"]
        return build_two_layer(self.data.d_in, m["width"], self.data.n_classes, False, self.cfg["parametrization"],
                               m["base_width"], self.cfg["seed"], m.get("init_std", 1.0))

    def _indices(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            perm = np.random.default_rng([self.cfg["seed"], epoch]).permutation(len(self.data.train_y))
            self._epoch, self._perm = epoch, torch.from_numpy(perm).to(self.device)
        return self._perm[i * self.batch_size:(i + 1) * self.batch_size]

    def training_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(flattened augmented images, probability targets) of optimizer step ``step``."""
        idx = self._indices(step)
        x = self.train_x[idx]
        targets = F.one_hot(self.train_y[idx], self.data.n_classes).to(x.dtype)
        if self.crop_scale is None and self.mixup_alpha <= 0:
            return x, targets
        rng = np.random.default_rng([self.cfg["seed"], step, _AUGMENT_TAG])
        if self.crop_scale is not None:
            x = random_resized_crop(x.view(-1, *self.image_shape), rng, self.crop_scale).reshape(x.shape[0], -1)
        if self.mixup_alpha > 0:
            x, targets = mixup(x, targets, rng, self.mixup_alpha)
        return x, targets

    def per_sample_loss(self, model: torch.nn.Module, batch) -> torch.Tensor:
        x, y = batch
        logits = model(x)
        if y.dtype.is_floating_point:
            return soft_cross_entropy(logits, y)
        return F.cross_entropy(logits, y, reduction="none")

    def loss(self, model: torch.nn.Module, batch) -> torch.Tensor:
        return self.per_sample_loss(model, batch).mean()

    def attrs(self) -> dict:
        return {"dataset": self.data.source, "n_train": int(len(self.data.train_y)), "n_val": self.n_val,
                "n_classes": self.data.n_classes}
