"""Tasks: what a training run needs from its data and model, behind one protocol (:class:`Task`).

A task gives :class:`hptransfer.train.engine.Run` everything that depends on the data and the model:

* ``build_model()`` — the model, initialised deterministically from the run's seed;
* ``training_batch(step)`` — the batch of an optimizer step, a function of (seed, step) alone, so a
  resumed run sees the same data; already on the device;
* ``val`` — the fixed validation batch, identical for every run, step, width and seed;
* ``loss(model, batch)`` — the mean loss of a batch;
* ``units``, ``item_name``, ``items_per_step``, ``attrs()`` — labels of the run dataset and the log;
* ``flops_per_item(model)`` — training FLOPs per token or example, for the MFU in the log.

Two tasks: next-token prediction with the µP Transformer on a tokenized corpus (:class:`LMTask`, the
LM studies) and a bias-free two-layer ReLU MLP on flattened images (:class:`ImageTask`, the
sample-wise study, which also needs ``per_sample_loss``).

Training images (paper §5.6, §7 defaults): one pass over a fresh permutation per epoch (the
permutation of epoch e is a function of (seed, e)); random-resized crop (scale ``crop_scale``,
aspect ratio 3/4–4/3, bilinear resampling back to full size) then mixup with λ ~ Beta(α, α) shared by
the batch and a random pairing (:mod:`hptransfer.data.augment`), trained with soft-target
cross-entropy. Augmentation randomness is a function of (seed, step). Validation images are clean and
use hard labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from ..config.run import Augment, RunConfig
from ..data.augment import mixup, random_resized_crop
from ..data.corpus import load_token_arrays
from ..data.images import ImageArrays, load_images
from ..models import build_transformer, build_two_layer
from .device import to_device

_AUGMENT_TAG = 0xA06


class Task(Protocol):
    units: str
    item_name: str
    items_per_step: int
    val: Any

    def build_model(self) -> torch.nn.Module: ...

    def training_batch(self, step: int) -> Any: ...

    def loss(self, model: torch.nn.Module, batch: Any) -> torch.Tensor: ...

    def attrs(self) -> dict: ...

    def flops_per_item(self, model: torch.nn.Module) -> float: ...


# ------------------------------------------------------------------------------- language models


def validation_batch(val: np.ndarray, n_seq: int, context: int) -> torch.Tensor:
    """A fixed validation subset: ``n_seq`` evenly spaced windows, identical for every run."""
    starts = np.linspace(0, len(val) - context - 2, n_seq).astype(np.int64)
    return torch.from_numpy(np.stack([val[s : s + context + 1] for s in starts]).astype(np.int64))


def training_batch(train: np.ndarray, seed: int, step: int, batch: int, context: int) -> torch.Tensor:
    """The batch of a step depends on (seed, step) alone, so a resumed run sees the same data."""
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(train) - context - 1, size=batch)
    return torch.from_numpy(np.stack([train[s : s + context + 1] for s in starts]).astype(np.int64))


def loss_on(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    return model(tokens[:, :-1], tokens[:, 1:])


class LMTask:
    """Next-token prediction with the µP Transformer on a tokenized corpus (the LM studies)."""

    units = "nats/token"
    item_name = "tokens"

    def __init__(self, cfg: RunConfig, data_dir: str | Path, device: torch.device):
        self.cfg = cfg
        self.device = device
        self.train_tokens, val_tokens, self.meta = load_token_arrays(data_dir)
        tcfg, model_cfg = cfg.training, cfg.model
        self.val = validation_batch(val_tokens, tcfg.val_sequences, model_cfg.context).to(device)
        self.items_per_step = tcfg.batch_size * model_cfg.context

    def build_model(self) -> torch.nn.Module:
        return build_transformer(self.cfg.model, self.cfg.parametrization, self.meta["vocab_size"], self.cfg.seed)

    def training_batch(self, step: int) -> torch.Tensor:
        tcfg = self.cfg.training
        batch = training_batch(self.train_tokens, self.cfg.seed, step, tcfg.batch_size, self.cfg.model.context)
        return to_device(batch, self.device)

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return loss_on(model, batch)

    def attrs(self) -> dict:
        return {"vocab_size": self.meta["vocab_size"]}

    def flops_per_item(self, model: torch.nn.Module) -> float:
        """6 FLOPs per weight of every matrix product (forward and backward) plus the attention's
        12·depth·width·context (Kaplan et al.; nanoGPT's estimate); embeddings are lookups."""
        roles = model.roles()
        matrices = sum(p.numel() for name, p in model.named_parameters() if roles[name] != "embedding")
        m = self.cfg.model
        return 6 * matrices + 12 * m.depth * m.width * m.context


# ------------------------------------------------------------------------------------------ images


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy with probability targets (mixup), shape (N,)."""
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1)


class ImageTask:
    """Flattened images → TwoLayerNet (bias-free, 10 outputs) with cross-entropy."""

    units = "nats/example"
    item_name = "images"

    def __init__(
        self, cfg: RunConfig, data_dir=None, device: torch.device | str = "cpu", arrays: ImageArrays | None = None
    ):
        self.cfg = cfg
        self.device = torch.device(device)
        self.data = arrays if arrays is not None else load_images(cfg.dataset.to_dict())
        tcfg = cfg.training
        self.batch_size = int(tcfg.batch_size)
        n_train = len(self.data.train_y)
        if self.batch_size > n_train:
            raise ValueError(f"training.batch_size {self.batch_size} exceeds the {n_train} training images")
        self.steps_per_epoch = n_train // self.batch_size
        self.items_per_step = self.batch_size
        self.train_x = torch.from_numpy(self.data.train_x.reshape(n_train, -1)).to(self.device)
        self.train_y = torch.from_numpy(self.data.train_y).to(self.device)
        self.image_shape = tuple(self.data.train_x.shape[1:])
        self.val = (
            torch.from_numpy(self.data.val_x.reshape(len(self.data.val_y), -1)).to(self.device),
            torch.from_numpy(self.data.val_y).to(self.device),
        )
        augment = cfg.dataset.augment or Augment()
        self.mixup_alpha = float(augment.mixup_alpha or 0.0)
        crop = augment.crop_scale
        self.crop_scale = tuple(float(c) for c in crop) if crop else None
        self._epoch, self._perm = -1, None

    @property
    def n_val(self) -> int:
        return int(self.val[1].shape[0])

    def build_model(self) -> torch.nn.Module:
        m = self.cfg.model
        return build_two_layer(
            self.data.d_in,
            m.width,
            self.data.n_classes,
            False,
            self.cfg.parametrization,
            m.base_width,
            self.cfg.seed,
            m.init_std,
        )

    def _indices(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            perm = np.random.default_rng([self.cfg.seed, epoch]).permutation(len(self.data.train_y))
            self._epoch, self._perm = epoch, torch.from_numpy(perm).to(self.device)
        return self._perm[i * self.batch_size : (i + 1) * self.batch_size]

    def training_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(flattened augmented images, probability targets) of optimizer step ``step``."""
        idx = self._indices(step)
        x = self.train_x[idx]
        targets = F.one_hot(self.train_y[idx], self.data.n_classes).to(x.dtype)
        if self.crop_scale is None and self.mixup_alpha <= 0:
            return x, targets
        rng = np.random.default_rng([self.cfg.seed, step, _AUGMENT_TAG])
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
        return {
            "dataset": self.data.source,
            "n_train": int(len(self.data.train_y)),
            "n_val": self.n_val,
            "n_classes": self.data.n_classes,
        }

    def flops_per_item(self, model: torch.nn.Module) -> float:
        """6 FLOPs per weight (forward and backward) per example."""
        return 6 * sum(p.numel() for p in model.parameters() if p.ndim == 2)


def make_task(cfg: RunConfig, data_dir: str | Path, device: torch.device) -> Task:
    """The task of a run config: images when it names a ``dataset``, else the LM task."""
    if cfg.is_image_run:
        return ImageTask(cfg, data_dir, device)
    return LMTask(cfg, data_dir, device)
